/**
 * Delivery receipts (docs/protocol/receipts.md) between real Endpoints through a real Bridge: every
 * receiver that read the stream to its verified end is in `delivered`; a member with no connection, a
 * receiver that disconnects mid-stream and one that never got a receipt through are in `failed` with
 * their reason; a receipt a man in the middle edited or invented is refused and never counted; and the
 * Bridge relays receipts only from a connection that received the stream, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { toBase64 } from '../../../crypto/bytes.ts';
import { startWsMitm, type WsMitm } from '../../../test/procs/ws-mitm.ts';
import { refusal } from '../../realtime/test-kit.ts';
import { bridgeEvents, pattern, receiveBytes, sha256, startKit, until, type Client, type Kit } from '../test-kit.ts';

let kit: Kit;
let mitm: WsMitm;
let alice: Client;
let aliceViaMitm: Client;
let bob: Client;
let carol: Client;
let dave: Client;
let erin: Client;
let roomId: string;
/** Rewrites the Bridge's text messages to alice-through-the-MITM (the current test's). */
let downText: (text: string) => string = (t) => t;
/** What alice-through-the-MITM's Endpoint logged at debug level. */
const debugMessages: string[] = [];
const debugLog = {
  debug: (a: unknown, b?: unknown) => void debugMessages.push(String(b ?? a)),
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

beforeAll(async () => {
  mitm = await startWsMitm(
    () => kit.t.bridge.url,
    () => 'pass',
    { downText: (t) => downText(t) },
  );
  kit = await startKit(['alice', 'bob', 'carol', 'dave', 'erin', 'frank'], { loginUrls: [mitm.url] });
  [alice, bob, carol, dave, erin] = (await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map((id) => kit.connect(id)))) as [
    Client,
    Client,
    Client,
    Client,
    Client,
  ];
  aliceViaMitm = await kit.connect('alice', { url: mitm.url, connect: { logger: debugLog } });
  // frank is a member who never connects.
  const frank = { user: kit.tenant.users.frank! } as Client;
  roomId = await kit.room(alice, [alice, bob, carol, dave, erin, frank]);
  for (const c of [alice, aliceViaMitm, bob, carol, dave, erin]) await c.streamApi.joinStreamRoom(roomId);
});
afterAll(async () => {
  await kit.close();
  await mitm.close();
});

const sorted = <T extends { userId: string }>(list: T[]) => [...list].sort((a, b) => a.userId.localeCompare(b.userId));

describe('delivery receipts', () => {
  it('every receiver that read the stream is delivered; a member with no connection is not_connected', async () => {
    const got = [bob, carol, dave, erin].map((c) => receiveBytes(c, 'all'));
    const data = pattern(3 * 1024 * 1024 + 7, 3);
    const before = Date.now();
    const result = await alice.streamApi.send(data, { roomId, topic: 'all', info: { kind: 'test' } });
    for (const g of got) expect(sha256(await g[0]!.done)).toBe(sha256(data));
    expect(sorted(result.delivered).map((d) => d.userId)).toEqual(['bob', 'carol', 'dave', 'erin']);
    for (const d of result.delivered) expect(d.at).toBeGreaterThanOrEqual(before);
    expect(result.failed).toEqual([{ userId: 'frank', reason: 'not_connected' }]);
    expect(got[0]![0]!.reader.info.attributes).toEqual({ kind: 'test' });
  });

  it('streamBytes asks for no receipts by default; with receipts: true its writer reports delivery', async () => {
    const relayed = bridgeEvents(alice, 'byteStreamReceipt');
    const got = receiveBytes(bob, 'plain');
    const quiet = await alice.streamApi.streamBytes({ roomId, topic: 'plain', name: 'a', destinationIdentities: ['bob'] });
    await quiet.write(pattern(1000));
    await quiet.close();
    expect(quiet.delivery).toBeUndefined();
    const asking = await alice.streamApi.streamBytes({ roomId, topic: 'plain', name: 'b', destinationIdentities: ['bob'], receipts: true });
    await asking.write(pattern(1000));
    await asking.close();
    const report = await asking.delivery!;
    expect(report).toEqual({ streamId: asking.info.id, delivered: [{ userId: 'bob', at: expect.any(Number) }], failed: [] });
    await until(() => got.length === 2, 'both streams');
    // Only the stream that asked got a receipt.
    expect(relayed.map((e) => e.userId)).toEqual(['bob']);
  });

  it('stragglers: a late reader within receiptTimeoutMs is delivered; one that never reads is no_receipt when it passes', async () => {
    bob.streamApi.registerByteStreamHandler('late', (reader) => void setTimeout(() => void reader.readAll(), 300));
    let atCarol: { readAll(): Promise<unknown> } | undefined;
    carol.streamApi.registerByteStreamHandler('late', (reader) => void (atCarol = reader)); // not read in time
    const transfer = alice.streamApi.send(pattern(10_000), { roomId, topic: 'late', destinationIdentities: ['bob', 'carol'], receiptTimeoutMs: 1200 });
    for await (const step of transfer) if (step.done) break;
    const ended = performance.now();
    const result = await transfer;
    const waited = performance.now() - ended;
    expect(result.delivered.map((d) => d.userId)).toEqual(['bob']);
    expect(result.failed).toEqual([{ userId: 'carol', reason: 'no_receipt' }]);
    expect(waited).toBeGreaterThan(1000);
    expect(waited).toBeLessThan(5000);
    await atCarol!.readAll(); // let carol's stream go
  });

  it('a receiver that disconnects mid-stream is failed with its reason; the others are delivered', async () => {
    const atBob = receiveBytes(bob, 'drop');
    let dropped = false;
    dave.streamApi.registerByteStreamHandler('drop', async (reader) => {
      for await (const _chunk of reader) {
        dropped = true;
        await dave.connection.disconnect();
        break;
      }
    });
    const { delivery } = await alice.streamApi.sendFile(pattern(6 * 1024 * 1024, 4), {
      roomId,
      topic: 'drop',
      name: 'big.bin',
      destinationIdentities: ['bob', 'dave'],
    });
    const report = await delivery!;
    expect(dropped).toBe(true);
    await atBob[0]!.done;
    expect(report.delivered.map((d) => d.userId)).toEqual(['bob']);
    expect(report.failed).toEqual([{ userId: 'dave', reason: 'disconnected' }]);
  });
});

describe('a Bridge that forges receipts', () => {
  it('edited or invented receipts are refused and not counted; a genuine one still counts', async () => {
    const got = [bob, carol, erin].map((c) => receiveBytes(c, 'mitm'));
    const edits: string[] = [];
    downText = (text) => {
      const m = JSON.parse(text) as {
        kind: string;
        event?: { type: string; userId: string; signature: string; at: number; streamId: string; streamNo: number };
      };
      const e = m.event;
      if (m.kind !== 'event' || e?.type !== 'byteStreamReceipt') return text;
      edits.push(e.userId);
      if (e.userId === 'bob') {
        // A flipped bit of the signature.
        const sig = Buffer.from(e.signature, 'base64');
        sig[10]! ^= 1;
        e.signature = sig.toString('base64');
      } else if (e.userId === 'carol') {
        e.at += 1; // a field the receiver signed
      } else if (e.userId === 'erin') {
        // Before erin's genuine receipt, one invented from scratch, in erin's name and in frank's.
        for (const userId of ['erin', 'frank']) {
          mitm.inject(JSON.stringify({ kind: 'event', event: { ...e, userId, signature: toBase64(randomBytes(64)) } }));
        }
      }
      return JSON.stringify(m);
    };
    const result = await aliceViaMitm.streamApi.send(pattern(200_000, 6), {
      roomId,
      topic: 'mitm',
      destinationIdentities: ['bob', 'carol', 'erin', 'frank'],
      receiptTimeoutMs: 1500,
    });
    downText = (t) => t;
    for (const g of got) await g[0]!.done;
    expect(sorted(edits.map((userId) => ({ userId }))).map((e) => e.userId)).toEqual(['bob', 'carol', 'erin']);
    expect(result.delivered.map((d) => d.userId)).toEqual(['erin']);
    expect(sorted(result.failed)).toEqual([
      { userId: 'bob', reason: 'invalid_receipt' },
      { userId: 'carol', reason: 'invalid_receipt' },
      { userId: 'frank', reason: 'not_connected' },
    ]);
  });
});

describe('a Bridge that repeats receipts', () => {
  it('a genuine receipt sent 50 times counts once and is checked once while the report waits: the copies cost no signature check', async () => {
    const got = receiveBytes(bob, 'repeat');
    const ignored = () => debugMessages.filter((m) => m.includes('already delivered')).length;
    const before = ignored();
    downText = (text) => {
      if (!text.includes('"byteStreamReceipt"')) return text;
      setTimeout(() => {
        for (let i = 0; i < 49; i++) mitm.inject(text);
      }, 100);
      return text;
    };
    // carol reads nothing on this topic, so the report waits for her while bob's copies come.
    const result = await aliceViaMitm.streamApi.send(pattern(100_000, 7), {
      roomId,
      topic: 'repeat',
      destinationIdentities: ['bob', 'carol'],
      receiptTimeoutMs: 2000,
    });
    downText = (t) => t;
    await got[0]!.done;
    expect(result.delivered.map((d) => d.userId)).toEqual(['bob']);
    expect(result.failed).toEqual([{ userId: 'carol', reason: 'no_receipt' }]);
    expect(ignored() - before).toBe(49);
  });
});

describe('the Bridge relays receipts only from receivers', () => {
  it('NOT_A_RECEIVER for a stream this connection did not receive; RECEIPT_EXISTS for a second one', async () => {
    const atBob: Array<{ streamNo: number; streamId: string }> = [];
    const { connectionInternals } = await import('../../internal.ts');
    connectionInternals(bob.connection).hooks.on('event', (e) => {
      if (e.type === 'byteStreamOpened') atBob.push({ streamNo: e.streamNo, streamId: e.streamId });
    });
    const relayed = bridgeEvents(alice, 'byteStreamReceipt');
    const got = receiveBytes(bob, 'only');
    // erin holds the stream unread for now: the Bridge still takes its receipt later.
    const atErin: Array<{ readAll(): Promise<unknown> }> = [];
    erin.streamApi.registerByteStreamHandler('only', (reader) => void atErin.push(reader));
    const transfer = alice.streamApi.send(pattern(1000), { roomId, topic: 'only', destinationIdentities: ['bob', 'erin'] });
    await until(() => got.length === 1 && atErin.length === 1, 'both handlers');
    await got[0]!.done;
    await until(() => atBob.length === 1 && relayed.some((e) => e.userId === 'bob'), "the open, and bob's receipt relayed to alice");
    const { streamNo, streamId } = atBob[0]!;
    const receipt = { streamNo, streamId, at: Date.now(), signature: toBase64(randomBytes(64)) };
    // carol never received it; bob already sent its receipt.
    expect((await refusal(carol.connection.request('byteStreamReceipt', receipt))).bridgeCode).toBe('NOT_A_RECEIVER');
    expect((await refusal(bob.connection.request('byteStreamReceipt', receipt))).bridgeCode).toBe('RECEIPT_EXISTS');
    expect((await refusal(bob.connection.request('byteStreamReceipt', { ...receipt, streamId: toBase64(randomBytes(16)) }))).bridgeCode).toBe('NOT_A_RECEIVER');
    // Bounded size at the boundary: a signature of another length is refused before the relay.
    expect((await refusal(bob.connection.request('byteStreamReceipt', { ...receipt, signature: toBase64(randomBytes(65)) }))).bridgeCode).toBe(
      'VALIDATION_FAILED',
    );
    await atErin[0]!.readAll();
    const result = await transfer;
    expect(sorted(result.delivered).map((d) => d.userId)).toEqual(['bob', 'erin']);
  });
});
