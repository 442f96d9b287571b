/**
 * A client process of the load benchmark (bench/scenarios/load.ts): many room members at once. Each
 * sealroom member is a real Endpoint connection that joins its room, publishes one data track and
 * subscribes to every other member's; members can also send room-wide byte streams (the receivers
 * check each one's SHA-256, which the sender puts in the stream's name) and read their room over REST
 * (`getStreamRoom`, which verifies it) in a loop. The same process holds the plain baseline's clients
 * (`plain*` handlers): one `ws` socket per member to bench/procs/ws-room-server.ts, the same stamped
 * messages at the same rate.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Endpoint, EndpointError, type Connection, type StreamApi, type TrackOptions } from '../../endpoint/index.ts';
import { utf8 } from '../../crypto/bytes.ts';
import { nowMs, sleep } from '../lib/clock.ts';
import { LatencyLog, makeMessage, stamp } from '../lib/pacing.ts';
import { forEachLimited, type BenchUser } from '../lib/tenant.ts';
import { describeError, serve, workerArgs } from '../lib/worker.ts';
import { setHeapGrowth } from '../../bridge/cli/heap-growth.ts';

type Member = { userId: string; pubKey: string };

interface Client {
  user: BenchUser;
  roomId: string;
  connection: Connection;
  streamApi: StreamApi;
  trackId?: string;
}

// First, as docs/operations/node-heap.md tells a Node application that receives byte streams (0: V8's
// own). Not given where this file runs as another probe's members (bench/procs/cpu-members.ts).
const heapGrowth = workerArgs<{ heapGrowthPercent?: number } | null>()?.heapGrowthPercent;
if (heapGrowth !== undefined) setHeapGrowth(heapGrowth);

const CONCURRENCY = 8;
const FILE_TOPIC = 'load';
const FILE_CHUNK = 64 * 1024;

const clients: Client[] = [];
const latencies = new LatencyLog();
/** The files phase's deliveries from `SETTLED_AFTER_MS` after its streams started: what a room sees once they run, not while 20 open at once. */
const settled = new LatencyLog();
const SETTLED_AFTER_MS = 5000;
let filesStartedAt = Number.POSITIVE_INFINITY;
/** This process's event-loop delay since the last take (1 ms sampling). */
const loopLag = monitorEventLoopDelay({ resolution: 1 });
loopLag.enable();
/**
 * This process's garbage collections as `perf_hooks` reports them (cumulative): full Mark-Compacts,
 * and every collection's main-thread time; `gcLongestMs` is the longest since the last take.
 */
const gc = { major: 0, pauseMs: 0, longestMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if ((entry as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gc.major++;
    gc.pauseMs += entry.duration;
    if (entry.duration > gc.longestMs) gc.longestMs = entry.duration;
  }
}).observe({ entryTypes: ['gc'] });
/** sendData calls made (cumulative). */
let offered = 0;
let sendErrors = 0;
let lastSendError = '';
/** Byte-stream copies read to their verified end with the right SHA-256, with the wrong one, or failed (by reason). */
const files = { verified: 0, mismatched: 0, failed: {} as Record<string, number> };
let lastFileError = '';
let restLatencies = new LatencyLog();
let restErrors = 0;
let lastRestError = '';
let background: { stop: boolean; done: Promise<unknown> } | undefined;
let rest: { stop: boolean; done: Promise<unknown> } | undefined;
let filesRun: { stop: boolean; done: Promise<unknown>; sent: number; bytes: number; errors: number } | undefined;
/**
 * The files the senders here stream, made before any phase (`prepareFiles`): random bytes with their
 * SHA-256 in the name. Making them when a stream starts blocked this process's event loop for as long
 * as 30-120 ms at 16-32 MiB (randomBytes and the hash are synchronous), and the data frames of every
 * member held here waited behind the benchmark's own work, which no Endpoint priority can help.
 */
let filePool: Array<{ data: Buffer; name: string }> = [];

/** A failure's stable name: the Endpoint's reason, else the error's code (a byte stream's `ERR_DATA_STREAM_TOO_SLOW`). */
const reason = (error: unknown): string => {
  if (error instanceof EndpointError) return error.reason;
  const { reason: r, code } = error as { reason?: unknown; code?: unknown };
  return typeof r === 'string' ? r : typeof code === 'string' ? code : 'other';
};

function byUser(userId: string): Client {
  const c = clients.find((x) => x.user.userId === userId);
  if (c === undefined) throw new Error(`no client ${userId} in this process`);
  return c;
}

/** `delivery: 'mixed'` (the benchmark's own value): members with an even number lossy, odd ones reliable (without `deadlineMs`). */
function deliveryFor(userId: string, options: Record<string, unknown> | undefined): Record<string, unknown> {
  if (options?.delivery !== 'mixed') return options ?? {};
  if (Number(userId.replace(/\D/g, '')) % 2 === 0) return { ...options, delivery: 'lossy' };
  // A deadline applies to lossy tracks only (the Endpoint refuses it on a reliable one).
  const { deadlineMs: _lossyOnly, ...rest } = options;
  return { ...rest, delivery: 'reliable' };
}

/** Reads a byte stream to its verified end and checks its SHA-256 against the hex in its name. */
function fileHandler(): Parameters<StreamApi['registerByteStreamHandler']>[1] {
  return async (reader) => {
    const hash = createHash('sha256');
    try {
      for await (const chunk of reader) hash.update(chunk);
    } catch (error) {
      const r = reason(error);
      files.failed[r] = (files.failed[r] ?? 0) + 1;
      lastFileError = describeError(error);
      return;
    }
    if (`${hash.digest('hex')}.bin` === reader.info.name) files.verified++;
    else files.mismatched++;
  };
}

/** Sends `rate` messages a second, on one schedule from the start, round-robin over `send`ers, until `state.stop`. */
function paceForever(rate: number, count: number, send: (i: number, seq: number) => void): { stop: boolean; done: Promise<unknown> } {
  const state = { stop: false, done: Promise.resolve() as Promise<unknown> };
  state.done = (async () => {
    const start = nowMs();
    let sent = 0;
    while (!state.stop) {
      const due = Math.floor(((nowMs() - start) * rate) / 1000) + 1;
      for (; sent < due; sent++) send(sent % count, sent);
      await sleep(1);
    }
  })();
  return state;
}

serve({
  async connect(p: { url: string; solutionId: string; users: Array<BenchUser & { roomIndex: number }> }) {
    await forEachLimited(p.users, CONCURRENCY, async (user) => {
      const connection = await Endpoint.connect(user.privateKey, p.solutionId, p.url, { reconnect: false, requestTimeoutMs: 120_000 });
      const streamApi = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
      streamApi.registerByteStreamHandler(FILE_TOPIC, fileHandler());
      clients.push({ user, roomId: '', connection, streamApi });
    });
    return clients.length;
  },

  /** `creator` (a member held here) creates a room of `members`, all of them managers. */
  async createRoom(p: { creator: string; contextId: string; members: Member[] }) {
    return byUser(p.creator).streamApi.createStreamRoom(p.contextId, p.members, p.members, utf8('{"bench":"load"}'), utf8('load'));
  },

  /** Every member held here joins its room (`rooms`: userId -> roomId), publishes a data track and listens to its room's data. */
  async join(p: { rooms: Record<string, string>; delivery?: Record<string, unknown> }) {
    const published: Array<{ userId: string; roomId: string; streamId: string }> = [];
    await forEachLimited(clients, CONCURRENCY, async (c) => {
      const roomId = p.rooms[c.user.userId];
      if (roomId === undefined) throw new Error(`no room for ${c.user.userId}`);
      c.roomId = roomId;
      await c.streamApi.joinStreamRoom(roomId);
      c.streamApi.addRemoteStreamListener({
        streamRoomId: roomId,
        onRemoteData: (data) => {
          latencies.deliver(data);
          if (nowMs() - filesStartedAt >= SETTLED_AFTER_MS) settled.deliver(data);
        },
      });
      const streamId = await c.streamApi.createStream(roomId);
      // `delivery`/`deadlineMs` pass through as given (--load-delivery, --load-deadline-ms); the Endpoint validates them.
      c.trackId = await c.streamApi.addStreamTrack(streamId, { createDataChannel: true, ...deliveryFor(c.user.userId, p.delivery) } as TrackOptions);
      await c.streamApi.publishStream(streamId);
      published.push({ userId: c.user.userId, roomId, streamId: String(streamId) });
    });
    return published;
  },

  /** Every member held here subscribes to the other members' streams of its room. */
  async subscribe(p: { streams: Array<{ userId: string; roomId: string; streamId: string }> }) {
    await forEachLimited(clients, CONCURRENCY, async (c) => {
      const others = p.streams.filter((s) => s.roomId === c.roomId && s.userId !== c.user.userId).map((s) => ({ streamId: s.streamId }));
      await c.streamApi.subscribeToRemoteStreams(c.roomId, others);
    });
    return null;
  },

  /** Every member sends `perConnection` stamped messages a second of `size` bytes until `stopSending`. */
  startSending(p: { perConnection: number; size: number }) {
    if (background !== undefined) throw new Error('already sending');
    const message = makeMessage(p.size);
    background = paceForever(p.perConnection * clients.length, clients.length, (i, seq) => {
      const c = clients[i]!;
      stamp(message, seq);
      offered++;
      c.streamApi.sendData(c.trackId!, message).catch((error: unknown) => {
        sendErrors++;
        lastSendError = describeError(error);
      });
    });
    return null;
  },

  async stopSending() {
    if (background === undefined) return null;
    background.stop = true;
    await background.done;
    background = undefined;
    return null;
  },

  /** Makes `count` files of `minBytes`..`maxBytes` for `startFiles` (outside every measured phase). */
  prepareFiles(p: { count: number; minBytes: number; maxBytes: number }) {
    filePool = Array.from({ length: p.count }, () => {
      const data = randomBytes(p.minBytes + Math.floor(Math.random() * (p.maxBytes - p.minBytes + 1)));
      return { data, name: `${createHash('sha256').update(data).digest('hex')}.bin` };
    });
    return null;
  },

  /**
   * Keeps `concurrent` room-wide byte streams of the prepared files going from members held here, in
   * turn, until `stopFiles`.
   */
  startFiles(p: { concurrent: number }) {
    if (filesRun !== undefined) throw new Error('already sending files');
    if (filePool.length === 0) throw new Error('no files: call prepareFiles first');
    const run = { stop: false, done: Promise.resolve() as Promise<unknown>, sent: 0, bytes: 0, errors: 0 };
    filesStartedAt = nowMs();
    let turn = 0;
    const lane = async (lane: number) => {
      while (!run.stop) {
        const c = clients[(turn++ * 7 + lane) % clients.length]!;
        const { data, name } = filePool[(turn * 3 + lane) % filePool.length]!;
        const size = data.length;
        try {
          const writer = await c.streamApi.streamBytes({ roomId: c.roomId, topic: FILE_TOPIC, name, totalSize: size, path: 'relay' });
          for (let at = 0; at < size; at += FILE_CHUNK) await writer.write(data.subarray(at, Math.min(size, at + FILE_CHUNK)));
          await writer.close();
          run.sent++;
          run.bytes += size;
        } catch (error) {
          run.errors++;
          lastFileError = describeError(error);
          await sleep(100);
        }
      }
    };
    run.done = Promise.all(Array.from({ length: p.concurrent }, (_, i) => lane(i)));
    filesRun = run;
    return null;
  },

  /** Stops starting streams, waits for those in flight; returns what was sent. */
  async stopFiles() {
    if (filesRun === undefined) return { sent: 0, bytes: 0, errors: 0 };
    const run = filesRun;
    run.stop = true;
    await run.done;
    filesRun = undefined;
    filesStartedAt = Number.POSITIVE_INFINITY;
    return { sent: run.sent, bytes: run.bytes, errors: run.errors, lastError: lastFileError };
  },

  /** Verified room reads over REST, `perSecond` of them, by the members held here in turn, until `stopRest`. */
  startRest(p: { perSecond: number }) {
    if (rest !== undefined || p.perSecond <= 0) return null;
    const state = { stop: false, done: Promise.resolve() as Promise<unknown> };
    state.done = (async () => {
      let i = 0;
      while (!state.stop) {
        const began = nowMs();
        const c = clients[i++ % clients.length]!;
        try {
          await c.streamApi.getStreamRoom(c.roomId);
          restLatencies.push(nowMs() - began);
        } catch (error) {
          restErrors++;
          lastRestError = describeError(error);
        }
        const wait = began + 1000 / p.perSecond - nowMs();
        if (wait > 0) await sleep(wait);
      }
    })();
    rest = state;
    return null;
  },

  async stopRest() {
    if (rest === undefined) return null;
    rest.stop = true;
    await rest.done;
    rest = undefined;
    return null;
  },

  /** Everything recorded since the last take, with the summed (cumulative) data-track counters, the bulk governor's and the GC's. */
  take() {
    const stats: Record<string, number> = {};
    for (const c of clients) {
      for (const [k, v] of Object.entries(c.streamApi.dataTrackStats())) stats[k] = (stats[k] ?? 0) + v;
    }
    // The bulk governor is one per process (endpoint/util/bulk-governor.ts): its counters, once.
    const governor = clients[0]?.streamApi.dataStreamStats().bulkYield;
    if (governor !== undefined) {
      stats.bulkYieldWaits = governor.waits;
      stats.bulkYieldWaitedMs = governor.waitedMs;
      stats.bulkYieldSlowdowns = governor.slowdowns;
      stats.bulkYieldLateFrameSlowdowns = governor.lateFrameSlowdowns;
    }
    stats.gcMajor = gc.major;
    stats.gcPauseMs = gc.pauseMs;
    const out = {
      latencies: latencies.take(),
      settled: settled.take(),
      stats,
      offered,
      sendErrors,
      lastSendError,
      files: { ...files, failed: { ...files.failed } },
      lastFileError,
      rest: restLatencies.take(),
      restErrors,
      lastRestError,
      lost: clients.filter((c) => c.connection.state !== 'connected').length,
      loopLagMs: { p99: loopLag.percentile(99) / 1e6, max: loopLag.max / 1e6 },
      bulkYieldRate: governor?.active === true ? governor.rateBytesPerSecond : undefined,
      gcLongestMs: gc.longestMs,
    };
    restLatencies = new LatencyLog();
    loopLag.reset();
    gc.longestMs = 0;
    return out;
  },

  /** Deliveries recorded since the last take. */
  received() {
    return latencies.size;
  },

  /** sendData calls made so far. */
  offered: () => offered,

  async disconnect() {
    await Promise.all(clients.map((c) => c.connection.disconnect()));
    clients.length = 0;
    return null;
  },

  ...plainHandlers(),
});

/** The baseline's clients: a `ws` socket per member in `/room/<n>` of the plain room server. */
function plainHandlers() {
  const sockets: WebSocket[] = [];
  const log = new LatencyLog();
  let sending: { stop: boolean; done: Promise<unknown> } | undefined;
  let lost = 0;
  let sent = 0;
  return {
    async plainConnect(p: { url: string; rooms: number[] }) {
      await forEachLimited(p.rooms, CONCURRENCY, async (room) => {
        const ws = new WebSocket(`${p.url}/room/${room}`, { perMessageDeflate: false });
        ws.binaryType = 'nodebuffer';
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        ws.on('message', (data: Buffer) => log.deliver(data));
        ws.on('close', () => lost++);
        sockets.push(ws);
      });
      return sockets.length;
    },
    plainStartSending(p: { perConnection: number; size: number }) {
      const message = makeMessage(p.size);
      sending = paceForever(p.perConnection * sockets.length, sockets.length, (i, seq) => {
        stamp(message, seq);
        sent++;
        sockets[i]!.send(message);
      });
      return null;
    },
    async plainStopSending() {
      if (sending === undefined) return null;
      sending.stop = true;
      await sending.done;
      sending = undefined;
      return null;
    },
    plainReceived: () => log.size,
    plainSent: () => sent,
    plainTake: () => ({ latencies: log.take(), lost }),
    plainClose() {
      for (const ws of sockets) ws.removeAllListeners('close').close();
      sockets.length = 0;
      return null;
    },
  };
}
