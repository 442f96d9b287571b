/**
 * Background work in bounded slices that yield to the event loop (docs/operations/realtime-priorities.md,
 * "Receive side"). Byte-stream chunk work (decrypt, verify, hash, hand to the reader) runs here, so
 * whatever arrives on a socket meanwhile (data-track frames, events, results, credits) is handled
 * between two slices, never behind a backlog of chunks.
 *
 * One scheduler per process (module state), shared by every Endpoint in it: a process that hosts many
 * members still runs one slice at a time, and gives every lane a turn in round robin. A lane is an
 * ordered queue of steps (one per sending connection of a receiving connection: incoming/pipeline.ts);
 * its steps run one at a time, in order. A step that waits on I/O (a key being fetched) holds only its
 * own lane: the slice moves on, and the lane rejoins the round once the step has settled.
 */

/**
 * How long one slice runs before it yields (it finishes the step under way first). Milliseconds. Long
 * enough that the cost of yielding (one macrotask, well under 0.1 ms) is a few percent at most, and
 * that a slice handles several 64 KiB chunks (about 0.1-0.3 ms each); short enough that a data-track
 * frame waits at most about this long for a turn, well under a frame at 60 fps (16.7 ms) and two
 * orders of magnitude under the 500 ms default deadline of lossy tracks.
 */
export const SLICE_BUDGET_MS = 4;

/** What the scheduler runs: one ordered queue of steps. */
export interface Lane {
  /** Whether a step is waiting. */
  readonly hasWork: boolean;
  /** Runs the next step; a promise when it finished asynchronously. Never throws. */
  runNext(): void | Promise<void>;
}

/** What the scheduler did, for tests and diagnostics. */
export interface SliceStats {
  slices: number;
  steps: number;
  /** Steps that waited past their slice (I/O), holding only their own lane. */
  waited: number;
  /** Lanes with work waiting for a turn now. */
  ready: number;
}

type Yield = (callback: () => void) => void;

/**
 * The platform's cheapest way to run a callback as a new macrotask, after pending I/O: `setImmediate`
 * in Node (the check phase, right after the poll phase has read every socket), `scheduler.postTask`
 * where browsers have it, a `MessageChannel` elsewhere (not clamped like nested `setTimeout(0)`).
 * A hand helper: the packages that offer this (setimmediate, scheduler-polyfill) patch globals, which
 * a library that declares `sideEffects: false` must not.
 */
function platformYield(): Yield {
  const g = globalThis as {
    setImmediate?: (callback: () => void) => unknown;
    scheduler?: { postTask?: (callback: () => void) => Promise<unknown> };
  };
  if (typeof g.setImmediate === 'function') {
    const setImmediate = g.setImmediate;
    return (callback) => void setImmediate(callback);
  }
  const postTask = g.scheduler?.postTask;
  if (typeof postTask === 'function') {
    const scheduler = g.scheduler;
    return (callback) => void postTask.call(scheduler, callback).catch(() => undefined);
  }
  if (typeof MessageChannel === 'function') {
    const channel = new MessageChannel();
    const waiting: Array<() => void> = [];
    channel.port1.onmessage = () => waiting.shift()?.();
    return (callback) => {
      waiting.push(callback);
      channel.port2.postMessage(undefined);
    };
  }
  return (callback) => void setTimeout(callback, 0);
}

const DONE = Symbol('done');

class SliceScheduler {
  /** Lanes with work, waiting for a turn, in turn order (a ring: `head` is the next). */
  #ring: Lane[] = [];
  #head = 0;
  readonly #queued = new Set<Lane>();
  /** Lanes whose step is waiting on I/O: they rejoin the ring when it settles. */
  readonly #waiting = new Set<Lane>();
  /** The lane whose step runs now: it is queued again after the step, if it still has work. */
  #current: Lane | undefined;
  #scheduled = false;
  #running = false;
  readonly #stats = { slices: 0, steps: 0, waited: 0 };
  #yield: Yield | undefined;

  /** A lane has a step ready: it gets a turn in a coming slice. */
  wake(lane: Lane): void {
    if (lane === this.#current || this.#waiting.has(lane)) return;
    this.#enqueue(lane);
    this.#schedule();
  }

  #enqueue(lane: Lane): void {
    if (this.#queued.has(lane) || !lane.hasWork) return;
    this.#queued.add(lane);
    this.#ring.push(lane);
  }

  stats(): SliceStats {
    return { ...this.#stats, ready: this.#queued.size };
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    this.#yield ??= platformYield();
    this.#yield(() => {
      this.#scheduled = false;
      void this.#slice();
    });
  }

  #next(): Lane | undefined {
    if (this.#head >= this.#ring.length) return undefined;
    const lane = this.#ring[this.#head]!;
    this.#ring[this.#head++] = undefined as unknown as Lane;
    if (this.#head >= 1024 && this.#head * 2 >= this.#ring.length) {
      this.#ring = this.#ring.slice(this.#head);
      this.#head = 0;
    }
    this.#queued.delete(lane);
    return lane;
  }

  /**
   * Runs lanes' steps in round robin, one step per turn, until the budget is spent. Each step runs to
   * its end (its microtasks included) before the next starts, so the budget measures all of it. A step
   * still pending when the event loop has turned (`boundary`: a macrotask queued when the slice began)
   * waits on I/O: its lane sits out until it settles, and the slice goes on with the others.
   */
  async #slice(): Promise<void> {
    this.#running = true;
    this.#stats.slices++;
    let start = performance.now();
    let boundary: Promise<void> | undefined;
    try {
      for (let lane = this.#next(); lane !== undefined; lane = this.#next()) {
        this.#stats.steps++;
        this.#current = lane;
        const result = lane.runNext();
        if (result !== undefined) {
          boundary ??= new Promise((resolve) => this.#yield!(resolve));
          const settled = result.then(
            () => DONE,
            () => DONE,
          );
          if ((await Promise.race([settled, boundary])) !== DONE) {
            // The loop turned while this step waited: it waits on I/O. The others go on meanwhile.
            this.#stats.waited++;
            this.#current = undefined;
            this.#waiting.add(lane);
            void settled.then(() => {
              this.#waiting.delete(lane);
              this.wake(lane);
            });
            boundary = undefined;
            start = performance.now();
            continue;
          }
        }
        this.#current = undefined;
        this.#enqueue(lane);
        if (performance.now() - start >= SLICE_BUDGET_MS) break;
      }
    } finally {
      this.#current = undefined;
      this.#running = false;
      if (this.#queued.size > 0) this.#schedule();
    }
  }
}

const scheduler = new SliceScheduler();

/** Gives `lane` a turn in a coming slice (call whenever a step was queued on it). */
export function wakeLane(lane: Lane): void {
  scheduler.wake(lane);
}

/** What the process-wide scheduler did so far. */
export function sliceStats(): SliceStats {
  return scheduler.stats();
}
