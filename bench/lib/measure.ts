/**
 * Throughput measurement for in-process benchmarks. These machines are shared and noisy, so every
 * figure is the median of several timed runs after a warm-up, and results are reported as ratios to a
 * baseline measured in the same run (bench/README in the top-level README's "Performance" section).
 */

export interface MeasureOptions {
  /** Warm-up time before the timed runs, in milliseconds. */
  warmupMs?: number;
  /** Minimum duration of one timed run, in milliseconds. */
  runMs?: number;
  /** Number of timed runs; the median is reported. */
  runs?: number;
}

export interface ThroughputResult {
  /** Median bytes per second over the runs. */
  bytesPerSecond: number;
  /** Median operations per second over the runs. */
  opsPerSecond: number;
  /** Every run's bytes per second, for spread. */
  samples: number[];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs `op` repeatedly and reports the median throughput. `op` may be sync or async; async ops are
 * awaited one at a time, as a caller of a streaming API would.
 */
export async function measureThroughput(op: () => unknown, bytesPerOp: number, options: MeasureOptions = {}): Promise<ThroughputResult> {
  const { warmupMs = 200, runMs = 500, runs = 5 } = options;
  const warmupEnd = performance.now() + warmupMs;
  while (performance.now() < warmupEnd) await op();

  const samples: number[] = [];
  const opsSamples: number[] = [];
  for (let run = 0; run < runs; run++) {
    let count = 0;
    const start = performance.now();
    let now = start;
    while (now - start < runMs) {
      // Check the clock every 8 ops: cheap ops would otherwise be dominated by performance.now().
      for (let i = 0; i < 8; i++) await op();
      count += 8;
      now = performance.now();
    }
    const seconds = (now - start) / 1000;
    samples.push((count * bytesPerOp) / seconds);
    opsSamples.push(count / seconds);
  }
  return { bytesPerSecond: median(samples), opsPerSecond: median(opsSamples), samples };
}

/** Formats bytes per second as MB/s (10^6) with no decimals. */
export function formatMBps(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;
}
