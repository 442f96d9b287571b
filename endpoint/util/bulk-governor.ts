/**
 * The bulk governor: one rate per process for byte-stream bytes, set from how late the event loop
 * runs, so that byte streams yield to real-time work (docs/operations/realtime-priorities.md, "The bulk
 * governor").
 *
 * The lanes, the slices and the bulk thread order work that is already there. They cannot stop byte
 * streams from taking every cycle that real time leaves, and on a saturated core that includes the
 * cycles the next data frame needs: what the streams bring in (socket reads, GC of their buffers,
 * another process's share of the core) is not a task a priority can put behind. End-to-end flow
 * control lets a stream go as fast as its receivers credit it; so while this process carries
 * real-time tracks, its credits (incoming/credit.ts) and its sealed chunks (outgoing/outgoing-stream.ts)
 * take their bytes from this governor's rate, and the rate follows the event loop's lateness, the way
 * a background transfer's rate follows the queueing delay it adds (LEDBAT):
 *
 * - a timer samples how late the event loop runs (every `SAMPLE_MS`), and each `WINDOW_MS` the
 *   worst sample decides: past `TARGET_LAG_MS` the rate halves (at most once per `DECREASE_HOLD_MS`,
 *   so the last change can show); under half of it, and if the rate held some stream back in that
 *   window, it grows by a quarter; between the two it holds;
 * - the real-time frames this process receives say what its own loop cannot: a frame that waited at
 *   the Bridge, in the kernel, or behind another process on a shared core. Each arrives some time
 *   after its stamp; past the quickest such time of its sender lately (data-track-receiver.ts, which
 *   holds the clocks' offset), the excess is delay. When more than `LATE_FRAME_SHARE` of a window's
 *   frames (and at least `LATE_FRAMES_MIN`) come `TARGET_LAG_MS` late, the rate halves as for a late
 *   loop, and it grows only while almost none do. Every process that moves streams and receives
 *   frames does the same, so the streams yield wherever the frames wait;
 * - the rate stays within [`MIN_RATE`, `MAX_RATE`], and no reservation waits longer than
 *   `MAX_HOLD_MS`, so every stream keeps moving: the Bridge's stuck-reader rule and the idle timeouts
 *   never see a stream the governor holds as stalled.
 */

import { realtimeInProcess } from './realtime-presence.ts';

/** When the governor paces byte streams: `auto` while the process carries real-time tracks, `always`, or `never`. */
export type BulkYieldMode = 'auto' | 'always' | 'never';

export const BULK_YIELD_MODES: readonly BulkYieldMode[] = ['auto', 'always', 'never'];

/** How often the event loop's lateness is sampled. Milliseconds. */
export const SAMPLE_MS = 10;
/** The control window: the worst sample in it decides the rate. Milliseconds. */
export const WINDOW_MS = 100;
/**
 * The lateness the governor keeps the event loop under while byte streams move. A slice of chunk
 * work runs up to 4 ms (util/cooperative.ts) and the timer's own granularity is 1 ms, so a loop that
 * only does its slices and its real-time frames stays under it; past it, frames wait for bulk.
 */
export const TARGET_LAG_MS = 6;
/**
 * The share of a window's received real-time frames that may arrive more than `TARGET_LAG_MS` after
 * their sender's quickest before the rate halves: what a p99 allows.
 */
export const LATE_FRAME_SHARE = 0.01;
/** ... and at least this many such frames in the window: one is not a trend. */
export const LATE_FRAMES_MIN = 2;
/** After a decrease, the next one waits this long: what was already credited still arrives. Milliseconds. */
export const DECREASE_HOLD_MS = 200;
/** The rate a process starts at when the governor first paces it. Bytes per second. */
export const START_RATE = 8 * 1024 * 1024;
/** The least rate, however late the loop runs. Bytes per second. */
export const MIN_RATE = 1024 * 1024;
/** The most rate the governor grows to (it grows only while it holds some stream back). Bytes per second. */
export const MAX_RATE = 4 * 1024 * 1024 * 1024;
/** Bytes worth this long at the current rate may go at once. Milliseconds. */
export const BURST_MS = 20;
/** The longest any reservation waits, whatever the queue ahead of it. Milliseconds. */
export const MAX_HOLD_MS = 3000;
/** The sampler stops after this long without a reservation. Milliseconds. */
const IDLE_STOP_MS = 1000;

/** What the governor did in this process (`StreamApi.dataStreamStats().bulkYield`). */
export interface BulkYieldStats {
  /** Whether it paces byte streams now. */
  active: boolean;
  /** The rate it allows now, bytes per second across this process's streams, sent and received. */
  rateBytesPerSecond: number;
  /** Reservations that had to wait (a credit or a chunk held back), and their waits summed, in ms. */
  waits: number;
  waitedMs: number;
  /** Times the rate was halved: the event loop ran late, or received real-time frames did. */
  slowdowns: number;
  /** Of those, the times only the received frames were late (the event loop was not). */
  lateFrameSlowdowns: number;
  /** The worst lateness of the event loop in the last full window, in ms (0 when not sampling). */
  lastWindowLagMs: number;
}

/** A grant: how many of the asked bytes are reserved, and how long to wait before they go. */
export interface BulkGrant {
  bytes: number;
  waitMs: number;
}

export interface GovernorDeps {
  /** Whether real-time work is there to protect (mode `auto`). */
  realtime: () => boolean;
  now?: () => number;
  /** Whether the lateness seen now says nothing (a hidden browser tab, whose timers are throttled). */
  unobservable?: () => boolean;
}

export class BulkGovernor {
  #mode: BulkYieldMode = 'auto';
  #active = false;
  #rate = START_RATE;
  /** When the bytes reserved so far have all gone at the current rate (a virtual clock, ms). */
  #tat = 0;
  #lastReserve = -Infinity;
  #sampler: ReturnType<typeof setTimeout> | undefined;
  #due = 0;
  #windowStart = 0;
  #windowWorst = 0;
  #heldInWindow = false;
  #framesInWindow = 0;
  #lateInWindow = 0;
  #lastDecrease = -Infinity;
  readonly #stats = { waits: 0, waitedMs: 0, slowdowns: 0, lateFrameSlowdowns: 0, lastWindowLagMs: 0 };
  readonly #now: () => number;
  readonly #rateListeners = new Set<() => void>();

  constructor(private readonly deps: GovernorDeps) {
    this.#now = deps.now ?? (() => performance.now());
  }

  setMode(mode: BulkYieldMode): void {
    this.#mode = mode;
    this.#active = this.#wanted();
  }

  /** Whether it paces byte streams that move now (its mode, and in `auto` whether the process carries real-time tracks). */
  get pacing(): boolean {
    return this.#wanted();
  }

  /** The rate it allows now, bytes per second across this process's streams. */
  get rate(): number {
    return this.#rate;
  }

  /** Calls `listener` after each change of the rate (the receive windows follow it: data-streams/incoming/receive-window.ts). */
  onRateChange(listener: () => void): void {
    this.#rateListeners.add(listener);
  }

  #setRate(rate: number): void {
    if (rate === this.#rate) return;
    this.#rate = rate;
    for (const listener of this.#rateListeners) listener();
  }

  /**
   * Reserves `bytes` of byte-stream traffic: all of them at once when the rate allows them now (or the
   * governor is not pacing), else `piece` of them (so that streams take turns in smaller steps while
   * held), with the wait before they may go.
   */
  reserve(bytes: number, piece = bytes): BulkGrant {
    if (this.#mode === 'never' || bytes <= 0) return { bytes, waitMs: 0 };
    const now = this.#now();
    this.#lastReserve = now;
    if (this.#sampler === undefined) {
      this.#active = this.#wanted();
      this.#startSampling(now);
    }
    if (!this.#active) return { bytes, waitMs: 0 };
    const start = Math.max(this.#tat, now - BURST_MS);
    const allAt = start + (bytes * 1000) / this.#rate;
    if (allAt <= now + BURST_MS) {
      this.#tat = allAt;
      return { bytes, waitMs: 0 };
    }
    const granted = Math.min(bytes, piece);
    this.#tat = Math.min(start + (granted * 1000) / this.#rate, now + MAX_HOLD_MS + BURST_MS);
    const waitMs = Math.max(0, this.#tat - now - BURST_MS);
    if (waitMs > 0) {
      this.#heldInWindow = true;
      this.#stats.waits++;
      this.#stats.waitedMs += waitMs;
    }
    return { bytes: granted, waitMs };
  }

  /**
   * A reader of this process consumed all that reached it and waits for more: it counts as held, so
   * the rate may grow. Its stream may be held by the receive window that follows the rate
   * (data-streams/incoming/receive-window.ts), not by a credit the governor kept, and without this the
   * rate, and with it that window, could never grow back on a path whose round trip is longer than
   * the window lasts at the rate.
   */
  readerWaited(): void {
    if (this.#sampler !== undefined && this.#active) this.#heldInWindow = true;
  }

  /**
   * A real-time frame this process received `excessMs` after its sender's quickest lately (the
   * data-track receiver calls it for every frame it accepts). Counted only while streams are paced.
   */
  frameArrived(excessMs: number): void {
    if (this.#sampler === undefined || !this.#active) return;
    this.#framesInWindow++;
    if (excessMs > TARGET_LAG_MS) this.#lateInWindow++;
  }

  /** One sample of the event loop's lateness (ms) taken at `now`; the sampler calls it, tests may too. */
  sample(lagMs: number, now: number): void {
    if (lagMs > this.#windowWorst) this.#windowWorst = lagMs;
    if (now - this.#windowStart < WINDOW_MS) return;
    const worst = this.#windowWorst;
    const late = this.#lateInWindow;
    const lateFrames = late >= LATE_FRAMES_MIN && late > this.#framesInWindow * LATE_FRAME_SHARE;
    this.#stats.lastWindowLagMs = worst;
    if (worst > TARGET_LAG_MS || lateFrames) {
      if (now - this.#lastDecrease >= DECREASE_HOLD_MS) {
        this.#setRate(Math.max(MIN_RATE, this.#rate / 2));
        this.#lastDecrease = now;
        this.#stats.slowdowns++;
        if (worst <= TARGET_LAG_MS) this.#stats.lateFrameSlowdowns++;
      }
    } else if (worst < TARGET_LAG_MS / 2 && late * 2 <= this.#framesInWindow * LATE_FRAME_SHARE && this.#heldInWindow) {
      this.#setRate(Math.min(MAX_RATE, this.#rate * 1.25));
    }
    this.#windowStart = now;
    this.#windowWorst = 0;
    this.#heldInWindow = false;
    this.#framesInWindow = 0;
    this.#lateInWindow = 0;
  }

  /** Stops sampling until the next reservation (tests). */
  stopSampling(): void {
    clearTimeout(this.#sampler);
    this.#sampler = undefined;
  }

  stats(): BulkYieldStats {
    return { active: this.#active, rateBytesPerSecond: Math.round(this.#rate), ...this.#stats };
  }

  #wanted(): boolean {
    return this.#mode === 'always' || (this.#mode === 'auto' && this.deps.realtime());
  }

  #startSampling(now: number): void {
    this.#windowStart = now;
    this.#windowWorst = 0;
    this.#heldInWindow = false;
    this.#framesInWindow = 0;
    this.#lateInWindow = 0;
    this.#schedule(now);
  }

  #schedule(now: number): void {
    this.#due = now + SAMPLE_MS;
    this.#sampler = setTimeout(() => this.#tick(), SAMPLE_MS);
    (this.#sampler as { unref?: () => void }).unref?.();
  }

  #tick(): void {
    const now = this.#now();
    this.#active = this.#wanted();
    if (now - this.#lastReserve > IDLE_STOP_MS) {
      this.#sampler = undefined;
      this.#stats.lastWindowLagMs = 0;
      return;
    }
    if (this.#active && this.deps.unobservable?.() !== true) this.sample(Math.max(0, now - this.#due), now);
    this.#schedule(now);
  }
}

/** The process's governor, shared by every Endpoint in it. */
export const bulkGovernor = new BulkGovernor({
  realtime: realtimeInProcess,
  unobservable: () => (globalThis as { document?: { visibilityState?: string } }).document?.visibilityState === 'hidden',
});
