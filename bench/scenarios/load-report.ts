/**
 * The notes of the load benchmark's result (bench/scenarios/load.ts): per phase what was sent,
 * delivered and dropped (by cause, at the receivers and at the Bridge), the accounting of deliveries,
 * CPU, event-loop lag, REST and byte streams; the capacity ramp; the machine's load. Unaccounted
 * deliveries are said loudly.
 */
import { MAX_HOLD_MS } from '../../endpoint/util/bulk-governor.ts';
import type { LoadConfig } from '../lib/load-options.ts';
import { type PhaseFigures, type RampStep, rampOutcome } from '../lib/load-phase.ts';
import type { PlainFigures } from './load.ts';

const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
/**
 * The governor's average hold, seconds. Near `MAX_HOLD_MS`, the bound that keeps each stream moving
 * sets the files' rate rather than the governor's (docs/operations/load.md, "Where the late deliveries fall").
 */
const heldEach = (waits: number, waitedMs: number) => (waits > 0 ? (waitedMs / waits / 1000).toFixed(2) : '0');
const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : 'n/a');

function entries(r: Record<string, number>): string {
  const list = Object.entries(r).map(([k, v]) => `${k} ${v}`);
  return list.length === 0 ? 'none' : list.join(', ');
}

/** Which delivery mode a Bridge drop cause belongs to (bridge/metrics.ts `sealroom_drops_total`). */
function modeOf(cause: string): string {
  if (cause === 'data_deadline' || cause === 'data_slow_subscriber') return 'lossy';
  if (cause === 'data_reliable_cut') return 'reliable';
  return cause.startsWith('stream_') ? 'byte stream' : 'other';
}

function phaseNote(p: PhaseFigures, c: LoadConfig): string[] {
  const bridgeDrops = Object.entries(p.bridgeCounters).filter(([k]) => k.startsWith('drops.'));
  const byMode = bridgeDrops.length === 0 ? 'none' : bridgeDrops.map(([k, v]) => `${k.slice(6)} (${modeOf(k.slice(6))}) ${v}`).join(', ');
  const out = [
    `**${p.name}** (${f1(p.seconds)} s of sending): p50/p99/max ${f1(p.p50)}/${f1(p.p99)}/${f0(p.max)} ms; ` +
      (p.settledP99 !== undefined ? `p99 from 5 s after the streams started ${f1(p.settledP99)} ms; ` : '') +
      `delivered ${p.delivered} of ${p.expected} expected (${c.roomSize - 1} subscribers per message); counted drops ${p.dropped} (${entries(p.drops)}); ` +
      `Bridge counted: data deliveries ${p.bridgeCounters.dataDeliveries ?? 0}, drops by cause and mode: ${byMode}; ` +
      `Bridge CPU ${f0(100 * p.bridgeCpuShare)}% of its core, ${f1(p.bridgeMicrosPerDelivery)} µs per delivery; clients ${f1(p.clientMicrosPerDelivery)} µs per delivery; ` +
      `event loop runnable but waiting for a CPU: Bridge ${f0(p.bridgeWaitPerSecond)} ms/s, clients ${f0(p.clientWaitPerSecond)} ms/s (summed); ` +
      `event-loop lag p50/p99/max ${f1(p.loopLag.p50)}/${f1(p.loopLag.p99)}/${f0(p.loopLag.max)} ms (clients, worst process: p99/max ${f1(p.clientLoopLag.p99)}/${f0(p.clientLoopLag.max)} ms); connections lost ${p.lost}` +
      (p.rest.count > 0
        ? `; REST reads ${p.rest.count}, p50/p99 ${f1(p.rest.p50)}/${f1(p.rest.p99)} ms, errors ${p.rest.errors}${p.rest.errors > 0 ? ` (last: ${p.rest.lastError})` : ''}`
        : '') +
      (p.lastSendError !== '' ? `; last sendData error: ${p.lastSendError}` : '') +
      (p.bulkYield.waits > 0 || p.bulkYield.slowdowns > 0
        ? `; bulk governor: rate halved ${p.bulkYield.slowdowns} times (${p.bulkYield.lateFrameSlowdowns} for late frames alone), ${p.bulkYield.waits} credits or chunks held (${f1(p.bulkYield.waitedMs / 1000)} s summed, ${heldEach(p.bulkYield.waits, p.bulkYield.waitedMs)} s each on average, at most ${MAX_HOLD_MS / 1000} s), rates at the end ${p.bulkYield.endRates.map((r) => f1(r / 1e6)).join('/')} MB/s`
        : '') +
      `; clients' GC: ${p.gc.major} Mark-Compacts, ${f1(100 * p.gc.pauseShare)}% of each process's time, longest ${f1(p.gc.longestMs)} ms` +
      '.',
  ];
  if (p.unaccounted !== 0) {
    out.push(
      `**UNACCOUNTED in ${p.name}: ${p.unaccounted} expected deliveries were neither delivered nor counted as dropped** (${p.unaccounted > 0 ? 'lost silently, or still in flight after the drain' : "more arrived than expected: duplicates or a previous phase's backlog"}).`,
    );
  }
  const copies = p.files.verified + p.files.mismatched + Object.values(p.files.failed).reduce((a, b) => a + b, 0);
  if (copies > 0 || p.name.includes('files')) {
    out.push(
      `Byte streams in ${p.name}: ${p.files.verified} receiver copies read to their verified end with the right SHA-256, ${p.files.mismatched} with a wrong one, failed by reason: ${entries(p.files.failed)}` +
        (p.files.lastError !== '' ? ` (last error: ${p.files.lastError})` : '') +
        '.',
    );
  }
  return out;
}

export function loadNotes(o: {
  c: LoadConfig;
  data: PhaseFigures;
  files: PhaseFigures | undefined;
  plain: PlainFigures | undefined;
  ramp: RampStep[];
  pinned: boolean;
  pin: { server?: string; clients?: string };
  setupSeconds: number;
  setupSteps: Record<string, number>;
  loadBefore: number[];
  loadAfter: number[];
  seconds: number;
}): string[] {
  const { c } = o;
  const mode = c.delivery === undefined ? "the Endpoint's default delivery mode" : `delivery '${c.delivery}'`;
  const notes = [
    `Preset ${c.preset}: ${c.connections} connections in ${c.connections / c.roomSize} rooms of ${c.roomSize} over ${c.clientProcs} client processes; every member publishes a data track (${mode}${c.deadlineMs === undefined ? '' : `, deadlineMs ${c.deadlineMs}`}) and subscribes to the other ${c.roomSize - 1}; ` +
      `${c.rate} msg/s of ${c.size} B offered by all together (${c.rate * (c.roomSize - 1)} deliveries/s); REST: ${c.restPerSecond} verified room reads/s in the data and files phases; ` +
      `files phase: ${c.files} room-wide byte streams of ${(c.fileMinBytes / 2 ** 20).toFixed(0)}-${(c.fileMaxBytes / 2 ** 20).toFixed(0)} MiB kept going at once (data keeps flowing until the last ends). Warm-up: ${c.warmupSeconds} s at ${c.warmupRate} msg/s, discarded.` +
      (c.clientNodeFlags.length > 0 ? ` Client processes run with \`${c.clientNodeFlags.join(' ')}\`.` : '') +
      (c.clientHeapGrowth > 0
        ? ` Client processes set V8's heap growth to ${c.clientHeapGrowth}% at their start (docs/operations/node-heap.md; --load-client-heap-growth=0 leaves V8's own).`
        : " Client processes leave V8's heap growth to V8 (--load-client-heap-growth=0)."),
    o.pinned
      ? `Pinned: the Bridge and the plain server on CPU ${o.pin.server}, the client processes and the benchmark on CPU ${o.pin.clients} (taskset).`
      : 'NOT pinned (fewer than 2 cores or no taskset): the Bridge shares its cores with the clients, its figures include their contention.',
    `Load average before/after: ${o.loadBefore.map((v) => v.toFixed(1)).join(' ')} / ${o.loadAfter.map((v) => v.toFixed(1)).join(' ')} (other work on the machine moves latencies; CPU per delivery moves less). Setup ${f1(o.setupSeconds)} s (${Object.entries(
      o.setupSteps,
    )
      .map(([k, v]) => `${k} ${f1(v)}`)
      .join(', ')}), whole scenario ${f0(o.seconds)} s.`,
    "Run-queue wait (/proc schedstat of the main thread) is time an event loop was ready to run but its CPU was busy with something else: on CPU 0 other work on the machine or the Bridge's own helper threads (GC, libuv's pool; the Bridge is the only benchmark process there), on the clients' CPU mostly the other client processes.",
    "Latency: the receiver's CLOCK_MONOTONIC at `onRemoteData` (after decryption) minus the stamp written right before `sendData` (bench/lib/clock.ts). CPU: /proc schedstat of the processes over the phase, divided by deliveries; client CPU includes sending, and in the data phase the REST reads.",
    ...phaseNote(o.data, c),
    ...(o.files === undefined ? [] : phaseNote(o.files, c)),
  ];
  if (o.files !== undefined) notes.push(`p99 with byte streams / without: ${(o.files.p99 / o.data.p99).toFixed(2)} (goal <= 2).`);
  if (o.plain !== undefined) {
    const p = o.plain;
    const cpu = o.ramp[0]?.figures ?? o.data;
    notes.push(
      `Plain ws room broadcast (same clients, same rate and rooms, server on the Bridge's core): p50/p99/max ${f1(p.p50)}/${f1(p.p99)}/${f0(p.max)} ms, delivered ${p.delivered} of ${p.expected}, ` +
        `server ${f1(p.serverMicrosPerDelivery)} µs and clients ${f1(p.clientMicrosPerDelivery)} µs per delivery; sockets lost ${p.lost}. ` +
        `Ratios sealroom/plain, ${o.ramp[0] === undefined ? 'data phase (REST reads included)' : "the ramp's first step (the same traffic, no REST reads)"}: Bridge CPU per delivery ${(cpu.bridgeMicrosPerDelivery / p.serverMicrosPerDelivery).toFixed(2)} (goal <= 1.5), client ${(cpu.clientMicrosPerDelivery / p.clientMicrosPerDelivery).toFixed(2)} (goal <= 2.5).`,
    );
  }
  if (o.ramp.length > 0) {
    const steps = o.ramp.map(
      (s) =>
        `${f0(s.rate)} msg/s asked, ${f0(s.figures.offeredPerSecond)} offered: ${f0(s.figures.delivered / s.figures.seconds)} deliveries/s, Bridge ${f0(100 * s.figures.bridgeCpuShare)}%, p99 ${f1(s.figures.p99)} ms, loop lag p99 ${f1(s.figures.loopLag.p99)} ms, ${s.passed ? 'passed' : `failed: ${s.why}`}`,
    );
    const { best, failed } = rampOutcome(o.ramp);
    notes.push(
      `Capacity ramp (${c.rampSeconds} s a step, x${c.rampFactor}, up from ${c.rate} msg/s while steps pass, down when the first fails; a step passes with the Bridge under 80% of its core, nothing dropped or unaccounted, no connection lost, at least 90% of the asked rate offered and p99 <= 500 ms): ${steps.join('; ')}.` +
        (best === undefined
          ? ' **No step passed**: capacity is below the lowest step.'
          : failed === undefined
            ? ' No step failed: capacity is at least the highest (raise --load-ramp).'
            : ''),
    );
  }
  return notes;
}
