/**
 * sealroom peers for byte-stream throughput (scenario 1): a sender that pushes N bytes with
 * `streamBytes` (awaited writes of `chunkBytes`), and a receiver whose handler reads every stream to
 * its verified end. Times are on the shared monotonic clock, like bench/procs/plain-peer.ts. V8's heap
 * growth as docs/operations/node-heap.md recommends for such a process.
 */
import { Endpoint, type StreamApi } from '../../endpoint/index.ts';
import { nowMs } from '../lib/clock.ts';
import type { BenchUser } from '../lib/tenant.ts';
import { serve } from '../lib/worker.ts';
import { setHeapGrowth, STREAMS_HEAP_GROWTH_PERCENT } from '../../bridge/cli/heap-growth.ts';

// First, as docs/operations/node-heap.md tells a Node application that moves byte streams: without it
// a 1 -> 4 sender ran 61-64 Mark-Compacts in three 128 MiB streams, with it 1-3.
setHeapGrowth(STREAMS_HEAP_GROWTH_PERCENT);

const TOPIC = 'bench';
let streamApi: StreamApi | undefined;
let roomId = '';
/** Bytes read to a verified end since the process started (never reset, like the plain receiver). */
let received = 0;
let waiter: { total: number; resolve: (at: number) => void; reject: (error: Error) => void } | undefined;

function api(): StreamApi {
  if (streamApi === undefined) throw new Error('not connected');
  return streamApi;
}

serve({
  async connect(p: { url: string; solutionId: string; user: BenchUser }) {
    const connection = await Endpoint.connect(p.user.privateKey, p.solutionId, p.url, { reconnect: false });
    streamApi = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
    return connection.userId;
  },

  async createRoom(p: { contextId: string; members: Array<{ userId: string; pubKey: string }> }) {
    return api().createStreamRoom(p.contextId, p.members, p.members, new Uint8Array(), new Uint8Array());
  },

  /** `readMBps`: a slow reader that consumes at most this many MB/s (a throttled app). */
  async join(p: { roomId: string; role: 'send' | 'recv'; readMBps?: number }) {
    roomId = p.roomId;
    await api().joinStreamRoom(roomId);
    if (p.role === 'recv') {
      api().registerByteStreamHandler(TOPIC, async (reader) => {
        let bytes = 0;
        const start = nowMs();
        try {
          for await (const chunk of reader) {
            bytes += chunk.length;
            if (p.readMBps !== undefined) {
              const due = start + bytes / (p.readMBps * 1000);
              const wait = due - nowMs();
              if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
            }
          }
        } catch (error) {
          waiter?.reject(error as Error);
          return;
        }
        // Counted only now: the stream ended and its signature verified.
        received += bytes;
        if (waiter !== undefined && received >= waiter.total) {
          const w = waiter;
          waiter = undefined;
          w.resolve(nowMs());
        }
      });
    }
    return null;
  },

  /** Receiver: resolves with the time the `total`-th verified byte since start was read. */
  expect(p: { total: number }) {
    if (received >= p.total) throw new Error(`already received ${received} bytes, more than the ${p.total} expected`);
    return new Promise<number>((resolve, reject) => (waiter = { total: p.total, resolve, reject }));
  },

  /**
   * Sender: one byte stream of `bytes`, awaited writes of `chunkBytes`, into `roomId` (default: the room
   * joined last; a sender may join several); returns the start time.
   */
  async send(p: { bytes: number; chunkBytes: number; roomId?: string }) {
    const chunk = new Uint8Array(p.chunkBytes);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
    const startAt = nowMs();
    const writer = await api().streamBytes({ roomId: p.roomId ?? roomId, topic: TOPIC, name: 'bench.bin', totalSize: p.bytes });
    for (let sent = 0; sent < p.bytes; sent += chunk.length) await writer.write(chunk.subarray(0, Math.min(chunk.length, p.bytes - sent)));
    await writer.close();
    return { startAt };
  },
});
