/**
 * Across Bridges (docs/operations/cluster.md): two Bridge processes on one PostgreSQL (Debian's, in a
 * temporary folder, default durability) with NATS fan-out (Debian's nats-server), each figure against
 * the same on one Bridge of that same cluster, in the same run, so only the NATS hop differs:
 *
 * - byte-stream throughput (`streamBytes`, STREAM AEAD, signed end): a sender on A to a reader on B,
 *   against a sender on A to a reader on A; also the server side's CPU per MB (A + B + nats-server);
 * - data-track delivery p50/p99, 1 publisher on A to 4 subscribers on B, against 4 subscribers on A;
 * - room creates per second over REST (4 members, signed, wrapped keys) through a Bridge of the cluster
 *   (PostgreSQL + NATS), against a Bridge on SQLite; also the CPU per create of the Bridge and its
 *   database server.
 *
 * The server side (Bridges, nats-server, PostgreSQL) is pinned to CPU 0 and the clients to CPU 1 when
 * taskset works (bench/lib/procs.ts), so the server figures are its own. Cases alternate, run by run.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/cluster/ports.ts';
import { startNatsServer, stopNatsServer } from '../../scripts/cluster/nats-server.ts';
import { ensureDatabase, openPostgresServer } from '../../scripts/cluster/postgres-server.ts';
import { nowMs, sleep } from '../lib/clock.ts';
import { type BridgeProc, startBridgeProc } from '../lib/bridge.ts';
import { bundleBridge, bundleProc } from '../lib/bundle.ts';
import { peer, type Peer } from '../lib/peers.ts';
import { canPin, pinProcess, ProcGroup, type Proc, readCpuMs, readCpuPreciseMs } from '../lib/procs.ts';
import { row, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median, spread, summarize } from '../lib/stats.ts';
import { makeTenant, pubOf } from '../lib/tenant.ts';

const SCENARIO = 'across Bridges: two Bridges on one PostgreSQL with NATS, against one Bridge';
const MiB = 1024 * 1024;
const SERVER_CPUS = '0';
const CLIENT_CPUS = '1';

interface Config {
  streamBytes: number;
  streamWarmupBytes: number;
  streamRuns: number;
  dataSubscribers: number;
  dataRate: number;
  dataSize: number;
  dataSeconds: number;
  dataWarmupSeconds: number;
  dataRuns: number;
  crudSeconds: number;
  crudWarmupSeconds: number;
  crudRuns: number;
  crudConcurrency: number;
}

const FULL: Config = {
  streamBytes: 64 * MiB,
  streamWarmupBytes: 16 * MiB,
  streamRuns: 3,
  dataSubscribers: 4,
  dataRate: 500,
  dataSize: 1024,
  dataSeconds: 2,
  dataWarmupSeconds: 1,
  dataRuns: 3,
  crudSeconds: 1.5,
  crudWarmupSeconds: 0.5,
  crudRuns: 3,
  crudConcurrency: 16,
};
const QUICK: Config = {
  ...FULL,
  streamBytes: 8 * MiB,
  streamWarmupBytes: 2 * MiB,
  streamRuns: 1,
  dataSeconds: 0.5,
  dataWarmupSeconds: 0.25,
  dataRuns: 1,
  crudSeconds: 0.5,
  crudWarmupSeconds: 0.2,
  crudRuns: 1,
};

/** CPU time (ms) of a process and its children now alive: the PostgreSQL server and its backends. */
function treeCpuMs(root: number): number {
  let ms = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (Number(entry) === root || ppid === root) ms += readCpuMs(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return ms;
}

/** The client processes, forked while the servers start. */
interface Clients {
  /** Byte-stream sender, reader on A, reader on B. */
  stream: [Proc, Proc, Proc];
  /** Data-track sender (one Bridge), sender (across), subscribers on A, subscribers on B. */
  data: [Proc, Proc, Proc, Proc];
  /** Create loops against the PostgreSQL and the SQLite Bridge. */
  crud: [Proc, Proc];
}

async function forkClients(group: ProcGroup, pinned: boolean): Promise<Clients> {
  const pin = pinned ? { cpus: CLIENT_CPUS } : {};
  const names = (...list: string[]) => list.map((name) => ({ name, ...pin }));
  // Built, they start on plain node, faster than nine processes loading through tsx (bench/lib/bundle.ts).
  const [streamPeer, peers, crudClient] = await Promise.all(['stream-peer.ts', 'peers.ts', 'crud-client.ts'].map((script) => bundleProc(script)));
  const [stream, data, crud] = await Promise.all([
    group.forkAll(streamPeer!, names('stream-sender', 'stream-reader-A', 'stream-reader-B')),
    group.forkAll(peers!, names('data-sender-1', 'data-sender-2', 'data-subs-A', 'data-subs-B')),
    group.forkAll(crudClient!, names('crud-postgres', 'crud-sqlite')),
  ]);
  const procs = <T extends Proc[]>(list: Array<{ proc: Proc }>) => list.map((f) => f.proc) as T;
  return { stream: procs(stream), data: procs(data), crud: procs(crud) };
}

interface Cluster {
  a: BridgeProc;
  b: BridgeProc;
  sqlite: BridgeProc;
  natsPid: number;
  postgresPid: number;
  pinned: boolean;
}

interface StreamRun {
  mbps: number;
  /** Server CPU ms per MB: the sum, and per process (A, B, nats-server). */
  cpuPerMb: number;
  parts: number[];
}

/** Byte streams: MB/s and server CPU ms per MB for one timed stream. */
async function streamOnce(sender: Proc, receiver: Proc, roomId: string, bytes: number, totals: Map<Proc, number>, server: () => number[]): Promise<StreamRun> {
  const total = (totals.get(receiver) ?? 0) + bytes;
  totals.set(receiver, total);
  const timeoutMs = 60_000 + bytes / 2_000;
  const cpuBefore = server();
  const done = receiver.call<number>('expect', { total }, timeoutMs);
  const { startAt } = await sender.call<{ startAt: number }>('send', { bytes, chunkBytes: MiB, roomId }, timeoutMs);
  const doneAt = await done;
  const parts = server().map((ms, i) => (ms - cpuBefore[i]!) / (bytes / 1e6));
  return { mbps: bytes / ((doneAt - startAt) / 1000) / 1e6, cpuPerMb: parts.reduce((x, y) => x + y, 0), parts };
}

async function byteStreams(c: Cluster, clients: Clients, config: Config) {
  const tenant = await makeTenant(c.a.manage, ['sender', 'readerA', 'readerB'], 'cluster-bytes');
  const [senderUser, readerA, readerB] = tenant.users;
  const [sender, onA, onB] = clients.stream;
  await sender.call('connect', { url: c.a.url, solutionId: tenant.solutionId, user: senderUser });
  await onA.call('connect', { url: c.a.url, solutionId: tenant.solutionId, user: readerA });
  await onB.call('connect', { url: c.b.url, solutionId: tenant.solutionId, user: readerB });
  const rooms = new Map<Proc, string>();
  for (const [reader, user] of [
    [onA, readerA],
    [onB, readerB],
  ] as const) {
    const roomId = await sender.call<string>('createRoom', { contextId: tenant.contextId, members: [pubOf(senderUser!), pubOf(user!)] });
    await reader.call('join', { roomId, role: 'recv' });
    await sender.call('join', { roomId, role: 'send' });
    rooms.set(reader, roomId);
  }
  const server = () => [readCpuPreciseMs(c.a.pid), readCpuPreciseMs(c.b.pid), readCpuPreciseMs(c.natsPid)];
  const totals = new Map<Proc, number>();
  for (const reader of [onA, onB]) await streamOnce(sender, reader, rooms.get(reader)!, config.streamWarmupBytes, totals, server);
  const one: StreamRun[] = [];
  const two: StreamRun[] = [];
  for (let r = 0; r < config.streamRuns; r++) {
    const order = r % 2 === 0 ? [onA, onB] : [onB, onA];
    for (const reader of order) (reader === onA ? one : two).push(await streamOnce(sender, reader, rooms.get(reader)!, config.streamBytes, totals, server));
  }
  return { one, two };
}

/** Waits until the subscribers have `expected` deliveries, or none came for 300 ms. */
async function drain(receivers: Peer, expected: number): Promise<void> {
  const deadline = nowMs() + 20_000;
  let last = -1;
  let lastChange = nowMs();
  while (nowMs() < deadline) {
    const total = await receivers.call<number>('received');
    if (total >= expected) return;
    if (total !== last) [last, lastChange] = [total, nowMs()];
    else if (nowMs() - lastChange >= 300) return;
    await sleep(50);
  }
}

interface DataRun {
  p50: number;
  p99: number;
  delivered: number;
  expected: number;
}

async function dataOnce(sender: Peer, receivers: Peer, config: Config, seconds: number): Promise<DataRun> {
  await receivers.call('take');
  const sent = await sender.call<{ sent: number; errors: number; lastError?: string }>(
    'stream',
    { rate: config.dataRate, seconds, size: config.dataSize },
    seconds * 1000 + 30_000,
  );
  if (sent.errors > 0) throw new Error(`${sent.errors} sendData calls failed: ${sent.lastError}`);
  const expected = sent.sent * config.dataSubscribers;
  await drain(receivers, expected);
  const take = await receivers.call<{ latencies: Float64Array }>('take');
  const s = summarize(take.latencies);
  return { p50: s.p50, p99: s.p99, delivered: take.latencies.length, expected };
}

async function dataTracks(c: Cluster, clients: Clients, config: Config) {
  const subs = Array.from({ length: config.dataSubscribers }, (_, i) => `sub${i}`);
  const ids = ['senderA', 'senderB', ...subs.map((s) => `${s}A`), ...subs.map((s) => `${s}B`)];
  const tenant = await makeTenant(c.a.manage, ids, 'cluster-data');
  const byId = new Map(tenant.users.map((u) => [u.userId, u]));
  const procs = clients.data.map((p) => peer(p, 'sealroom'));
  const cases = [
    { sender: procs[0]!, receivers: procs[2]!, senderId: 'senderA', side: 'A', url: c.a.url },
    { sender: procs[1]!, receivers: procs[3]!, senderId: 'senderB', side: 'B', url: c.b.url },
  ];
  for (const k of cases) {
    const members = [byId.get(k.senderId)!, ...subs.map((s) => byId.get(`${s}${k.side}`)!)];
    // Every publisher is on A; the subscribers are on A (one Bridge) or on B (across).
    await k.sender.call('connect', { url: c.a.url, solutionId: tenant.solutionId, users: [members[0]] });
    const roomId = await k.sender.call<string>('createRoom', { contextId: tenant.contextId, users: members.map(pubOf), managers: [pubOf(members[0]!)] });
    await k.sender.call('join', { roomId });
    const { streamId } = await k.sender.call<{ streamId: string }>('publish', { roomId });
    await k.receivers.call('connect', { url: k.url, solutionId: tenant.solutionId, users: members.slice(1) }, 60_000);
    await k.receivers.call('join', { roomId }, 60_000);
    await k.receivers.call('subscribe', { roomId, streamId }, 60_000);
  }
  for (const k of cases) await dataOnce(k.sender, k.receivers, config, config.dataWarmupSeconds);
  const one: DataRun[] = [];
  const two: DataRun[] = [];
  for (let r = 0; r < config.dataRuns; r++) {
    const order = r % 2 === 0 ? cases : [...cases].reverse();
    for (const k of order) (k.side === 'A' ? one : two).push(await dataOnce(k.sender, k.receivers, config, config.dataSeconds));
  }
  return { one, two };
}

interface CrudRun {
  rate: number;
  /** CPU ms per create: the Bridge process, and the PostgreSQL server when it is the store. */
  bridgeCpu: number;
  dbCpu: number;
}

async function createsOnce(client: Proc, bridge: BridgeProc, dbCpu: () => number, seconds: number, concurrency: number): Promise<CrudRun> {
  const startAt = nowMs() + 100;
  const before = [readCpuPreciseMs(bridge.pid), dbCpu()];
  const r = await client.call<{ ops: number; elapsedMs: number }>('loop', { op: 'create', seconds, concurrency, startAt }, seconds * 1000 + 60_000);
  return { rate: (r.ops * 1000) / r.elapsedMs, bridgeCpu: (readCpuPreciseMs(bridge.pid) - before[0]!) / r.ops, dbCpu: (dbCpu() - before[1]!) / r.ops };
}

async function creates(c: Cluster, clients: Clients, config: Config) {
  const cases: Array<{ bridge: BridgeProc; client: Proc; dbCpu: () => number; postgres: boolean }> = [];
  for (const [bridge, postgres, client] of [
    [c.a, true, clients.crud[0]],
    [c.sqlite, false, clients.crud[1]],
  ] as const) {
    const tenant = await makeTenant(bridge.manage, ['creator', 'm1', 'm2', 'm3'], 'cluster-crud');
    await client.call('connect', {
      url: bridge.url,
      solutionId: tenant.solutionId,
      user: tenant.users[0],
      contextId: tenant.contextId,
      members: tenant.users.slice(1).map(pubOf),
    });
    cases.push({ bridge, client, postgres, dbCpu: postgres ? () => treeCpuMs(c.postgresPid) : () => 0 });
  }
  for (const k of cases) await createsOnce(k.client, k.bridge, k.dbCpu, config.crudWarmupSeconds, config.crudConcurrency);
  const pgRuns: CrudRun[] = [];
  const sqliteRuns: CrudRun[] = [];
  for (let r = 0; r < config.crudRuns; r++) {
    const order = r % 2 === 0 ? cases : [...cases].reverse();
    for (const k of order) (k.postgres ? pgRuns : sqliteRuns).push(await createsOnce(k.client, k.bridge, k.dbCpu, config.crudSeconds, config.crudConcurrency));
  }
  return { pgRuns, sqliteRuns };
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const started = nowMs();
  const group = new ProcGroup();
  const pgRoot = mkdtempSync(join(tmpdir(), 'sealroom-bench-pg-'));
  const postgres = await openPostgresServer({ root: pgRoot, port: await freePort(), durable: true });
  let nats: Awaited<ReturnType<typeof startNatsServer>> | undefined;
  let bridges: BridgeProc[] = [];
  try {
    const pinned = canPin();
    // The clients start (tsx) and the Bridge is built while PostgreSQL and NATS start.
    const forking = forkClients(group, pinned);
    forking.catch(() => undefined);
    const building = bundleBridge();
    building.catch(() => undefined);
    await postgres.start();
    const postgresPid = postgres.runningPid() ?? 0;
    const natsPort = await freePort();
    nats = await startNatsServer({ port: natsPort });
    if (pinned && !(pinProcess(postgresPid, SERVER_CPUS) && pinProcess(nats.pid ?? 0, SERVER_CPUS)))
      throw new Error('taskset could not pin PostgreSQL or nats-server');
    const { url: store } = await ensureDatabase(postgres.adminUrl, 'sealroom_bench');
    const natsUrl = `nats://127.0.0.1:${natsPort}`;
    // Built: plain node starts faster than through tsx (bench/lib/bundle.ts).
    const server = { script: await building, ...(pinned ? { cpus: SERVER_CPUS } : {}) };
    // A first, alone: it migrates the new database and creates the operator key B then uses.
    // Their errors are logged, and shown when the scenario fails.
    const logs = { logLevel: 'error' as const };
    const a = await startBridgeProc(group, { store, nats: natsUrl, ...logs }, { name: 'bridge-A', ...server });
    const [b, sqlite] = await Promise.all([
      startBridgeProc(group, { store, nats: natsUrl, apiKey: a.apiKey, ...logs }, { name: 'bridge-B', ...server }),
      startBridgeProc(group, logs, { name: 'bridge-sqlite', ...server }),
    ]);
    bridges = [a, b, sqlite];
    const cluster: Cluster = { a, b, sqlite, natsPid: nats.pid ?? 0, postgresPid, pinned };
    const clients = await forking;
    const phases: string[] = [`setup ${((nowMs() - started) / 1000).toFixed(1)} s`];
    const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const t0 = nowMs();
      const out = await fn();
      phases.push(`${name} ${((nowMs() - t0) / 1000).toFixed(1)} s`);
      return out;
    };
    const bytes = await timed('byte streams', () => byteStreams(cluster, clients, config));
    const data = await timed('data tracks', () => dataTracks(cluster, clients, config));
    const crud = await timed('creates', () => creates(cluster, clients, config));

    const med = <T>(runs: T[], key: keyof T) => median(runs.map((r) => r[key] as number));
    const list = <T>(runs: T[], key: keyof T, digits = 1) => runs.map((r) => (r[key] as number).toFixed(digits)).join(', ');
    const size = `${config.streamBytes / MiB} MiB`;
    const load = `${config.dataRate} msg/s x ${config.dataSize} B to ${config.dataSubscribers}`;
    const parts = (runs: StreamRun[]) => [0, 1, 2].map((i) => median(runs.map((r) => r.parts[i]!)).toFixed(2)).join(' / ');
    const delivered = (runs: DataRun[]) => runs.map((r) => `${((100 * r.delivered) / r.expected).toFixed(1)}%`).join(', ');
    return {
      scenario: SCENARIO,
      rows: [
        row(`byte stream ${size}, sender on A -> reader on B`, med(bytes.two, 'mbps'), 'MB/s', {
          baseline: { name: 'sender and reader on A', value: med(bytes.one, 'mbps') },
        }),
        row('... server CPU per MB (A + B + nats-server)', med(bytes.two, 'cpuPerMb'), 'ms', {
          baseline: { name: 'on A alone (A + B + nats-server)', value: med(bytes.one, 'cpuPerMb') },
        }),
        row(`data track p50, 1 on A -> ${config.dataSubscribers} on B (${load})`, med(data.two, 'p50'), 'ms', {
          baseline: { name: `${config.dataSubscribers} subscribers on A`, value: med(data.one, 'p50') },
        }),
        row(`data track p99, 1 on A -> ${config.dataSubscribers} on B`, med(data.two, 'p99'), 'ms', {
          baseline: { name: `${config.dataSubscribers} subscribers on A`, value: med(data.one, 'p99') },
        }),
        row('room creates/s through a cluster Bridge (PostgreSQL + NATS)', med(crud.pgRuns, 'rate'), 'ops/s', {
          baseline: { name: 'a Bridge on SQLite', value: med(crud.sqliteRuns, 'rate') },
        }),
        row('... CPU per create: Bridge + PostgreSQL server', med(crud.pgRuns, 'bridgeCpu') + med(crud.pgRuns, 'dbCpu'), 'ms', {
          baseline: { name: 'Bridge on SQLite (its database in-process)', value: med(crud.sqliteRuns, 'bridgeCpu') },
        }),
      ],
      notes: [
        cluster.pinned
          ? `Pinned: Bridges A and B, the SQLite Bridge, nats-server and PostgreSQL on CPU ${SERVER_CPUS}; every client process on CPU ${CLIENT_CPUS}.`
          : 'Not pinned (taskset missing or refused): every process shares every core.',
        `PostgreSQL ${postgres.adminUrl.replace(/\/postgres$/, '')} with its default durability (fsync, synchronous commit); SQLite with the Bridge's (WAL, synchronous FULL). A and B both run in every case: in the one-Bridge cases A still publishes its room's events and DATA frames to NATS as a cluster Bridge does.`,
        `byte streams: ${config.streamRuns} runs of ${size} per case after a ${config.streamWarmupBytes / MiB} MiB warm-up, alternating; MB/s across: ${list(bytes.two, 'mbps', 0)}; on A: ${list(bytes.one, 'mbps', 0)}. Server CPU ms per MB across: ${list(bytes.two, 'cpuPerMb', 2)}; on A: ${list(bytes.one, 'cpuPerMb', 2)}; median per process (A / B / nats-server) across: ${parts(bytes.two)}, on A: ${parts(bytes.one)}.`,
        `data tracks: ${config.dataRuns} runs of ${config.dataSeconds} s per case after ${config.dataWarmupSeconds} s, alternating; p50/p99 ms across: ${data.two.map((r) => `${r.p50.toFixed(2)}/${r.p99.toFixed(2)}`).join('; ')}; on A: ${data.one.map((r) => `${r.p50.toFixed(2)}/${r.p99.toFixed(2)}`).join('; ')}; delivered across ${delivered(data.two)}, on A ${delivered(data.one)}.`,
        `creates: 1 client process x ${config.crudConcurrency} in flight, ${config.crudRuns} runs of ${config.crudSeconds} s per store after ${config.crudWarmupSeconds} s, alternating; PostgreSQL ${list(crud.pgRuns, 'rate', 0)} /s (Bridge ${list(crud.pgRuns, 'bridgeCpu', 2)} + PostgreSQL ${list(crud.pgRuns, 'dbCpu', 2)} CPU ms per create), SQLite ${list(crud.sqliteRuns, 'rate', 0)} /s (Bridge ${list(crud.sqliteRuns, 'bridgeCpu', 2)} ms); spread of the ratio's parts: ${spread(crud.pgRuns.map((r) => r.rate))} vs ${spread(crud.sqliteRuns.map((r) => r.rate))}.`,
        `Wall time: ${phases.join(', ')}.`,
      ],
    };
  } catch (error) {
    const said = bridges.map((b) => b.proc.output()).join('');
    if (said !== '' && error instanceof Error) error.message += said;
    throw error;
  } finally {
    await group.close();
    if (nats !== undefined) await stopNatsServer(nats);
    await postgres.stop('immediate').catch(() => undefined);
    rmSync(pgRoot, { recursive: true, force: true });
  }
}
