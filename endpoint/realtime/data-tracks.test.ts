/**
 * Issue 5: SFrame-encrypted data tracks through a real Bridge: fan-out in order, the Bridge-asserted
 * sender, KIDs, and frames that are replayed, tampered with, moved or oversized (dropped and counted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSFrameHeader, parseKid } from '../../crypto/sframe/index.ts';
import { decodeFrame, encodeDataFrame, FRAME_DATA_UP } from '../../protocol/ws.ts';
import { connectionInternals } from '../internal.ts';
import { DATA_TRACK_STAMP_BYTES } from './data-track-crypto.ts';
import { MAX_DATA_MESSAGE_BYTES } from './limits.ts';
import { captureFrames, DataLog, publishDataTrack, startKit, until, utf8, type Client, type Kit } from './test-kit.ts';

const SUBSCRIBERS = 20;
const MESSAGES = 150;
/** 16 KiB messages to a paused reader: more than its socket buffers and the Bridge's queue hold. */
const SLOW_MESSAGES = 640;

let kit: Kit;
let alice: Client;
let bob: Client;
const ids = ['alice', 'bob', ...Array.from({ length: SUBSCRIBERS }, (_, i) => `sub${i}`)];

beforeAll(async () => {
  // A small data queue, so that a paused reader overflows it quickly.
  kit = await startKit(ids, { realtime: { dataQueueBytes: 256 * 1024, dataHighWaterBytes: 16 * 1024, dataDroppedReportIntervalMs: 20 } });
  [alice, bob] = await Promise.all([kit.connect('alice'), kit.connect('bob')]);
});
afterAll(async () => {
  await kit.close();
});

/** The SFrame part of a DATA frame the client sent. */
function sframeOf(frame: Uint8Array): { trackNo: number; sframe: Uint8Array } {
  const decoded = decodeFrame(frame);
  if (decoded?.type !== 'data') throw new Error('expected a DATA frame');
  return { trackNo: decoded.trackNo, sframe: decoded.payload };
}

describe('data tracks', () => {
  it(`carries an ordered message stream from one sender to ${SUBSCRIBERS} subscribers, with the Bridge-asserted sender`, async () => {
    const subs = await Promise.all(ids.slice(2).map((id) => kit.connect(id)));
    const roomId = await kit.room(alice, [alice, ...subs]);
    await alice.streamApi.joinStreamRoom(roomId);
    const { handle, trackId } = await publishDataTrack(alice, roomId);
    const logs: DataLog[] = [];
    for (const sub of subs) {
      await sub.streamApi.joinStreamRoom(roomId);
      logs.push(new DataLog(sub, roomId, handle));
      await sub.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    }
    const expected = Array.from({ length: MESSAGES }, (_, i) => `message ${i}`);
    for (const text of expected) await alice.streamApi.sendData(trackId, utf8(text));
    await until(() => logs.every((l) => l.messages.length >= MESSAGES), 'every subscriber getting every message', 20_000);
    for (const [i, log] of logs.entries()) {
      expect(log.texts(), `subscriber ${i}`).toEqual(expected);
      expect(new Set(log.messages.map((m) => JSON.stringify(m.info)))).toEqual(
        new Set([JSON.stringify({ streamRoomId: roomId, streamId: handle, streamTrackId: trackId, userId: 'alice', epoch: 1 })]),
      );
      expect(subs[i]!.streamApi.dataTrackStats()).toMatchObject({ delivered: MESSAGES, undecryptable: 0, replayed: 0, noKey: 0, unroutable: 0 });
    }
    expect(alice.streamApi.dataTrackStats()).toMatchObject({ sent: MESSAGES, sendDropped: 0 });
    await Promise.all(subs.map((s) => s.connection.disconnect()));
    await alice.streamApi.leaveStreamRoom(roomId);
  });

  it('drops and counts replayed, tampered, moved and oversized frames; never passes them on', async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const handle = await alice.streamApi.createStream(roomId);
    const t1 = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true });
    const t2 = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true });
    await alice.streamApi.publishStream(handle);
    const data = new DataLog(bob, roomId);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    const sent = captureFrames(alice);
    const capturing = alice.connection.sendFrame;
    const before = bob.streamApi.dataTrackStats();
    const stats = () => {
      const now = bob.streamApi.dataTrackStats();
      return { delivered: now.delivered - before.delivered, replayed: now.replayed - before.replayed, undecryptable: now.undecryptable - before.undecryptable };
    };
    await alice.streamApi.sendData(t1, utf8('original'));
    await alice.streamApi.sendData(t2, utf8('on t2'));
    await until(() => data.messages.length === 2, 'the two genuine messages');
    const [onT1, onT2] = sent.map(sframeOf);
    expect(onT1!.trackNo).not.toBe(onT2!.trackNo);

    // The identical frame again, through the same connection on its own trackNo: a replay.
    alice.connection.sendFrame(sent[0]!);
    await until(() => stats().replayed === 1, 'the replay counted');

    // Frames held back (never relayed), so their counters are fresh: a tampered copy gets past the
    // replay window and must fail authentication instead.
    const held: Uint8Array[] = [];
    alice.connection.sendFrame = (frame: Uint8Array) => void held.push(frame.slice());
    await alice.streamApi.sendData(t1, utf8('held 1'));
    await alice.streamApi.sendData(t2, utf8('held 2'));
    await alice.streamApi.sendData(t2, utf8('held 3'));
    alice.connection.sendFrame = capturing;
    // A flipped bit in the tag, and one in the ciphertext body: neither authenticates.
    const flippedTag = held[0]!.slice();
    flippedTag[flippedTag.length - 1]! ^= 0x01;
    alice.connection.sendFrame(flippedTag);
    const flippedBody = held[1]!.slice();
    flippedBody[flippedBody.length - 20]! ^= 0x80;
    alice.connection.sendFrame(flippedBody);
    await until(() => stats().undecryptable === 2, 'the tampered frames counted');
    // t2's frame moved onto t1's trackNo (same sender, same KID): the metadata binds the track.
    const moved = sframeOf(held[2]!);
    expect(moved.trackNo).toBe(onT2!.trackNo);
    alice.connection.sendFrame(encodeDataFrame(FRAME_DATA_UP, onT1!.trackNo, moved.sframe));
    // Longer than any message may be, and a frame too short for an SFrame header.
    alice.connection.sendFrame(encodeDataFrame(FRAME_DATA_UP, onT1!.trackNo, new Uint8Array(MAX_DATA_MESSAGE_BYTES + DATA_TRACK_STAMP_BYTES + 64)));
    alice.connection.sendFrame(encodeDataFrame(FRAME_DATA_UP, onT1!.trackNo, new Uint8Array([0x88])));
    await until(() => stats().undecryptable === 5, 'the moved and malformed frames counted');

    // The failed frames moved no replay window: the genuine ones still play, each once.
    for (const frame of held) alice.connection.sendFrame(frame);
    await alice.streamApi.sendData(t1, utf8('after'));
    await until(() => data.messages.length === 6, 'the genuine messages');
    expect(data.texts()).toEqual(['original', 'on t2', 'held 1', 'held 2', 'held 3', 'after']);
    expect(stats()).toEqual({ delivered: 6, replayed: 1, undecryptable: 5 });
    await alice.streamApi.leaveStreamRoom(roomId);
    await bob.streamApi.leaveStreamRoom(roomId);
    data.remove();
  });

  it('gives every sending session its own KID: member index, random session bits, low epoch bits', async () => {
    const roomId = await kit.room(alice, [bob, alice]); // users in record order: bob 0, alice 1
    const alice2 = await kit.connect('alice');
    const frames = [captureFrames(alice), captureFrames(alice2)];
    for (const c of [alice, alice2, bob]) await c.streamApi.joinStreamRoom(roomId);
    const tracks = [await publishDataTrack(alice, roomId), await publishDataTrack(alice2, roomId)];
    const data = new DataLog(bob, roomId);
    await bob.streamApi.subscribeToRemoteStreams(
      roomId,
      tracks.map((t) => ({ streamId: t.handle })),
    );
    for (let i = 0; i < 3; i++) {
      await alice.streamApi.sendData(tracks[0]!.trackId, utf8(`a${i}`));
      await alice2.streamApi.sendData(tracks[1]!.trackId, utf8(`b${i}`));
    }
    await until(() => data.messages.length === 6, 'both sessions delivered');
    const headers = frames.map((list) => list.map((f) => decodeSFrameHeader(sframeOf(f).sframe)));
    const kids = headers.map((list) => new Set(list.map((h) => h.kid)));
    expect(kids.map((k) => k.size)).toEqual([1, 1]); // one KID per session, counters 0, 1, 2
    expect(headers.map((list) => list.map((h) => Number(h.ctr)))).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ]);
    const [k1, k2] = kids.map((k) => parseKid([...k][0]!));
    expect(k1).toMatchObject({ memberIndex: 1, epochLow: 1 });
    expect(k2).toMatchObject({ memberIndex: 1, epochLow: 1 });
    expect(k1!.sessionId).not.toBe(k2!.sessionId);
    // Both are alice to bob, as the Bridge says; both decrypt.
    expect(new Set(data.messages.map((m) => m.info.userId))).toEqual(new Set(['alice']));
    await alice2.connection.disconnect();
    await alice.streamApi.leaveStreamRoom(roomId);
    await bob.streamApi.leaveStreamRoom(roomId);
    data.remove();
  });

  it('counts what the Bridge drops for a slow reader, and what pacing drops at the sender', async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const { handle, trackId } = await publishDataTrack(alice, roomId);
    const data = new DataLog(bob, roomId);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    // bob stops reading his socket (ws pause): the Bridge's queue for him fills and drops the oldest.
    const start = bob.streamApi.dataTrackStats();
    const socket = connectionInternals(bob.connection).socket() as unknown as { pause(): void; resume(): void };
    socket.pause();
    const payload = new Uint8Array(16 * 1024);
    for (let i = 0; i < SLOW_MESSAGES; i++) await alice.streamApi.sendData(trackId, payload);
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.resume();
    // Slowness mostly; a frame that waited at the Bridge past its track's deadline (500 ms) is counted as that.
    const dropped = () => {
      const now = bob.streamApi.dataTrackStats();
      return now.droppedBySlowness - start.droppedBySlowness + now.droppedByDeadline - start.droppedByDeadline;
    };
    await until(() => data.messages.length + dropped() === SLOW_MESSAGES, 'every message delivered or counted as dropped');
    expect(dropped()).toBeGreaterThan(0);
    const stats = bob.streamApi.dataTrackStats();
    expect(stats.delivered - start.delivered).toBe(data.messages.length);
    expect(stats.undecryptable + stats.replayed).toBe(start.undecryptable + start.replayed);

    // The sender's socket far behind (what a data frame waits behind held high): the message waits, then is dropped.
    const before = alice.streamApi.dataTrackStats();
    Object.defineProperty(alice.connection, 'priorityBufferedAmount', { configurable: true, get: () => 8 * 1024 * 1024 });
    await alice.streamApi.sendData(trackId, utf8('dropped while congested'));
    await alice.streamApi.sendData(trackId, utf8('dropped at once'));
    delete (alice.connection as unknown as Record<string, unknown>).priorityBufferedAmount;
    await alice.streamApi.sendData(trackId, utf8('sent again'));
    const after = alice.streamApi.dataTrackStats();
    expect(after.sendDropped - before.sendDropped).toBe(2);
    expect(after.sent - before.sent).toBe(1);
    await until(() => data.messages.at(-1)?.text === 'sent again', 'the message after congestion');
    await alice.streamApi.leaveStreamRoom(roomId);
    await bob.streamApi.leaveStreamRoom(roomId);
    data.remove();
  });
});
