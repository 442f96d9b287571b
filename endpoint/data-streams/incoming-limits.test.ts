/**
 * What a Bridge can make a receiver hold (docs/operations/limits.md, "What the Endpoint reads"): it
 * announces streams and sends chunks as it likes, so a receiver bounds both itself. A WebSocket man in
 * the middle (test/procs/ws-mitm.ts) plays the Bridge: it announces streams from a sender bob cannot
 * verify yet (the Bridge holds the room read that would tell him), and floods one with chunks far past
 * its window. Before the bounds, bob queued every chunk and kept every stream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '../../crypto/bytes.ts';
import { encodeChunkFrame, FRAME_CHUNK_DOWN } from '../../protocol/ws.ts';
import { startWsMitm, type WsMitm } from '../../test/procs/ws-mitm.ts';
import { holdRoomReads, type HeldRoomReads } from '../../test/rooms.ts';
import { INCOMING_STREAMS_MAX, INCOMING_STREAMS_PER_SENDER_MAX, INCOMING_UNCONSUMED_MAX_BYTES } from './limits.ts';
import { joinedRoom, startKit, until, type Client, type Kit } from './test-kit.ts';

let kit: Kit;
let mitm: WsMitm;
let alice: Client;
let bob: Client;
let roomId: string;
let reads: HeldRoomReads;

beforeAll(async () => {
  mitm = await startWsMitm(
    () => kit.t.bridge.url,
    () => 'pass',
  );
  kit = await startKit(['alice', 'bob'], { loginUrls: [mitm.url] });
  alice = await kit.connect('alice');
  // A stream announced and never fed ends after this long idle (the default is a minute).
  bob = await kit.connect('bob', { url: mitm.url, streamApi: { streamIdleTimeoutMs: 1000 } });
  roomId = await joinedRoom(kit, alice, [alice, bob]);
  reads = holdRoomReads(kit.t.bridge.store);
});
afterAll(async () => {
  reads?.release();
  await kit?.close();
  await mitm?.close();
});

let next = 900_000;
/** Announces a stream to bob from `senderId`, whom his verified room does not list: he reads the room again, which the Bridge holds. */
function announce(senderId = 'mallory'): number {
  const streamNo = next++;
  const event = {
    type: 'byteStreamOpened',
    roomId,
    streamNo,
    streamId: toBase64(new Uint8Array(16).fill(streamNo % 251)),
    epoch: 1,
    senderId,
    senderConnectionId: `c-${senderId}`,
    window: 1024 * 1024,
  };
  mitm.inject(JSON.stringify({ kind: 'event', event }));
  return streamNo;
}

const stats = () => bob.streamApi.dataStreamStats();

describe('a Bridge that floods a receiver', () => {
  it('sends chunks far past the window: the stream fails before they are queued, and nothing stays held', async () => {
    reads.hold(20_000);
    const streamNo = announce();
    await until(() => stats().receiving === 1, 'the stream to be announced');
    const before = stats().droppedBeforeHandler.AbnormalEnd ?? 0;
    const chunk = new Uint8Array(64 * 1024).fill(7);
    const chunks = INCOMING_UNCONSUMED_MAX_BYTES / chunk.length + 16;
    for (let i = 0; i < chunks; i++) mitm.inject(encodeChunkFrame(FRAME_CHUNK_DOWN, streamNo, false, chunk));
    await until(() => (stats().droppedBeforeHandler.AbnormalEnd ?? 0) > before, 'the flooded stream to fail', 15_000);
    // Failed while the Bridge still held the read that would have let it verify anything.
    expect(stats()).toMatchObject({ receiving: 0, unconsumedBytes: 0 });
    expect(stats().pendingSteps).toBeLessThan(chunks / 2);
    reads.release();
  });

  it(`announces more than ${INCOMING_STREAMS_MAX} streams at once: the rest are rejected at once and counted`, async () => {
    reads.hold(20_000);
    const refusedBefore = stats().refusedOpens;
    // From several senders, none past its own bound.
    for (let i = 0; i < INCOMING_STREAMS_MAX + 40; i++) announce(`mallory${i % 8}`);
    await until(() => stats().refusedOpens - refusedBefore === 40, 'the streams past the bound to be refused', 15_000);
    expect(stats().receiving).toBe(INCOMING_STREAMS_MAX);
    // Nothing comes on them: they end as idle, and none is left.
    reads.release();
    await until(() => stats().receiving === 0, 'the held streams to end', 15_000);
  });

  it(`announces more than ${INCOMING_STREAMS_PER_SENDER_MAX} streams from one sender: the rest of that sender's are rejected, another's still come`, async () => {
    reads.hold(20_000);
    const refusedBefore = stats().refusedOpens;
    // A member with several connections, each at the Bridge's bound, took every place before.
    for (let i = 0; i < INCOMING_STREAMS_PER_SENDER_MAX + 10; i++) announce('trickler');
    await until(() => stats().refusedOpens - refusedBefore === 10, "the sender's streams past its bound to be refused", 15_000);
    announce('someone-else');
    await until(() => stats().receiving === INCOMING_STREAMS_PER_SENDER_MAX + 1, "another sender's stream to be taken", 15_000);
    expect(stats().refusedOpens - refusedBefore).toBe(10);
    reads.release();
    await until(() => stats().receiving === 0, 'the held streams to end', 15_000);
  });

  it('announces a stream number that is still open: both go', async () => {
    reads.hold(20_000);
    const streamNo = announce();
    await until(() => stats().receiving === 1, 'the stream to be announced');
    const before = stats().droppedBeforeHandler.AbnormalEnd ?? 0;
    next = streamNo;
    announce();
    // At once (well inside the 1 s idle timeout), as AbnormalEnd: the old stream was not just replaced.
    await until(() => (stats().droppedBeforeHandler.AbnormalEnd ?? 0) === before + 1 && stats().receiving === 0, 'the reused number to end the stream', 500);
    reads.release();
  });

  it('counts off what the reader consumed, header and checkpoints included: nothing stays counted on a stream read up', async () => {
    reads.release();
    let read = 0;
    bob.streamApi.registerByteStreamHandler('drift', async (reader) => {
      for await (const chunk of reader) read += chunk.length;
    });
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'drift', name: 'drift.bin' });
    const block = new Uint8Array(256 * 1024).fill(3);
    for (let i = 0; i < 12; i++) await writer.write(block); // 3 MiB: two checkpoints on the way
    await until(() => read === 12 * block.length, 'bob to read what was written');
    expect(stats()).toMatchObject({ receiving: 1, unconsumedBytes: 0 });
    await writer.close();
    await until(() => stats().receiving === 0, 'the stream to end');
    expect(stats().unconsumedBytes).toBe(0);
  });
});
