/**
 * Real-time under load (docs/operations/load.md): N Endpoint connections in rooms of M (default 300
 * in 10 rooms of 30) spread over a few client processes; every member joined, publishing a data track
 * and subscribed to every other member's. Phases, one after the other, in one run:
 *
 * 1. data: every member sends stamped messages (256 B) at `rate / N` a second; verified room reads
 *    over REST in a loop;
 * 2. files: the same, while room-wide byte streams (1-2 MiB, or as set) go on concurrently, each
 *    read to its verified end and SHA-256-checked by every receiver; the files are made in setup,
 *    so the senders' processes do not block their event loops making them;
 * 3. plain: the same data traffic through a plain `ws` room broadcast server (bench/procs/ws-room-server.ts)
 *    from the same client processes: the baseline;
 * 4. capacity: a stepped ramp of the data rate; the highest step at which the Bridge used under 80%
 *    of its core and nothing was dropped.
 *
 * The Bridge (and the plain server) is pinned to CPU 0 and the client processes and this one to the
 * other CPUs when taskset works (bench/lib/procs.ts), so the server figures are its own.
 * Settings: bench/lib/load-options.ts (`--load-*` flags; `--load-small` is the 10-member scenario).
 */
import { availableParallelism, loadavg } from 'node:os';
import { nowMs, sleep } from '../lib/clock.ts';
import { startBridgeProc } from '../lib/bridge.ts';
import { bundleBridge, bundleProc } from '../lib/bundle.ts';
import { deliveryOptions, loadConfig, type LoadConfig } from '../lib/load-options.ts';
import { drain, type LoadSystem, type PhaseFigures, phaseFigures, type RampStep, rampOutcome, snapshot } from '../lib/load-phase.ts';
import { affinityOf, canPin, pinProcess, ProcGroup, readCpuPreciseMs, type Proc } from '../lib/procs.ts';
import { row, type ResultRow, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { summarize } from '../lib/stats.ts';
import { forEachLimited, makeTenant, pubOf, split } from '../lib/tenant.ts';
import { loadNotes } from './load-report.ts';

const SERVER_CPUS = '0';
/** The Bridge's core may be this busy at a capacity step. */
const CAPACITY_CPU_SHARE = 0.8;
/**
 * A capacity step must also stay real-time: the clients offered at least this share of the asked rate,
 * and the p99 stayed under the default lossy deadline (500 ms, docs/protocol/data-tracks.md), so a
 * step where the receivers fall behind does not pass for want of drops.
 */
const CAPACITY_OFFERED_SHARE = 0.9;
const CAPACITY_P99_MS = 500;

export interface PlainFigures {
  p50: number;
  p99: number;
  max: number;
  delivered: number;
  expected: number;
  lost: number;
  serverMicrosPerDelivery: number;
  clientMicrosPerDelivery: number;
}

interface Setup {
  system: LoadSystem;
  group: ProcGroup;
  members: Proc[];
  seconds: number;
  /** Seconds of each setup step. */
  steps: Record<string, number>;
}

async function setup(c: LoadConfig, group: ProcGroup, pin: { server?: string; clients?: string }): Promise<Setup> {
  const started = nowMs();
  const steps: Record<string, number> = {};
  let last = started;
  const step = (name: string) => {
    steps[name] = (nowMs() - last) / 1000;
    last = nowMs();
  };
  const [bridgeScript, membersScript] = await Promise.all([bundleBridge(), bundleProc('load-members.ts')]);
  const bridge = await startBridgeProc(group, {}, { script: bridgeScript, ...(pin.server === undefined ? {} : { cpus: pin.server }) });
  const ids = Array.from({ length: c.connections }, (_, i) => `m${i}`);
  step('builds and Bridge');
  const tenant = await makeTenant(bridge.manage, ids, 'load');
  step('users');
  const members = (
    await group.forkAll(
      membersScript,
      Array.from({ length: c.clientProcs }, (_, i) => ({
        name: `members-${i}`,
        readyTimeoutMs: 60_000,
        nodeFlags: c.clientNodeFlags,
        args: { heapGrowthPercent: c.clientHeapGrowth },
        ...(pin.clients === undefined ? {} : { cpus: pin.clients }),
      })),
    )
  ).map((f) => f.proc);
  // Member i is in room floor(i / roomSize); the processes hold consecutive slices.
  const users = tenant.users.map((u, i) => ({ ...u, roomIndex: Math.floor(i / c.roomSize) }));
  const slices = split(users, c.clientProcs);
  step('client processes');
  await Promise.all(members.map((m, i) => m.call('connect', { url: bridge.url, solutionId: tenant.solutionId, users: slices[i] }, 300_000)));
  step('logins');
  const procOf = new Map(slices.flatMap((slice, p) => slice.map((u) => [u.userId, members[p]!] as const)));
  const roomCount = c.connections / c.roomSize;
  const rooms: Record<string, string> = {};
  await forEachLimited(
    Array.from({ length: roomCount }, (_, r) => r),
    4,
    async (r) => {
      const inRoom = users.slice(r * c.roomSize, (r + 1) * c.roomSize);
      const roomId = await procOf
        .get(inRoom[0]!.userId)!
        .call<string>('createRoom', { creator: inRoom[0]!.userId, contextId: tenant.contextId, members: inRoom.map(pubOf) }, 120_000);
      for (const u of inRoom) rooms[u.userId] = roomId;
    },
  );
  const published = (
    await Promise.all(
      members.map((m) => m.call<Array<{ userId: string; roomId: string; streamId: string }>>('join', { rooms, delivery: deliveryOptions(c) }, 300_000)),
    )
  ).flat();
  step('joins and publishes');
  await Promise.all(members.map((m) => m.call('subscribe', { streams: published }, 300_000)));
  step('subscriptions');
  if (c.files > 0) {
    // Each process streams from files made now, not when a stream starts (bench/procs/load-members.ts).
    const lanes = split(Array.from({ length: c.files }), members.length).map((l) => l.length);
    await Promise.all(
      members.map((m, i) => m.call('prepareFiles', { count: Math.max(2, 2 * lanes[i]!), minBytes: c.fileMinBytes, maxBytes: c.fileMaxBytes }, 120_000)),
    );
    step('files');
  }
  const system: LoadSystem = { bridge: bridge.proc, bridgeUrl: bridge.url, apiKey: bridge.apiKey, members, subscribers: c.roomSize - 1 };
  return { system, group, members, seconds: (nowMs() - started) / 1000, steps };
}

const received =
  (members: Proc[], method = 'received') =>
  async () =>
    (await Promise.all(members.map((m) => m.call<number>(method)))).reduce((a, b) => a + b, 0);

/** Sends at `rate` (all members together) for `seconds`, with files and REST reads as asked, and measures. */
async function phase(name: string, c: LoadConfig, s: LoadSystem, o: { rate: number; seconds: number; files: number; rest: boolean }): Promise<PhaseFigures> {
  const { snap: before } = await snapshot(s);
  await s.bridge.call('takeLoopLag');
  const perConnection = o.rate / c.connections;
  if (o.rest) await Promise.all(s.members.map((m) => m.call('startRest', { perSecond: c.restPerSecond / s.members.length })));
  const lanes = split(Array.from({ length: o.files }), s.members.length).map((l) => l.length);
  if (o.files > 0) {
    await Promise.all(s.members.map((m, i) => (lanes[i]! > 0 ? m.call('startFiles', { concurrent: lanes[i] }) : null)));
  }
  const t0 = nowMs();
  await Promise.all(s.members.map((m) => m.call('startSending', { perConnection, size: c.size })));
  await sleep(o.seconds * 1000);
  // Data keeps flowing until the last byte stream in flight has ended, so every stream meets it.
  if (o.files > 0) await Promise.all(s.members.map((m) => m.call('stopFiles', undefined, 300_000)));
  await Promise.all(s.members.map((m) => m.call('stopSending')));
  const sendMs = nowMs() - t0;
  const expected = ((await received(s.members, 'offered')()) - before.offered) * s.subscribers;
  await drain(received(s.members), expected);
  if (o.rest) await Promise.all(s.members.map((m) => m.call('stopRest')));
  const loopLag = await s.bridge.call<{ p50: number; p99: number; max: number }>('takeLoopLag');
  return phaseFigures(name, s, before, await snapshot(s), sendMs, loopLag);
}

async function plainPhase(c: LoadConfig, group: ProcGroup, members: Proc[], pin: { server?: string }): Promise<PlainFigures> {
  const script = await bundleProc('ws-room-server.ts');
  const { proc: server, info } = await group.fork<{ url: string }>(script, {
    name: 'ws-room-server',
    ...(pin.server === undefined ? {} : { cpus: pin.server }),
  });
  const rooms = Array.from({ length: c.connections }, (_, i) => Math.floor(i / c.roomSize));
  const slices = split(rooms, members.length);
  await Promise.all(members.map((m, i) => m.call('plainConnect', { url: info.url, rooms: slices[i] }, 120_000)));
  const perConnection = c.rate / c.connections;
  const sent = async () => (await Promise.all(members.map((m) => m.call<number>('plainSent')))).reduce((a, b) => a + b, 0);
  const measure = async (seconds: number) => {
    await Promise.all(members.map((m) => m.call('plainTake')));
    const sentBefore = await sent();
    const cpuBefore = { server: readCpuPreciseMs(server.pid), clients: members.reduce((n, m) => n + readCpuPreciseMs(m.pid), 0) };
    await Promise.all(members.map((m) => m.call('plainStartSending', { perConnection, size: c.size })));
    await sleep(seconds * 1000);
    await Promise.all(members.map((m) => m.call('plainStopSending')));
    const expected = ((await sent()) - sentBefore) * (c.roomSize - 1);
    await drain(received(members, 'plainReceived'), expected);
    const takes = await Promise.all(members.map((m) => m.call<{ latencies: Float64Array; lost: number }>('plainTake')));
    const serverCpu = readCpuPreciseMs(server.pid) - cpuBefore.server;
    const clientCpu = members.reduce((n, m) => n + readCpuPreciseMs(m.pid), 0) - cpuBefore.clients;
    const lat = summarize(takes.flatMap((t) => Array.from(t.latencies)));
    return {
      p50: lat.p50,
      p99: lat.p99,
      max: lat.max,
      delivered: lat.count,
      expected,
      lost: takes.reduce((n, t) => n + t.lost, 0),
      serverMicrosPerDelivery: (serverCpu * 1000) / Math.max(1, lat.count),
      clientMicrosPerDelivery: (clientCpu * 1000) / Math.max(1, lat.count),
    };
  };
  await measure(c.warmupSeconds);
  const figures = await measure(c.phaseSeconds);
  await Promise.all(members.map((m) => m.call('plainClose')));
  await server.stop();
  return figures;
}

/**
 * The stepped ramp: from `rate`, times `rampFactor` a step while steps pass (the Bridge under 80% of
 * its core, nothing dropped, real-time kept); when the first step already fails, down by the factor
 * until one passes. At most `rampSteps` steps; the first is always at `rate` (the CPU comparison
 * with the plain server uses it).
 */
async function capacity(c: LoadConfig, s: LoadSystem): Promise<RampStep[]> {
  const steps: RampStep[] = [];
  let rate = c.rate;
  for (let i = 0; i < c.rampSteps; i++) {
    const figures = await phase(`ramp ${Math.round(rate)} msg/s`, c, s, { rate, seconds: c.rampSeconds, files: 0, rest: false });
    const why = [
      figures.bridgeCpuShare >= CAPACITY_CPU_SHARE ? `Bridge at ${(100 * figures.bridgeCpuShare).toFixed(0)}% of its core` : '',
      figures.offeredPerSecond < CAPACITY_OFFERED_SHARE * rate ? `the clients offered only ${figures.offeredPerSecond.toFixed(0)} msg/s` : '',
      figures.p99 > CAPACITY_P99_MS ? `p99 ${figures.p99.toFixed(0)} ms > ${CAPACITY_P99_MS} ms` : '',
      figures.dropped > 0 ? `${figures.dropped} dropped` : '',
      figures.unaccounted !== 0 ? `${figures.unaccounted} unaccounted` : '',
      figures.lost > 0 ? `${figures.lost} connections lost` : '',
    ].filter((w) => w !== '');
    const step = { rate, figures, passed: why.length === 0, why: why.join(', ') };
    steps.push(step);
    const descending = !steps[0]!.passed;
    if (descending ? step.passed : !step.passed) break;
    rate = descending ? rate / c.rampFactor : rate * c.rampFactor;
  }
  return steps;
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const c = loadConfig(process.argv, options.quick);
  const group = new ProcGroup();
  const cores = availableParallelism();
  const pinned = cores >= 2 && canPin();
  const clientCpus = cores > 2 ? `1-${cores - 1}` : '1';
  const pin = pinned ? { server: SERVER_CPUS, clients: clientCpus } : {};
  const ownAffinity = affinityOf(process.pid);
  const loadBefore = loadavg();
  const started = nowMs();
  try {
    if (pinned) pinProcess(process.pid, clientCpus);
    const { system, members, seconds: setupSeconds, steps: setupSteps } = await setup(c, group, pin);
    // Warm-up: JIT, keys, socket buffers; discarded.
    await phase('warm-up', c, system, { rate: c.warmupRate, seconds: c.warmupSeconds, files: 0, rest: false });
    const data = await phase('data', c, system, { rate: c.rate, seconds: c.phaseSeconds, files: 0, rest: c.restPerSecond > 0 });
    const files =
      c.files > 0 ? await phase('data + files', c, system, { rate: c.rate, seconds: c.phaseSeconds, files: c.files, rest: c.restPerSecond > 0 }) : undefined;
    const plain = c.baseline ? await plainPhase(c, group, members, pin) : undefined;
    const ramp = c.rampSteps > 0 ? await capacity(c, system) : [];
    const rows = loadRows(data, files, plain, ramp);
    const notes = loadNotes({
      c,
      data,
      files,
      plain,
      ramp,
      pinned,
      pin,
      setupSeconds,
      setupSteps,
      loadBefore,
      loadAfter: loadavg(),
      seconds: (nowMs() - started) / 1000,
    });
    return { scenario: scenarioName(c), rows, notes };
  } finally {
    await group.close();
    if (pinned && ownAffinity !== undefined) pinProcess(process.pid, ownAffinity);
  }
}

function scenarioName(c: LoadConfig): string {
  return `load: ${c.connections} connections in rooms of ${c.roomSize}, ${c.rate} msg/s of ${c.size} B${c.files > 0 ? `, ${c.files} concurrent byte streams` : ''}`;
}

function loadRows(data: PhaseFigures, files: PhaseFigures | undefined, plain: PlainFigures | undefined, ramp: RampStep[]): ResultRow[] {
  const base = (value: number | undefined) => (value === undefined ? {} : { baseline: { name: 'plain ws room broadcast', value } });
  const rows = [
    row('data-track delivery p50, no files', data.p50, 'ms', base(plain?.p50)),
    row('data-track delivery p99, no files', data.p99, 'ms', base(plain?.p99)),
  ];
  if (files !== undefined) {
    rows.push(
      row('data-track delivery p99 with byte streams', files.p99, 'ms', {
        baseline: { name: 'p99 without them', value: data.p99 },
        target: { op: '<=', value: 2 * data.p99, text: '<= 2x without' },
      }),
    );
  }
  // CPU per delivery against the baseline from traffic like its own (data only, no REST reads): the
  // ramp's first step when there is one (the same rate), else the data phase.
  const cpu = ramp[0]?.figures ?? data;
  const cpuWhere = ramp[0] === undefined ? 'data phase, REST reads included' : 'data only, first ramp step';
  rows.push(
    row(`Bridge CPU per delivery (${cpuWhere})`, cpu.bridgeMicrosPerDelivery, 'µs', {
      ...base(plain?.serverMicrosPerDelivery),
      ...(plain === undefined ? {} : { target: { op: '<=', value: 1.5 * plain.serverMicrosPerDelivery, text: '<= 1.5x plain' } }),
    }),
    row(`client CPU per delivery, send share included (${cpuWhere})`, cpu.clientMicrosPerDelivery, 'µs', {
      ...base(plain?.clientMicrosPerDelivery),
      ...(plain === undefined ? {} : { target: { op: '<=', value: 2.5 * plain.clientMicrosPerDelivery, text: '<= 2.5x plain' } }),
    }),
  );
  const phases = files === undefined ? [data] : [data, files];
  rows.push(
    row('Bridge event-loop lag p99 (worst phase)', Math.max(...phases.map((p) => p.loopLag.p99)), 'ms', { target: { op: '<', value: 50 } }),
    row(
      'deliveries accounted for (delivered + counted drops) / expected',
      (100 * phases.reduce((n, p) => n + p.delivered + p.dropped, 0)) /
        Math.max(
          1,
          phases.reduce((n, p) => n + p.expected, 0),
        ),
      '%',
      { target: { op: '>=', value: 100, text: '100%' } },
    ),
    row(
      'data-track drops (counted, all causes)',
      phases.reduce((n, p) => n + p.dropped, 0),
      'msgs',
    ),
    row('connections lost', Math.max(...phases.map((p) => p.lost)), 'conns', { target: { op: '<=', value: 0, text: '0' } }),
  );
  if (files !== undefined) {
    const expectedCopies = files.files.verified + files.files.mismatched + Object.values(files.files.failed).reduce((a, b) => a + b, 0);
    rows.push(
      row('byte-stream copies verified (SHA-256) / copies received', files.files.verified, 'copies', {
        baseline: { name: 'copies received', value: expectedCopies },
      }),
    );
  }
  const restPhase = files ?? data;
  if (restPhase.rest.count > 0) rows.push(row(`REST room read p99 (${restPhase.name})`, restPhase.rest.p99, 'ms'));
  if (ramp.length > 0) {
    const { best, failed } = rampOutcome(ramp);
    const bound = failed === undefined ? 'no step failed: at least this' : `the step above failed: ${failed.why}`;
    rows.push(
      row(`capacity: deliveries/s at the highest clean step (${bound})`, best === undefined ? 0 : best.figures.delivered / best.figures.seconds, 'deliv/s'),
      row(
        'capacity: Bridge deliveries per CPU-second at that step (x0.8: at 80% of a core, were the clients able to offer it)',
        best === undefined ? 0 : 1e6 / best.figures.bridgeMicrosPerDelivery,
        'deliv/core-s',
      ),
    );
  }
  return rows;
}
