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
  QUIET_AFTER_MS,
  START_RATE,
  TARGET_LAG_MS,
  WINDOW_MS,
} from './bulk-governor.ts';
import { EPOCH_WINDOWS, EPOCHS, MAX_BASE_MS, MIN_EPOCH_FRAMES, MIN_EPOCHS } from './quiet-baseline.ts';

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
      g.reserve(1); // streams still move: a window without any is quiet and changes no rate
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
      g.reserve(1); // streams still move: a window without any is quiet and changes no rate
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
      g.reserve(1);
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

  describe('against what real time shows while no stream moves (its base)', () => {
    /** `n` windows with no stream moving, their worst lateness `lagMs`. */
    function quiet(g: BulkGovernor, clock: { t: number }, n: number, lagMs: number): void {
      for (let i = 0; i < n; i++) windowOf(g, clock, lagMs);
    }

    it("learns the loop's base from quiet windows, which change no rate, then halves only past TARGET_LAG_MS above it", () => {
      const { g, clock } = governor();
      g.frameArrived(0); // frames start the sampler; no stream has moved
      quiet(g, clock, MIN_EPOCHS * EPOCH_WINDOWS - 1, 12);
      expect(g.stats()).toMatchObject({ baseLagMs: 0, slowdowns: 0, rateBytesPerSecond: START_RATE });
      quiet(g, clock, 1, 12);
      expect(g.stats().baseLagMs).toBe(12);
      // Most of an epoch's windows set its figure, not its worst: one window at 40 among ones at 12.
      quiet(g, clock, 1, 40);
      quiet(g, clock, EPOCH_WINDOWS - 1, 12);
      expect(g.stats().baseLagMs).toBe(12);
      // A passing burst (an epoch at 40) does not raise it either: the base is the recent figures' median.
      quiet(g, clock, EPOCH_WINDOWS, 40);
      expect(g.stats()).toMatchObject({ baseLagMs: 12, slowdowns: 0, rateBytesPerSecond: START_RATE });
      // A stream moves: as late as the base and TARGET_LAG_MS is not late ...
      g.reserve(1);
      windowOf(g, clock, 12 + TARGET_LAG_MS);
      expect(g.stats()).toMatchObject({ slowdowns: 0, rateBytesPerSecond: START_RATE });
      // ... past it is.
      windowOf(g, clock, 12 + TARGET_LAG_MS + 1);
      expect(g.stats()).toMatchObject({ slowdowns: 1, rateBytesPerSecond: START_RATE / 2 });
      // QUIET_AFTER_MS after the last reservation, windows are quiet again: they teach, they do not halve.
      clock.t += QUIET_AFTER_MS;
      quiet(g, clock, 5, 100);
      expect(g.stats()).toMatchObject({ slowdowns: 1, rateBytesPerSecond: START_RATE / 2 });
    });

    it('counts the windows while a reservation waits as a moving stream, not as quiet', () => {
      const { g, clock } = governor();
      quiet(g, clock, MIN_EPOCHS * EPOCH_WINDOWS, 1);
      for (let i = 0; i < 1000; i++) if (g.reserve(1024 * KIB, 64 * KIB).waitMs >= MAX_HOLD_MS - WINDOW_MS) break;
      // Past QUIET_AFTER_MS since the last reservation, but its bytes have not gone: a late window halves.
      clock.t += QUIET_AFTER_MS + WINDOW_MS;
      windowOf(g, clock, 50);
      expect(g.stats()).toMatchObject({ slowdowns: 1, baseLagMs: 1 });
    });

    it("takes the frames' base from their p99 while quiet, and counts as late only those past it and TARGET_LAG_MS", () => {
      const { g, clock } = governor();
      // 1.5% of the frames 15 ms late without any stream: their p99 is 15 ms.
      for (let e = 0; e < MIN_EPOCHS; e++) {
        for (let i = 0; i < MIN_EPOCH_FRAMES * 2; i++) g.frameArrived(i % 200 < 3 ? 15 : 0.5);
        quiet(g, clock, EPOCH_WINDOWS, 0);
      }
      expect(g.stats().baseFrameLateMs).toBe(15);
      g.reserve(1);
      for (let i = 0; i < 400; i++) g.frameArrived(i < 20 ? 15 + TARGET_LAG_MS : 0.5);
      windowOf(g, clock, 0);
      expect(g.stats()).toMatchObject({ slowdowns: 0, rateBytesPerSecond: START_RATE });
      for (let i = 0; i < 400; i++) g.frameArrived(i < 20 ? 15 + TARGET_LAG_MS + 1 : 0.5);
      windowOf(g, clock, 0);
      expect(g.stats()).toMatchObject({ slowdowns: 1, lateFrameSlowdowns: 1, rateBytesPerSecond: START_RATE / 2 });
    });

    it('has no base from too few frames, none past MAX_BASE_MS, and one from most epochs', () => {
      const { g, clock } = governor();
      for (let e = 0; e < MIN_EPOCHS; e++) {
        for (let i = 0; i < MIN_EPOCH_FRAMES / 2; i++) g.frameArrived(30);
        quiet(g, clock, EPOCH_WINDOWS, 500);
      }
      // Frames too few for an epoch pass on to the next: 150 frames gave one figure, not three.
      expect(g.stats()).toMatchObject({ baseLagMs: MAX_BASE_MS, baseFrameLateMs: 0 });
      for (let e = 0; e < MIN_EPOCHS; e++) {
        for (let i = 0; i < MIN_EPOCH_FRAMES; i++) g.frameArrived(500);
        quiet(g, clock, EPOCH_WINDOWS, 500);
      }
      expect(g.stats().baseFrameLateMs).toBe(MAX_BASE_MS);
      // The median: one epoch that saw no late frame does not make the base 0.
      for (let e = 0; e < EPOCHS; e++) {
        for (let i = 0; i < MIN_EPOCH_FRAMES; i++) g.frameArrived(e === 0 ? 0 : 20);
        quiet(g, clock, EPOCH_WINDOWS, 500);
      }
      expect(g.stats().baseFrameLateMs).toBe(20);
    });

    it('samples while frames arrive though no stream moves, and changes no rate then', async () => {
      const g = new BulkGovernor({ realtime: () => true });
      made.push(g);
      for (let i = 0; i < 4; i++) {
        g.frameArrived(0);
        const end = performance.now() + 3 * TARGET_LAG_MS;
        while (performance.now() < end);
        await new Promise((resolve) => setTimeout(resolve, WINDOW_MS / 2));
      }
      expect(g.stats().lastWindowLagMs).toBeGreaterThan(TARGET_LAG_MS);
      expect(g.stats()).toMatchObject({ slowdowns: 0, rateBytesPerSecond: START_RATE });
    });
  });
});
