/**
 * One measured phase of the load benchmark (bench/scenarios/load.ts): what the client processes
 * recorded, the Bridge's counters from `GET /metrics` (docs/operations/metrics.md) and its event-loop
 * lag, CPU of every process, and the accounting of deliveries: every expected delivery (messages
 * offered x the other members of the room) is delivered or counted as dropped somewhere, or it is
 * reported as unaccounted.
 */
import { nowMs, sleep } from './clock.ts';
import { readFileSync } from 'node:fs';
import { readCpuPreciseMs, type Proc } from './procs.ts';
import { summarize } from './stats.ts';

/** What bench/procs/load-members.ts `take` returns. */
export interface MembersTake {
  latencies: Float64Array;
  /** The deliveries of a files phase from 5 s after its streams started. */
  settled: Float64Array;
  /** Cumulative counters: the members' data-track stats summed, the process's bulk governor (`bulkYield*`) and its GC (`gcMajor`, `gcPauseMs`). */
  stats: Record<string, number>;
  offered: number;
  sendErrors: number;
  lastSendError: string;
  files: { verified: number; mismatched: number; failed: Record<string, number> };
  lastFileError: string;
  rest: Float64Array;
  restErrors: number;
  lastRestError: string;
  lost: number;
  /** The process's event-loop delay over the phase (1 ms sampling), ms. */
  loopLagMs: { p99: number; max: number };
  /** The process's bulk governor rate at the take, bytes/s (undefined while it paces nothing). */
  bulkYieldRate?: number;
  /** The process's longest garbage collection since the last take (main-thread time, ms). */
  gcLongestMs?: number;
}

/** Receiver-side counters of `dataTrackStats()` that count a message that was not delivered. */
export const RECEIVER_DROPS = [
  'droppedBySlowness',
  'droppedByDeadline',
  'droppedLate',
  'droppedInCluster',
  'undecryptable',
  'replayed',
  'noKey',
  'stale',
  'unroutable',
  'receiveOverflow',
] as const;

/** Receiver causes that only a lossy track has (docs/protocol/data-tracks.md): the Bridge drops nothing of a reliable one. */
const LOSSY_ONLY = new Set(['droppedBySlowness', 'droppedByDeadline', 'droppedLate']);

/** Cumulative counters of all client processes and of the Bridge at one moment. */
export interface Snapshot {
  at: number;
  stats: Record<string, number>;
  offered: number;
  sendErrors: number;
  files: { verified: number; mismatched: number; failed: Record<string, number> };
  restErrors: number;
  /** `sealroom_drops_total` by cause, `sealroom_deliveries_total` and `sealroom_relayed_frames_total` of data. */
  bridge: Record<string, number>;
  bridgeCpuMs: number;
  clientCpuMs: number;
  /** Run-queue wait (readRunQueueWaitMs) of the Bridge and of the client processes together. */
  bridgeWaitMs: number;
  clientWaitMs: number;
}

export interface PhaseFigures {
  name: string;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  delivered: number;
  expected: number;
  /** sendData calls per second of sending, all members together (below the asked rate when the clients could not keep up). */
  offeredPerSecond: number;
  /** Counted drops, by where and why (receiver `dataTrackStats` causes, `sendDropped`, `sendErrors`, each x subscribers for the sender side). */
  drops: Record<string, number>;
  dropped: number;
  unaccounted: number;
  /** The Bridge's own drop and delivery counters over the phase (`/metrics`). */
  bridgeCounters: Record<string, number>;
  bridgeCpuShare: number;
  /** Per second of sending, how long the Bridge's / the client processes' event loops were runnable but waiting for a CPU (ms/s, clients summed). */
  bridgeWaitPerSecond: number;
  clientWaitPerSecond: number;
  bridgeMicrosPerDelivery: number;
  clientMicrosPerDelivery: number;
  loopLag: { p50: number; p99: number; max: number };
  /** The files phase's delivery p99 from 5 s after its streams started (undefined in a phase without files). */
  settledP99?: number;
  /** The client processes' event-loop delay over the phase: the worst process's p99 and max, ms. */
  clientLoopLag: { p99: number; max: number };
  /**
   * The client processes' bulk governors over the phase (endpoint/util/bulk-governor.ts): times the
   * rate was halved and reservations held back (summed), their waits summed (ms), and each pacing
   * process's rate at the phase's end (bytes/s).
   */
  bulkYield: { slowdowns: number; lateFrameSlowdowns: number; waits: number; waitedMs: number; endRates: number[] };
  /**
   * The client processes' garbage collections over the phase (`perf_hooks`): full Mark-Compacts
   * (summed), the share of each process's time its main thread spent collecting (the mean over the
   * processes), and the longest single collection, ms.
   */
  gc: { major: number; pauseShare: number; longestMs: number };
  rest: { count: number; p50: number; p99: number; errors: number; lastError: string };
  files: { verified: number; mismatched: number; failed: Record<string, number>; lastError: string };
  lost: number;
  lastSendError: string;
}

/**
 * Time the main thread (the event loop) of a process was runnable but waiting for a CPU, ms: the
 * second field of `/proc/<pid>/task/<pid>/schedstat`. On a core shared with other work (or with the
 * process's own helper threads: GC, libuv's pool), what the event loop lost to it.
 */
export function readRunQueueWaitMs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
}

/** Parses the Prometheus text of `/metrics` for the data-track totals this benchmark accounts with. */
export async function bridgeCounters(url: string, apiKey: string): Promise<Record<string, number>> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${apiKey}` } });
  if (!response.ok) throw new Error(`GET /metrics: HTTP ${response.status}`);
  const out: Record<string, number> = {};
  for (const line of (await response.text()).split('\n')) {
    const m = /^sealroom_(drops_total\{cause="([^"]+)"\}|deliveries_total\{kind="data"\}|relayed_frames_total\{kind="data"\}) (\S+)$/.exec(line);
    if (m === null) continue;
    const key = m[2] !== undefined ? `drops.${m[2]}` : m[1]!.startsWith('deliveries') ? 'dataDeliveries' : 'dataFrames';
    out[key] = Number(m[3]);
  }
  return out;
}

function sumFailed(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function minus(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(a)) if (v - (b[k] ?? 0) !== 0) out[k] = v - (b[k] ?? 0);
  return out;
}

export interface LoadSystem {
  bridge: Proc;
  bridgeUrl: string;
  apiKey: string;
  members: Proc[];
  /** Members of a room minus the sender. */
  subscribers: number;
}

/** Takes every client process's records (latencies are consumed) and the Bridge's counters. */
export async function snapshot(s: LoadSystem): Promise<{ snap: Snapshot; takes: MembersTake[] }> {
  const [takes, bridge] = await Promise.all([Promise.all(s.members.map((m) => m.call<MembersTake>('take'))), bridgeCounters(s.bridgeUrl, s.apiKey)]);
  const stats: Record<string, number> = {};
  let files = { verified: 0, mismatched: 0, failed: {} as Record<string, number> };
  for (const t of takes) {
    for (const [k, v] of Object.entries(t.stats)) stats[k] = (stats[k] ?? 0) + v;
    files = { verified: files.verified + t.files.verified, mismatched: files.mismatched + t.files.mismatched, failed: sumFailed(files.failed, t.files.failed) };
  }
  const snap: Snapshot = {
    at: nowMs(),
    stats,
    offered: takes.reduce((n, t) => n + t.offered, 0),
    sendErrors: takes.reduce((n, t) => n + t.sendErrors, 0),
    files,
    restErrors: takes.reduce((n, t) => n + t.restErrors, 0),
    bridge,
    bridgeCpuMs: readCpuPreciseMs(s.bridge.pid),
    clientCpuMs: s.members.reduce((n, m) => n + readCpuPreciseMs(m.pid), 0),
    bridgeWaitMs: readRunQueueWaitMs(s.bridge.pid),
    clientWaitMs: s.members.reduce((n, m) => n + readRunQueueWaitMs(m.pid), 0),
  };
  return { snap, takes };
}

/**
 * Waits until the receivers hold `expected` deliveries or none arrived for `quietMs` (a drop is
 * counted, not delivered), at most `maxMs`.
 */
export async function drain(count: () => Promise<number>, expected: number, quietMs = 500, maxMs = 30_000): Promise<void> {
  const deadline = nowMs() + maxMs;
  let last = -1;
  let since = nowMs();
  while (nowMs() < deadline) {
    const n = await count();
    if (n >= expected) return;
    if (n !== last) {
      last = n;
      since = nowMs();
    } else if (nowMs() - since >= quietMs) return;
    await sleep(100);
  }
}

/** The figures of a phase from the snapshots around it; `sendMs` is how long messages were sent. */
export function phaseFigures(
  name: string,
  s: LoadSystem,
  before: Snapshot,
  after: { snap: Snapshot; takes: MembersTake[] },
  sendMs: number,
  loopLag: { p50: number; p99: number; max: number },
): PhaseFigures {
  const a = after.snap;
  const d = (k: string) => (a.stats[k] ?? 0) - (before.stats[k] ?? 0);
  const latencies = after.takes.flatMap((t) => Array.from(t.latencies));
  const lat = summarize(latencies);
  const settled = summarize(after.takes.flatMap((t) => Array.from(t.settled)));
  const offered = a.offered - before.offered;
  const sendErrors = a.sendErrors - before.sendErrors;
  const drops: Record<string, number> = {};
  for (const k of RECEIVER_DROPS) if (d(k) !== 0) drops[`receiver ${k}${LOSSY_ONLY.has(k) ? ' (lossy)' : ''}`] = d(k);
  // A message dropped or refused at the sender is a drop for every subscriber. Only a lossy track
  // drops at the sender; a reliable one refuses (RateLimited), which counts among the errors.
  if (d('sendDropped') !== 0) drops['sender sendDropped (lossy) x subscribers'] = d('sendDropped') * s.subscribers;
  if (sendErrors !== 0) drops['sender sendData errors x subscribers'] = sendErrors * s.subscribers;
  if (d('reliableCuts') !== 0) drops['receiver reliableCuts (reliable; subscriptions cut, not messages)'] = d('reliableCuts');
  const dropped = Object.entries(drops)
    .filter(([k]) => !k.includes('reliableCuts'))
    .reduce((n, [, v]) => n + v, 0);
  const delivered = d('delivered');
  const expected = offered * s.subscribers;
  const rest = summarize(after.takes.flatMap((t) => Array.from(t.rest)));
  const bridgeCpu = a.bridgeCpuMs - before.bridgeCpuMs;
  const clientCpu = a.clientCpuMs - before.clientCpuMs;
  return {
    name,
    seconds: sendMs / 1000,
    p50: lat.p50,
    p99: lat.p99,
    settledP99: settled.count > 0 ? settled.p99 : undefined,
    max: lat.max,
    delivered,
    expected,
    offeredPerSecond: offered / (sendMs / 1000),
    drops,
    dropped,
    unaccounted: expected - delivered - dropped,
    bridgeCounters: minus(a.bridge, before.bridge),
    // CPU per second of sending: what the offered load costs, the backlog worked off after it included.
    bridgeCpuShare: bridgeCpu / sendMs,
    bridgeWaitPerSecond: (a.bridgeWaitMs - before.bridgeWaitMs) / (sendMs / 1000),
    clientWaitPerSecond: (a.clientWaitMs - before.clientWaitMs) / (sendMs / 1000),
    bridgeMicrosPerDelivery: (bridgeCpu * 1000) / Math.max(1, delivered),
    clientMicrosPerDelivery: (clientCpu * 1000) / Math.max(1, delivered),
    loopLag,
    clientLoopLag: {
      p99: Math.max(0, ...after.takes.map((t) => t.loopLagMs?.p99 ?? 0)),
      max: Math.max(0, ...after.takes.map((t) => t.loopLagMs?.max ?? 0)),
    },
    bulkYield: {
      slowdowns: d('bulkYieldSlowdowns'),
      lateFrameSlowdowns: d('bulkYieldLateFrameSlowdowns'),
      waits: d('bulkYieldWaits'),
      waitedMs: d('bulkYieldWaitedMs'),
      endRates: after.takes.flatMap((t) => (t.bulkYieldRate === undefined ? [] : [t.bulkYieldRate])),
    },
    gc: {
      major: d('gcMajor'),
      pauseShare: d('gcPauseMs') / Math.max(1, after.takes.length) / (a.at - before.at),
      longestMs: Math.max(0, ...after.takes.map((t) => t.gcLongestMs ?? 0)),
    },
    rest: {
      count: rest.count,
      p50: rest.p50,
      p99: rest.p99,
      errors: a.restErrors - before.restErrors,
      lastError: after.takes.find((t) => t.lastRestError !== '')?.lastRestError ?? '',
    },
    files: {
      verified: a.files.verified - before.files.verified,
      mismatched: a.files.mismatched - before.files.mismatched,
      failed: minus(a.files.failed, before.files.failed),
      lastError: after.takes.find((t) => t.lastFileError !== '')?.lastFileError ?? '',
    },
    lost: after.takes.reduce((n, t) => n + t.lost, 0),
    lastSendError: after.takes.find((t) => t.lastSendError !== '')?.lastSendError ?? '',
  };
}

/** A step of the capacity ramp (bench/scenarios/load.ts). */
export interface RampStep {
  rate: number;
  figures: PhaseFigures;
  passed: boolean;
  why: string;
}

/** The highest step that passed, and the step that ended the search (a failed one, when there is one). */
export function rampOutcome(ramp: RampStep[]): { best: RampStep | undefined; failed: RampStep | undefined } {
  const passed = ramp.filter((s) => s.passed).sort((x, y) => y.rate - x.rate);
  const failed = ramp.filter((s) => !s.passed).sort((x, y) => x.rate - y.rate);
  const best = passed[0];
  return { best, failed: failed.find((s) => best === undefined || s.rate > best.rate) };
}
