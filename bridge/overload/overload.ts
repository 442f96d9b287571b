/**
 * Overload: when the Bridge's own event loop is saturated, it refuses new work with `OVERLOADED`
 * instead of queueing it without end, and keeps answering pings, `/healthz`, `/metrics` and REST
 * reads (docs/operations/limits.md, "Overload").
 *
 * Saturation is read from the event loop's lag, measured continuously and cheaply: a timer due every
 * `LAG_RESOLUTION_MS` records how late it runs into a native histogram (100 callbacks a second;
 * `monitorEventLoopDelay` loses a window's only sample when it is reset, so one long block between
 * two windows went unseen). Each `windowMs` the lag p99 of that window is compared with two thresholds: `enterWindows` windows in a row above
 * `enterLagMs` start an overload, `exitWindows` windows in a row below `exitLagMs` end it; lag between
 * the two keeps the current state. The gap between the thresholds and the windows counted on each
 * side are the hysteresis: the state cannot flap faster than once per `exitWindows` windows.
 *
 * Lag alone also rises when the Bridge merely waits: for a core other processes hold, or for the
 * disk. So a window counts as saturated only when the Bridge's own process was busy too, using at
 * least `minCpuShare` of one core over it (process.cpuUsage: every thread, GC included); a window
 * under that share counts as calm. A Bridge saturated by its own work uses a whole core.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import * as z from 'zod';
import { BridgeError } from '../errors.ts';

/** The sampling interval of the lag histogram, in milliseconds (the load benchmark samples at 10 too). */
export const LAG_RESOLUTION_MS = 10;

export const overloadSchema = z
  .strictObject({
    /** Off: nothing is measured and nothing refused. */
    enabled: z.boolean().default(true),
    /** Event-loop lag p99 of a window above which the window counts as saturated. Milliseconds. */
    enterLagMs: z.number().positive().default(200),
    /** Lag p99 of a window below which the window counts as calm again. Milliseconds; at most `enterLagMs`. */
    exitLagMs: z.number().positive().default(100),
    /**
     * The share of one core the Bridge's process must have used over a window for its lag to count
     * as saturation (0: lag alone decides).
     */
    minCpuShare: z.number().min(0).max(1).default(0.5),
    /** How long one window of lag measurement lasts. Milliseconds. */
    windowMs: z.number().int().min(50).max(10_000).default(500),
    /** Saturated windows in a row that start an overload. */
    enterWindows: z.number().int().positive().max(100).default(3),
    /** Calm windows in a row that end it. */
    exitWindows: z.number().int().positive().max(100).default(2),
    /** What refused clients are told to wait (`Retry-After`, `retryAfter`). Seconds. */
    retryAfterSeconds: z.number().int().positive().max(3600).default(2),
    /**
     * A socket admitted (its `hello` answered) less than this long ago may still join, publish and
     * subscribe while the Bridge is saturated: a reconnecting client restores what it had as part of
     * its admission (docs/operations/limits.md, "Overload"). Milliseconds.
     */
    admitGraceMs: z.number().int().nonnegative().default(10_000),
  })
  .refine((o) => o.exitLagMs <= o.enterLagMs, { message: 'expected exitLagMs at most enterLagMs', path: ['exitLagMs'] });
export type OverloadConfig = z.output<typeof overloadSchema>;

/** What refusals are counted under: a WebSocket request kind, or `rest_write`. */
export type RefusedWork = string;

/**
 * The hysteresis alone, fed one lag figure per window (pure, so its rules are tested without timers):
 * returns whether the Bridge is overloaded after this window.
 */
export class OverloadState {
  overloaded = false;
  /** Overloads started so far. */
  episodes = 0;
  #run = 0;

  constructor(private readonly c: Pick<OverloadConfig, 'enterLagMs' | 'exitLagMs' | 'enterWindows' | 'exitWindows'> & { minCpuShare?: number }) {}

  /** One window: its lag p99 in ms, and the share of one core the process used over it (1 if unknown). */
  observe(lagMs: number, cpuShare = 1): boolean {
    // A process that was not busy itself is waiting, not saturated: its window counts as calm.
    const busy = cpuShare >= (this.c.minCpuShare ?? 0);
    // Windows in a row on the side that would change the state; anything else resets the run.
    const towardChange = this.overloaded ? !busy || lagMs < this.c.exitLagMs : busy && lagMs > this.c.enterLagMs;
    this.#run = towardChange ? this.#run + 1 : 0;
    if (this.#run >= (this.overloaded ? this.c.exitWindows : this.c.enterWindows)) {
      this.overloaded = !this.overloaded;
      if (this.overloaded) this.episodes++;
      this.#run = 0;
    }
    return this.overloaded;
  }
}

export interface OverloadCounters {
  /** Requests refused with OVERLOADED, by what they would have started. */
  readonly refused: Record<RefusedWork, number>;
}

/** The Bridge's overload gate: measures the lag, keeps the state, refuses and counts. */
export class OverloadMonitor {
  readonly counters: OverloadCounters = { refused: {} };
  /** The lag p99 of the last finished window, in milliseconds (beyond the sampling interval). */
  lagMs = 0;
  readonly #state: OverloadState;
  /** How late each sampling timer ran, in microseconds, over the current window. */
  readonly #histogram = createHistogram();
  readonly #timer: NodeJS.Timeout | undefined;
  #lastTick = performance.now();
  #windowStart = this.#lastTick;
  #windowCpu = process.cpuUsage();
  /** The share of one core the process used over the last finished window. */
  cpuShare = 0;

  constructor(
    readonly config: OverloadConfig,
    private readonly onChange: (overloaded: boolean, lagMs: number) => void = () => undefined,
  ) {
    this.#state = new OverloadState(config);
    if (!config.enabled) return;
    this.#timer = setInterval(() => this.#tick(), LAG_RESOLUTION_MS);
    this.#timer.unref();
  }

  /** True while new work is refused. */
  get overloaded(): boolean {
    return this.#state.overloaded;
  }

  /** Overloads started since the Bridge started. */
  get episodes(): number {
    return this.#state.episodes;
  }

  #tick(): void {
    const now = performance.now();
    const lateUs = Math.round((now - this.#lastTick - LAG_RESOLUTION_MS) * 1000);
    this.#lastTick = now;
    this.#histogram.record(Math.max(1, lateUs));
    if (now - this.#windowStart >= this.config.windowMs) this.#window(now);
  }

  #window(now: number): void {
    const h: RecordableHistogram = this.#histogram;
    this.lagMs = h.percentile(99) / 1000;
    h.reset();
    const used = process.cpuUsage(this.#windowCpu);
    this.#windowCpu = process.cpuUsage();
    this.cpuShare = (used.user + used.system) / 1000 / (now - this.#windowStart);
    this.#windowStart = now;
    const before = this.#state.overloaded;
    if (this.#state.observe(this.lagMs, this.cpuShare) !== before) this.onChange(!before, this.lagMs);
  }

  /**
   * Admits new work of kind `what`, or throws `OVERLOADED` (with `retryAfter`) and counts the refusal.
   */
  admit(what: RefusedWork): void {
    if (!this.#state.overloaded) return;
    this.counters.refused[what] = (this.counters.refused[what] ?? 0) + 1;
    throw new BridgeError('OVERLOADED', `the Bridge is saturated (event-loop lag ${Math.round(this.lagMs)} ms); retry in ${this.config.retryAfterSeconds} s`, {
      retryAfter: this.config.retryAfterSeconds,
    });
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
