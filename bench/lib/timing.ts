/**
 * Where a benchmark run's wall time goes (`make bench` within 8 minutes, `make bench-quick` within 2:
 * docs/operations/benchmarks.md). Each step (the crypto table, every scenario) is timed with three figures:
 *
 * - wall: what the step took;
 * - fixed: time the step spends in its own sleeps and fixed-length windows (a rate held for N
 *   seconds, a warm-up of N seconds), declared through `hold()` and `addFixed()`. Load from other
 *   work on the machine does not change it; polling waits (until a count is reached) are not fixed;
 * - CPU: the CPU time of this process plus that of every child it waited for (getrusage's
 *   RUSAGE_CHILDREN, read from /proc/self/stat), so the scenario's processes are counted once they
 *   exit. Grandchildren count when their parent waited for them (Chromium under playwright does).
 *
 * wall minus fixed is what load can stretch: CPU work, or waiting on processes that share the cores.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { sleep } from './clock.ts';

let fixedMs = 0;

/** Declares `ms` of fixed-length waiting done elsewhere (a child process sending at a rate for `ms`). */
export function addFixed(ms: number): void {
  fixedMs += ms;
}

/** Sleeps for a fixed span (a measurement window, a settle time) and counts it as fixed. */
export async function hold(ms: number): Promise<void> {
  addFixed(ms);
  await sleep(ms);
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU ms of this process (every thread) and of its waited-for children, from /proc/self/stat. */
function cpuMs(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command name start after the last ')'; fields[0] is stat(5)'s field 3, so
    // utime, stime, cutime and cstime (fields 14-17) are fields[11..14].
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / USER_HZ;
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
}

export interface StepTiming {
  /** Wall time, seconds. */
  seconds: number;
  /** Declared sleeps and fixed-length windows, seconds. */
  fixedSeconds: number;
  /** CPU seconds of the runner and its reaped children during the step. */
  cpuSeconds: number;
  /** 1-minute load average at the start and at the end. */
  load: [number, number];
}

/** Starts timing a step; the returned function ends it. */
export function startStep(): () => StepTiming {
  const wall0 = performance.now();
  const fixed0 = fixedMs;
  const cpu0 = cpuMs();
  const load0 = loadavg()[0]!;
  return () => ({
    seconds: (performance.now() - wall0) / 1000,
    fixedSeconds: (fixedMs - fixed0) / 1000,
    cpuSeconds: (cpuMs() - cpu0) / 1000,
    load: [load0, loadavg()[0]!],
  });
}

/** "41.2 s (fixed 12.0 s, CPU 55.1 s, load 1.9->2.4)". */
export function describeStep(t: StepTiming): string {
  return `${t.seconds.toFixed(1)} s (fixed ${t.fixedSeconds.toFixed(1)} s, CPU ${t.cpuSeconds.toFixed(1)} s, load ${t.load[0].toFixed(1)}->${t.load[1].toFixed(1)})`;
}
