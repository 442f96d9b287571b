/**
 * One clock for every process of a benchmark. `process.hrtime` reads CLOCK_MONOTONIC, which on Linux
 * is one system-wide clock: a timestamp taken in the sender process and one taken in a receiver
 * process are directly comparable, and neither jumps with wall-clock adjustments (unlike Date.now, and
 * unlike `performance.timeOrigin + performance.now()`, whose origin is a wall-clock sample per process).
 */

/** Milliseconds on the machine-wide monotonic clock, with sub-microsecond resolution. */
export function nowMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1000 + ns / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
