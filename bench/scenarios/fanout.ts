/**
 * Scenario 2: fan-out of data-track messages of 1 KiB, 1 sender to 20 and to 50 subscribers, against a
 * socket.io room broadcast of the same plaintext messages, in the same run and the same process
 * layout, at a rate the machine carries: per fan-out, a short search finds the rate where socket.io's
 * p99 stays under 50 ms (SEARCH), and both systems run there (quick mode: rates an earlier search
 * found, docs/operations/benchmarks.md):
 *
 *   sealroom:  sender process (1 Endpoint) -> Bridge process -> 5 processes x 10 Endpoints
 *   socket.io: sender process (1 client)   -> socket.io server process -> 5 processes x 10 clients
 *
 * Latency is the receiver's clock when the message reaches the app (sealroom: `onRemoteData`, after
 * SFrame decryption and the replay check; socket.io: the `m` handler) minus the stamp the sender wrote
 * into the message right before `sendData`/`emit`. Both clocks are the machine-wide CLOCK_MONOTONIC
 * (process.hrtime), see bench/lib/clock.ts. p50 and p99 are over every delivery of a run; the table
 * shows the median over runs. Runs alternate between the two systems, so load from other tenants of
 * the machine falls on both.
 *
 * On two or more cores the Bridge and the socket.io server are pinned to CPU 0 and the client processes
 * (sender and receivers) to the other CPUs, as the load and CRUD scenarios do: each server has a core of
 * its own, and the receivers, where both systems backlog first (docs/operations/load.md, "Client CPU
 * per message"), share the rest.
 */
import { availableParallelism } from 'node:os';
import { nowMs, sleep } from '../lib/clock.ts';
import { startBridgeProc } from '../lib/bridge.ts';
import { bundleProc } from '../lib/bundle.ts';
import { peer, type Peer } from '../lib/peers.ts';
import { canPin, ProcGroup, type Proc } from '../lib/procs.ts';
import { addFixed } from '../lib/timing.ts';
import { type ResultRow, row, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median, summarize } from '../lib/stats.ts';
import { makeTenant, pubOf, split } from '../lib/tenant.ts';

const SCENARIO = 'fan-out: data track, 1 sender -> 20 and 50 subscribers';

interface Config {
  /** Subscriber counts, in order: each grows the set of the one before (1 -> 20, then 30 more). */
  fanouts: number[];
  receiverProcs: number;
  size: number;
  /**
   * The rate of each fan-out, msg/s. Unset: found by `searchRate` on socket.io in this run. Set (quick
   * mode): the rates an earlier search found here (docs/operations/benchmarks.md).
   */
  rates?: Record<number, number>;
  warmupSeconds: number;
  runSeconds: number;
  runs: number;
}

const FULL: Config = { fanouts: [20, 50], receiverProcs: 5, size: 1024, warmupSeconds: 1, runSeconds: 2, runs: 3 };
/** Quick: the rates the search found here at 01:35 UTC on 2026-12-06, load average 11-15 (docs/operations/benchmarks.md). */
const QUICK: Config = { ...FULL, rates: { 20: 1000, 50: 1000 }, warmupSeconds: 0.3, runSeconds: 0.5, runs: 2 };
/**
 * The rate search (the issue's method: the rate where socket.io's p99 stays under 50 ms, then both
 * there): socket.io alone, one short run per step, doubling from `firstRate` while a step passes; the
 * highest passing step is the rate. When the first step fails, halving down to `minRate`. A step that
 * fails is run once more before it counts as failed: on a shared machine one second can hold another
 * tenant's burst (measured: a 125 msg/s step at 84 ms, then runs at that rate at 5-10 ms).
 */
const SEARCH = { firstRate: 500, maxRate: 8000, minRate: 125, seconds: 1, p99LimitMs: 50 };
/** After the sender stops, the take waits until no delivery arrived for this long (or all did). */
const QUIET_MS = 300;
/** ... but no longer than this: a backlog that has not drained by then counts as lost. */
const DRAIN_MAX_MS = 20_000;

interface Take {
  latencies: Float64Array;
  stats: Record<string, number>;
  sendErrors: number;
  lastSendError: string;
}

interface System {
  name: string;
  server: Proc;
  sender: Peer;
  receivers: Peer[];
  /** Subscribes (sealroom) or joins (socket.io) `count` more connections of receiver process `index`. */
  grow(index: number, count: number): Promise<unknown>;
}

/** The client processes both systems share: one sender process, the receiver processes. */
interface Clients {
  sender: Proc;
  receivers: Proc[];
}

interface RunFigures {
  /** CPU used per process during the run, as a share of one core: `name: 0.93`. */
  cpu: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
  delivered: number;
  expected: number;
}

interface SearchStep {
  rate: number;
  /** p99 of each try, ms (a second try only after a failed first). */
  p99: number[];
  passed: boolean;
}

/** What one fan-out measured: its rate (and how it was found) and every run of both systems. */
interface FanoutFigures {
  subscribers: number;
  rate: number;
  search: { steps: SearchStep[]; found: boolean } | undefined;
  runs: Record<string, RunFigures[]>;
}

/** Waits until the receivers have everything, or nothing new arrived for QUIET_MS. */
async function drain(system: System, expected: number): Promise<void> {
  const deadline = nowMs() + DRAIN_MAX_MS;
  let last = -1;
  let lastChange = nowMs();
  while (nowMs() < deadline) {
    const counts = await Promise.all(system.receivers.map((r) => r.call<number>('received')));
    const total = counts.reduce((a, b) => a + b, 0);
    if (total >= expected) return;
    if (total !== last) {
      last = total;
      lastChange = nowMs();
    } else if (nowMs() - lastChange >= QUIET_MS) return;
    await sleep(50);
  }
}

async function runOnce(system: System, load: { rate: number; size: number; subscribers: number }, seconds: number): Promise<RunFigures> {
  await Promise.all(system.receivers.map((r) => r.call('take')));
  const procs = [system.server, system.sender.proc, ...system.receivers.map((r) => r.proc)];
  const cpuBefore = procs.map((p) => p.cpuMs());
  const t0 = nowMs();
  addFixed(seconds * 1000);
  const sent = await system.sender.call<{ sent: number; errors: number; lastError?: string }>(
    'stream',
    { rate: load.rate, seconds, size: load.size },
    seconds * 1000 + 30_000,
  );
  if (sent.errors > 0) throw new Error(`${system.name}: ${sent.errors} sendData calls failed: ${sent.lastError}`);
  await drain(system, sent.sent * load.subscribers);
  const wall = nowMs() - t0;
  const cpu: Record<string, number> = {};
  for (const [i, p] of procs.entries()) cpu[p.name] = (p.cpuMs() - cpuBefore[i]!) / wall;
  const takes = await Promise.all(system.receivers.map((r) => r.call<Take>('take')));
  const all = new Float64Array(takes.reduce((n, t) => n + t.latencies.length, 0));
  let offset = 0;
  for (const t of takes) {
    all.set(t.latencies, offset);
    offset += t.latencies.length;
  }
  const s = summarize(all);
  return { cpu, p50: s.p50, p99: s.p99, max: s.max, delivered: all.length, expected: sent.sent * load.subscribers };
}

/** The highest step (SEARCH) at which socket.io delivers everything with its p99 under the limit. */
async function searchRate(socketio: System, subscribers: number, size: number): Promise<{ rate: number; steps: SearchStep[]; found: boolean }> {
  const steps: SearchStep[] = [];
  const step = async (rate: number) => {
    const p99: number[] = [];
    let passed = false;
    for (let attempt = 0; attempt < 2 && !passed; attempt++) {
      const f = await runOnce(socketio, { rate, size, subscribers }, SEARCH.seconds);
      p99.push(f.p99);
      passed = f.p99 < SEARCH.p99LimitMs && f.delivered === f.expected;
    }
    steps.push({ rate, p99, passed });
    return passed;
  };
  let best: number | undefined;
  for (let rate = SEARCH.firstRate; rate <= SEARCH.maxRate && (await step(rate)); rate *= 2) best = rate;
  if (best === undefined) {
    for (let rate = SEARCH.firstRate / 2; rate >= SEARCH.minRate; rate /= 2) {
      if (await step(rate)) {
        best = rate;
        break;
      }
    }
  }
  return { rate: best ?? SEARCH.minRate, steps, found: best !== undefined };
}

/** Brings both systems to `subscribers` receiving connections, spread over the receiver processes as evenly as `split` does. */
async function growTo(systems: System[], config: Config, from: number, to: number): Promise<void> {
  const counts = (n: number) => split(Array.from({ length: n }), config.receiverProcs).map((g) => g.length);
  const before = counts(from);
  const after = counts(to);
  for (const system of systems) await Promise.all(after.map((n, i) => (n > before[i]! ? system.grow(i, n - before[i]!) : null)));
}

/** One fan-out: the rate (given or searched), then `runs` runs of each system at it, alternating. */
async function measureFanout(sealroom: System, socketio: System, config: Config, subscribers: number): Promise<FanoutFigures> {
  const search = config.rates?.[subscribers] === undefined ? await searchRate(socketio, subscribers, config.size) : undefined;
  const rate = config.rates?.[subscribers] ?? search!.rate;
  const runs: Record<string, RunFigures[]> = { sealroom: [], 'socket.io': [] };
  const load = { rate, size: config.size, subscribers };
  for (let r = 0; r < config.runs; r++) {
    // Alternate which goes first, so a slow stretch of the machine does not favour one side.
    const order = r % 2 === 0 ? [sealroom, socketio] : [socketio, sealroom];
    for (const system of order) runs[system.name]!.push(await runOnce(system, load, config.runSeconds));
  }
  return { subscribers, rate, search: search === undefined ? undefined : { steps: search.steps, found: search.found }, runs };
}

/** The most subscribers any fan-out has: every process holds that many connections from the start. */
const most = (config: Config) => Math.max(...config.fanouts);

/** Where the processes run: the servers on `server`, the clients on `clients` (both undefined: unpinned). */
interface Pinning {
  server?: string;
  clients?: string;
}

async function setupSealroom(group: ProcGroup, clients: Clients, config: Config, pin: Pinning): Promise<System> {
  const bridge = await startBridgeProc(group, {}, pin.server === undefined ? {} : { cpus: pin.server });
  const ids = ['sender', ...Array.from({ length: most(config) }, (_, i) => `sub${i}`)];
  const tenant = await makeTenant(bridge.manage, ids, 'fanout');
  const [senderUser, ...subUsers] = tenant.users;
  const sender = peer(clients.sender, 'sealroom');
  await sender.call('connect', { url: bridge.url, solutionId: tenant.solutionId, users: [senderUser] });
  const roomId = await sender.call<string>('createRoom', {
    contextId: tenant.contextId,
    users: tenant.users.map(pubOf),
    managers: [pubOf(senderUser!)],
  });
  await sender.call('join', { roomId });
  const { streamId } = await sender.call<{ streamId: string }>('publish', { roomId });
  const groups = split(subUsers, config.receiverProcs);
  const receivers = clients.receivers.map((r) => peer(r, 'sealroom'));
  await Promise.all(
    receivers.map(async (r, i) => {
      await r.call('connect', { url: bridge.url, solutionId: tenant.solutionId, users: groups[i] }, 120_000);
      await r.call('join', { roomId }, 120_000);
    }),
  );
  const grow = (i: number, count: number) => receivers[i]!.call('subscribe', { roomId, streamId, count }, 120_000);
  return { name: 'sealroom', server: bridge.proc, sender, receivers, grow };
}

async function setupSocketIo(group: ProcGroup, clients: Clients, config: Config, pin: Pinning): Promise<System> {
  const { proc: server, info } = await group.fork<{ url: string }>('sio-server.ts', {
    name: 'socketio-server',
    ...(pin.server === undefined ? {} : { cpus: pin.server }),
  });
  const sender = peer(clients.sender, 'socketio');
  await sender.call('connect', { url: info.url, count: 1 });
  const counts = split(Array.from({ length: most(config) }), config.receiverProcs).map((g) => g.length);
  const receivers = clients.receivers.map((r) => peer(r, 'socketio'));
  await Promise.all(receivers.map((r, i) => r.call('connect', { url: info.url, count: counts[i] })));
  const grow = (i: number, count: number) => receivers[i]!.call('join', { count });
  return { name: 'socket.io', server, sender, receivers, grow };
}

const f1 = (v: number) => v.toFixed(1);

/** The rows and notes of one fan-out. */
function fanoutReport(f: FanoutFigures, config: Config): { rows: ResultRow[]; notes: string[] } {
  const stat = (name: string, key: Exclude<keyof RunFigures, 'cpu'>) => median(f.runs[name]!.map((r) => r[key]));
  const deliveredShare = (name: string) => f.runs[name]!.map((r) => `${((100 * r.delivered) / r.expected).toFixed(2)}%`).join(', ');
  const range = (name: string, key: 'p50' | 'p99') => {
    const values = f.runs[name]!.map((r) => r[key]);
    return `${f1(Math.min(...values))}-${f1(Math.max(...values))}`;
  };
  const cpuOf = (name: string) => {
    const all = f.runs[name]!.map((r) => r.cpu);
    return Object.keys(all[0] ?? {})
      .map((k) => `${k} ${median(all.map((c) => c[k] ?? 0)).toFixed(2)}`)
      .join(', ');
  };
  const perRun = (name: string) => f.runs[name]!.map((r) => `${r.p50.toFixed(2)}/${r.p99.toFixed(2)}/${f1(r.max)}`).join('; ');
  const deliveries = (name: string) => (f.rate * f.subscribers * stat(name, 'delivered')) / stat(name, 'expected');
  const sio = { name: 'socket.io room broadcast', value: stat('socket.io', 'p99') };
  const label = `1 -> ${f.subscribers}, ${f.rate} msg/s x ${config.size} B`;
  const how =
    f.search === undefined
      ? `the fixed quick-mode rate (not searched in this run: an earlier search on this machine found socket.io's p99 under ${SEARCH.p99LimitMs} ms there; docs/operations/benchmarks.md)`
      : `${f.search.found ? 'found in this run' : `NOT found: no step passed, run at the lowest step`}: socket.io alone, ${SEARCH.seconds} s per step (a failed step tried twice), p99 under ${SEARCH.p99LimitMs} ms and every message delivered: ${f.search.steps
          .map((s) => `${s.rate} msg/s p99 ${s.p99.map(f1).join(' then ')} ms ${s.passed ? 'pass' : 'fail'}`)
          .join(', ')}`;
  return {
    rows: [
      row(`${label}: p50 delivery latency`, stat('sealroom', 'p50'), 'ms', { baseline: { name: sio.name, value: stat('socket.io', 'p50') } }),
      row(`${label}: p99 delivery latency`, stat('sealroom', 'p99'), 'ms', {
        baseline: sio,
        target: { op: '<=', value: sio.value, text: "<= socket.io's p99" },
      }),
      row(`${label}: deliveries per second (all subscribers)`, deliveries('sealroom'), 'msg/s', {
        baseline: { name: 'socket.io', value: deliveries('socket.io') },
      }),
    ],
    notes: [
      `**1 -> ${f.subscribers}** at ${f.rate} msg/s, ${how}.`,
      `1 -> ${f.subscribers} sealroom per-run p50/p99/max ms: ${perRun('sealroom')}; delivered: ${deliveredShare('sealroom')}. socket.io: ${perRun('socket.io')}; delivered: ${deliveredShare('socket.io')}. p99 range over runs: sealroom ${range('sealroom', 'p99')}, socket.io ${range('socket.io', 'p99')} ms (the target compares the medians).`,
      `1 -> ${f.subscribers} CPU per process during a run (cores, median): sealroom: ${cpuOf('sealroom')}; socket.io: ${cpuOf('socket.io')}.`,
    ],
  };
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  const started = nowMs();
  try {
    // Built: plain node starts faster than through tsx (bench/lib/bundle.ts); the code is the same.
    const cores = availableParallelism();
    const pin: Pinning = cores >= 2 && canPin() ? { server: '0', clients: cores > 2 ? `1-${cores - 1}` : '1' } : {};
    const onClients = pin.clients === undefined ? {} : { cpus: pin.clients };
    const peersScript = await bundleProc('peers.ts');
    const [sender, ...receivers] = (
      await group.forkAll(peersScript, [
        { name: 'sender', ...onClients },
        ...Array.from({ length: config.receiverProcs }, (_, i) => ({ name: `receivers-${i}`, ...onClients })),
      ])
    ).map((f) => f.proc);
    const clients: Clients = { sender: sender!, receivers };
    const sealroom = await setupSealroom(group, clients, config, pin);
    const socketio = await setupSocketIo(group, clients, config, pin);
    const setupMs = nowMs() - started;
    const figures: FanoutFigures[] = [];
    let subscribed = 0;
    for (const n of config.fanouts) {
      await growTo([sealroom, socketio], config, subscribed, n);
      subscribed = n;
      // Warm-up of the connections just subscribed (JIT, key derivation, socket buffers); discarded.
      const load = { rate: config.rates?.[n] ?? SEARCH.firstRate, size: config.size, subscribers: n };
      await runOnce(sealroom, load, config.warmupSeconds);
      await runOnce(socketio, load, config.warmupSeconds);
      figures.push(await measureFanout(sealroom, socketio, config, n));
    }
    const reports = figures.map((f) => fanoutReport(f, config));
    return {
      scenario: SCENARIO,
      rows: reports.flatMap((r) => r.rows),
      notes: [
        `Per fan-out, ${config.runs} runs of ${config.runSeconds} s per system at the rate where socket.io's p99 stays under ${SEARCH.p99LimitMs} ms, alternating, after ${config.warmupSeconds} s of warm-up per system; median over runs of each run's p50/p99 over all deliveries. 1 -> ${config.fanouts.join(' and 1 -> ')} share the processes and connections: the larger subscribes more of them.`,
        'Latency = receiver CLOCK_MONOTONIC (process.hrtime) at delivery to the app minus the sender stamp taken right before sendData/emit; the clock is shared by all processes on the machine.',
        `Processes: Bridge (resp. socket.io server), 1 sender process, ${config.receiverProcs} receiver processes x ${most(config) / config.receiverProcs} connections; the client processes hold both systems' connections (bench/procs/peers.ts), those of the system not being measured, and those not subscribed yet, sit idle. ${pin.server === undefined ? 'Unpinned (one core, or no taskset).' : `The Bridge and the socket.io server pinned to CPU ${pin.server}, the sender and receiver processes to CPU ${pin.clients}.`}`,
        ...reports.flatMap((r) => r.notes),
        `setup (processes, ${most(config) + 1} logins, room, joins) took ${f1(setupMs / 1000)} s.`,
      ],
    };
  } finally {
    await group.close();
  }
}
