/**
 * The bulk governor's rule (bulk-governor.ts; docs/operations/realtime-priorities.md, "The bulk
 * governor"): reservations within the rate go at once, past it they wait in turn; the rate halves when
 * the event loop runs late, grows only while it held something back, and stays within its bounds; no
 * wait is longer than MAX_HOLD_MS; nothing is paced in `never`, nor in `auto` without real-time tracks.
 * Received real-time frames that arrive late count like a late loop, past a p99's share of a window.
 * A clock the test moves stands in for performance.now(); the lateness samples are given by hand.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  BURST_MS,
  BulkGovernor,
  DECREASE_HOLD_MS,
  LATE_FRAME_SHARE,
  LATE_FRAMES_MIN,
  MAX_HOLD_MS,
  MAX_RATE,
  MIN_RATE,
  START_RATE,
  TARGET_LAG_MS,
  WINDOW_MS,
} from './bulk-governor.ts';

const KIB = 1024;
let made: BulkGovernor[] = [];
afterEach(() => {
  for (const g of made) g.stopSampling();
  made = [];
});

function governor(realtime = true): { g: BulkGovernor; clock: { t: number } } {
  const clock = { t: 1000 };
  const g = new BulkGovernor({ realtime: () => realtime, now: () => clock.t });
  made.push(g);
  return { g, clock };
}

/** One full window whose worst lateness is `lagMs`, ending at the clock's time plus a window. */
function windowOf(g: BulkGovernor, clock: { t: number }, lagMs: number): void {
  clock.t += WINDOW_MS;
  g.sample(lagMs, clock.t);
}

/** Reserves pieces until one has to wait: the rate held something back. */
function holdBack(g: BulkGovernor): void {
  for (let i = 0; i < 1000; i++) if (g.reserve(1024 * KIB, 64 * KIB).waitMs > 0) return;
  throw new Error('nothing was held back');
}

describe('BulkGovernor', () => {
  it('paces nothing in never, nor in auto while the process carries no real-time tracks', () => {
    const off = governor(false).g;
    expect(off.reserve(64 * 1024 * KIB)).toEqual({ bytes: 64 * 1024 * KIB, waitMs: 0 });
    expect(off.stats()).toMatchObject({ active: false, waits: 0 });
    const never = governor(true).g;
    never.setMode('never');
    for (let i = 0; i < 100; i++) expect(never.reserve(1024 * KIB).waitMs).toBe(0);
    expect(never.stats().waits).toBe(0);
  });

  it('lets bytes within the rate go at once, then holds pieces back in turn at the rate', () => {
    const { g } = governor();
    // A burst's worth and a little more goes at once (BURST_MS of back credit, BURST_MS ahead).
    const burst = Math.floor(((2 * BURST_MS) / 1000) * START_RATE);
    expect(g.reserve(burst)).toEqual({ bytes: burst, waitMs: 0 });
    // Past it, a 256 KiB credit gets a 64 KiB piece, which waits what 64 KiB takes at the rate.
    const first = g.reserve(256 * KIB, 64 * KIB);
    expect(first.bytes).toBe(64 * KIB);
    expect(first.waitMs).toBeCloseTo(((64 * KIB) / START_RATE) * 1000, 3);
    // The next waits behind it: reservations queue in order.
    const second = g.reserve(256 * KIB, 64 * KIB);
    expect(second.waitMs).toBeCloseTo(first.waitMs + ((64 * KIB) / START_RATE) * 1000, 3);
    expect(g.stats()).toMatchObject({ active: true, waits: 2 });
  });

  it('halves the rate when a window runs late, at most once per hold, down to MIN_RATE', () => {
    const { g, clock } = governor();
    g.reserve(1);
    windowOf(g, clock, TARGET_LAG_MS + 1);
    expect(g.stats()).toMatchObject({ rateBytesPerSecond: START_RATE / 2, slowdowns: 1, lastWindowLagMs: TARGET_LAG_MS + 1 });
    // The next late window comes before the hold is over: the last change must show first.
    clock.t += DECREASE_HOLD_MS - 2 * WINDOW_MS;
    windowOf(g, clock, 50);
    expect(g.stats().rateBytesPerSecond).toBe(START_RATE / 2);
    for (let i = 0; i < 30; i++) {
      clock.t += DECREASE_HOLD_MS;
      windowOf(g, clock, 50);
    }
    expect(g.stats().rateBytesPerSecond).toBe(MIN_RATE);
  });

  it('grows only after a quiet window in which it held something back', () => {
    const { g, clock } = governor();
    g.reserve(1);
    // Quiet, but nothing was held back: the rate is not what limits anyone, so it does not grow.
    windowOf(g, clock, 0);
    expect(g.stats().rateBytesPerSecond).toBe(START_RATE);
    // A piece held back, then a quiet window: the rate grows by a quarter.
    holdBack(g);
    windowOf(g, clock, 1);
    expect(g.stats().rateBytesPerSecond).toBe(START_RATE * 1.25);
    // Held back again, but the loop ran between half the target and the target: it holds.
    holdBack(g);
    windowOf(g, clock, TARGET_LAG_MS - 1);
    expect(g.stats().rateBytesPerSecond).toBe(START_RATE * 1.25);
  });

  it('grows too after a quiet window in which a reader waited for more, its receive window being what held it', () => {
    const { g, clock } = governor();
    const rates: number[] = [];
    g.onRateChange(() => rates.push(g.rate));
    g.reserve(1);
    g.readerWaited();
    windowOf(g, clock, 1);
    expect(g.rate).toBe(START_RATE * 1.25);
    // Not while real time runs late, whoever waits.
    g.readerWaited();
    windowOf(g, clock, TARGET_LAG_MS + 1);
    expect(g.rate).toBe((START_RATE * 1.25) / 2);
    expect(rates).toEqual([START_RATE * 1.25, (START_RATE * 1.25) / 2]);
  });

  it('never holds a reservation longer than MAX_HOLD_MS, however long the queue', () => {
    const { g, clock } = governor();
    g.reserve(1);
    for (let i = 0; i < 30; i++) {
      clock.t += DECREASE_HOLD_MS;
      windowOf(g, clock, 50);
    }
    let longest = 0;
    for (let i = 0; i < 500; i++) longest = Math.max(longest, g.reserve(1024 * KIB, 64 * KIB).waitMs);
    expect(longest).toBeGreaterThan(MAX_HOLD_MS / 2);
    expect(longest).toBeLessThanOrEqual(MAX_HOLD_MS);
  });

  it('grows no further than MAX_RATE', () => {
    const { g, clock } = governor();
    g.reserve(1);
    for (let i = 0; i < 60; i++) {
      holdBack(g);
      clock.t += MAX_HOLD_MS; // the queue drains between windows
      windowOf(g, clock, 0);
    }
    expect(g.stats().rateBytesPerSecond).toBe(MAX_RATE);
  });

  it("samples the event loop's lateness itself, and ignores it where it says nothing (a hidden browser tab)", async () => {
    const busy = (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    const run = async (unobservable: boolean) => {
      const g = new BulkGovernor({ realtime: () => true, unobservable: () => unobservable });
      made.push(g);
      g.reserve(1);
      // The loop blocked well past the target, then a window's worth of turns for the sampler.
      for (let i = 0; i < 4; i++) {
        busy(3 * TARGET_LAG_MS);
        g.reserve(1);
        await new Promise((resolve) => setTimeout(resolve, WINDOW_MS / 2));
      }
      return g.stats();
    };
    expect((await run(false)).slowdowns).toBeGreaterThan(0);
    expect(await run(true)).toMatchObject({ slowdowns: 0, rateBytesPerSecond: START_RATE });
  });

  /** `count` received frames in the current window, `late` of them past the target. */
  function frames(g: BulkGovernor, count: number, late: number): void {
    for (let i = 0; i < count; i++) g.frameArrived(i < late ? TARGET_LAG_MS + 0.5 : 0.5);
  }

  it('halves the rate when more than a p99 share of the frames it receives arrive late, though its loop is punctual', () => {
    const { g, clock } = governor();
    g.reserve(1);
    const count = 400;
    const allowed = Math.floor(count * LATE_FRAME_SHARE);
    // Within the share: nothing changes.
    frames(g, count, allowed);
    windowOf(g, clock, 0);
    expect(g.stats()).toMatchObject({ rateBytesPerSecond: START_RATE, slowdowns: 0 });
    // Past it: halved, and counted as the frames' doing.
    frames(g, count, allowed + 1);
    windowOf(g, clock, 0);
    expect(g.stats()).toMatchObject({ rateBytesPerSecond: START_RATE / 2, slowdowns: 1, lateFrameSlowdowns: 1 });
    // A late loop is the loop's doing, whatever the frames.
    clock.t += DECREASE_HOLD_MS;
    frames(g, count, count);
    windowOf(g, clock, TARGET_LAG_MS + 1);
    expect(g.stats()).toMatchObject({ rateBytesPerSecond: START_RATE / 4, slowdowns: 2, lateFrameSlowdowns: 1 });
  });

  it('takes fewer than LATE_FRAMES_MIN late frames for an outlier, and grows only while almost none are late', () => {
    const { g, clock } = governor();
    g.reserve(1);
    frames(g, 10, LATE_FRAMES_MIN - 1);
    windowOf(g, clock, 0);
    expect(g.stats().slowdowns).toBe(0);
    // Held back, the loop quiet, but a late frame in a window of few: it holds its rate.
    holdBack(g);
    frames(g, 10, 1);
    windowOf(g, clock, 0);
    expect(g.stats().rateBytesPerSecond).toBe(START_RATE);
    holdBack(g);
    frames(g, 10, 0);
    windowOf(g, clock, 0);
    expect(g.stats().rateBytesPerSecond).toBe(START_RATE * 1.25);
  });

  it('counts no frame while it paces nothing', () => {
    const { g, clock } = governor(false);
    g.reserve(1);
    frames(g, 100, 100);
    windowOf(g, clock, 0);
    expect(g.stats()).toMatchObject({ rateBytesPerSecond: START_RATE, slowdowns: 0 });
  });
});
