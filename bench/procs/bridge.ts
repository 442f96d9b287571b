/**
 * The Bridge in its own process: `createBridge` on port 0 over a real SQLite file in the folder the
 * parent made, logs silent, V8's heap growth as `sealroom start` sets it. Reports `{url, apiKey, pid}`
 * when listening.
 *
 * It also times every HTTP request at the Bridge, from the moment its headers are parsed to the moment
 * the response is handed to the socket, through Node's `http.server.request.start` /
 * `http.server.response.finish` diagnostics channels: the Bridge's own code is untouched.
 */
import diagnostics from 'node:diagnostics_channel';
import { rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { DEFAULT_HEAP_GROWTH_PERCENT, setHeapGrowth } from '../../bridge/cli/heap-growth.ts';
import { createBridge, type CreateBridgeOptions } from '../../bridge/index.ts';
import { nowMs } from '../lib/clock.ts';
import { serve, workerArgs } from '../lib/worker.ts';

export interface BridgeProcArgs {
  dataDir: string;
  options?: Partial<CreateBridgeOptions>;
}

export interface HttpTiming {
  method: string;
  url: string;
  status: number;
  /** Monotonic ms (bench/lib/clock.ts) when the request's headers were parsed. */
  start: number;
  /** Time at the Bridge, ms. */
  ms: number;
}

/** Bounds the record when nobody collects it. */
const MAX_TIMINGS = 200_000;

const args = workerArgs<BridgeProcArgs>();
// What `sealroom start` does before the Bridge starts (docs/operations/node-heap.md).
setHeapGrowth(DEFAULT_HEAP_GROWTH_PERCENT);
// The parent removes the folder too; this covers a parent that died (the IPC channel closes, we exit).
process.on('exit', () => rmSync(args.dataDir, { recursive: true, force: true }));
// With a PostgreSQL `store` (the cluster scenario) the folder stays empty: a store excludes dataDir.
const bridge = await createBridge({ port: 0, logLevel: 'silent', ...args.options, ...(args.options?.store === undefined ? { dataDir: args.dataDir } : {}) });

// The URL is taken at the start: express rewrites `req.url` while it routes (it strips mount paths).
const starts = new WeakMap<IncomingMessage, { start: number; url: string }>();
let recording = false;
let timings: HttpTiming[] = [];
diagnostics.subscribe('http.server.request.start', (message) => {
  const { request } = message as { request: IncomingMessage };
  if (recording) starts.set(request, { start: nowMs(), url: request.url ?? '' });
});
diagnostics.subscribe('http.server.response.finish', (message) => {
  const { request, response } = message as { request: IncomingMessage; response: ServerResponse };
  const begun = starts.get(request);
  if (begun === undefined || timings.length >= MAX_TIMINGS) return;
  timings.push({ method: request.method ?? '', url: begun.url, status: response.statusCode, start: begun.start, ms: nowMs() - begun.start });
});

// The event loop's lag (the load benchmark): sampled every 10 ms, reset by `takeLoopLag`.
const loopLag = monitorEventLoopDelay({ resolution: 10 });
loopLag.enable();

serve(
  {
    /** Event-loop lag since the last call, ms: p50, p99 and max of the delay beyond the 10 ms sampling interval. */
    takeLoopLag: () => {
      // The histogram holds whole intervals between samples: the lag is what exceeds the 10 ms.
      const lag = (ns: number) => Math.max(0, ns / 1e6 - 10);
      const out = { p50: lag(loopLag.percentile(50)), p99: lag(loopLag.percentile(99)), max: lag(loopLag.max), count: loopLag.count };
      loopLag.reset();
      return out;
    },
    /** Starts (or restarts) recording request timings. */
    recordTimings: () => {
      recording = true;
      timings = [];
      return null;
    },
    /** Returns the timings recorded since the last call, optionally only those whose URL starts with `prefix`. */
    takeTimings: (params: { prefix?: string } | null) => {
      const out = timings.filter((t) => params?.prefix === undefined || t.url.startsWith(params.prefix));
      timings = [];
      return out;
    },
    /** The media forwarding unit's counters (bench/media-forwarding.ts). */
    mediaStats: () => bridge.realtime.media.stats(),
    memory: () => {
      globalThis.gc?.();
      return { ...process.memoryUsage(), connections: bridge.realtime.connections.size };
    },
    /** Writes a heap snapshot (the memory benchmark's BENCH_HEAP_SNAPSHOT_DIR) and returns its path. */
    heapSnapshot: (params: { path: string }) => writeHeapSnapshot(params.path),
  },
  { url: bridge.url, apiKey: bridge.initialApiKey ?? args.options?.apiKey, pid: process.pid },
  () => bridge.close(),
);
