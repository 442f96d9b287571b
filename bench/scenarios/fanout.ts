/**
 * Scenario 2: fan-out of data-track messages, 1 sender to 50 subscribers at 1,000 msg/s of 1 KiB,
 * against a socket.io room broadcast of the same plaintext messages, in the same run and the same
 * process layout:
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
 */
import { nowMs, sleep } from '../lib/clock.ts';
import { startBridgeProc } from '../lib/bridge.ts';
import { peer, type Peer } from '../lib/peers.ts';
import { ProcGroup, type Proc } from '../lib/procs.ts';
import { row, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median, summarize } from '../lib/stats.ts';
import { makeTenant, pubOf, split } from '../lib/tenant.ts';

const SCENARIO = 'fan-out: data track, 1 sender -> 50 subscribers';

interface Config {
  subscribers: number;
  receiverProcs: number;
  rate: number;
  size: number;
  warmupSeconds: number;
  runSeconds: number;
  runs: number;
}

const FULL: Config = { subscribers: 50, receiverProcs: 5, rate: 1000, size: 1024, warmupSeconds: 2, runSeconds: 4, runs: 5 };
const QUICK: Config = { subscribers: 50, receiverProcs: 5, rate: 1000, size: 1024, warmupSeconds: 1, runSeconds: 1.5, runs: 3 };
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

async function runOnce(system: System, config: Config, seconds: number): Promise<RunFigures> {
  await Promise.all(system.receivers.map((r) => r.call('take')));
  const procs = [system.server, system.sender.proc, ...system.receivers.map((r) => r.proc)];
  const cpuBefore = procs.map((p) => p.cpuMs());
  const t0 = nowMs();
  const sent = await system.sender.call<{ sent: number; errors: number; lastError?: string }>(
    'stream',
    { rate: config.rate, seconds, size: config.size },
    seconds * 1000 + 30_000,
  );
  if (sent.errors > 0) throw new Error(`${system.name}: ${sent.errors} sendData calls failed: ${sent.lastError}`);
  await drain(system, sent.sent * config.subscribers);
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
  return { cpu, p50: s.p50, p99: s.p99, max: s.max, delivered: all.length, expected: sent.sent * config.subscribers };
}

async function setupSealroom(group: ProcGroup, clients: Clients, config: Config): Promise<System> {
  const bridge = await startBridgeProc(group);
  const ids = ['sender', ...Array.from({ length: config.subscribers }, (_, i) => `sub${i}`)];
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
      await r.call('subscribe', { roomId, streamId }, 120_000);
    }),
  );
  return { name: 'sealroom', server: bridge.proc, sender, receivers };
}

async function setupSocketIo(group: ProcGroup, clients: Clients, config: Config): Promise<System> {
  const { proc: server, info } = await group.fork<{ url: string }>('sio-server.ts', { name: 'socketio-server' });
  const sender = peer(clients.sender, 'socketio');
  await sender.call('connect', { url: info.url, count: 1 });
  const counts = split(Array.from({ length: config.subscribers }), config.receiverProcs).map((g) => g.length);
  const receivers = clients.receivers.map((r) => peer(r, 'socketio'));
  await Promise.all(
    receivers.map(async (r, i) => {
      await r.call('connect', { url: info.url, count: counts[i] });
      await r.call('join');
    }),
  );
  return { name: 'socket.io', server, sender, receivers };
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  const started = nowMs();
  try {
    const [sender, ...receivers] = (
      await group.forkAll('peers.ts', [{ name: 'sender' }, ...Array.from({ length: config.receiverProcs }, (_, i) => ({ name: `receivers-${i}` }))])
    ).map((f) => f.proc);
    const clients: Clients = { sender: sender!, receivers };
    const sealroom = await setupSealroom(group, clients, config);
    const socketio = await setupSocketIo(group, clients, config);
    const setupMs = nowMs() - started;
    // Warm-up: JIT, key derivation, socket buffers; its latencies are discarded.
    await runOnce(sealroom, config, config.warmupSeconds);
    await runOnce(socketio, config, config.warmupSeconds);
    const figures: Record<string, RunFigures[]> = { sealroom: [], 'socket.io': [] };
    for (let r = 0; r < config.runs; r++) {
      // Alternate which goes first, so a slow stretch of the machine does not favour one side.
      const order = r % 2 === 0 ? [sealroom, socketio] : [socketio, sealroom];
      for (const system of order) figures[system.name]!.push(await runOnce(system, config, config.runSeconds));
    }
    const stat = (name: string, key: Exclude<keyof RunFigures, 'cpu'>) => median(figures[name]!.map((f) => f[key]));
    const p50 = stat('sealroom', 'p50');
    const p99 = stat('sealroom', 'p99');
    const sioP50 = stat('socket.io', 'p50');
    const sioP99 = stat('socket.io', 'p99');
    const deliveredShare = (name: string) => figures[name]!.map((f) => `${((100 * f.delivered) / f.expected).toFixed(2)}%`).join(', ');
    const range = (name: string, key: 'p50' | 'p99') => {
      const values = figures[name]!.map((f) => f[key]);
      return `${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)}`;
    };
    const cpuOf = (name: string) => {
      const last = figures[name]!.map((f) => f.cpu);
      const keys = Object.keys(last[0] ?? {});
      return keys.map((k) => `${k} ${median(last.map((c) => c[k] ?? 0)).toFixed(2)}`).join(', ');
    };
    const perRun = (name: string) => figures[name]!.map((f) => `${f.p50.toFixed(2)}/${f.p99.toFixed(2)}/${f.max.toFixed(1)}`).join('; ');
    const load = `${config.rate} msg/s x ${config.size} B`;
    return {
      scenario: SCENARIO,
      rows: [
        row(`p50 delivery latency (${load}, ${config.subscribers} subs)`, p50, 'ms', { baseline: { name: 'socket.io room broadcast', value: sioP50 } }),
        row(`p99 delivery latency (${load}, ${config.subscribers} subs)`, p99, 'ms', {
          baseline: { name: 'socket.io room broadcast', value: sioP99 },
          target: { op: '<=', value: sioP99, text: "<= socket.io's p99" },
        }),
        row(
          'deliveries per second (all subscribers)',
          (config.rate * config.subscribers * stat('sealroom', 'delivered')) / stat('sealroom', 'expected'),
          'msg/s',
          {
            baseline: { name: 'socket.io', value: (config.rate * config.subscribers * stat('socket.io', 'delivered')) / stat('socket.io', 'expected') },
          },
        ),
      ],
      notes: [
        `${config.runs} runs of ${config.runSeconds} s per system after ${config.warmupSeconds} s of warm-up, alternating; median over runs of each run's p50/p99 over all deliveries.`,
        'Latency = receiver CLOCK_MONOTONIC (process.hrtime) at delivery to the app minus the sender stamp taken right before sendData/emit; the clock is shared by all processes on the machine.',
        `Processes: Bridge (resp. socket.io server), 1 sender process, ${config.receiverProcs} receiver processes x ${config.subscribers / config.receiverProcs} connections; the client processes hold both systems' connections (bench/procs/peers.ts), those of the system not being measured sit idle.`,
        `sealroom per-run p50/p99/max ms: ${perRun('sealroom')}; delivered: ${deliveredShare('sealroom')}.`,
        `socket.io per-run p50/p99/max ms: ${perRun('socket.io')}; delivered: ${deliveredShare('socket.io')}.`,
        `p99 range over runs: sealroom ${range('sealroom', 'p99')}, socket.io ${range('socket.io', 'p99')} ms (the target compares the medians).`,
        `CPU per process during a run (cores, median): sealroom: ${cpuOf('sealroom')}; socket.io: ${cpuOf('socket.io')}.`,
        `setup (processes, 51 logins, room, joins) took ${(setupMs / 1000).toFixed(1)} s.`,
      ],
    };
  } finally {
    await group.close();
  }
}
