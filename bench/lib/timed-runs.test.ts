/**
 * `timedRuns` (bench/lib/cpu-per-byte.ts), which the 1 -> 1 and 1 -> 4 byte-stream rows share: warm-ups
 * first unless warm, then timed runs whose CPU is read from /proc around each and divided over every
 * delivered byte. This test process stands for the measured processes.
 */
import { describe, expect, it } from 'vitest';
import { timedRuns } from './cpu-per-byte.ts';
import type { Proc } from './procs.ts';

const self = [{ pid: process.pid } as Proc];
const config = { bytes: 1000, warmupBytes: 10, warmupRuns: 2, runs: 3 };

/** A run that keeps this thread busy for about `ms` and reports `mbps`. */
function busyRun(calls: number[], ms: number, mbps: number): (bytes: number) => Promise<number> {
  return async (bytes) => {
    calls.push(bytes);
    const end = performance.now() + ms;
    while (performance.now() < end);
    return mbps;
  };
}

describe('timed runs', () => {
  it('warm up first, then time each run with its CPU per byte', async () => {
    const calls: number[] = [];
    const runs = await timedRuns(self, config, busyRun(calls, 20, 42));
    expect(calls).toEqual([10, 10, 1000, 1000, 1000]);
    expect(runs.mbPerSecond).toEqual([42, 42, 42]);
    expect(runs.cpuEach.map((each) => each.length)).toEqual([1, 1, 1]);
    // About 20 ms of CPU over 1,000 bytes: at least 10 ms, that is 10,000 ns a byte.
    for (const ns of runs.cpuNsPerByte) expect(ns).toBeGreaterThan(10_000);
  });

  it('skip the warm-up when warm, and divide CPU over every receiver a byte reaches', async () => {
    const calls: number[] = [];
    const runs = await timedRuns(self, config, busyRun(calls, 20, 1), { warm: true, receivers: 1000 });
    expect(calls).toEqual([1000, 1000, 1000]);
    // The same 20 ms over 1,000,000 delivered bytes: well under what one receiver would be charged.
    for (const ns of runs.cpuNsPerByte) {
      expect(ns).toBeGreaterThan(10);
      expect(ns).toBeLessThan(1_000);
    }
  });
});
