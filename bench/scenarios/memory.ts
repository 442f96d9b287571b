/**
 * Scenario 5: the Bridge's memory.
 *
 * 5a (here): the Bridge's RSS with 1,000 idle authenticated Endpoint connections (logged in, socket
 * open, `hello` done), held by 4 worker processes, against a socket.io server process holding 1,000
 * idle socket.io connections from the same 4 processes (websocket transport, no auth). RSS is VmRSS
 * from /proc/<pid>/status, read after a full GC in the server process (both run with --expose-gc), as
 * the median of several samples while the connections sit idle. Each round connects everything,
 * measures, and disconnects; the table shows the median over rounds; the first round is a warm-up.
 *
 * 5b (`slowSubscriberMemory` below): RSS while a slow subscriber reads a 1 GB byte stream.
 */
import { nowMs, sleep } from '../lib/clock.ts';
import { startBridgeProc, type BridgeProc } from '../lib/bridge.ts';
import { bundleBridge, bundleProc } from '../lib/bundle.ts';
import { peer, type Peer } from '../lib/peers.ts';
import { ProcGroup, type Proc } from '../lib/procs.ts';
import { row, type ResultRow, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median } from '../lib/stats.ts';
import { makeTenant, split, type BenchTenant } from '../lib/tenant.ts';

const SCENARIO = 'memory: Bridge RSS';
/** The slow subscriber of 5b reads at this rate; the publisher follows it (end-to-end flow control). */
const SLOW_READER_MBPS = 40;
const MB = 1024 * 1024;

interface Config {
  connections: number;
  clientProcs: number;
  /** Measured rounds, after one warm-up round when `warmup`. */
  rounds: number;
  warmup: boolean;
  /** Also measure the Bridge with a capped young generation (the fix for the RSS target). */
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

const FULL: Config = { connections: 1000, clientProcs: 4, rounds: 3, warmup: true, tuned: true, samples: 5, sampleGapMs: 300, idleMs: 2000 };
const QUICK: Config = { connections: 1000, clientProcs: 4, rounds: 1, warmup: false, tuned: false, samples: 3, sampleGapMs: 100, idleMs: 500 };

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
  before: number;
  after: number;
  usage: MemoryUsage;
}

/** One round: RSS before, connect everything, idle, RSS after, disconnect. */
async function round(server: Server, clients: Peer[], connect: (client: Peer, index: number) => Promise<unknown>, config: Config): Promise<Round> {
  await waitConnections(server, 0);
  const before = await sampleRss(server, config);
  await Promise.all(clients.map(connect));
  await waitConnections(server, config.connections);
  await sleep(config.idleMs);
  const { rss: after, usage } = await sampleMemory(server, config);
  await Promise.all(clients.map((c) => c.call('disconnect')));
  return { before, after, usage };
}

async function sealroomRounds(procs: Proc[], bridge: BridgeProc, tenant: BenchTenant, config: Config): Promise<Round[]> {
  const groups = split(tenant.users, procs.length);
  const clients = procs.map((p) => peer(p, 'sealroom'));
  const server: Server = { proc: bridge.proc, memory: () => bridge.memory() };
  const connect = (c: Peer, i: number) => c.call('connect', { url: bridge.url, solutionId: tenant.solutionId, users: groups[i] }, 180_000);
  const rounds: Round[] = [];
  for (let r = 0; r < config.rounds + (config.warmup ? 1 : 0); r++) rounds.push(await round(server, clients, connect, config));
  return config.warmup ? rounds.slice(1) : rounds;
}

async function socketIoRounds(group: ProcGroup, procs: Proc[], script: string, config: Config): Promise<Round[]> {
  const { proc, info } = await group.fork<{ url: string }>(script, { name: 'socketio-server', nodeFlags: ['--expose-gc'] });
  const counts = split(Array.from({ length: config.connections }), procs.length).map((g) => g.length);
  const clients = procs.map((p) => peer(p, 'socketio'));
  const server: Server = { proc, memory: () => proc.call('memory') };
  const connect = (c: Peer, i: number) => c.call('connect', { url: info.url, count: counts[i] }, 180_000);
  const rounds: Round[] = [];
  for (let r = 0; r < config.rounds + (config.warmup ? 1 : 0); r++) rounds.push(await round(server, clients, connect, config));
  await proc.stop();
  return config.warmup ? rounds.slice(1) : rounds;
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
  const bytes = (context.quick ? 256 : 1024) * MB;
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

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  try {
    // Both servers run as builds on plain node (bench/lib/bundle.ts); the tsx loader's share is below.
    const [bridgeBuild, socketIoBuild] = await Promise.all([bundleBridge(), bundleProc('sio-server.ts')]);
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
    const sealroom = await sealroomRounds(procs, bridge, tenant, config);
    const socketio = await socketIoRounds(group, procs, socketIoBuild, config);
    const idleRss = await sampleRss({ proc: bridge.proc, memory: () => bridge.memory() }, config);
    // The same Bridge through the tsx loader (bin/sealroom.js; `make run` runs the build), idle, fresh.
    const tsxBridge = await startBridgeProc(group, {}, { name: 'bridge-tsx', script: 'bridge.ts' });
    const tsxIdle = await sampleMemory({ proc: tsxBridge.proc, memory: () => tsxBridge.memory() }, config);
    await tsxBridge.proc.stop();
    // The fix measured: the same build with V8's young generation capped (it grows to 2 x 16 MB
    // semi-spaces during the login burst and keeps them).
    let tuned: Round[] | undefined;
    if (config.tuned) {
      const tunedBridge = await startBridgeProc(
        group,
        {},
        { name: 'bridge-semi1', script: bridgeBuild, nodeFlags: [`--max-semi-space-size=${TUNED_SEMI_SPACE_MB}`] },
      );
      const tunedTenant = await makeTenant(tunedBridge.manage, ids, 'memory');
      tuned = await sealroomRounds(procs, tunedBridge, tunedTenant, config);
      await tunedBridge.proc.stop();
    }
    const freshBridge = await startBridgeProc(group, {}, { name: 'bridge-fresh', script: bridgeBuild });
    const builtIdle = await sampleMemory({ proc: freshBridge.proc, memory: () => freshBridge.memory() }, config);
    await freshBridge.proc.stop();

    const n = config.connections;
    const after = median(sealroom.map((r) => r.after));
    const before = median(sealroom.map((r) => r.before));
    const sioAfter = median(socketio.map((r) => r.after));
    const sioBefore = median(socketio.map((r) => r.before));
    const perConn = (rounds: Round[]) => median(rounds.map((r) => (r.after - r.before) / n / 1024));
    const rows: ResultRow[] = [
      row(`Bridge RSS with ${n} idle authenticated connections`, after / MB, 'MB', {
        baseline: { name: `socket.io server, ${n} idle connections`, value: sioAfter / MB },
        target: { op: '<', value: 100 },
      }),
      ...(tuned === undefined
        ? []
        : [
            row(`... same, Bridge run with --max-semi-space-size=${TUNED_SEMI_SPACE_MB}`, median(tuned.map((r) => r.after)) / MB, 'MB', {
              baseline: { name: `socket.io server, ${n} idle connections`, value: sioAfter / MB },
              target: { op: '<', value: 100 },
            }),
          ]),
      row('RSS per idle connection', perConn(sealroom), 'KiB/conn', { baseline: { name: 'socket.io server', value: perConn(socketio) } }),
      row('RSS with no connections', before / MB, 'MB', { baseline: { name: 'socket.io server', value: sioBefore / MB } }),
      row('Bridge RSS at start, through tsx (bin/sealroom.js; make run uses the build)', tsxIdle.rss / MB, 'MB', {
        baseline: { name: 'same Bridge built, at start', value: builtIdle.rss / MB },
      }),
    ];
    const notes = [
      `${config.connections} connections from ${config.clientProcs} client processes; ${config.rounds} measured round(s)${config.warmup ? ' after a warm-up round' : ' (no warm-up round in quick mode: the "no connections" figure is then taken before any login)'}; each figure is the median of ${config.samples} VmRSS samples taken after a full GC in the server.`,
      'sealroom connections are Endpoint.connect (challenge-response login, session, WebSocket with hello) plus the event and stream APIs; socket.io connections carry no authentication.',
      `Bridge rounds (before -> after, MB): ${sealroom.map((r) => `${mb(r.before)} -> ${mb(r.after)}`).join('; ')}; socket.io: ${socketio.map((r) => `${mb(r.before)} -> ${mb(r.after)}`).join('; ')}.`,
      `Both servers run as esbuild builds on plain node (bench/lib/bundle.ts). The Bridge through tsx starts at ${mb(tsxIdle.rss)} MB against ${mb(builtIdle.rss)} MB built: with ${n} connections it would hold about ${mb(after + tsxIdle.rss - builtIdle.rss)} MB.`,
      `Bridge heap with ${n} connections: ${heapLine(sealroom.at(-1)!.usage)}; at start (built): ${heapLine(builtIdle.usage)}; socket.io with ${n}: ${heapLine(socketio.at(-1)!.usage)}.`,
    ];
    const slow = await slowSubscriberMemory({ group, bridge, tenant, idleRssBytes: idleRss, quick: options.quick });
    rows.push(...slow.rows);
    notes.push(...slow.notes);
    return { scenario: SCENARIO, rows, notes };
  } finally {
    await group.close();
  }
}
