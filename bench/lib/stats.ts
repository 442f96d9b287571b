/** Order statistics over samples: percentiles of latencies, medians of runs. */
import { median } from './measure.ts';

export { median };

/** The p-th percentile (0..100) by nearest rank of an ascending-sorted array. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** p50, p99 and max of a set of samples (the input is not modified). */
export function summarize(samples: ArrayLike<number>): { count: number; p50: number; p99: number; max: number; mean: number } {
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50: percentileSorted(sorted, 50),
    p99: percentileSorted(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
  };
}

/** "median 12.3 (runs: 11.0, 12.3, 15.1)": a run-to-run spread for the notes. */
export function spread(values: number[], digits = 1): string {
  return `median ${median(values).toFixed(digits)} (runs: ${values.map((v) => v.toFixed(digits)).join(', ')})`;
}
