/**
 * Bounded receive turns for Node's sockets (docs/operations/realtime-priorities.md, "Receive turns").
 *
 * libuv reads a readable socket up to 32 times (2 MiB) per poll event, and Node runs each read's
 * messages to their end before the next; a process with many sockets behind on their traffic (the
 * kernel holds megabytes for each on loopback) reads and handles all of it before its timers, its REST
 * answers or its own sends get a turn. Measured in the load benchmark over capacity: every client process
 * stalled for 3-17 s at a time (docs/operations/load.md, "Over capacity: stalled clients, and what the kernel holds").
 *
 * So the handling of incoming messages in one turn of the event loop is bounded: once the handlers have
 * run `RECEIVE_TURN_BUDGET_MS` in it, every socket of the process stops reading (`pause()`: the kernel keeps what
 * has not been read, and TCP's flow control holds the sender back), and they read again in the check
 * phase (`setImmediate`), after which the loop's timers run before the next poll. A message already
 * read is still handled; nothing is dropped or reordered. One scheduler per process (module state), like
 * the slice scheduler of util/cooperative.ts: the budget is the process's, not each socket's.
 */

/**
 * How long the handlers of incoming messages may run in one turn before every socket pauses, in
 * milliseconds of handler time (not of the turn's wall time, which a process sharing its core with
 * others spends partly descheduled: pausing then would only delay frames). Past it, a timer waits at most
 * about this plus one socket read's messages (64 KiB) per socket. A process that keeps up spends a few
 * ms a turn in its handlers (docs/operations/load.md), so this only acts when it is behind.
 */
export const RECEIVE_TURN_BUDGET_MS = 50;

/** What can stop and start reading: ws's WebSocket. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/** What the turns did, for tests and diagnostics. */
export interface ReceiveTurnStats {
  /** Turns in which a message was handled. */
  turns: number;
  /** Turns that ran past the budget, so every socket paused. */
  paused: number;
}

/**
 * The platform's setImmediate, taken when this module loads: fake timers an application installs later
 * (vitest, sinon) must not hold every socket paused.
 */
const immediate: (callback: () => void) => unknown = globalThis.setImmediate;
/** A turn whose end has not come after this long (wall time) is ended by the next message. Milliseconds. */
const TURN_END_OVERDUE_MS = 1000;

class ReceiveTurns {
  readonly #sockets = new Set<Pausable>();
  /** Whether a message was handled in the current turn (its end is scheduled). */
  #inTurn = false;
  /** When the current turn's first message was handled (performance.now()). */
  #turnStarted = 0;
  /** Handler time spent in the current turn, ms. */
  #spent = 0;
  /** When the handler running now started (performance.now()). */
  #handlerStarted = 0;
  #paused = false;
  readonly #stats: ReceiveTurnStats = { turns: 0, paused: 0 };

  add(socket: Pausable): void {
    this.#sockets.add(socket);
  }

  delete(socket: Pausable): void {
    this.#sockets.delete(socket);
  }

  /** Before a message of `socket` is handled. */
  begin(socket: Pausable): void {
    const now = performance.now();
    this.#handlerStarted = now;
    // Served sockets go to the back: the next turn resumes the others first, so under a sustained
    // backlog every socket gets its turn, not the same first few.
    if (this.#sockets.delete(socket)) this.#sockets.add(socket);
    if (this.#inTurn && now - this.#turnStarted > TURN_END_OVERDUE_MS) this.#end();
    if (this.#inTurn) return;
    this.#inTurn = true;
    this.#turnStarted = now;
    this.#stats.turns++;
    immediate(this.#end);
  }

  /** After a message was handled: past the budget, every socket stops reading until the turn ends. */
  after(): void {
    this.#spent += performance.now() - this.#handlerStarted;
    if (this.#paused || this.#spent < RECEIVE_TURN_BUDGET_MS) return;
    this.#paused = true;
    this.#stats.paused++;
    for (const socket of this.#sockets) socket.pause();
  }

  readonly #end = (): void => {
    this.#inTurn = false;
    this.#spent = 0;
    if (!this.#paused) return;
    this.#paused = false;
    for (const socket of this.#sockets) socket.resume();
  };

  stats(): ReceiveTurnStats {
    return { ...this.#stats };
  }
}

const turns = new ReceiveTurns();

/**
 * Makes `socket` take part in the process's receive turns until `release` is called, and returns the
 * wrapper for its message handler.
 */
export function joinReceiveTurns(socket: Pausable): { handle<T extends unknown[]>(handler: (...args: T) => void): (...args: T) => void; release(): void } {
  turns.add(socket);
  return {
    handle:
      (handler) =>
      (...args) => {
        turns.begin(socket);
        try {
          handler(...args);
        } finally {
          turns.after();
        }
      },
    release: () => turns.delete(socket),
  };
}

/** This process's receive turns so far. */
export function receiveTurnStats(): ReceiveTurnStats {
  return turns.stats();
}
