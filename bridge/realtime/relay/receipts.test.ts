/**
 * The Bridge's relay of delivery receipts (docs/protocol/receipts.md), byte by byte over raw sockets:
 * only a connection that received a stream to its end may send one, once, and only its sender gets it,
 * with the receiver's user id as the Bridge knows it; what the Bridge remembers is bounded in count
 * per sender and goes with the sender. (The signature is the Endpoint's to check; the Bridge relays it
 * as it came.)
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../../test/harness.ts';
import { createRoom, TestClient } from '../test-client.ts';
import { RECEIPT_STREAMS_PER_CONNECTION } from './receipts.ts';

const USERS = ['alice', 'bob', 'carol'];
let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];

beforeAll(async () => {
  t = await startBridge({ realtime: { streamWindowBytes: 64 * 1024 } });
  tenant = await setupTenant(t.bridge, USERS);
  for (const id of USERS) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t.close();
});

async function joined(...ids: string[]): Promise<{ roomId: string; cs: TestClient[] }> {
  const all = USERS.map((id) => tenant.users[id]!);
  const built = await createRoom(t.bridge, tenant, tokens.alice!, all[0]!, all, [all[0]!]);
  const cs: TestClient[] = [];
  for (const id of ids) {
    const c = await TestClient.connect(t.bridge.url, tokens[id]!);
    await c.request('join', { roomId: built.record.roomId });
    clients.push(c);
    cs.push(c);
  }
  return { roomId: built.record.roomId, cs };
}

const b64 = (n: number) => randomBytes(n).toString('base64');

/** Opens a stream from `sender` and ends it at once (one final chunk). */
async function endedStream(sender: TestClient, roomId: string, destinationIdentities: string[]): Promise<{ streamNo: number; streamId: string }> {
  const streamId = b64(16);
  const { streamNo } = await sender.request('byteStreamOpen', { roomId, streamId, epoch: 1, destinationIdentities });
  sender.sendChunk(streamNo, true, new Uint8Array(100));
  return { streamNo, streamId };
}

const receipt = (s: { streamNo: number; streamId: string }) => ({ ...s, at: Date.now(), signature: b64(64) });

describe('relay: delivery receipts', () => {
  it("relays a receiver's receipt to the sender only, as it came, with the receiver's user id", async () => {
    const {
      roomId,
      cs: [alice, bob, carol],
    } = await joined('alice', 'bob', 'carol');
    const s = await endedStream(alice!, roomId, []);
    await bob!.until(() => bob!.chunkFrames(s.streamNo).some((f) => f.last), 'the end at bob');
    const sent = receipt(s);
    expect(await bob!.request('byteStreamReceipt', sent)).toEqual({});
    const relayed = await alice!.event('byteStreamReceipt');
    expect(relayed).toEqual({ type: 'byteStreamReceipt', streamNo: s.streamNo, streamId: s.streamId, userId: 'bob', at: sent.at, signature: sent.signature });
    // Once per receiving connection; never echoed to other receivers.
    expect(await bob!.failure('byteStreamReceipt', receipt(s))).toBe('RECEIPT_EXISTS');
    expect(carol!.events('byteStreamReceipt')).toEqual([]);
    expect(await carol!.request('byteStreamReceipt', receipt(s))).toEqual({});
    await alice!.until(() => alice!.events('byteStreamReceipt').length === 2, "carol's receipt");
  });

  it('counts receipts in /metrics: relayed, and refused by code', async () => {
    const metric = async (outcome: string) => {
      const response = await fetch(`${t.bridge.url}/metrics`, { headers: { authorization: `Bearer ${t.bridge.initialApiKey}` } });
      const line = (await response.text()).split('\n').find((l) => l.startsWith(`sealroom_receipts_total{outcome="${outcome}"}`));
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };
    const before = { relayed: await metric('relayed'), exists: await metric('refused_RECEIPT_EXISTS'), notReceiver: await metric('refused_NOT_A_RECEIVER') };
    const {
      roomId,
      cs: [alice, bob, carol],
    } = await joined('alice', 'bob', 'carol');
    // To bob and carol: bob's receipt is relayed, his second refused; the sender is no receiver.
    const s = await endedStream(alice!, roomId, []);
    await bob!.until(() => bob!.chunkFrames(s.streamNo).some((f) => f.last), 'the end at bob');
    await carol!.until(() => carol!.chunkFrames(s.streamNo).some((f) => f.last), 'the end at carol');
    expect(await bob!.request('byteStreamReceipt', receipt(s))).toEqual({});
    expect(await bob!.failure('byteStreamReceipt', receipt(s))).toBe('RECEIPT_EXISTS');
    expect(await alice!.failure('byteStreamReceipt', receipt(s))).toBe('NOT_A_RECEIVER');
    expect(await metric('relayed')).toBe(before.relayed + 1);
    expect(await metric('refused_RECEIPT_EXISTS')).toBe(before.exists + 1);
    expect(await metric('refused_NOT_A_RECEIVER')).toBe(before.notReceiver + 1);
  });

  it('NOT_A_RECEIVER: not a destination, the sender itself, cut before the end, a wrong stream id, or the sender gone', async () => {
    const {
      roomId,
      cs: [alice, bob, carol],
    } = await joined('alice', 'bob', 'carol');
    const toBob = await endedStream(alice!, roomId, ['bob']);
    await bob!.until(() => bob!.chunkFrames(toBob.streamNo).some((f) => f.last), 'the end at bob');
    expect(await carol!.failure('byteStreamReceipt', receipt(toBob))).toBe('NOT_A_RECEIVER');
    expect(await alice!.failure('byteStreamReceipt', receipt(toBob))).toBe('NOT_A_RECEIVER');
    expect(await bob!.failure('byteStreamReceipt', { ...receipt(toBob), streamId: b64(16) })).toBe('NOT_A_RECEIVER');

    // carol rejects the stream (no handler) before its end: it is no longer a receiver.
    const streamId = b64(16);
    const { streamNo } = await alice!.request('byteStreamOpen', { roomId, streamId, epoch: 1, destinationIdentities: ['bob', 'carol'] });
    alice!.sendChunk(streamNo, false, new Uint8Array(10));
    await carol!.until(() => carol!.chunkFrames(streamNo).length === 1, 'the first chunk at carol');
    carol!.reject(streamNo);
    await alice!.event('byteStreamReceiverDropped', (e) => e.streamNo === streamNo);
    alice!.sendChunk(streamNo, true, new Uint8Array(10));
    await bob!.until(() => bob!.chunkFrames(streamNo).some((f) => f.last), 'the end at bob');
    expect(await carol!.failure('byteStreamReceipt', receipt({ streamNo, streamId }))).toBe('NOT_A_RECEIVER');

    // The sender disconnects: nobody to relay to, and nothing is kept for it.
    await alice!.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await bob!.failure('byteStreamReceipt', receipt({ streamNo, streamId }))).toBe('NOT_A_RECEIVER');
  });

  it(`keeps at most ${RECEIPT_STREAMS_PER_CONNECTION} ended streams per sender: the oldest is forgotten first`, async () => {
    const {
      roomId,
      cs: [alice, bob],
    } = await joined('alice', 'bob');
    const streams: Array<{ streamNo: number; streamId: string }> = [];
    for (let i = 0; i < RECEIPT_STREAMS_PER_CONNECTION + 1; i++) streams.push(await endedStream(alice!, roomId, ['bob']));
    const last = streams.at(-1)!;
    await bob!.until(() => bob!.chunkFrames(last.streamNo).some((f) => f.last), 'the last end at bob');
    expect(await bob!.failure('byteStreamReceipt', receipt(streams[0]!))).toBe('NOT_A_RECEIVER');
    expect(await bob!.request('byteStreamReceipt', receipt(streams[1]!))).toEqual({});
    expect(await bob!.request('byteStreamReceipt', receipt(last))).toEqual({});
  });

  it('refuses a receipt that is not the fixed shape before it reaches the relay', async () => {
    const {
      roomId,
      cs: [alice, bob],
    } = await joined('alice', 'bob');
    const s = await endedStream(alice!, roomId, ['bob']);
    expect(await bob!.failure('byteStreamReceipt', { ...receipt(s), signature: b64(65) })).toBe('VALIDATION_FAILED');
    expect(await bob!.failure('byteStreamReceipt', { ...receipt(s), extra: 'x' } as ReturnType<typeof receipt>)).toBe('VALIDATION_FAILED');
    expect(await bob!.failure('byteStreamReceipt', { ...receipt(s), at: -1 })).toBe('VALIDATION_FAILED');
  });
});
