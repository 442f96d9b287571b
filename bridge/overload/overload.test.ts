/**
 * The overload state's hysteresis (bridge/overload/overload.ts, docs/operations/limits.md "Overload"),
 * fed lag figures window by window, and the monitor's configuration checks. The Bridge under a real
 * saturating load: overload-endpoint.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config.ts';
import { BridgeError } from '../errors.ts';
import { OverloadMonitor, OverloadState, overloadSchema } from './overload.ts';

const RULES = { enterLagMs: 100, exitLagMs: 50, enterWindows: 2, exitWindows: 3 };

/** Feeds one lag figure per window; returns the state after each. */
function run(lags: number[]): boolean[] {
  const state = new OverloadState(RULES);
  return lags.map((lag) => state.observe(lag));
}

/** How many times the state changed along `states`, from not overloaded. */
function changes(states: boolean[]): number {
  return states.filter((now, i) => now !== (i === 0 ? false : states[i - 1])).length;
}

describe('OverloadState', () => {
  it('enters after enterWindows saturated windows in a row, not after one', () => {
    expect(run([150, 20, 150, 20, 150, 20])).toEqual([false, false, false, false, false, false]);
    expect(run([150, 150])).toEqual([false, true]);
    // At the threshold is not over it.
    expect(run([100, 100, 100])).toEqual([false, false, false]);
  });

  it('leaves only after exitWindows calm windows in a row; lag between the thresholds keeps it overloaded', () => {
    const states = run([150, 150, 40, 40, 70, 40, 40, 75, 90, 60, 40, 40, 40, 150]);
    expect(states).toEqual([false, true, true, true, true, true, true, true, true, true, true, true, false, false]);
    expect(changes(states)).toBe(2);
  });

  it('does not flap on lag that swings around one threshold', () => {
    // A plain threshold at 100 ms would change state on every window here (12 changes).
    const swinging = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? 120 : 80));
    expect(changes(swinging.map((lag) => lag > 100))).toBe(12);
    const states = run(swinging);
    expect(changes(states)).toBe(0);
    // Sustained, then swinging across the enter threshold only: one overload, held throughout.
    const held = run([150, 150, ...swinging]);
    expect(changes(held)).toBe(1);
    expect(held.at(-1)).toBe(true);
  });

  it('counts a window as saturated only when the process was busy itself (minCpuShare)', () => {
    const state = new OverloadState({ ...RULES, minCpuShare: 0.5 });
    // Lag from waiting (another process holds the core): never an overload.
    expect([150, 150, 150].map((lag) => state.observe(lag, 0.1))).toEqual([false, false, false]);
    // The same lag with the process busy: an overload.
    expect([150, 150].map((lag) => state.observe(lag, 0.9))).toEqual([false, true]);
    // Lag still high but the process no longer busy (its new work refused): calm windows, it ends.
    expect([150, 150, 150].map((lag) => state.observe(lag, 0.2))).toEqual([true, true, false]);
  });

  it('counts episodes', () => {
    const state = new OverloadState(RULES);
    for (const lag of [150, 150, 10, 10, 10, 150, 150, 10, 10, 10]) state.observe(lag);
    expect(state.episodes).toBe(2);
    expect(state.overloaded).toBe(false);
  });
});

describe('OverloadMonitor', () => {
  it('admits everything while not overloaded, and measures nothing when disabled', () => {
    const monitor = new OverloadMonitor(overloadSchema.parse({ enabled: false }));
    expect(() => monitor.admit('publish')).not.toThrow();
    expect(monitor.overloaded).toBe(false);
    expect(monitor.counters.refused).toEqual({});
    monitor.close();
  });

  it('refuses with OVERLOADED and retryAfter, counting by kind, once the loop is saturated', async () => {
    const monitor = new OverloadMonitor(overloadSchema.parse({ enterLagMs: 20, exitLagMs: 10, windowMs: 50, enterWindows: 1, exitWindows: 100 }));
    try {
      // Real work on this thread: the loop cannot take its timer for 150 ms at a time.
      for (let round = 0; round < 40 && !monitor.overloaded; round++) {
        const until = performance.now() + 150;
        while (performance.now() < until);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      expect(monitor.overloaded).toBe(true);
      expect(monitor.lagMs).toBeGreaterThan(20);
      const refusal = (() => {
        try {
          monitor.admit('byteStreamOpen');
        } catch (error) {
          return error;
        }
      })();
      expect(refusal).toBeInstanceOf(BridgeError);
      expect(refusal).toMatchObject({ code: 'OVERLOADED', retryAfter: 2 });
      expect(() => monitor.admit('byteStreamOpen')).toThrow(BridgeError);
      expect(monitor.counters.refused).toEqual({ byteStreamOpen: 2 });
    } finally {
      monitor.close();
    }
  });

  it('refuses a configuration whose exit threshold is above its enter threshold, naming the option', () => {
    expect(() => resolveConfig({ databaseFile: ':memory:', overload: { enterLagMs: 50, exitLagMs: 80 } })).toThrow(
      'createBridge: option "overload.exitLagMs": expected exitLagMs at most enterLagMs',
    );
    expect(() => resolveConfig({ databaseFile: ':memory:', overload: { windowMs: 10 } })).toThrow(/option "overload.windowMs"/);
    expect(() => resolveConfig({ databaseFile: ':memory:', overload: { minCpuShare: 1.5 } })).toThrow(/option "overload.minCpuShare"/);
    expect(() => resolveConfig({ databaseFile: ':memory:', overload: { minCpuShare: -0.1 } })).toThrow(/option "overload.minCpuShare"/);
    expect(resolveConfig({ databaseFile: ':memory:' }).overload).toMatchObject({
      enabled: true,
      enterLagMs: 200,
      exitLagMs: 100,
      windowMs: 500,
      enterWindows: 3,
      exitWindows: 2,
      minCpuShare: 0.5,
    });
  });
});
