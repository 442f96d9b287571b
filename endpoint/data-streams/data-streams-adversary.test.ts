/**
 * The Bridge as an adversary, for byte streams (docs/security/bridge-adversary.md): each test is a
 * malicious Bridge, or a relay in front of it, doing the attack, with real Endpoints on a real Bridge.
 *
 * - bob's traffic passes a WebSocket man in the middle (test/procs/ws-mitm.ts) that can rename a
 *   stream's sender, replace chunks and replay a whole stream: what the Bridge itself can do;
 * - alice's traffic passes another one that rewrites her requests (the destinations of a stream).
 */
import { createCipheriv } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend } from '../../crypto/backend/index.ts';
import { fromBase64 } from '../../crypto/bytes.ts';
import { deriveStreamKeys, STREAM_UNSIGNED_MAX_BYTES, streamAad, streamNonce } from '../../crypto/stream/format.ts';
import { encodeChunkFrame, FRAME_CHUNK_DOWN } from '../../protocol/ws.ts';
import { startWsMitm, type Tamper, type WsMitm } from '../../test/procs/ws-mitm.ts';
import { streamApiInternals } from '../internal.ts';
import { encodeHeader } from './header.ts';
import { senderRoomViewOf } from './incoming/incoming-stream.ts';
import { joinedRoom, pattern, rawHeader, rawStream, receiveBytes, sha256, startKit, until, type Client, type Kit } from './test-kit.ts';

/** Content a reader may get before a signature covers it (1 MiB). */
const UNSIGNED_MAX_BYTES = STREAM_UNSIGNED_MAX_BYTES;

let kit: Kit;
/** In front of bob: sees and changes what the Bridge sends him. */
let toBob: WsMitm;
/** In front of alice: sees and changes what she asks of the Bridge. */
let fromAlice: WsMitm;
let alice: Client;
let bob: Client;
let carol: Client;
let roomId: string;
let tamper: Tamper = () => 'pass';
let downText: (text: string) => string = (t) => t;
let upText: (text: string) => string = (t) => t;

beforeAll(async () => {
  toBob = await startWsMitm(
    () => kit.t.bridge.url,
    (frame, nth) => tamper(frame, nth),
    { downText: (t) => downText(t) },
  );
  fromAlice = await startWsMitm(
    () => kit.t.bridge.url,
    () => 'pass',
    { upText: (t) => upText(t) },
  );
  kit = await startKit(['alice', 'bob', 'carol'], { loginUrls: [toBob.url, fromAlice.url] });
  alice = await kit.connect('alice', { url: fromAlice.url });
  bob = await kit.connect('bob', { url: toBob.url });
  carol = await kit.connect('carol');
  roomId = await joinedRoom(kit, alice, [alice, bob, carol]);
});
afterAll(async () => {
  await kit.close();
  await toBob.close();
  await fromAlice.close();
});

const dropped = (c: Client) => c.streamApi.dataStreamStats().droppedBeforeHandler.Integrity ?? 0;

/** Rewrites the Bridge's `byteStreamOpened` events to bob that name `senderId`. */
function rewriteOpened(senderId: string, change: (event: Record<string, unknown>) => void): void {
  downText = (text) => {
    const message = JSON.parse(text) as { kind: string; event?: Record<string, unknown> };
    if (message.kind !== 'event' || message.event?.type !== 'byteStreamOpened' || message.event.senderId !== senderId) return text;
    change(message.event);
    return JSON.stringify(message);
  };
}

describe('a Bridge that names another member as the sender', () => {
  it("carol's stream, labelled alice, never reaches a handler (the header is signed)", async () => {
    const handled: string[] = [];
    bob.streamApi.registerByteStreamHandler('forged', (reader, from) => {
      handled.push(from.identity);
      reader.readAll().catch(() => undefined);
    });
    const before = dropped(bob);
    const header = encodeHeader(await rawHeader(carol, roomId, { topic: 'forged', sender: 'alice' }));
    rewriteOpened('carol', (event) => {
      event.senderId = 'alice';
      event.senderConnectionId = alice.connection.connectionId;
    });
    // carol holds the room key; she derives alice's stream key and writes alice into the header.
    const s = await rawStream(carol, roomId, header, { senderId: 'alice', destinationIdentities: ['bob'] });
    s.send(await s.enc.header());
    s.send(await s.enc.write(pattern(1000)));
    s.send(await s.enc.close());
    await until(() => dropped(bob) > before || handled.length > 0, 'the stream to be dropped or handled');
    downText = (t) => t;
    expect(handled).toEqual([]);
    expect(dropped(bob)).toBe(before + 1);
    bob.streamApi.unregisterByteStreamHandler('forged');
  });
});

describe('a Bridge that delivers a private stream to another member', () => {
  it('bob, added to the destinations on the way, cannot read a stream sent to carol only', async () => {
    const atBob = receiveBytes(bob, 'private');
    const atCarol = receiveBytes(carol, 'private');
    const before = dropped(bob);
    upText = (text) => {
      const message = JSON.parse(text) as { kind: string; destinationIdentities?: string[] };
      if (message.kind !== 'byteStreamOpen') return text;
      message.destinationIdentities = [...(message.destinationIdentities ?? []), 'bob'];
      return JSON.stringify(message);
    };
    const data = pattern(200_000, 4);
    await alice.streamApi.sendFile(data, { roomId, topic: 'private', name: 'for-carol.bin', destinationIdentities: ['carol'] });
    upText = (t) => t;
    await until(() => atCarol.length === 1, 'carol');
    expect(sha256(await atCarol[0]!.done)).toBe(sha256(data));
    await until(() => dropped(bob) > before || atBob.length > 0, 'bob to drop or read the stream');
    expect(atBob).toEqual([]);
    expect(dropped(bob)).toBe(before + 1);
    bob.streamApi.unregisterByteStreamHandler('private');
    carol.streamApi.unregisterByteStreamHandler('private');
  });
});

describe('a room member who forges content in a stream with the Bridge', () => {
  it(`bob reads at most ${UNSIGNED_MAX_BYTES} bytes that no signature covers before the stream fails`, async () => {
    let got = 0;
    let failure: unknown;
    let finished!: () => void;
    const over = new Promise<void>((resolve) => (finished = resolve));
    bob.streamApi.registerByteStreamHandler('forge-content', async (reader) => {
      try {
        for await (const chunk of reader) got += chunk.length;
      } catch (error) {
        failure = error;
      }
      finished();
    });
    // carol's share of the room key: she derives alice's stream key from the stream id the Bridge relays.
    const { key: epochKey } = streamApiInternals(carol.streamApi).keys.current(roomId)!;
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'forge-content', name: 'x.bin' });
    const streamId = fromBase64(`${writer.info.id.replace(/-/g, '+').replace(/_/g, '/')}==`);
    const { key } = deriveStreamKeys(epochKey, streamId, 'alice', backend());
    tamper = (frame, nth) => {
      // Data chunks (64 KiB of plaintext) are replaced by carol's own; anything else passes.
      if (nth === 0 || frame.last || frame.payloadBytes !== 65_536 + 16) return 'pass';
      const cipher = createCipheriv('aes-256-gcm', key, streamNonce(nth));
      cipher.setAAD(streamAad(streamId, nth, 'data'));
      const forged = Buffer.concat([cipher.update(new Uint8Array(65_536).fill(0x66)), cipher.final(), cipher.getAuthTag()]);
      return { replace: forged };
    };
    const writing = (async () => {
      for (let i = 0; i < 3; i++) await writer.write(pattern(UNSIGNED_MAX_BYTES, i + 1));
      await writer.close();
    })();
    writing.catch(() => undefined);
    await over;
    tamper = () => 'pass';
    expect(failure).toMatchObject({ reason: 'Integrity' });
    expect(got).toBeLessThanOrEqual(UNSIGNED_MAX_BYTES);
    await writing.catch(() => undefined);
    bob.streamApi.unregisterByteStreamHandler('forge-content');
  });
});

describe('a Bridge that replays a whole signed stream', () => {
  it('bob refuses a stream id he has seen before', async () => {
    const atBob = receiveBytes(bob, 'replay');
    const frames: Array<{ last: boolean; payload: Uint8Array }> = [];
    let opened: { kind: 'event'; event: Record<string, unknown> } | undefined;
    let target: number | undefined;
    downText = (text) => {
      const message = JSON.parse(text) as { kind: string; event?: Record<string, unknown> };
      if (message.kind === 'event' && message.event?.type === 'byteStreamOpened' && opened === undefined) {
        opened = message as { kind: 'event'; event: Record<string, unknown> };
        target = message.event.streamNo as number;
      }
      return text;
    };
    tamper = (frame) => {
      if (frame.streamNo === target) frames.push({ last: frame.last, payload: frame.payload.slice() });
      return 'pass';
    };
    const data = pattern(100_000, 7);
    await alice.streamApi.sendFile(data, { roomId, topic: 'replay', name: 'once.bin' });
    await until(() => atBob.length === 1, 'the handler');
    expect(sha256(await atBob[0]!.done)).toBe(sha256(data));
    downText = (t) => t;
    tamper = () => 'pass';
    expect(frames.at(-1)?.last).toBe(true);
    // The room head alice had verified, as she signed it: for comparing views, not on the public info.
    const head = (await streamApiInternals(alice.streamApi).rooms.trustedHead(roomId))!;
    expect(senderRoomViewOf(atBob[0]!.reader)).toEqual({ roomVersion: head.record.version, headHash: head.hash });
    expect(Object.keys(atBob[0]!.reader.info).sort()).toEqual(['attributes', 'id', 'mimeType', 'name', 'size', 'timestamp', 'topic']);

    // The same stream again, under a stream number the Bridge has not used.
    const before = dropped(bob);
    const streamNo = 900_000;
    toBob.inject(JSON.stringify({ ...opened!, event: { ...opened!.event, streamNo } }));
    for (const f of frames) toBob.inject(encodeChunkFrame(FRAME_CHUNK_DOWN, streamNo, f.last, f.payload));
    await until(() => dropped(bob) > before || atBob.length > 1, 'the replay to be dropped or handled');
    expect(atBob).toHaveLength(1);
    expect(dropped(bob)).toBe(before + 1);
    bob.streamApi.unregisterByteStreamHandler('replay');
  });
});
