/**
 * CPU of the Endpoint's data-track send path alone, in one process and without sockets: a real
 * `DataTrackSender` (key ring, head tracker, its SFrame session on the default backend) handing its
 * frames to a connection that only counts them. What one `send` costs, stamp, SFrame encryption and
 * the DATA frame included, on each of its two paths (endpoint/realtime/data-track-sender.ts):
 *
 * - **in the call**: nothing waits, so the message is sealed and handed over before `send` returns
 *   (`AeadKey.sealSync`, `SFrameContext.encryptSync`);
 * - **async**: the ordered promise chain, as every message takes it while a room fetch is in flight
 *   (here a settled one is reported in flight, so each message awaits it and nothing else).
 *
 * Each run sends `messages` on each path, waiting for the last; µs per message are CPU time over the
 * run (docs/operations/load.md, "Client CPU per message"):
 *
 *   node --import tsx bench/data-track-send.ts [--messages 50000] [--size 256] [--runs 5]
 */
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../endpoint/logger.ts';
import type { Connection } from '../endpoint/connection.ts';
import { HeadTracker } from '../endpoint/rooms/head-tracker.ts';
import { KeyRing } from '../endpoint/rooms/keyring.ts';
import type { RoomApi } from '../endpoint/rooms/room-api.ts';
import { DataTrackSender } from '../endpoint/realtime/data-track-sender.ts';
import type { KeyRefresher } from '../endpoint/realtime/key-refresh.ts';
import { MAX_QUEUED_SENDS } from '../endpoint/realtime/limits.ts';
import type { SendTarget } from '../endpoint/realtime/local-streams.ts';
import type { DataTrackStats } from '../endpoint/realtime/types.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}
const messages = arg('messages', 50_000);
const size = arg('size', 256);
const runs = arg('runs', 5);

const roomId = 'room-0123456789abcdef';
const epoch = 1;
const keys = new KeyRing();
keys.set(roomId, epoch, new Uint8Array(randomBytes(32)));
const headHash = new Uint8Array(randomBytes(32));
const heads = new HeadTracker({ fetch: () => undefined, onStale: () => undefined });
heads.setOwn(roomId, 1, headHash);
const target: SendTarget = { roomId, streamId: 'stream-0123456789', trackId: 'track-0123456789', trackNo: 7, reliable: false, deadlineMs: 60_000 };

let frames = 0;
let bytes = 0;
const connection = {
  userId: 'alice',
  log: silentLogger,
  priorityBufferedAmount: 0,
  sendFrame: (frame: Uint8Array) => {
    frames++;
    bytes += frame.length;
  },
} as unknown as Connection;
const rooms = {
  currentKey: async () => keys.current(roomId),
  trustedHead: async () => ({ record: { version: 1, users: [{ userId: 'alice', publicKey: '' }], managers: [] }, hash: headHash }),
} as unknown as RoomApi;
/** `pending` answers a settled fetch while `inFlight` is set: every message then takes the async path. */
let inFlight = false;
const settled = Promise.resolve();
const refresher = { pending: () => (inFlight ? settled : undefined) } as unknown as KeyRefresher;
const counters = new Proxy({} as Record<string, number>, { get: (t, k: string) => t[k] ?? 0 }) as unknown as DataTrackStats;
const sender = new DataTrackSender({ connection, rooms, keys, refresher, heads, counters, target: () => target });

const message = new Uint8Array(size).fill(7);
// The first message starts the session (key derivation, async); the measured ones find it.
await sender.send(target.trackId, message);

const BATCH = Math.min(100, MAX_QUEUED_SENDS);

async function run(async: boolean): Promise<number> {
  inFlight = async;
  const before = process.cpuUsage();
  // In batches under the sender's queue bound (MAX_QUEUED_SENDS), so the async path drops nothing.
  for (let i = 0; i < messages; i += BATCH) {
    let last: Promise<void> = settled;
    for (let j = i; j < Math.min(messages, i + BATCH); j++) last = sender.send(target.trackId, message);
    await last;
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / messages;
}

const inCall: number[] = [];
const chained: number[] = [];
for (let r = 0; r <= runs; r++) {
  const sync = await run(false);
  const async = await run(true);
  if (r > 0) {
    inCall.push(sync);
    chained.push(async);
  }
}
const expected = 1 + 2 * messages * (runs + 1);
if (frames !== expected) throw new Error(`sent ${frames} frames of ${expected}: ${JSON.stringify(counters)}`);
const median = (xs: number[]) => +[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
process.stdout.write(
  `${JSON.stringify({ messages, size, runs, inCallMicros: median(inCall), asyncMicros: median(chained), bytesPerFrame: +(bytes / frames).toFixed(1) })}\n`,
);
