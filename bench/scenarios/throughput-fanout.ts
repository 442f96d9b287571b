/**
 * Byte-stream fan-out (issue 12, goal 1's second half): one sender to N receivers through the relay,
 * sealroom's Bridge against the plain relay, each in the processes the 1 -> 1 runs already warmed
 * (bench/scenarios/throughput.ts) plus N - 1 receivers of their own.
 *
 * MB/s is per receiver: the bytes of one stream over the time from the first write to the moment the
 * last receiver has read (and, for sealroom, verified) them all. CPU is per delivered byte: every
 * process's CPU over the bytes times the receivers. The budget a sealroom byte is held to here is the
 * plain fan-out's CPU per delivered byte plus one AES-256-GCM and one SHA-256 at each receiver and, shared
 * by the N receivers, the sender's (docs/operations/throughput.md, "Fan-out").
 */
import { timedRuns } from '../lib/cpu-per-byte.ts';
import type { Proc, ProcGroup } from '../lib/procs.ts';
import { type ResultRow, row } from '../lib/result.ts';
import { median } from '../lib/stats.ts';
import type { BenchTenant } from '../lib/tenant.ts';

export interface FanOutConfig {
  receivers: number;
  /** Bytes of each stream (each receiver gets them all). */
  bytes: number;
  warmupBytes: number;
  warmupRuns: number;
  runs: number;
  /** Size of each message (plain) or awaited write (sealroom). */
  writeBytes: number;
}

export interface FanOutRuns {
  /** Per run: MB/s each receiver got (10^6 bytes per second, to the last receiver's last byte). */
  mbPerReceiver: number[];
  /** Per run: CPU ns per delivered byte, every process together. */
  cpuNsPerDelivered: number[];
  /** Per run, per process (sender, relay, receivers...), CPU ns per delivered byte. */
  cpuEach: number[][];
}

/** What the 1 -> 1 half left running: its processes, and how to make the relay's next receiver. */
export interface FanOutStart {
  sender: Proc;
  relay: Proc;
  /** The 1 -> 1 receiver, with the bytes it has counted so far. */
  receiver: { proc: Proc; received: number };
  /** Starts one more receiver that gets every later stream. */
  addReceiver: (index: number) => Promise<Proc>;
}

/** Runs warm-ups then timed streams to `start`'s receiver and `config.receivers - 1` new ones. */
export async function fanOutRuns(start: FanOutStart, config: FanOutConfig): Promise<FanOutRuns> {
  const receivers = [start.receiver];
  for (let i = 1; i < config.receivers; i++) receivers.push({ proc: await start.addReceiver(i), received: 0 });
  const once = async (bytes: number): Promise<number> => {
    const timeoutMs = 60_000 + (bytes * config.receivers) / 5_000;
    const done = receivers.map((r) => {
      r.received += bytes;
      return r.proc.call<number>('expect', { total: r.received }, timeoutMs);
    });
    const { startAt } = await start.sender.call<{ startAt: number }>('send', { bytes, chunkBytes: config.writeBytes }, timeoutMs);
    const lastAt = Math.max(...(await Promise.all(done)));
    return bytes / ((lastAt - startAt) / 1000) / 1e6;
  };
  const procs = [start.sender, start.relay, ...receivers.map((r) => r.proc)];
  const runs = await timedRuns(procs, config, once, { receivers: config.receivers });
  return { mbPerReceiver: runs.mbPerSecond, cpuNsPerDelivered: runs.cpuNsPerByte, cpuEach: runs.cpuEach };
}

/** The plain relay's next receiver: a plain peer on `url`. */
export function plainReceiverFactory(group: ProcGroup, url: string): (index: number) => Promise<Proc> {
  return async (index) => {
    const { proc } = await group.fork('plain-peer.ts', { name: `plain-receiver${index + 1}` });
    await proc.call('connect', { url, role: 'recv' });
    return proc;
  };
}

/** sealroom's next receiver: a stream peer as the tenant's user `index + 1`, joined to `roomId`. */
export function sealroomReceiverFactory(group: ProcGroup, at: { url: string; tenant: BenchTenant; roomId: string }): (index: number) => Promise<Proc> {
  return async (index) => {
    const user = at.tenant.users[index + 1];
    if (user === undefined) throw new Error(`the tenant has no user for receiver ${index + 1}`);
    const { proc } = await group.fork('stream-peer.ts', { name: `stream-receiver${index + 1}` });
    await proc.call('connect', { url: at.url, solutionId: at.tenant.solutionId, user });
    await proc.call('join', { roomId: at.roomId, role: 'recv' });
    return proc;
  };
}

/**
 * The fan-out rows: MB/s per receiver against the plain relay's (goal >= 0.6), and CPU per delivered
 * byte against the budget, with the bound that budget puts on the MB/s: every one of `cores` busy at
 * the budget's CPU per delivered byte and nothing else.
 */
export function fanOutRows(
  config: Omit<FanOutConfig, 'writeBytes'>,
  plain: FanOutRuns,
  sealroom: FanOutRuns,
  raw: { aesGcm: number; sha256: number },
  cores: number,
  notes: string[],
): ResultRow[] {
  const n = config.receivers;
  const name = `1 -> ${n}`;
  const plainNs = median(plain.cpuNsPerDelivered);
  const budgetNs = plainNs + (1 + 1 / n) * (raw.aesGcm + raw.sha256);
  const plainMBps = median(plain.mbPerReceiver);
  // ns per delivered byte -> MB/s per receiver with `cores` busy: cores x 10^9 ns/s / (ns/B x n) / 10^6.
  const boundMBps = (cores * 1000) / (budgetNs * n);
  const plainCores = (plainNs * n * plainMBps) / 1000;
  const list = (values: number[], digits: number) => values.map((v) => v.toFixed(digits)).join(', ');
  const each = (runs: number[][]) => runs.map((r) => r.map((v) => v.toFixed(2)).join('/')).join(', ');
  notes.push(
    `fan-out ${name}: ${config.runs} streams of ${config.bytes / 2 ** 20} MiB after ${config.warmupRuns} warm-up streams of ${config.warmupBytes / 2 ** 20} MiB, ` +
      `in the 1 -> 1 processes (warm) and ${n - 1} new receivers each; MB/s per receiver to the last receiver's last byte. ` +
      `plain: ${list(plain.mbPerReceiver, 0)} MB/s, ${list(plain.cpuNsPerDelivered, 2)} ns per delivered byte; ` +
      `sealroom: ${list(sealroom.mbPerReceiver, 0)} MB/s, ${list(sealroom.cpuNsPerDelivered, 2)} ns per delivered byte ` +
      `(sender/relay/receivers: ${each(sealroom.cpuEach)}; plain: ${each(plain.cpuEach)}). ` +
      `Budget per delivered byte: the plain fan-out's + ${(1 + 1 / n).toFixed(2)} x (AES-256-GCM + SHA-256) = ${budgetNs.toFixed(2)} ns; ` +
      `with all ${cores} cores at that and nothing else, sealroom could carry ${boundMBps.toFixed(0)} MB/s per receiver: ` +
      `${(boundMBps / plainMBps).toFixed(2)} of the plain fan-out's (which kept ${plainCores.toFixed(2)} cores busy).`,
  );
  const baseline = { name: `plaintext WebSocket relay ${name}, per receiver`, value: plainMBps };
  return [
    row(`e2e byte stream ${name}, per receiver, ${config.bytes / 2 ** 20} MiB`, median(sealroom.mbPerReceiver), 'MB/s', {
      baseline,
      target: { op: '>=', value: 0.6 * baseline.value, text: '>= 0.6 of the baseline' },
    }),
    row(`e2e byte stream ${name}, CPU per delivered byte, all ${n + 2} processes`, median(sealroom.cpuNsPerDelivered), 'ns/B', {
      baseline: { name: `plain ${name} CPU per delivered byte + AES-256-GCM and SHA-256 at each receiver and 1/${n} of the sender's`, value: budgetNs },
    }),
  ];
}
