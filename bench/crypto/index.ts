/**
 * Crypto throughput benchmarks. Every row is reported as a ratio to raw node:crypto AES-256-GCM
 * (createCipheriv, update, final, getAuthTag) on the same payload size, measured in the same run.
 * These 2-core machines are shared and their load moves within seconds, so the cases of one size run
 * round-robin, one timed run each per round, and a row's ratio is the median over rounds of its run
 * divided by the baseline run of the same round: both sides of each ratio saw the same load.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { measureThroughput, median, type MeasureOptions } from '../lib/measure.ts';
import { addFixed } from '../lib/timing.ts';
import { sframeBenchCases } from './sframe.ts';
import { streamBenchCases } from './stream.ts';

export interface Row {
  /** What was measured. */
  case: string;
  /** Payload bytes per operation (one chunk or frame). */
  payloadBytes: number;
  /** Median throughput, in MB/s (10^6 bytes). */
  mbPerSecond: number;
  /** Throughput divided by the raw AES-256-GCM baseline at the same payload size. */
  ratio: number;
  /**
   * Raw AES-256-GCM's main-thread CPU time per op divided by this case's (Linux only). Unlike wall
   * time it does not move much when other processes take the cores.
   */
  mainThreadCpuRatio?: number;
}

export const CRYPTO_BENCH_SIZES_BYTES = [1024, 16 * 1024, 64 * 1024] as const;

interface BenchCase {
  name: string;
  size: number;
  op: () => unknown;
  bytesPerOp: number;
}

function rawAesGcmCase(size: number): BenchCase {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const payload = randomBytes(size);
  return {
    name: 'raw node:crypto AES-256-GCM encrypt (baseline)',
    size,
    bytesPerOp: size,
    op() {
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.update(payload);
      cipher.final();
      return cipher.getAuthTag();
    },
  };
}

/**
 * This thread's time on the CPU in nanoseconds (/proc/thread-self/schedstat, the scheduler's own
 * count: finer than stat's 10 ms ticks, so a window of a few hundred ms is enough), or undefined off Linux.
 */
function threadCpuNs(): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

/** Main-thread CPU microseconds per op over `ms` of running `op`, or undefined off Linux. */
async function cpuMicrosPerOp(op: () => unknown, ms: number): Promise<number | undefined> {
  const start = threadCpuNs();
  if (start === undefined) return undefined;
  addFixed(ms);
  let ops = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 8; i++) await op();
    ops += 8;
  }
  return (threadCpuNs()! - start) / 1000 / ops;
}

/**
 * Runs the crypto benchmarks and returns one row per case and payload size.
 * @example const rows = await runCryptoBench({ quick: true });
 */
export async function runCryptoBench(options: { quick: boolean }): Promise<Row[]> {
  // Timed windows: each case's first warm-up, `rounds` runs of each case, then the CPU window. All of
  // it is fixed time (docs/operations/benchmarks.md): 14 cases x (0.1 + 2 x 0.1 + 0.1) s quick.
  const rounds = options.quick ? 2 : 5;
  const run: MeasureOptions = { warmupMs: options.quick ? 30 : 100, runMs: options.quick ? 70 : 300, runs: 1 };
  const firstWarmupMs = options.quick ? 100 : 150;
  const cpuMs = options.quick ? 100 : 1000;
  const sframe = await sframeBenchCases();
  const rows: Row[] = [];
  for (const size of CRYPTO_BENCH_SIZES_BYTES) {
    const cases: BenchCase[] = [rawAesGcmCase(size), ...(await streamBenchCases(size)), ...sframe.filter((c) => c.size === size)];
    const samples = cases.map(() => [] as number[]);
    addFixed(cases.length * (firstWarmupMs + rounds * (run.warmupMs! + run.runMs!)));
    for (const c of cases) await measureThroughput(c.op, c.bytesPerOp, { warmupMs: firstWarmupMs, runMs: 1, runs: 1 });
    for (let round = 0; round < rounds; round++) {
      for (const [i, c] of cases.entries()) samples[i]!.push((await measureThroughput(c.op, c.bytesPerOp, run)).bytesPerSecond);
    }
    const baseline = samples[0]!;
    const cpu: (number | undefined)[] = [];
    for (const c of cases) cpu.push(await cpuMicrosPerOp(c.op, cpuMs));
    for (const [i, c] of cases.entries()) {
      const row: Row = {
        case: c.name,
        payloadBytes: size,
        mbPerSecond: median(samples[i]!) / 1e6,
        ratio: median(samples[i]!.map((v, round) => v / baseline[round]!)),
      };
      if (cpu[0] !== undefined && cpu[i] !== undefined) row.mainThreadCpuRatio = cpu[0] / cpu[i]!;
      rows.push(row);
    }
  }
  return rows;
}
