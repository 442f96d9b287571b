/**
 * Scenario 4: room CRUD over REST against the Bridge process (real SQLite file in WAL mode, every
 * record signed and checked, real wrapped keys). Load comes from client processes, each one Endpoint
 * connection running closed loops with several requests in flight (bench/procs/crud-client.ts):
 *
 * - creates/s: `createStreamRoom` with 4 members (creator + 3);
 * - verified gets/s: `getStreamRoom` of known rooms (chain since the trusted head, key, meta AEAD);
 * - cold verified gets/s: `getStreamRoom` by a client that never saw the room (full chain, directory,
 *   Merkle proof, HPKE unwrap, meta AEAD);
 * - baseline: `GET /v1/me` (session lookup, same HTTP stack, no room work), so the ratio shows what
 *   the room work (signatures, verification, SQLite) costs on top of an authenticated round trip.
 *
 * Each case: a warm-up, then several timed runs; the table shows the median rate. All clients start
 * together on the shared clock. On two or more cores the Bridge is pinned to CPU 0 and the clients to
 * the others, so a rate is the Bridge's own and not the share the scheduler left it.
 */
import { availableParallelism } from 'node:os';
import { nowMs } from '../lib/clock.ts';
import { startBridgeProc } from '../lib/bridge.ts';
import { canPin, ProcGroup, type Proc } from '../lib/procs.ts';
import { row, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median } from '../lib/stats.ts';
import { makeTenant, pubOf } from '../lib/tenant.ts';
import { addFixed } from '../lib/timing.ts';

const SCENARIO = 'room CRUD over REST (signed, verified, SQLite)';

interface Config {
  clients: number;
  concurrency: number;
  warmupSeconds: number;
  runSeconds: number;
  runs: number;
}

const FULL: Config = { clients: 2, concurrency: 16, warmupSeconds: 0.5, runSeconds: 1.5, runs: 3 };
const QUICK: Config = { clients: 2, concurrency: 16, warmupSeconds: 0.15, runSeconds: 0.3, runs: 2 };
/** The clients start together this long after the call (both have the call by then). */
const START_DELAY_MS = 50;

type Op = 'create' | 'get' | 'getCold' | 'me';

interface Rate {
  rate: number;
  cpu: Record<string, number>;
  /** CPU of every process (Bridge and clients) per operation, ms. */
  cpuPerOp: number;
}

/** One timed run of `op` on every client at once; returns the total rate and CPU per process. */
async function timed(clients: Proc[], bridge: Proc, op: Op, seconds: number, concurrency: number): Promise<Rate> {
  const startAt = nowMs() + START_DELAY_MS;
  addFixed(START_DELAY_MS + seconds * 1000);
  const procs = [bridge, ...clients];
  const before = procs.map((p) => p.cpuMs());
  const results = await Promise.all(
    clients.map((c) => c.call<{ ops: number; elapsedMs: number }>('loop', { op, seconds, concurrency, startAt }, seconds * 1000 + 60_000)),
  );
  const wall = nowMs() - startAt;
  const cpu: Record<string, number> = {};
  let cpuMs = 0;
  for (const [i, p] of procs.entries()) {
    cpu[p.name] = (p.cpuMs() - before[i]!) / wall;
    cpuMs += p.cpuMs() - before[i]!;
  }
  const ops = results.reduce((sum, r) => sum + r.ops, 0);
  return { rate: results.reduce((sum, r) => sum + (r.ops * 1000) / r.elapsedMs, 0), cpu, cpuPerOp: cpuMs / ops };
}

async function measure(
  clients: Proc[],
  bridge: Proc,
  op: Op,
  config: Config,
): Promise<{ rate: number; runs: number[]; cpu: Record<string, number>; cpuPerOp: number; cpuPerOpRuns: number[] }> {
  await timed(clients, bridge, op, config.warmupSeconds, config.concurrency);
  const runs: Rate[] = [];
  for (let r = 0; r < config.runs; r++) runs.push(await timed(clients, bridge, op, config.runSeconds, config.concurrency));
  const cpu: Record<string, number> = {};
  for (const name of Object.keys(runs[0]!.cpu)) cpu[name] = median(runs.map((r) => r.cpu[name] ?? 0));
  return {
    rate: median(runs.map((r) => r.rate)),
    runs: runs.map((r) => r.rate),
    cpu,
    cpuPerOp: median(runs.map((r) => r.cpuPerOp)),
    cpuPerOpRuns: runs.map((r) => r.cpuPerOp),
  };
}

function describe(name: string, m: { runs: number[]; cpu: Record<string, number>; cpuPerOpRuns: number[] }): string {
  const cpu = Object.entries(m.cpu)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
  const perOp = m.cpuPerOpRuns.map((c) => c.toFixed(2)).join(', ');
  return `${name}: runs ${m.runs.map((r) => r.toFixed(0)).join(', ')} /s; CPU (cores): ${cpu}; CPU per op, all processes: ${perOp} ms.`;
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  try {
    const cores = availableParallelism();
    const pinned = cores >= 2 && canPin();
    const clientCpus = cores > 2 ? `1-${cores - 1}` : '1';
    const bridge = await startBridgeProc(group, {}, pinned ? { cpus: '0' } : {});
    const clientIds = Array.from({ length: config.clients }, (_, i) => `client${i}`);
    const tenant = await makeTenant(bridge.manage, [...clientIds, 'm1', 'm2', 'm3'], 'crud');
    const members = tenant.users.slice(config.clients).map(pubOf);
    const clients = (
      await group.forkAll(
        'crud-client.ts',
        clientIds.map((id) => ({ name: `crud-${id}`, ...(pinned ? { cpus: clientCpus } : {}) })),
      )
    ).map((f) => f.proc);
    await Promise.all(
      clients.map((c, i) => c.call('connect', { url: bridge.url, solutionId: tenant.solutionId, user: tenant.users[i], contextId: tenant.contextId, members })),
    );
    const me = await measure(clients, bridge.proc, 'me', config);
    const creates = await measure(clients, bridge.proc, 'create', config);
    const gets = await measure(clients, bridge.proc, 'get', config);
    const cold = await measure(clients, bridge.proc, 'getCold', config);
    const roomCount = (await Promise.all(clients.map((c) => c.call<number>('roomCount')))).reduce((a, b) => a + b, 0);
    const baseline = { name: 'GET /v1/me (authenticated round trip)', value: me.rate };
    const cpuBaseline = { name: 'GET /v1/me, CPU per op', value: me.cpuPerOp };
    return {
      scenario: SCENARIO,
      rows: [
        row('creates/s (4 members, signed, wrapped keys)', creates.rate, 'ops/s', { baseline, target: { op: '>=', value: 1000 } }),
        row('verified gets/s (known room)', gets.rate, 'ops/s', { baseline, target: { op: '>=', value: 5000 } }),
        row('verified gets/s (first read: full chain, proof, unwrap)', cold.rate, 'ops/s', { baseline }),
        row('GET /v1/me/s', me.rate, 'ops/s'),
        // CPU per operation moves less with the machine's load than rates: a rate ratio on a CPU-bound
        // machine is the inverse of these ratios.
        row('create: CPU per op, Bridge + clients', creates.cpuPerOp, 'ms', { baseline: cpuBaseline }),
        row('verified get: CPU per op, Bridge + clients', gets.cpuPerOp, 'ms', { baseline: cpuBaseline }),
      ],
      notes: [
        `${config.clients} client processes x 1 Endpoint connection x ${config.concurrency} requests in flight${pinned ? `; the Bridge pinned to CPU 0, the clients to CPU ${clientCpus}` : '; unpinned (one core, or no taskset)'}; ${config.runs} runs of ${config.runSeconds} s after ${config.warmupSeconds} s of warm-up per case; median of runs. ${roomCount} rooms in the database at the end.`,
        describe('me', me),
        describe('create', creates),
        describe('get', gets),
        describe('getCold (includes a directory fetch per read, as a first read does)', cold),
      ],
    };
  } finally {
    await group.close();
  }
}
