/**
 * Broadcasts in PeerPigeon's shape (docs/data-streams/web-streams.md) between real Endpoints through a
 * real Bridge: `pipeTo` of 100 MB reaches three receivers intact and every one proves it with a signed
 * receipt; a receiver that does not read brings the sender's `desiredSize` to 0 while what the sender
 * pulled from its source stays bounded (measured); `abort(reason)` reaches every receiver; Node's
 * `Readable.toWeb` and file paths work.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayStats } from '../../../bridge/realtime/relay.ts';
import { DataStreamError } from '../errors.ts';
import { joinedRoom, pattern, receiveBytes, sha256, startKit, streamFailure, until, type Client, type Kit } from '../test-kit.ts';
import { BROADCAST_HIGH_WATER_BYTES } from './lazy.ts';
import type { BroadcastStreamAborted, BroadcastStreamComplete, StreamCompletedEvent, StreamReceivedEvent } from './types.ts';

const WINDOW_BYTES = 1024 * 1024;
const MiB = 1024 * 1024;
const TOTAL = Number(process.env.BROADCAST_MB ?? 100) * MiB;

let kit: Kit;
let alice: Client;
let bob: Client;
let carol: Client;
let dave: Client;
let roomId: string;
let dir: string;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'carol', 'dave'], { realtime: { streamWindowBytes: WINDOW_BYTES } });
  [alice, bob, carol, dave] = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map((id) => kit.connect(id)))) as [Client, Client, Client, Client];
  roomId = await joinedRoom(kit, alice, [alice, bob, carol, dave]);
  dir = mkdtempSync(join(tmpdir(), 'sealroom-broadcast-'));
});
afterAll(async () => {
  await kit.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A pull-based source of `total` bytes in 1 MiB chunks (each a stamped copy of one random block); counts what was pulled. */
function source(total: number): { stream: ReadableStream<Uint8Array>; pulled: () => number; sha256: () => string } {
  const block = randomBytes(MiB);
  const hash = createHash('sha256');
  let offset = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= total) return controller.close();
        const chunk = new Uint8Array(Math.min(MiB, total - offset));
        chunk.set(block.subarray(0, chunk.length));
        new DataView(chunk.buffer).setUint32(0, offset / MiB);
        hash.update(chunk);
        offset += chunk.length;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => offset, sha256: () => hash.digest('hex') };
}

/** Collects the broadcast events one client gets. */
function events(client: Client) {
  const got = {
    received: [] as StreamReceivedEvent[],
    completed: [] as StreamCompletedEvent[],
    complete: [] as BroadcastStreamComplete[],
    aborted: [] as BroadcastStreamAborted[],
  };
  client.streamApi.onBroadcastEvent('streamReceived', (e) => got.received.push(e));
  client.streamApi.onBroadcastEvent('streamCompleted', (e) => got.completed.push(e));
  client.streamApi.onBroadcastEvent('broadcastStreamComplete', (e) => got.complete.push(e));
  client.streamApi.onBroadcastEvent('broadcastStreamAborted', (e) => got.aborted.push(e));
  return got;
}

/** Reads a ReadableStream to its end, hashing it. */
async function hashOf(stream: ReadableStream<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) hash.update(r.value);
  return hash.digest('hex');
}

describe('pipeTo into a broadcast stream', () => {
  it('100 MB reach three receivers intact (sha256), each proved by a signed receipt', async () => {
    const receivers = [bob, carol, dave];
    for (const c of receivers) c.streamApi.receiveBroadcasts('big');
    const seen = receivers.map((c) => events(c));
    const hashes = receivers.map(() => undefined as Promise<string> | undefined);
    for (const [i, c] of receivers.entries()) {
      c.streamApi.onBroadcastEvent('streamReceived', (e) => {
        if (e.metadata.topic === 'big') hashes[i] = hashOf(e.stream);
      });
    }
    const sent = events(alice);
    const src = source(TOTAL);
    const started = performance.now();
    await src.stream.pipeTo(alice.streamApi.createBroadcastStream(roomId, { topic: 'big', name: 'big.bin', totalSize: TOTAL, attributes: { k: 'v' } }));
    await until(() => sent.complete.length === 1, 'broadcastStreamComplete', 60_000);
    const seconds = (performance.now() - started) / 1000;
    const expected = src.sha256();
    for (const h of hashes) expect(await h).toBe(expected);
    const [complete] = sent.complete;
    expect(complete).toMatchObject({
      roomId,
      totalBytes: TOTAL,
      totalChunks: TOTAL / MiB,
      metadata: { topic: 'big', name: 'big.bin', size: TOTAL, attributes: { k: 'v' } },
    });
    expect(complete!.delivered!.map((d) => d.userId).sort()).toEqual(['bob', 'carol', 'dave']);
    expect(complete!.failed).toEqual([]);
    for (const s of seen) {
      expect(s.received.map((e) => ({ peerId: e.peerId, streamId: e.streamId, name: e.metadata.name }))).toEqual([
        { peerId: 'alice', streamId: complete!.streamId, name: 'big.bin' },
      ]);
      expect(s.completed).toEqual([{ peerId: 'alice', roomId, streamId: complete!.streamId, totalChunks: expect.any(Number), totalBytes: TOTAL }]);
    }
    console.info(`broadcast of ${TOTAL / MiB} MB to 3 receivers in one process: ${seconds.toFixed(1)} s (${(TOTAL / MiB / seconds).toFixed(0)} MB/s to each)`);
  }, 120_000);
});

describe('a receiver that does not read', () => {
  it("brings the sender's desiredSize to 0; what the sender pulled stays within the window and the queue (measured)", async () => {
    bob.streamApi.receiveBroadcasts('stall');
    let held: StreamReceivedEvent | undefined;
    bob.streamApi.onBroadcastEvent('streamReceived', (e) => {
      if (e.metadata.topic === 'stall') held = e; // not read yet
    });
    const src = source(64 * MiB);
    const writable = alice.streamApi.createBroadcastStream(roomId, { topic: 'stall', name: 'stall.bin', destinationIdentities: ['bob'] });
    const writer = writable.getWriter();
    const reader = src.stream.getReader();
    let minDesired = Number.POSITIVE_INFINITY;
    // The shape of pipeTo: write while the writable wants more; stop at `ready` otherwise.
    const pumping = (async () => {
      for (;;) {
        await writer.ready;
        const { done, value } = await reader.read();
        if (done) return writer.close();
        void writer.write(value).catch(() => undefined);
        minDesired = Math.min(minDesired, writer.desiredSize ?? 0);
      }
    })();
    await until(() => held !== undefined && (writer.desiredSize ?? 1) <= 0, 'the stall', 20_000);
    const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Stalled for a second: nothing more was pulled, and everything is bounded.
    const pulled = src.pulled();
    expect(writer.desiredSize).toBeLessThanOrEqual(0);
    expect(minDesired).toBeLessThanOrEqual(0);
    // One window at the receiver, the queue's high water mark, and one 1 MiB chunk being sealed and one read ahead.
    const bound = WINDOW_BYTES + BROADCAST_HIGH_WATER_BYTES + 2 * MiB;
    expect(pulled).toBeLessThanOrEqual(bound);
    expect(bob.streamApi.dataStreamStats().bufferedBytes).toBeLessThanOrEqual(WINDOW_BYTES);
    const stream = relayStats(kit.t.bridge.realtime.relay).byteStreams.find((s) => s.senderConnectionId === alice.connection.connectionId);
    expect(stream!.sent - stream!.minConsumed!).toBeLessThanOrEqual(WINDOW_BYTES);
    const grown = process.memoryUsage().arrayBuffers - arrayBuffersBefore;
    expect(grown).toBeLessThan(16 * MiB);
    console.info(
      `stalled broadcast: pulled ${(pulled / MiB).toFixed(2)} MiB of 64 (bound ${(bound / MiB).toFixed(2)}), desiredSize ${writer.desiredSize}, arrayBuffers +${(grown / MiB).toFixed(2)} MiB over 1 s`,
    );

    // Reading resumes: the rest flows and arrives intact.
    const hash = hashOf(held!.stream);
    await pumping;
    expect(await hash).toBe(src.sha256());
  }, 60_000);
});

describe('abort and Node sources', () => {
  it('abort(reason) reaches every receiver with the reason; the sender gets broadcastStreamAborted', async () => {
    const got = [bob, carol, dave].map((c) => receiveBytes(c, 'abort'));
    const sent = events(alice);
    const writer = alice.streamApi.createBroadcastStream(roomId, { topic: 'abort', name: 'a.bin' }).getWriter();
    await writer.write(pattern(300_000));
    await until(() => got.every((g) => g.length === 1), 'every handler');
    await writer.abort(new Error('the user closed the tab'));
    for (const g of got) {
      const error = await streamFailure(g[0]!.done);
      expect(error).toBeInstanceOf(DataStreamError);
      expect(error).toMatchObject({ reason: 'AbnormalEnd', abortReason: 'the user closed the tab' });
    }
    await until(() => sent.aborted.length === 1, 'broadcastStreamAborted');
    expect(sent.aborted[0]).toMatchObject({ roomId, reason: 'the user closed the tab', metadata: { topic: 'abort', name: 'a.bin' } });
    expect(sent.complete.filter((e) => e.metadata.topic === 'abort')).toEqual([]);
  });

  it('a failure from outside while no write is pending: broadcastStreamAborted, and the writable errors', async () => {
    const alice2 = await kit.connect('alice');
    await alice2.streamApi.joinStreamRoom(roomId);
    const got = receiveBytes(bob, 'dropped');
    const aborted: BroadcastStreamAborted[] = [];
    alice2.streamApi.onBroadcastEvent('broadcastStreamAborted', (e) => aborted.push(e));
    const writer = alice2.streamApi.createBroadcastStream(roomId, { topic: 'dropped', name: 'd.bin', destinationIdentities: ['bob'] }).getWriter();
    await writer.write(pattern(1000));
    await until(() => got.length === 1, 'the handler at bob');
    await alice2.connection.disconnect();
    await until(() => aborted.length === 1, 'broadcastStreamAborted');
    expect(aborted[0]).toMatchObject({ roomId, reason: 'the connection to the Bridge was lost', metadata: { name: 'd.bin' } });
    expect((await streamFailure(writer.write(pattern(10)))).reason).toBe('ConnectionLost');
    expect((await streamFailure(got[0]!.done)).reason).toBe('AbnormalEnd');
  });

  it('broadcastFile takes a path; broadcastStream takes Readable.toWeb; broadcastBlob a Blob', async () => {
    const data = pattern(2 * MiB + 3, 9);
    const path = join(dir, 'photo.png');
    writeFileSync(path, data);
    const got = [bob, carol, dave].map((c) => receiveBytes(c, 'node'));
    const byPath = await alice.streamApi.broadcastFile(path, { roomId, topic: 'node' });
    expect(byPath).toMatchObject({ totalBytes: data.length, metadata: { name: 'photo.png', mimeType: 'image/png', size: data.length } });
    expect(byPath.delivered!.map((d) => d.userId).sort()).toEqual(['bob', 'carol', 'dave']);
    const web = Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;
    const byStream = await alice.streamApi.broadcastStream(web, { roomId, topic: 'node', name: 'copy.png', receipts: false });
    expect(byStream).toMatchObject({ totalBytes: data.length, metadata: { name: 'copy.png', mimeType: 'image/png' } });
    expect(byStream.delivered).toBeUndefined();
    const byBlob = await alice.streamApi.broadcastBlob(new Blob([data as Uint8Array<ArrayBuffer>], { type: 'application/x-test' }), {
      roomId,
      topic: 'node',
      name: 'blob.bin',
    });
    expect(byBlob.totalBytes).toBe(data.length);
    await until(() => got.every((g) => g.length === 3), 'three streams each');
    for (const g of got) for (const r of g) expect(sha256(await r.done)).toBe(sha256(data));
  });

  it('bad input: a coded error', async () => {
    const refused = alice.streamApi.createBroadcastStream('not a room', { topic: 'x' }).getWriter();
    const error = await streamFailure(refused.write(new Uint8Array(1)));
    expect(error).toMatchObject({ reason: 'InvalidArgument', code: 'ERR_DATA_STREAM_INVALID_ARGUMENT' });
    const writer = alice.streamApi.createBroadcastStream(roomId, { topic: 'x', receipts: false, destinationIdentities: ['bob'] }).getWriter();
    expect((await streamFailure(writer.write('text' as unknown as Uint8Array))).reason).toBe('InvalidArgument');
    await expect(alice.streamApi.broadcastStream('nope' as unknown as ReadableStream<Uint8Array>, { roomId, topic: 'x' })).rejects.toMatchObject({
      reason: 'InvalidArgument',
    });
  });
});
