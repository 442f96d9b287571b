/**
 * Priorities in the Endpoint's sender and the delivery modes of data tracks, through a real Bridge
 * (docs/operations/realtime-priorities.md, docs/protocol/data-tracks.md): a data message sent while a
 * 32 MiB byte stream fills the connection overtakes the chunks waiting in its bulk lane; lossy drops
 * and reliable cuts show in both sides' `dataTrackStats()`; bad options are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stats } from '../../bridge/realtime/test-client.ts';
import { receiveBytes } from '../data-streams/test-kit.ts';
import { Endpoint } from '../endpoint.ts';
import { connectionInternals } from '../internal.ts';
import { DataLog, EventLog, publishDataTrack, startKit, until, utf8, type Client, type Kit } from './test-kit.ts';

const STREAM_BYTES = 32 * 1024 * 1024;
const WRITE_BYTES = 1024 * 1024;
/** A CHUNK frame of 64 KiB of plaintext: header, payload and AEAD tag. */
const CHUNK_FRAME_BYTES = 64 * 1024;

let kit: Kit;
let alice: Client;
let bob: Client;

beforeAll(async () => {
  // A window as large as half the stream: the sender may run far ahead of what the Bridge reads. The
  // bulk governor off: bob's connection would declare a receive window (receive-window.ts) and alice's
  // chunks would be paced, and neither would let her bulk lane fill.
  await Endpoint.setup({ bulkYield: 'never' });
  kit = await startKit(['alice', 'bob'], { realtime: { streamWindowBytes: STREAM_BYTES / 2, dataDroppedReportIntervalMs: 20 } });
  [alice, bob] = await Promise.all([kit.connect('alice'), kit.connect('bob')]);
});
afterAll(async () => {
  await kit.close();
  await Endpoint.setup({ bulkYield: 'auto' });
});

/** Counts the CHUNK frames a client hands to its connection (the bulk lane included). */
function countChunksSent(client: Client): { count: number } {
  const counter = { count: 0 };
  const connection = client.connection;
  const original = connection.sendFrame.bind(connection);
  connection.sendFrame = (frame: Uint8Array) => {
    if (frame[0] === 0x02) counter.count++;
    original(frame);
  };
  return counter;
}

describe('priorities in the Endpoint sender', () => {
  it('a data message sent while a 32 MiB byte stream fills the connection arrives before the chunks still waiting', { timeout: 60_000 }, async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const { handle, trackId } = await publishDataTrack(alice, roomId);
    const log = new DataLog(bob, roomId, handle);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    const got = receiveBytes(bob, 'bulk');
    // Bob's arrival order of binary frames.
    const order: string[] = [];
    connectionInternals(bob.connection).hooks.on('frame', (frame) => order.push(frame.type));
    const sent = countChunksSent(alice);

    // The Bridge stops reading alice: her kernel buffer, then her socket, then her bulk lane fill up.
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'bulk', name: 'bulk.bin', path: 'relay' });
    const server = kit.t.bridge.realtime.connections.get(alice.connection.connectionId)!;
    server.socket.pause();
    const block = new Uint8Array(WRITE_BYTES).fill(7);
    const writing = (async () => {
      for (let i = 0; i < STREAM_BYTES / WRITE_BYTES; i++) await writer.write(block);
      await writer.close();
    })();
    const laneBytes = () => alice.connection.bufferedAmount - alice.connection.priorityBufferedAmount;
    await until(() => laneBytes() > 8 * CHUNK_FRAME_BYTES, 'chunks waiting in the bulk lane', 20_000);
    const handedBefore = sent.count;
    const waiting = Math.floor(laneBytes() / CHUNK_FRAME_BYTES);
    await alice.streamApi.sendData(trackId, utf8('ahead of the bulk'));
    server.socket.resume();

    await writing;
    await until(() => got.length === 1, 'the stream announced');
    const bytes = await got[0]!.done;
    expect(bytes.length).toBe(STREAM_BYTES);
    await until(() => log.messages.length === 1, 'the data message');
    expect(log.texts()).toEqual(['ahead of the bulk']);
    expect(alice.streamApi.dataTrackStats()).toMatchObject({ sent: 1, sendDropped: 0 });
    // It overtook the chunks that waited in alice's bulk lane when it was sent.
    const chunksBefore = order.slice(0, order.indexOf('data')).filter((t) => t === 'chunk').length;
    expect(chunksBefore).toBeLessThanOrEqual(handedBefore - waiting + 1);
    expect(chunksBefore).toBeLessThan(order.filter((t) => t === 'chunk').length);
  });
});

describe('data-track delivery options', () => {
  it('refuses a bad delivery, a deadline out of range, or a deadline on a reliable track, with InvalidArgument', async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    await alice.streamApi.joinStreamRoom(roomId);
    const handle = await alice.streamApi.createStream(roomId);
    const add = (options: object) => alice.streamApi.addStreamTrack(handle, { createDataChannel: true, ...options } as never);
    for (const options of [{ delivery: 'fast' }, { deadlineMs: 5 }, { deadlineMs: 60_001 }, { deadlineMs: 1.5 }, { delivery: 'reliable', deadlineMs: 100 }]) {
      await expect(add(options), JSON.stringify(options)).rejects.toMatchObject({ reason: 'InvalidArgument' });
    }
    const reliable = await add({ delivery: 'reliable' });
    const lossy = await add({ delivery: 'lossy', deadlineMs: 200 });
    const { tracks } = await alice.streamApi.publishStream(handle);
    expect(tracks.map((t) => t.trackId).sort()).toEqual([reliable, lossy].sort());
    // Subscribers see each track's mode.
    await bob.streamApi.joinStreamRoom(roomId);
    const [listed] = await bob.streamApi.listStreams(roomId);
    expect(listed!.tracks.find((t) => t.trackId === reliable)).toMatchObject({ delivery: 'reliable' });
    expect(listed!.tracks.find((t) => t.trackId === lossy)).toMatchObject({ delivery: 'lossy', deadlineMs: 200 });
  });

  it('lossy: messages older than their deadline are dropped at the Bridge and counted in the subscriber stats', { timeout: 30_000 }, async () => {
    const { trackId, log } = await pausedSubscriber({ delivery: 'lossy', deadlineMs: 50 });
    const aliceBefore = alice.streamApi.dataTrackStats();
    const bobBefore = bob.streamApi.dataTrackStats();
    const deadlineDrops = () => bridgeMetric('sealroom_drops_total{cause="data_deadline"}');
    const dropsBefore = await deadlineDrops();
    pauseBob(true);
    // Until the Bridge drops some for their deadline: those that wait in bob's queue there once the
    // kernel's buffers are full, or, once bob is a deadline behind by the Bridge's lag probes, those it
    // would have handed to the kernel (docs/protocol/data-tracks.md, "Deadlines at the Bridge").
    let count = 0;
    try {
      do {
        count += await sendMany(trackId, count, BATCH);
        await new Promise((r) => setTimeout(r, 150));
      } while ((await deadlineDrops()) === dropsBefore && count < MAX_MESSAGES);
      expect(await deadlineDrops()).toBeGreaterThan(dropsBefore);
    } finally {
      pauseBob(false);
    }
    const aliceAfter = alice.streamApi.dataTrackStats();
    const handed = aliceAfter.sent - aliceBefore.sent;
    // The sender counts what it dropped (its own deadline and pacing) too.
    expect(handed + aliceAfter.sendDropped - aliceBefore.sendDropped).toBe(count);
    const delta = (key: keyof ReturnType<typeof bob.streamApi.dataTrackStats>) => bob.streamApi.dataTrackStats()[key] - bobBefore[key];
    const accounted = () => ACCOUNTED.reduce((n, key) => n + delta(key), 0);
    // Nothing lost silently: every message alice sent is delivered or counted under one cause.
    await until(() => accounted() === handed, 'every message delivered or counted', 20_000);
    expect(delta('droppedByDeadline')).toBeGreaterThan(0);
    expect(log.messages.length).toBe(delta('delivered'));
  });

  it('lossy: messages delayed after the Bridge (the receiver does not read its socket) are dropped and counted by the receiver', {
    timeout: 30_000,
  }, async () => {
    const { trackId, log, roomId } = await pausedSubscriber({ delivery: 'lossy', deadlineMs: 100 });
    const small = (seq: number) => {
      const message = new Uint8Array(64);
      new DataView(message.buffer).setUint32(0, seq);
      return message;
    };
    // On time first: the receiver learns this sender's quickest transit.
    for (let seq = 0; seq < 5; seq++) await alice.streamApi.sendData(trackId, small(seq));
    await until(() => log.messages.length === 5, 'the first five messages', 10_000);
    const before = bob.streamApi.dataTrackStats();
    // Bob stops reading his socket: a few small frames fit in the kernel's buffers, so the Bridge
    // hands them all over at once and holds none for its own deadline check.
    pauseBob(true);
    for (let seq = 5; seq < 25; seq++) await alice.streamApi.sendData(trackId, small(seq));
    await alice.streamApi.listStreams(roomId); // every message so far reached the Bridge
    expect(queuedForBob()).toBe(0);
    await new Promise((r) => setTimeout(r, 400));
    pauseBob(false);
    const delta = (key: keyof ReturnType<typeof bob.streamApi.dataTrackStats>) => bob.streamApi.dataTrackStats()[key] - before[key];
    // The receiver drops them; should sending them take longer than a deadline here (a loaded machine),
    // the Bridge's lag probe may drop the last ones first, counted too (data-tracks.md, "Deadlines at the Bridge").
    await until(() => delta('droppedLate') + delta('droppedByDeadline') + delta('delivered') === 20, 'the twenty late messages handled', 10_000);
    expect(delta('droppedLate')).toBeGreaterThan(0);
    expect(delta('droppedLate') + delta('droppedByDeadline')).toBe(20);
    expect(log.messages.length).toBe(5);
    // On time again: delivered.
    await alice.streamApi.sendData(trackId, small(25));
    await until(() => log.messages.length === 6, 'a message on time after the late ones', 10_000);
    expect(log.messages[5]!.seq).toBe(25);
  });

  it('reliable: nothing dropped; a subscriber that stalls past its queue is cut and told (too_slow)', { timeout: 30_000 }, async () => {
    const { handle, trackId, log, roomId } = await pausedSubscriber({ delivery: 'reliable' });
    const events = new EventLog(bob);
    const bobBefore = bob.streamApi.dataTrackStats();
    const aliceBefore = alice.streamApi.dataTrackStats();
    const cutsBefore = await bridgeMetric('sealroom_drops_total{cause="data_reliable_cut"}');
    pauseBob(true);
    let count = 0;
    while ((await bridgeMetric('sealroom_drops_total{cause="data_reliable_cut"}')) === cutsBefore && count < MAX_MESSAGES) {
      count += await sendMany(trackId, count, BATCH);
      await alice.streamApi.listStreams(roomId); // every message so far reached the Bridge
    }
    pauseBob(false);
    await until(() => events.of('streamUnsubscribed', roomId).length === 1, 'the cut', 20_000);
    expect(events.of('streamUnsubscribed', roomId)).toEqual([
      { type: 'streamUnsubscribed', streamRoomId: roomId, streamId: handle, trackIds: [trackId], reason: 'too_slow' },
    ]);
    const after = bob.streamApi.dataTrackStats();
    expect(after.reliableCuts - bobBefore.reliableCuts).toBe(1);
    expect(after.droppedBySlowness - bobBefore.droppedBySlowness + after.droppedByDeadline - bobBefore.droppedByDeadline).toBe(0);
    expect(alice.streamApi.dataTrackStats().sendDropped - aliceBefore.sendDropped).toBe(0);
    // What bob got is a gapless prefix of what alice sent.
    await bob.streamApi.listStreams(roomId);
    const seqs = log.messages.map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
    expect(seqs.length).toBeLessThan(count);
  });
});

/** Messages are sent in batches of this many until the Bridge holds some for bob; at most MAX_MESSAGES. */
const BATCH = 100;
const MAX_MESSAGES = 5000;
/** Every way a message sent to bob ends: delivered, or dropped under one counted cause. */
const ACCOUNTED = [
  'delivered',
  'droppedBySlowness',
  'droppedByDeadline',
  'droppedLate',
  'undecryptable',
  'replayed',
  'noKey',
  'stale',
  'unroutable',
  'receiveOverflow',
] as const;

/** Bob stops reading his socket (true) or reads again (false). */
function pauseBob(paused: boolean): void {
  const socket = connectionInternals(bob.connection).socket() as unknown as { _socket: { pause(): void; resume(): void } };
  if (paused) socket._socket.pause();
  else socket._socket.resume();
}

/**
 * Sends `count` 48 KiB messages numbered from `from` in their first 4 bytes; returns `count`. Then
 * yields one macrotask: a send the sender's own pacing drops resolves at once, so without it a loop of
 * batches could run in microtasks alone and alice's socket would never get a turn to drain.
 */
async function sendMany(trackId: string, from: number, count: number): Promise<number> {
  const message = new Uint8Array(48 * 1024);
  for (let i = from; i < from + count; i++) {
    new DataView(message.buffer).setUint32(0, i);
    await alice.streamApi.sendData(trackId, message);
  }
  await new Promise((resolve) => setImmediate(resolve));
  return count;
}

/** Data-track frames the Bridge holds in bob's queue (not yet in his socket). */
function queuedForBob(): number {
  return stats(kit.t.bridge).connections.find((c) => c.connectionId === bob.connection.connectionId)?.queuedDataFrames ?? 0;
}

/** One sample of the Bridge's /metrics. */
async function bridgeMetric(series: string): Promise<number> {
  const response = await fetch(`${kit.t.bridge.url}/metrics`, { headers: { authorization: `Bearer ${kit.t.bridge.initialApiKey}` } });
  const line = (await response.text()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

/** A room where alice publishes one data track with `options` and bob subscribes, logging what he gets. */
async function pausedSubscriber(options: { delivery: 'lossy' | 'reliable'; deadlineMs?: number }) {
  const roomId = await kit.room(alice, [alice, bob]);
  await alice.streamApi.joinStreamRoom(roomId);
  await bob.streamApi.joinStreamRoom(roomId);
  const handle = await alice.streamApi.createStream(roomId);
  const trackId = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true, ...options });
  await alice.streamApi.publishStream(handle);
  const log = new SeqLog(bob, roomId, handle);
  await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
  return { roomId, handle, trackId, log };
}

/** Records the sequence numbers of the messages a client gets on a stream. */
class SeqLog {
  readonly messages: Array<{ seq: number }> = [];

  constructor(client: Client, streamRoomId: string, streamId: string) {
    client.streamApi.addRemoteStreamListener({
      streamRoomId,
      streamId,
      onRemoteData: (data) => this.messages.push({ seq: new DataView(data.buffer, data.byteOffset, data.length).getUint32(0) }),
    });
  }
}
