/**
 * The load benchmark's settings (bench/scenarios/load.ts, docs/operations/load.md): presets and the
 * `--load-*` flags that change them, read from the command line of `bench/run.ts` or
 * `bench/lib/scenario-cli.ts`. A bad value stops the run with a message naming the flag.
 */
import { parseHeapGrowth, STREAMS_HEAP_GROWTH_PERCENT } from '../../bridge/cli/heap-growth.ts';

export interface LoadConfig {
  /** Endpoint connections, all members of rooms of `roomSize` (a multiple of it). */
  connections: number;
  roomSize: number;
  /** Client processes the connections are spread over. */
  clientProcs: number;
  /** Data-track messages offered per second by all members together (each member `rate / connections`). */
  rate: number;
  /** Bytes per data-track message. */
  size: number;
  /** Byte streams kept going at once in the files phase (0: no files phase). */
  files: number;
  fileMinBytes: number;
  fileMaxBytes: number;
  /** Verified room reads over REST per second, all client processes together. */
  restPerSecond: number;
  warmupSeconds: number;
  /**
   * Messages per second in the warm-up: the preset's rate, or `rate` when lower. A run over capacity
   * (`--load-rate` far above the preset's) so starts as a room that became busy does: its receivers
   * have seen the room's usual transit first, which their lateness is measured from (docs/operations/load.md,
   * "Over capacity"). `--load-warmup-rate=R` sets it, for example to `rate` for a room busy from its first frame.
   */
  warmupRate: number;
  /** Sending time of each measured phase. */
  phaseSeconds: number;
  /** The capacity search: steps (0: none), seconds each, and the rate factor between steps. */
  rampSteps: number;
  rampSeconds: number;
  rampFactor: number;
  /** The plain `ws` room broadcast baseline, in the same run. */
  baseline: boolean;
  /** Passed to `addStreamTrack` as given: 'lossy' | 'reliable' (undefined: the Endpoint's default); 'mixed': even members lossy, odd ones reliable. */
  delivery?: string;
  deadlineMs?: number;
  /**
   * Node flags for the client processes (sealroom's and the plain baseline's clients alike), for
   * example `--initial-old-space-size=128` (docs/operations/load.md, "Garbage collection in the client
   * processes"). Empty by default: the clients run as an application would without them.
   */
  clientNodeFlags: string[];
  /**
   * V8's heap growth in the client processes, percent, set at their start as docs/operations/node-heap.md
   * recommends for a Node application that receives byte streams (0: V8's own heuristic).
   */
  clientHeapGrowth: number;
  /** The preset the flags started from. */
  preset: 'full' | 'quick' | 'small';
}

const MiB = 1024 * 1024;

/** The full scenario: 300 connections in 10 rooms of 30, 300 msg/s, 20 concurrent 1-2 MiB streams. */
export const FULL: LoadConfig = {
  connections: 300,
  roomSize: 30,
  clientProcs: 4,
  rate: 300,
  size: 256,
  files: 20,
  fileMinBytes: 1 * MiB,
  fileMaxBytes: 2 * MiB,
  restPerSecond: 20,
  warmupSeconds: 2,
  warmupRate: 300,
  phaseSeconds: 6,
  rampSteps: 4,
  rampSeconds: 2.5,
  rampFactor: 1.5,
  baseline: true,
  clientNodeFlags: [],
  clientHeapGrowth: STREAMS_HEAP_GROWTH_PERCENT,
  preset: 'full',
};

/** Under about 20 s: 30 connections in 3 rooms of 10. */
export const QUICK: LoadConfig = {
  ...FULL,
  connections: 30,
  roomSize: 10,
  clientProcs: 2,
  rate: 100,
  files: 3,
  fileMinBytes: 1 * MiB,
  fileMaxBytes: 1 * MiB,
  restPerSecond: 10,
  warmupSeconds: 0.5,
  warmupRate: 100,
  phaseSeconds: 1.5,
  rampSteps: 2,
  rampSeconds: 1,
  rampFactor: 2,
  preset: 'quick',
};

/** The 10-member scenario: one room of 10, 100 msg/s (900 deliveries/s), 3 concurrent 16-32 MiB streams. */
export const SMALL: LoadConfig = {
  ...FULL,
  connections: 10,
  roomSize: 10,
  clientProcs: 2,
  rate: 100,
  warmupRate: 100,
  files: 3,
  fileMinBytes: 16 * MiB,
  fileMaxBytes: 32 * MiB,
  restPerSecond: 10,
  preset: 'small',
};

const USAGE = `load benchmark flags (after bench/run.ts --only load):
  --load-small                 the 10-member scenario (1 room of 10, 100 msg/s, 3 x 16-32 MiB streams)
  --load-connections=N         connections (default 300; quick 30)
  --load-room=M                members per room (default 30; quick 10); N must be a multiple of M
  --load-procs=P               client processes (default 4)
  --load-rate=R                data-track messages per second offered by all members together
  --load-size=B                bytes per message (default 256)
  --load-files=F               concurrent room-wide byte streams in the files phase (0: none)
  --load-file-mib=A-B          their size in MiB, e.g. 1-4
  --load-rest=R                verified room reads per second over REST (0: none)
  --load-seconds=S             sending time of each phase
  --load-warmup-rate=R         messages per second in the warm-up (default: the preset's rate, or R when lower)
  --load-ramp=K                capacity search steps (0: none); --load-ramp-seconds, --load-ramp-factor
  --load-no-baseline           skip the plain ws room broadcast
  --load-delivery=lossy|reliable|mixed, --load-deadline-ms=D   passed to addStreamTrack as given
                               (mixed: even members lossy, odd ones reliable)
  --load-client-node-flags=F   Node flags for the client processes, comma-separated,
                               e.g. --load-client-node-flags=--initial-old-space-size=128
  --load-client-heap-growth=P  V8's heap growth in the client processes, percent (default ${STREAMS_HEAP_GROWTH_PERCENT}, as
                               docs/operations/node-heap.md recommends; 0: V8's own heuristic)`;

function fail(message: string): never {
  throw new Error(`${message}\n${USAGE}`);
}

function flag(argv: readonly string[], name: string): string | undefined {
  const prefix = `--load-${name}=`;
  const hit = argv.find((a) => a.startsWith(prefix));
  return hit?.slice(prefix.length);
}

function positive(argv: readonly string[], name: string, fallback: number, { integer = true, zero = false } = {}): number {
  const raw = flag(argv, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < 0 || (!zero && value === 0)) {
    fail(`--load-${name} expected a ${integer ? 'whole ' : ''}number ${zero ? '>= 0' : '> 0'}, got "${raw}"`);
  }
  return value;
}

/** The configuration for a run: the preset (`--quick`, `--load-small`) with the `--load-*` flags over it. */
export function loadConfig(argv: readonly string[], quick: boolean): LoadConfig {
  if (argv.includes('--load-help')) fail('');
  const known =
    /^--load-(small|no-baseline|help|(connections|room|procs|rate|size|files|file-mib|rest|seconds|warmup-rate|ramp|ramp-seconds|ramp-factor|delivery|deadline-ms|client-node-flags|client-heap-growth)=.*)$/;
  const unknown = argv.filter((a) => a.startsWith('--load-') && !known.test(a));
  if (unknown.length > 0) fail(`unknown flag ${unknown.join(', ')}`);
  const base = argv.includes('--load-small') ? SMALL : quick ? QUICK : FULL;
  const c: LoadConfig = { ...base };
  c.connections = positive(argv, 'connections', c.connections);
  c.roomSize = positive(argv, 'room', Math.min(c.connections, c.roomSize));
  c.clientProcs = Math.min(c.connections, positive(argv, 'procs', c.clientProcs));
  c.rate = positive(argv, 'rate', c.rate, { integer: false });
  c.warmupRate = positive(argv, 'warmup-rate', Math.min(base.warmupRate, c.rate), { integer: false });
  c.size = positive(argv, 'size', c.size);
  c.files = positive(argv, 'files', c.files, { zero: true });
  c.restPerSecond = positive(argv, 'rest', c.restPerSecond, { integer: false, zero: true });
  c.phaseSeconds = positive(argv, 'seconds', c.phaseSeconds, { integer: false });
  c.rampSteps = positive(argv, 'ramp', c.rampSteps, { zero: true });
  c.rampSeconds = positive(argv, 'ramp-seconds', c.rampSeconds, { integer: false });
  c.rampFactor = positive(argv, 'ramp-factor', c.rampFactor, { integer: false });
  if (argv.includes('--load-no-baseline')) c.baseline = false;
  const mib = flag(argv, 'file-mib');
  if (mib !== undefined) {
    const m = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(mib);
    if (m === null || Number(m[1]) <= 0 || Number(m[2] ?? m[1]) < Number(m[1])) fail(`--load-file-mib expected A or A-B (MiB, A <= B), got "${mib}"`);
    c.fileMinBytes = Math.round(Number(m[1]) * MiB);
    c.fileMaxBytes = Math.round(Number(m[2] ?? m[1]) * MiB);
  }
  const nodeFlags = flag(argv, 'client-node-flags');
  if (nodeFlags !== undefined) {
    c.clientNodeFlags = nodeFlags.split(',');
    const bad = c.clientNodeFlags.find((f) => !/^--[a-z][a-z0-9-]*(=[A-Za-z0-9._-]+)?$/.test(f));
    if (bad !== undefined) fail(`--load-client-node-flags expected Node flags like --name or --name=value, comma-separated, got "${bad}"`);
  }
  const growth = flag(argv, 'client-heap-growth');
  if (growth !== undefined) {
    const parsed = parseHeapGrowth(growth);
    if ('problem' in parsed) fail(`--load-client-heap-growth ${parsed.problem}`);
    c.clientHeapGrowth = parsed.percent;
  }
  const delivery = flag(argv, 'delivery');
  if (delivery !== undefined) c.delivery = delivery;
  const deadline = flag(argv, 'deadline-ms');
  if (deadline !== undefined) c.deadlineMs = positive(argv, 'deadline-ms', 0);
  if (c.roomSize < 2) fail(`--load-room expected at least 2 members, got ${c.roomSize}`);
  if (c.connections % c.roomSize !== 0) fail(`--load-connections (${c.connections}) expected a multiple of --load-room (${c.roomSize})`);
  if (c.size < 12 || c.size > 60_000) fail(`--load-size expected 12..60000 bytes, got ${c.size}`);
  if (c.rampFactor <= 1 && c.rampSteps > 1) fail(`--load-ramp-factor expected more than 1, got ${c.rampFactor}`);
  return c;
}

/** The `addStreamTrack` options the flags ask for (the Endpoint checks them: a bad one fails the join loudly). */
export function deliveryOptions(c: LoadConfig): Record<string, unknown> {
  return { ...(c.delivery === undefined ? {} : { delivery: c.delivery }), ...(c.deadlineMs === undefined ? {} : { deadlineMs: c.deadlineMs }) };
}
