/**
 * Scenario 5: the Bridge's memory.
 *
 * 5a (here): the Bridge's RSS with idle joined Endpoint connections (logged in, `hello` done, event and
 * stream APIs made, each joined to a room of 100), held by 4 client processes, against a bare `ws`
 * room server (bench/procs/ws-room-server.ts) holding as many idle sockets in as many rooms, and a
 * socket.io server holding as many idle socket.io connections (websocket transport, no auth), all from
 * the same processes. RSS is VmRSS from /proc/<pid>/status, read after a full GC in the server (every
 * server runs with --expose-gc), as the median of several samples while the connections sit idle.
 *
 * Each round connects everything, measures, and disconnects; a figure is the median over rounds. The
 * first round is a warm-up in both modes and is not counted: V8 grows its young generation during a
 * burst of logins (up to 2 x 16 MB semi-spaces) and keeps it, so a "before" taken in a fresh process
 * would charge that one-time growth to the connections. After the warm-up, "before" and "after" both
 * hold the grown young generation and their difference is what the connections hold; every baseline is
 * measured the same way (docs/operations/memory.md).
 *
 * `BENCH_HEAP_SNAPSHOT_DIR=<dir>` writes a heap snapshot of the Bridge before and after the connections
 * of an extra, uncounted round (`bridge-<n>-before.heapsnapshot`, `...-after...`), to diff by
 * constructor. `BENCH_MEMORY_IDLE_ONLY=1` runs only the Bridge's and the bare ws server's rounds (to
 * iterate on what a connection holds). `BENCH_MEMORY_TUNED=1` adds the rounds of a Bridge run with a
 * capped young generation (full mode only; about 45 s of `make bench` on the 2-core machine, for a row
 * that informs operators and judges no goal).
 *
 * 5b (`slowSubscriberMemory` below): RSS while a slow subscriber reads a 1 GB byte stream. It runs beside
 * the baselines' rounds (each figure is the RSS of its own server processes after a full GC, which the
 * other's CPU use does not move), which takes about 25 s off the scenario's wall time.
 */
import { join } from 'node:path';
import { nowMs, sleep } from '../lib/clock.ts';
import { startBridgeProc, type BridgeProc } from '../lib/bridge.ts';
import { bundleBridge, bundleProc } from '../lib/bundle.ts';
import { peer, type Peer } from '../lib/peers.ts';
import { ProcGroup, type Proc } from '../lib/procs.ts';
import { row, type ResultRow, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median } from '../lib/stats.ts';
import { makeTenant, pubOf, split, type BenchTenant, type BenchUser } from '../lib/tenant.ts';

const SCENARIO = 'memory: Bridge RSS';
/** The slow subscriber of 5b reads at this rate; the publisher follows it (end-to-end flow control). */
const SLOW_READER_MBPS = 40;
const MB = 1024 * 1024;
/** The issue's goal: a joined idle connection costs at most this much RSS above a bare ws server's. */
const OVER_BARE_WS_KIB = 10;

interface Config {
  connections: number;
  /**
   * Connections per room. Rooms of 100 rather than one or two large ones: each join is announced to
   * every participant (n^2 / 2 events in a room of n) and each joining Endpoint reads the whole room,
   * so 2 rooms of 1,000 took minutes of client CPU here; what a joined connection holds at the Bridge
   * does not depend on its room's size.
   */
  roomSize: number;
  clientProcs: number;
  /** Measured rounds, after one warm-up round. */
  rounds: number;
  /** Also measure the Bridge with a capped young generation (`BENCH_MEMORY_TUNED=1`). */
  tuned: boolean;
  /** RSS samples per measurement, this far apart. */
  samples: number;
  sampleGapMs: number;
  /** Idle time after the last connection is up, before sampling. */
  idleMs: number;
}

/**
 * The young-generation cap of the tuned run, MB per semi-space (V8's default maximum is 16). Measured
 * here: 1 MB -> 87 MB RSS, 4 MB -> 93 MB, 8 MB -> 101 MB with 1,000 idle connections; the relay's
 * byte-stream throughput pays for it (scenario 1 reports the same flag).
 */
export const TUNED_SEMI_SPACE_MB = 4;

const FULL: Config = {
  connections: 2000,
  roomSize: 100,
  clientProcs: 4,
  rounds: 1,
  tuned: process.env.BENCH_MEMORY_TUNED === '1',
  samples: 5,
  sampleGapMs: 300,
  idleMs: 2000,
};
/** Quick: a smoke run of the same rounds, with shorter waits; its per-connection RSS moves by several KiB between runs (heap used moves less). */
const QUICK: Config = { connections: 400, roomSize: 100, clientProcs: 4, rounds: 1, tuned: false, samples: 3, sampleGapMs: 50, idleMs: 200 };

type MemoryUsage = NodeJS.MemoryUsage & { connections: number };

interface Server {
  proc: Proc;
  memory(): Promise<MemoryUsage>;
}

/** Median VmRSS over a few samples, each after a full GC in the server; with the last heap figures. */
async function sampleRss(server: Server, config: Config): Promise<number> {
  return (await sampleMemory(server, config)).rss;
}

async function sampleMemory(server: Server, config: Config): Promise<{ rss: number; usage: MemoryUsage }> {
  const samples: number[] = [];
  let usage: MemoryUsage | undefined;
  for (let i = 0; i < config.samples; i++) {
    usage = await server.memory();
    samples.push(server.proc.rssBytes());
    await sleep(config.sampleGapMs);
  }
  return { rss: median(samples), usage: usage! };
}

const mb = (bytes: number) => (bytes / MB).toFixed(1);

function heapLine(u: MemoryUsage): string {
  return `heapUsed ${mb(u.heapUsed)}, heapTotal ${mb(u.heapTotal)}, external ${mb(u.external)} (arrayBuffers ${mb(u.arrayBuffers)}) MB`;
}

async function waitConnections(server: Server, expected: number): Promise<void> {
  const deadline = nowMs() + 30_000;
  for (;;) {
    const { connections } = await server.memory();
    if (connections === expected) return;
    if (nowMs() > deadline) throw new Error(`the server holds ${connections} connections, expected ${expected}`);
    await sleep(100);
  }
}

interface Round {
  before: MemoryUsage;
  after: MemoryUsage;
}

/** The figures a round's connections added, per connection, KiB. */
interface PerConnection {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  /** RSS outside the V8 heap (rss - heapTotal): the sockets, ws and Node's buffers, malloc. */
  native: number;
}

const KIB = 1024;

function perConnection(rounds: Round[], n: number): PerConnection {
  const per = (f: (u: MemoryUsage) => number) => median(rounds.map((r) => (f(r.after) - f(r.before)) / n / KIB));
  return { rss: per((u) => u.rss), heapUsed: per((u) => u.heapUsed), heapTotal: per((u) => u.heapTotal), native: per((u) => u.rss - u.heapTotal) };
}

const perLine = (p: PerConnection) =>
  `RSS ${p.rss.toFixed(1)}: heap used ${p.heapUsed.toFixed(1)}, heap total ${p.heapTotal.toFixed(1)}, native (RSS - heap total) ${p.native.toFixed(1)}`;

type Connect = (client: Peer, index: number) => Promise<unknown>;

/**
 * One round: memory before, connect (and join) everything, idle, memory after, disconnect. `rss` is
 * the median VmRSS of the samples; the heap figures are the last sample's.
 */
async function round(
  server: Server,
  clients: Peer[],
  connect: Connect,
  config: Config,
  snapshot?: (when: 'before' | 'after') => Promise<void>,
): Promise<Round> {
  await waitConnections(server, 0);
  const b = await sampleMemory(server, config);
  await snapshot?.('before');
  await Promise.all(clients.map(connect));
  await waitConnections(server, config.connections);
  await sleep(config.idleMs);
  const a = await sampleMemory(server, config);
  await snapshot?.('after');
  await Promise.all(clients.map((c) => c.call('disconnect')));
  return { before: { ...b.usage, rss: b.rss }, after: { ...a.usage, rss: a.rss } };
}

/**
 * The warm-up round, then the measured ones; with `snapshot`, one more round that writes the heap
 * snapshots and is not counted (writing a snapshot grows the process's RSS by tens of MB).
 */
async function rounds(
  server: Server,
  clients: Peer[],
  connect: Connect,
  config: Config,
  snapshot?: (when: 'before' | 'after') => Promise<void>,
): Promise<Round[]> {
  const out: Round[] = [];
  for (let r = 0; r <= config.rounds; r++) out.push(await round(server, clients, connect, config));
  if (snapshot !== undefined) await round(server, clients, connect, config, snapshot);
  return out.slice(1); // the warm-up round
}

/** Each client process's users (consecutive slices), in rooms of `roomSize` (a room never spans processes). */
function roomsOf(users: readonly BenchUser[], config: Config): BenchUser[][][] {
  return split(users, config.clientProcs).map((g) =>
    Array.from({ length: Math.ceil(g.length / config.roomSize) }, (_, r) => g.slice(r * config.roomSize, (r + 1) * config.roomSize)),
  );
}

async function sealroomRounds(procs: Proc[], bridge: BridgeProc, tenant: BenchTenant, config: Config, name: string): Promise<Round[]> {
  const rooms = roomsOf(tenant.users, config);
  const clients = procs.map((p) => peer(p, 'sealroom'));
  const server: Server = { proc: bridge.proc, memory: () => bridge.memory() };
  /** userId -> roomId, per process; the rooms are created once, in the first round. */
  const roomOfUser: Array<Record<string, string>> = [];
  const connect = async (c: Peer, i: number) => {
    await c.call('connect', { url: bridge.url, solutionId: tenant.solutionId, users: rooms[i]!.flat(), memoryTrust: true }, 180_000);
    if (roomOfUser[i] === undefined) {
      const ids = await c.call<string[]>('createRooms', { contextId: tenant.contextId, rooms: rooms[i]!.map((r) => r.map(pubOf)) }, 180_000);
      roomOfUser[i] = Object.fromEntries(rooms[i]!.flatMap((r, k) => r.map((u) => [u.userId, ids[k]!])));
    }
    await c.call('joinRooms', { roomOfUser: roomOfUser[i] }, 180_000);
  };
  const dir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
  const snapshot =
    dir === undefined || dir === ''
      ? undefined
      : async (when: 'before' | 'after') =>
          void (await bridge.proc.call('heapSnapshot', { path: join(dir, `${name}-${config.connections}-${when}.heapsnapshot`) }, 180_000));
  return rounds(server, clients, connect, config, snapshot);
}

async function socketIoRounds(group: ProcGroup, procs: Proc[], script: string, config: Config): Promise<Round[]> {
  const { proc, info } = await group.fork<{ url: string }>(script, { name: 'socketio-server', nodeFlags: ['--expose-gc'] });
  const counts = split(Array.from({ length: config.connections }), procs.length).map((g) => g.length);
  const clients = procs.map((p) => peer(p, 'socketio'));
  const server: Server = { proc, memory: () => proc.call('memory') };
  const connect = (c: Peer, i: number) => c.call('connect', { url: info.url, count: counts[i] }, 180_000);
  const out = await rounds(server, clients, connect, config);
  await proc.stop();
  return out;
}

/** The bare ws baseline: as many idle sockets in as many rooms of bench/procs/ws-room-server.ts. */
async function bareWsRounds(group: ProcGroup, procs: Proc[], script: string, config: Config): Promise<Round[]> {
  const { proc, info } = await group.fork<{ url: string }>(script, { name: 'ws-server', nodeFlags: ['--expose-gc'] });
  // The same rooms as the Bridge's: numbered across processes.
  const sizes = roomsOf(
    Array.from({ length: config.connections }, (_, i) => ({ userId: `${i}`, privateKey: '', publicKey: '' })),
    config,
  ).map((g) => g.map((r) => r.length));
  const clients = procs.map((p) => peer(p, 'ws'));
  const server: Server = { proc, memory: () => proc.call('memory') };
  const connect = (c: Peer, i: number) => {
    const first = sizes.slice(0, i).reduce((sum, g) => sum + g.length, 0);
    return c.call('connect', { url: info.url, rooms: sizes[i]!.map((count, k) => ({ room: first + k, count })) }, 180_000);
  };
  const out = await rounds(server, clients, connect, config);
  await proc.stop();
  return out;
}

/**
 * Scenario 5b hook, for the engineer who lands byte streams: the Bridge's RSS while one subscriber of a
 * 1 GB byte stream reads slowly (target: flat, under 64 MB over the idle figure). Given this scenario's
 * running Bridge (its RSS with no connections is `idleRssBytes`) and tenant, return its rows (e.g. the
 * peak and final RSS over idle, with `target: { op: '<', value: 64 }` in MB) or `undefined` to skip.
 * A sketch: a publisher process `streamBytes` 1 GB in 64 KiB writes; one subscriber process reads at,
 * say, 5 MB/s and one at full speed; sample `bridge.rssBytes()` every 250 ms while it runs.
 */
export async function slowSubscriberMemory(context: {
  group: ProcGroup;
  bridge: BridgeProc;
  tenant: BenchTenant;
  idleRssBytes: number;
  quick: boolean;
}): Promise<{ rows: ResultRow[]; notes: string[] }> {
  const { group, bridge, tenant } = context;
  const bytes = (context.quick ? 128 : 1024) * MB;
  const [publisherUser, slowUser, fastUser] = tenant.users;
  const fork = (name: string) => group.fork('stream-peer.ts', { name }).then((f) => f.proc);
  const [publisher, slow, fast] = await Promise.all([fork('slow-sub-publisher'), fork('slow-sub-slow'), fork('slow-sub-fast')]);
  await publisher.call('connect', { url: bridge.url, solutionId: tenant.solutionId, user: publisherUser });
  await slow.call('connect', { url: bridge.url, solutionId: tenant.solutionId, user: slowUser });
  await fast.call('connect', { url: bridge.url, solutionId: tenant.solutionId, user: fastUser });
  const members = [publisherUser!, slowUser!, fastUser!].map((u) => ({ userId: u.userId, pubKey: u.publicKey }));
  const roomId = await publisher.call<string>('createRoom', { contextId: tenant.contextId, members });
  await slow.call('join', { roomId, role: 'recv', readMBps: SLOW_READER_MBPS });
  await fast.call('join', { roomId, role: 'recv' });
  await publisher.call('join', { roomId, role: 'send' });
  const before = await bridge.rssBytes();

  const samples: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push(await bridge.rssBytes());
      await sleep(250);
    }
  })();
  const timeoutMs = 60_000 + (bytes / (SLOW_READER_MBPS * 1e6)) * 3000;
  const slowDone = slow.call<number>('expect', { total: bytes }, timeoutMs);
  const fastDone = fast.call<number>('expect', { total: bytes }, timeoutMs);
  const { startAt } = await publisher.call<{ startAt: number }>('send', { bytes, chunkBytes: MB }, timeoutMs);
  const [slowAt, fastAt] = await Promise.all([slowDone, fastDone]);
  sampling = false;
  await sampler;
  const after = await bridge.rssBytes();

  const over = (rss: number) => (rss - context.idleRssBytes) / MB;
  const peak = Math.max(...samples);
  const half = Math.floor(samples.length / 2);
  const firstHalf = median(samples.slice(0, Math.max(1, half)));
  const secondHalf = median(samples.slice(half));
  const seconds = (slowAt - startAt) / 1000;
  return {
    rows: [
      row(`Bridge peak RSS over idle, slow subscriber on a ${bytes / MB} MiB stream`, over(peak), 'MB', { target: { op: '<', value: 64 } }),
      row('Bridge RSS, second half minus first half of the stream (flat = ~0)', (secondHalf - firstHalf) / MB, 'MB'),
    ],
    notes: [
      `5b: one publisher process streams ${bytes / MB} MiB (streamBytes, 1 MiB writes) to a reader throttled to ${SLOW_READER_MBPS} MB/s and a full-speed reader, each in its own process, through the Bridge process; Bridge VmRSS sampled every 250 ms (${samples.length} samples).`,
      `Idle ${(context.idleRssBytes / MB).toFixed(0)} MB (no connections); with the 3 connections before the stream ${(before / MB).toFixed(0)} MB; peak ${(peak / MB).toFixed(0)} MB; after ${(after / MB).toFixed(0)} MB. The stream took ${seconds.toFixed(1)} s (${(bytes / 1e6 / seconds).toFixed(0)} MB/s): end-to-end flow control holds the publisher to the slow reader, so the Bridge holds at most one window (1 MiB) per receiver. The fast reader finished at ${((fastAt - startAt) / 1000).toFixed(1)} s.`,
    ],
  };
}

/** The per-connection rows alone (`BENCH_MEMORY_IDLE_ONLY=1`). */
function idleOnly(sealroom: Round[], bareWs: Round[], config: Config): ScenarioResult {
  const n = config.connections;
  const bridgePer = perConnection(sealroom, n);
  const wsPer = perConnection(bareWs, n);
  const roundLine = (rounds: Round[]) => rounds.map((r) => `${mb(r.before.rss)} -> ${mb(r.after.rss)}`).join('; ');
  return {
    scenario: SCENARIO,
    rows: [
      row(`Bridge RSS per idle joined connection, ${n} in rooms of ${config.roomSize}`, bridgePer.rss, 'KiB/conn', {
        baseline: { name: 'bare ws room server, same sockets and rooms', value: wsPer.rss },
        target: { op: '<=', value: wsPer.rss + OVER_BARE_WS_KIB },
      }),
    ],
    notes: [
      `BENCH_MEMORY_IDLE_ONLY: per connection, KiB: Bridge ${perLine(bridgePer)}; bare ws ${perLine(wsPer)}.`,
      `Rounds (before -> after, MB): Bridge ${roundLine(sealroom)}; bare ws ${roundLine(bareWs)}.`,
    ],
  };
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  /** Seconds per step, for the notes (docs/operations/benchmarks.md, "Wall time"). */
  const steps: string[] = [];
  let last = nowMs();
  const step = (name: string) => {
    steps.push(`${name} ${((nowMs() - last) / 1000).toFixed(1)}`);
    last = nowMs();
  };
  try {
    // The servers run as builds on plain node (bench/lib/bundle.ts); the tsx loader's share is below.
    const [bridgeBuild, socketIoBuild, wsBuild] = await Promise.all([bundleBridge(), bundleProc('sio-server.ts'), bundleProc('ws-room-server.ts')]);
    const bridge = await startBridgeProc(group, {}, { script: bridgeBuild });
    const ids = Array.from({ length: config.connections }, (_, i) => `idle${i}`);
    const tenant = await makeTenant(bridge.manage, ids, 'memory');
    // The client processes hold one system's connections at a time (bench/procs/peers.ts).
    const procs = (
      await group.forkAll(
        'peers.ts',
        Array.from({ length: config.clientProcs }, (_, i) => ({ name: `idle-clients-${i}` })),
      )
    ).map((f) => f.proc);
    step('setup');
    const sealroom = await sealroomRounds(procs, bridge, tenant, config, 'bridge');
    step('Bridge rounds');
    if (process.env.BENCH_MEMORY_IDLE_ONLY === '1') return idleOnly(sealroom, await bareWsRounds(group, procs, wsBuild, config), config);
    const idleRss = await sampleRss({ proc: bridge.proc, memory: () => bridge.memory() }, config);
    // 5b runs beside the baselines' rounds and the fresh Bridges below: what each measures is the RSS
    // of its own server processes, after a full GC and idle, which the other's CPU use does not move
    // (5b's stream is held to its slow reader's rate), and the scenario takes about 25 s less.
    const slowStarted = nowMs();
    let slowSeconds = 0;
    const slowRun = slowSubscriberMemory({ group, bridge, tenant, idleRssBytes: idleRss, quick: options.quick }).then((r) => {
      slowSeconds = (nowMs() - slowStarted) / 1000;
      return r;
    });
    // A rejection is taken when awaited below; until then it must not count as unhandled.
    slowRun.catch(() => undefined);
    // The same Bridge through the tsx loader (bin/sealroom.js; `make run` runs the build), and built,
    // each fresh and idle: started now and sampled after the baselines' rounds (each figure is its own
    // process's RSS after a full GC, which the rounds' CPU use does not move; about 3 s less).
    const atStart = Promise.all([
      startBridgeProc(group, {}, { name: 'bridge-tsx', script: 'bridge.ts' }),
      startBridgeProc(group, {}, { name: 'bridge-fresh', script: bridgeBuild }),
    ]);
    atStart.catch(() => undefined);
    const bareWs = await bareWsRounds(group, procs, wsBuild, config);
    step('bare ws rounds');
    const socketio = await socketIoRounds(group, procs, socketIoBuild, config);
    step('socket.io rounds');
    const [tsxBridge, freshBridge] = await atStart;
    const tsxIdle = await sampleMemory({ proc: tsxBridge.proc, memory: () => tsxBridge.memory() }, config);
    await tsxBridge.proc.stop();
    const builtIdle = await sampleMemory({ proc: freshBridge.proc, memory: () => freshBridge.memory() }, config);
    await freshBridge.proc.stop();
    // The same build with V8's young generation capped (it grows to 2 x 16 MB semi-spaces during the
    // login burst and keeps them): what an operator's flag still buys.
    let tuned: Round[] | undefined;
    if (config.tuned) {
      const tunedBridge = await startBridgeProc(
        group,
        {},
        { name: 'bridge-semi', script: bridgeBuild, nodeFlags: [`--max-semi-space-size=${TUNED_SEMI_SPACE_MB}`] },
      );
      const tunedTenant = await makeTenant(tunedBridge.manage, ids, 'memory');
      tuned = await sealroomRounds(procs, tunedBridge, tunedTenant, config, 'bridge-semi');
      await tunedBridge.proc.stop();
    }
    step('Bridges at start');

    const n = config.connections;
    const rss = (rounds: Round[], when: 'before' | 'after') => median(rounds.map((r) => r[when].rss));
    const bridgePer = perConnection(sealroom, n);
    const wsPer = perConnection(bareWs, n);
    const sioPer = perConnection(socketio, n);
    const what = `${n} idle joined connections (rooms of ${config.roomSize})`;
    const rows: ResultRow[] = [
      row(`Bridge RSS per idle joined connection, ${n} in rooms of ${config.roomSize}`, bridgePer.rss, 'KiB/conn', {
        baseline: { name: 'bare ws room server, same sockets and rooms', value: wsPer.rss },
        target: { op: '<=', value: wsPer.rss + OVER_BARE_WS_KIB, text: `<= bare ws + ${OVER_BARE_WS_KIB} KiB (${(wsPer.rss + OVER_BARE_WS_KIB).toFixed(1)})` },
      }),
      row('... of it V8 heap used', bridgePer.heapUsed, 'KiB/conn', { baseline: { name: 'bare ws room server', value: wsPer.heapUsed } }),
      row('... native (RSS outside the V8 heap)', bridgePer.native, 'KiB/conn', { baseline: { name: 'bare ws room server', value: wsPer.native } }),
      row('RSS per idle connection against socket.io (no auth, no rooms)', bridgePer.rss, 'KiB/conn', {
        baseline: { name: 'socket.io server', value: sioPer.rss },
      }),
      row(`Bridge RSS with ${what}`, rss(sealroom, 'after') / MB, 'MB', {
        baseline: { name: `socket.io server, ${n} idle connections`, value: rss(socketio, 'after') / MB },
        // The issue's absolute target was set for 1,000 connections.
        ...(n === 1000 ? { target: { op: '<' as const, value: 100 } } : {}),
      }),
      ...(tuned === undefined
        ? []
        : [
            row(`... same, Bridge run with --max-semi-space-size=${TUNED_SEMI_SPACE_MB}`, rss(tuned, 'after') / MB, 'MB', {
              baseline: { name: `socket.io server, ${n} idle connections`, value: rss(socketio, 'after') / MB },
            }),
          ]),
      row('RSS with no connections (after the warm-up round)', rss(sealroom, 'before') / MB, 'MB', {
        baseline: { name: 'bare ws room server', value: rss(bareWs, 'before') / MB },
      }),
      row('Bridge RSS at start, through tsx (bin/sealroom.js; make run uses the build)', tsxIdle.rss / MB, 'MB', {
        baseline: { name: 'same Bridge built, at start', value: builtIdle.rss / MB },
      }),
    ];
    const roundLine = (rounds: Round[]) => rounds.map((r) => `${mb(r.before.rss)} -> ${mb(r.after.rss)}`).join('; ');
    const notes = [
      `${n} connections from ${config.clientProcs} client processes, in rooms of ${config.roomSize}; ${config.rounds} measured round(s) after a warm-up round (the young generation V8 grows during the first burst of logins stays, so it is in "before" and "after" alike); each figure is the median of ${config.samples} VmRSS samples taken after a full GC in the server.`,
      'sealroom connections are Endpoint.connect (challenge-response login, session, WebSocket with hello) plus the event and stream APIs (each with an in-memory trust store: the clients are not what is measured) and a join of their room; bare ws sockets sit in a room of bench/procs/ws-room-server.ts; socket.io connections carry no authentication and join nothing.',
      `Per connection, KiB: Bridge ${perLine(bridgePer)}; bare ws ${perLine(wsPer)}; socket.io ${perLine(sioPer)}.`,
      `Rounds (before -> after, MB): Bridge ${roundLine(sealroom)}; bare ws ${roundLine(bareWs)}; socket.io ${roundLine(socketio)}${tuned === undefined ? '' : `; Bridge with --max-semi-space-size=${TUNED_SEMI_SPACE_MB} ${roundLine(tuned)}`}.`,
      `The servers run as esbuild builds on plain node (bench/lib/bundle.ts). The Bridge through tsx starts at ${mb(tsxIdle.rss)} MB against ${mb(builtIdle.rss)} MB built.`,
      `Bridge heap with ${n} connections: ${heapLine(sealroom.at(-1)!.after)}; at start (built): ${heapLine(builtIdle.usage)}; bare ws with ${n}: ${heapLine(bareWs.at(-1)!.after)}.`,
    ];
    const slow = await slowRun;
    step('rest of 5b');
    rows.push(...slow.rows);
    notes.push(...slow.notes, `Wall time by step, s: ${steps.join(', ')}; 5b alone took ${slowSeconds.toFixed(1)}, beside the steps after the Bridge rounds.`);
    return { scenario: SCENARIO, rows, notes };
  } finally {
    await group.close();
  }
}
