/**
 * Scenario 1: byte-stream throughput, 1 GiB end to end, sender process -> relay process -> receiver
 * process, as MB/s (10^6 bytes per second), against a plaintext WebSocket relay through an equally
 * minimal relay process (bench/procs/plain-relay.ts) in the same run.
 *
 * Rows: MB/s against the plain relay's (wall clock, which other work on a shared machine moves), and
 * CPU time per byte of all three processes against the plain relay's plus raw AES-256-GCM and
 * SHA-256 at each end (bench/lib/cpu-per-byte.ts), which load does not move much: judge changes by it.
 * A relay's CPU per byte depends on its rate (at a higher rate each read and write carries more bytes
 * and each wake-up serves more), so the plain relay is run a second time with its sender paced to
 * sealroom's measured rate: the CPU budget and the Bridge's share are also given against that, which
 * is what the goals are judged by (docs/operations/throughput.md).
 */
import { availableParallelism } from 'node:os';
import { STREAMS_HEAP_GROWTH_PERCENT } from '../../bridge/cli/heap-growth.ts';
import { startBridgeProc } from '../lib/bridge.ts';
import { rawCryptoNsPerByte, type TimedRuns, timedRuns } from '../lib/cpu-per-byte.ts';
import { ProcGroup } from '../lib/procs.ts';
import { row, type ResultRow, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median } from '../lib/stats.ts';
import { makeTenant, pubOf } from '../lib/tenant.ts';
import { TUNED_SEMI_SPACE_MB } from './memory.ts';
import { type FanOutStart, fanOutRows, fanOutRuns, plainReceiverFactory, sealroomReceiverFactory } from './throughput-fanout.ts';

const SCENARIO = 'byte-stream throughput, 1 sender -> relay -> 1 receiver, and 1 -> 4';
const MiB = 1024 * 1024;

export interface ThroughputConfig {
  /** Bytes per timed run. */
  bytes: number;
  /** Bytes of each warm-up run. */
  warmupBytes: number;
  /** Warm-up runs (each a stream of its own) before the timed ones. */
  warmupRuns: number;
  /** Size of each WebSocket message of the plaintext baseline. */
  chunkBytes: number;
  /** Size of each awaited `write()` of the sealroom sender (the writer seals it as 64 KiB chunks). */
  sealroomWriteBytes: number;
  runs: number;
}

// The warm-up is three streams, so the JIT has settled before the timed runs. One short warm-up left
// both sides warming up through the timed runs (with 16 MiB, three 128 MiB runs of the plain relay came
// in at 400, 800 and 1,300 MB/s, 2.4, 1.2 and 0.7 ns/B; sealroom's 8.9, 4.8 and 4.7 ns/B), and one long
// one is not enough either (likely because code that runs once per stream keeps the compilation it had
// when its stream began): after a single 384 MiB warm-up stream sealroom's next run still took
// 4.4-4.6 ns/B, after three 128 MiB ones 3.3-3.5 (docs/operations/throughput.md, "Method").
const FULL: ThroughputConfig = { bytes: 1024 * MiB, warmupBytes: 128 * MiB, warmupRuns: 3, chunkBytes: 64 * 1024, sealroomWriteBytes: MiB, runs: 3 };
/** Quick: three warm-up streams as in full runs (their number is what settles the JIT), of 64 MiB. */
const QUICK: ThroughputConfig = { bytes: 128 * MiB, warmupBytes: 64 * MiB, warmupRuns: 3, chunkBytes: 64 * 1024, sealroomWriteBytes: MiB, runs: 3 };

/**
 * The fan-out runs (issue 12, goal 1): 1 -> 4, 256 MiB a stream, three warm-up streams of 128 MiB for
 * the three new receivers of each system (one left them still warming up). Quick runs: 64 MiB each, as
 * many (sealroom's 1 -> 4 was 7.5 s of a quick run's 140 s with 128).
 */
const FAN_OUT = { receivers: 4, bytes: 256 * MiB, warmupBytes: 128 * MiB, warmupRuns: 3, runs: 3 };
const FAN_OUT_QUICK = { ...FAN_OUT, bytes: 64 * MiB, warmupBytes: 64 * MiB };

/** Bytes of each paced run of the plain relay at most. */
const PACED_RUN_MAX_BYTES = 256 * MiB;

/** Each timed run: MB/s and CPU ns per byte of the three processes (sender, relay, receiver). */
export type ThroughputRuns = TimedRuns;

/**
 * The plaintext relay: MB/s and CPU per byte of each timed run (after one warm-up run). `paced` runs it
 * again, warm, with the sender held to `rateMBps` (sealroom's rate, for the relay's CPU per byte there).
 */
export async function plainRelayThroughput(
  group: ProcGroup,
  config: ThroughputConfig,
): Promise<ThroughputRuns & { paced: (rateMBps: number) => Promise<ThroughputRuns>; fanOut: () => FanOutStart }> {
  const { proc: relay, info } = await group.fork<{ url: string }>('plain-relay.ts', { name: 'plain-relay' });
  const { proc: receiver } = await group.fork('plain-peer.ts', { name: 'plain-receiver' });
  const { proc: sender } = await group.fork('plain-peer.ts', { name: 'plain-sender' });
  await receiver.call('connect', { url: info.url, role: 'recv' });
  await sender.call('connect', { url: info.url, role: 'send' });
  let total = 0;
  const once = async (bytes: number, rateMBps?: number): Promise<number> => {
    total += bytes;
    // Generous (10 MB/s) but finite: a relay that loses a message fails the run instead of hanging it.
    const timeoutMs = 30_000 + bytes / 10_000;
    const done = receiver.call<number>('expect', { total }, timeoutMs);
    const { startAt } = await sender.call<{ startAt: number }>('send', { bytes, chunkBytes: config.chunkBytes, rateMBps }, timeoutMs);
    const doneAt = await done;
    return bytes / ((doneAt - startAt) / 1000) / 1e6;
  };
  const procs = [sender, relay, receiver];
  return {
    ...(await timedRuns(procs, config, (bytes) => once(bytes))),
    // At most 256 MiB a paced run: at sealroom's rate 3 x 1 GiB would add 7-10 s to a full run, and CPU
    // per byte over 256 MiB is as stable.
    paced: (rateMBps) => timedRuns(procs, { ...config, bytes: Math.min(config.bytes, PACED_RUN_MAX_BYTES) }, (bytes) => once(bytes, rateMBps), { warm: true }),
    fanOut: () => ({ sender, relay, receiver: { proc: receiver, received: total }, addReceiver: plainReceiverFactory(group, info.url) }),
  };
}

/**
 * The sealroom half: the same bytes with `streamBytes` (STREAM AEAD, content hash, end signature) from
 * a sender process through a Bridge process to a receiver process whose handler reads every stream to
 * its verified end. One stream per run; MB/s from the first write to the last byte read and verified.
 */
export async function sealroomByteStreamThroughput(context: {
  group: ProcGroup;
  config: ThroughputConfig;
  startBridge: typeof startBridgeProc;
  /** Node flags of the Bridge process. */
  nodeFlags: string[];
  /** Room members beyond the sender and the receiver, for a fan-out after these runs (they join then). */
  spareReceivers?: number;
}): Promise<ThroughputRuns & { notes: string[]; fanOut: () => FanOutStart }> {
  const { group, config } = context;
  const bridge = await context.startBridge(group, {}, { name: `bridge${context.nodeFlags.join('')}`, nodeFlags: context.nodeFlags });
  const spares = Array.from({ length: context.spareReceivers ?? 0 }, (_, i) => `receiver${i + 2}`);
  const tenant = await makeTenant(bridge.manage, ['sender', 'receiver', ...spares]);
  const { proc: receiver } = await group.fork('stream-peer.ts', { name: 'stream-receiver' });
  const { proc: sender } = await group.fork('stream-peer.ts', { name: 'stream-sender' });
  await sender.call('connect', { url: bridge.url, solutionId: tenant.solutionId, user: tenant.users[0] });
  await receiver.call('connect', { url: bridge.url, solutionId: tenant.solutionId, user: tenant.users[1] });
  const roomId = await sender.call<string>('createRoom', { contextId: tenant.contextId, members: tenant.users.map(pubOf) });
  await receiver.call('join', { roomId, role: 'recv' });
  await sender.call('join', { roomId, role: 'send' });
  let total = 0;
  const once = async (bytes: number): Promise<number> => {
    total += bytes;
    const timeoutMs = 60_000 + bytes / 5_000;
    const done = receiver.call<number>('expect', { total }, timeoutMs);
    const { startAt } = await sender.call<{ startAt: number }>('send', { bytes, chunkBytes: config.sealroomWriteBytes }, timeoutMs);
    const doneAt = await done;
    return bytes / ((doneAt - startAt) / 1000) / 1e6;
  };
  return {
    ...(await timedRuns([sender, bridge.proc, receiver], config, once)),
    fanOut: () => ({
      sender,
      relay: bridge.proc,
      receiver: { proc: receiver, received: total },
      addReceiver: sealroomReceiverFactory(group, { url: bridge.url, tenant, roomId }),
    }),
    notes: [
      `sealroom: one streamBytes stream per run, awaited writes of ${config.sealroomWriteBytes / 1024} KiB (sealed as 64 KiB chunks), ` +
        'the Bridge window at its default (1 MiB); timed to the last byte read after the signature verified. ' +
        `The sealroom peers set V8's heap growth to ${STREAMS_HEAP_GROWTH_PERCENT}% at their start, as docs/operations/node-heap.md tells a Node application that moves byte streams; the Bridge runs as \`sealroom start\` does (V8's own).`,
    ],
  };
}

function ns(values: number[]): string {
  return values.map((v) => v.toFixed(2)).join(', ');
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  try {
    // Raw crypto in this process, between the runs (nothing else of the scenario runs then): the median
    // of three samples, as other work on the machine slows it too (a busy sibling hyperthread).
    const rawSamples = [rawCryptoNsPerByte()];
    const plain = await plainRelayThroughput(group, config);
    rawSamples.push(rawCryptoNsPerByte());
    const sealroom = await sealroomByteStreamThroughput({ group, config, startBridge: startBridgeProc, nodeFlags: [], spareReceivers: FAN_OUT.receivers - 1 });
    rawSamples.push(rawCryptoNsPerByte());
    // The same relay processes, warm, with the sender held to sealroom's median rate.
    const pacedRate = median(sealroom.mbPerSecond);
    const paced = await plain.paced(pacedRate);
    // 1 -> 4 in the same, warm processes and three more receivers each.
    const fanOutConfig = options.quick ? FAN_OUT_QUICK : FAN_OUT;
    const plainFanOut = await fanOutRuns(plain.fanOut(), { ...fanOutConfig, writeBytes: config.chunkBytes });
    const sealroomFanOut = await fanOutRuns(sealroom.fanOut(), { ...fanOutConfig, writeBytes: config.sealroomWriteBytes });
    // The memory-tuned Bridge of scenario 5 (a smaller young generation): what its RSS saving costs here.
    // Full runs with BENCH_MEMORY_TUNED=1 only, as scenario 5's own tuned rounds.
    const tunedFlag = `--max-semi-space-size=${TUNED_SEMI_SPACE_MB}`;
    // A quarter of the bytes per run: a secondary row, and 3 GiB more would cost about 20 s of a run
    // that should end within 8 minutes (docs/operations/benchmarks.md).
    const tunedConfig = { ...config, bytes: config.bytes / 4 };
    const tuned =
      options.quick || process.env.BENCH_MEMORY_TUNED !== '1'
        ? undefined
        : await sealroomByteStreamThroughput({ group, config: tunedConfig, startBridge: startBridgeProc, nodeFlags: [tunedFlag] });
    const raw = { aesGcm: median(rawSamples.map((r) => r.aesGcm)), sha256: median(rawSamples.map((r) => r.sha256)) };
    const size = `${config.bytes / MiB} MiB`;
    const baseline = { name: 'plaintext WebSocket relay process', value: median(plain.mbPerSecond) };
    const plainNs = median(plain.cpuNsPerByte);
    const budgetNs = plainNs + 2 * (raw.aesGcm + raw.sha256);
    const pacedNs = median(paced.cpuNsPerByte);
    const pacedBudgetNs = pacedNs + 2 * (raw.aesGcm + raw.sha256);
    // Per process: sender, relay, receiver (timedRuns' order); the relay's share alone, per run.
    const relayNs = (runs: ThroughputRuns) => median(runs.cpuEach.map((each) => each[1]!));
    const rows: ResultRow[] = [];
    const notes = [
      `${config.runs} timed runs of ${size} in ${config.chunkBytes / 1024} KiB messages after ${config.warmupRuns} warm-up runs of ${config.warmupBytes / MiB} MiB; sender, relay and receiver each in its own process; MB/s = 10^6 bytes/s from the first write to the last byte received.`,
      'MB/s is wall clock: on a machine shared with other work it moves with their load (both sides of a run alike, so read the ratio). CPU per byte is the CPU time of all three processes (every thread: GC and the hash worker included) over the bytes moved; it does not depend on the load.',
      `plaintext relay runs: ${plain.mbPerSecond.map((v) => v.toFixed(0)).join(', ')} MB/s; ${ns(plain.cpuNsPerByte)} ns/B.`,
      `plaintext relay paced to sealroom's median rate (${pacedRate.toFixed(0)} MB/s), same processes, warm, ${config.runs} runs of ${Math.min(config.bytes, PACED_RUN_MAX_BYTES) / MiB} MiB: ${paced.mbPerSecond.map((v) => v.toFixed(0)).join(', ')} MB/s; ${ns(paced.cpuNsPerByte)} ns/B (relay alone ${relayNs(paced).toFixed(2)} against ${relayNs(plain).toFixed(2)} unpaced). The paced rows are what the goals are judged by: a relay's CPU per byte falls as its rate rises (docs/operations/throughput.md).`,
      `raw node:crypto in 64 KiB calls, CPU, median of three samples: AES-256-GCM ${raw.aesGcm.toFixed(2)} ns/B, SHA-256 ${raw.sha256.toFixed(2)} ns/B; budget = plain relay + 2 x (AES-GCM + SHA-256) = ${budgetNs.toFixed(2)} ns/B.`,
    ];
    rows.push(
      row(`e2e byte stream throughput, ${size}`, median(sealroom.mbPerSecond), 'MB/s', {
        baseline,
        target: { op: '>=', value: 0.7 * baseline.value, text: '>= 0.7 of the baseline' },
      }),
      row(`e2e byte stream CPU per byte, all three processes, ${size}`, median(sealroom.cpuNsPerByte), 'ns/B', {
        baseline: { name: 'plain relay CPU/B + raw AES-256-GCM and SHA-256 at each end', value: budgetNs },
        target: { op: '<=', value: 1.25 * budgetNs, text: '<= 1.25 of the baseline' },
      }),
      row(`... same, against the plain relay paced to sealroom's rate`, median(sealroom.cpuNsPerByte), 'ns/B', {
        baseline: { name: `plain relay at ${pacedRate.toFixed(0)} MB/s CPU/B + raw AES-256-GCM and SHA-256 at each end`, value: pacedBudgetNs },
        target: { op: '<=', value: 1.25 * pacedBudgetNs, text: '<= 1.25 of the baseline' },
      }),
      row(`Bridge CPU per byte relayed, ${size}`, relayNs(sealroom), 'ns/B', {
        baseline: { name: `plain relay process at sealroom's ${pacedRate.toFixed(0)} MB/s`, value: relayNs(paced) },
        target: { op: '<=', value: 1.3 * relayNs(paced), text: '<= 1.3 of the baseline' },
      }),
    );
    rows.push(...fanOutRows(fanOutConfig, plainFanOut, sealroomFanOut, raw, availableParallelism(), notes));
    const each = (runs: number[][]) => runs.map((r) => r.map((v) => v.toFixed(2)).join('/')).join(', ');
    notes.push(
      `sealroom runs: ${sealroom.mbPerSecond.map((v) => v.toFixed(0)).join(', ')} MB/s; ${ns(sealroom.cpuNsPerByte)} ns/B ` +
        `(sender/Bridge/receiver: ${each(sealroom.cpuEach)}; plain sender/relay/receiver: ${each(plain.cpuEach)}; paced: ${each(paced.cpuEach)}).`,
      ...sealroom.notes,
    );
    if (tuned !== undefined) {
      rows.push(row(`... same, Bridge run with ${tunedFlag} (${tunedConfig.bytes / MiB} MiB runs)`, median(tuned.mbPerSecond), 'MB/s', { baseline }));
      notes.push(
        `with ${tunedFlag}, ${config.runs} runs of ${tunedConfig.bytes / MiB} MiB: ${tuned.mbPerSecond.map((v) => v.toFixed(0)).join(', ')} MB/s; ${ns(tuned.cpuNsPerByte)} ns/B.`,
      );
    }
    return { scenario: SCENARIO, rows, notes };
  } finally {
    await group.close();
  }
}
