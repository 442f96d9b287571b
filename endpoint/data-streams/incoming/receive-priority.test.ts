/**
 * The receiving side puts real-time first (docs/operations/realtime-priorities.md, "Receive side"),
 * through a real Bridge and real Endpoints in one process: chunk work runs in bounded slices of the
 * process-wide scheduler, so a data-track frame that reaches a receiver busy with a byte stream is
 * handed to the app ahead of the chunks that were already waiting there; streams still arrive
 * byte-exact; many streams received in one process all progress. (The sender's and the Bridge's
 * priorities: endpoint/realtime/send-priority.test.ts, bridge/realtime/send-priority.test.ts.)
 *
 * The bulk governor is off here (`bulkYield: 'never'`): it would slow the stream until no backlog
 * forms, and the slices are what these tests look at (the governor: ../bulk-yield.test.ts).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Endpoint } from '../../endpoint.ts';
import { connectionInternals } from '../../internal.ts';
import { publishDataTrack, utf8 } from '../../realtime/test-kit.ts';
import { joinedRoom, pattern, startKit, until, type Client, type Kit } from '../test-kit.ts';
import type { ByteStreamReader } from '../types.ts';

const MIB = 1024 * 1024;
const WINDOW_BYTES = 4 * MIB;
/** CHUNK frames at least this long carry content (header and checkpoint chunks are shorter). */
const CONTENT_FRAME_MIN_BYTES = 32 * 1024;

/** Keeps the thread busy for `ms`: an app that does work with each chunk it reads. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

interface Copy {
  chunks: number;
  bytes: number;
  hash: Promise<string>;
}

/**
 * Reads a stream chunk by chunk, `workMs` of app work per chunk, counting and hashing what it took;
 * `ended` runs at its verified end.
 */
function read(reader: ByteStreamReader, workMs: number, ended: () => void = () => undefined): Copy {
  const copy: Copy = { chunks: 0, bytes: 0, hash: Promise.resolve('') };
  copy.hash = (async () => {
    const hash = createHash('sha256');
    for await (const chunk of reader) {
      copy.chunks++;
      copy.bytes += chunk.length;
      hash.update(chunk);
      busy(workMs);
    }
    ended();
    return hash.digest('hex');
  })();
  copy.hash.catch(() => undefined);
  return copy;
}

/** Writes `mib` MiB of pattern bytes (a seed per MiB); returns their SHA-256. */
async function write(client: Client, roomId: string, topic: string, mib: number, seed: number): Promise<string> {
  const writer = await client.streamApi.streamBytes({ roomId, topic, name: `${topic}.bin`, path: 'relay' });
  const hash = createHash('sha256');
  for (let i = 0; i < mib; i++) {
    const block = pattern(MIB, seed * 1000 + i + 1);
    hash.update(block);
    await writer.write(block);
  }
  await writer.close();
  return hash.digest('hex');
}

describe('receive side: real-time ahead of chunk work', () => {
  let kit: Kit;
  let alice: Client;
  let bob: Client;

  beforeAll(async () => {
    await Endpoint.setup({ bulkYield: 'never' });
    // Up to 64 chunks may wait in bob's process for their turn; the window does not grow.
    kit = await startKit(['alice', 'bob'], { realtime: { streamWindowBytes: WINDOW_BYTES, streamWindowMaxBytes: WINDOW_BYTES } });
    [alice, bob] = await Promise.all([kit.connect('alice'), kit.connect('bob')]);
  });
  afterAll(async () => {
    await kit.close();
    await Endpoint.setup({ bulkYield: 'auto' });
  });

  it('a data message reaching a busy receiver goes to the app ahead of the chunks already waiting there', { timeout: 120_000 }, async () => {
    const roomId = await joinedRoom(kit, alice, [alice, bob]);
    const { handle, trackId } = await publishDataTrack(alice, roomId);
    let copy: Copy | undefined;
    // 5 ms of app work per 64 KiB chunk (13 MB/s): bob's app cannot keep up with what arrives, even on
    // a quiet machine (at 1 ms it kept up there, holding 1-2 chunks: nothing to overtake).
    bob.streamApi.registerByteStreamHandler('bulk', (reader) => void (copy = read(reader, 5)));
    // Chunks that arrived at bob's connection (content frames), and how many had when the data frame did.
    let arrived = 0;
    let arrivedBeforeData: number | undefined;
    // The most content chunks bob held (arrived, not yet read by the app) at any time.
    let mostHeld = 0;
    connectionInternals(bob.connection).hooks.on('frame', (frame) => {
      if (frame.type === 'chunk' && frame.payload.length >= CONTENT_FRAME_MIN_BYTES) {
        arrived++;
        mostHeld = Math.max(mostHeld, arrived - (copy?.chunks ?? 0));
      }
      if (frame.type === 'data') arrivedBeforeData ??= arrived;
    });
    // What bob's app had read when the data message was handed to it.
    let readAtData: number | undefined;
    bob.streamApi.addRemoteStreamListener({ streamRoomId: roomId, streamId: handle, onRemoteData: () => void (readAtData ??= copy?.chunks) });
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);

    const writing = write(alice, roomId, 'bulk', 32, 1);
    // Mid-stream, once bob's app has read 4 MiB.
    await until(() => (copy?.chunks ?? 0) >= 64, 'bob reading the stream', 60_000);
    await alice.streamApi.sendData(trackId, utf8('ahead of the chunks'));
    const sent = await writing;
    await until(() => readAtData !== undefined, 'the data message', 30_000);
    const received = await copy!.hash;

    expect(received).toBe(sent);
    expect(copy!.bytes).toBe(32 * MIB);
    // The chunks that had reached bob's process before the data frame were not all read yet when the
    // app got the message: it overtook them. (Handled on arrival before, it came after every one of them,
    // the one in the same socket read aside.)
    expect(arrivedBeforeData).toBeDefined();
    expect(arrivedBeforeData! - readAtData!).toBeGreaterThanOrEqual(8);
    // And it came before the stream's end.
    expect(readAtData!).toBeLessThan(copy!.chunks);
    // Memory stayed bounded: chunks waiting for their turn or for the app never exceeded the stream's
    // window (credit follows what the app read, so deferred work slows the sender instead).
    expect(mostHeld).toBeGreaterThan(8);
    expect(mostHeld).toBeLessThanOrEqual(WINDOW_BYTES / (64 * 1024));
    expect(bob.streamApi.dataStreamStats()).toMatchObject({ receiving: 0, bufferedBytes: 0, pendingSteps: 0 });
  });
});

describe('receive side: many streams in one process', () => {
  let kit: Kit;
  let senders: Client[];
  let receivers: Client[];

  beforeAll(async () => {
    kit = await startKit(['s1', 's2', 's3', 'r1', 'r2']);
    senders = await Promise.all(['s1', 's2', 's3'].map((u) => kit.connect(u)));
    receivers = await Promise.all(['r1', 'r2'].map((u) => kit.connect(u)));
  });
  afterAll(async () => {
    await kit.close();
  });

  it('every stream to every receiver progresses, and each arrives byte-exact', { timeout: 120_000 }, async () => {
    const roomId = await joinedRoom(kit, senders[0]!, [...senders, ...receivers]);
    const copies = new Map<string, Copy>();
    // When the first copy was read to its end, how far every copy had got.
    let atFirstEnd: number[] | undefined;
    const firstEnd = () => (atFirstEnd ??= [...copies.values()].map((c) => c.bytes));
    for (const [r, receiver] of receivers.entries()) {
      receiver.streamApi.registerByteStreamHandler('many', (reader, from) => void copies.set(`${from.identity}>r${r + 1}`, read(reader, 0.2, firstEnd)));
    }
    const sent = await Promise.all(senders.map((s, i) => write(s, roomId, 'many', 8, i + 1)));
    await until(() => copies.size === 6, 'six copies');
    for (const [key, copy] of copies) {
      const i = ['s1', 's2', 's3'].indexOf(key.split('>')[0]!);
      expect(await copy.hash, key).toBe(sent[i]);
      expect(copy.bytes, key).toBe(8 * MIB);
    }
    expect(atFirstEnd).toHaveLength(6);
    // Round robin across lanes: no copy waited for another to finish.
    for (const bytes of atFirstEnd!) expect(bytes).toBeGreaterThanOrEqual(2 * MIB);
  });
});
