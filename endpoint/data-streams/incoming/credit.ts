/**
 * Credits a reader sends to the Bridge (a CREDIT frame, protocol/ws.ts: an absolute offset in CHUNK payload bytes).
 * Credit follows what the app consumed, not what arrived, so an unread reader stops pulling: the sender
 * may run only one window past it, and that window is all the reader ever buffers. Credits go in
 * batches of a quarter window, and within `CREDIT_FLUSH_MS` in any case.
 *
 * No credit goes sooner when the sender waits on this reader: a reader owing less than a batch whose
 * sender has less than half a window left (the rule this replaced) has more than a quarter window in
 * hand, so the refill comes before it needs it, while a credit per chunk cost a frame at each of
 * three processes (docs/operations/throughput.md, "What changed").
 *
 * While this process carries real-time tracks, a credit takes its bytes from the bulk governor's rate
 * (util/bulk-governor.ts): when the rate has no room for them now, `GOVERNED_CREDIT_BYTES` of them go
 * after the governor's wait (one credit per stream waits at a time, so the process's streams take
 * turns), then the rest as usual. No credit says STARVED within `GOVERNED_QUIET_MS` of a held one:
 * such a reader waits for its own process, not for the pipe, so the Bridge does not widen the window
 * for it.
 */
import { bulkGovernor } from '../../util/bulk-governor.ts';
import { CREDIT_BATCH_FRACTION, CREDIT_FLUSH_MS, GOVERNED_CREDIT_BYTES } from '../limits.ts';

/** After the governor last held a credit of the stream, this long passes before one may say STARVED. Milliseconds. */
const GOVERNED_QUIET_MS = 1000;

export class Credit {
  private arrived = 0;
  private consumed = 0;
  private credited = 0;
  /** Whether the reader had consumed all that arrived, at its last consume (the CREDIT's STARVED flag). */
  private starved = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** A credit the governor holds back: when it goes, its offset is `heldTo`. */
  private heldTimer: ReturnType<typeof setTimeout> | undefined;
  private heldTo = 0;
  /** When the governor last let a held credit go (performance.now()). */
  private heldUntil = -Infinity;
  private disposed = false;

  /**
   * `windowBytes`: how far the sender may run ahead of this reader, or a function that says it now (a
   * receive window that follows the governor, receive-window.ts): credits go in quarters of it.
   */
  constructor(
    private readonly windowBytes: number | (() => number),
    private readonly send: (offset: number, starved: boolean) => void,
  ) {}

  /** Payload bytes that arrived from the Bridge. */
  arrive(bytes: number): void {
    this.arrived += bytes;
  }

  /**
   * Payload bytes the app has taken (or that were never the app's, like the header); `starved`: none
   * is left buffered for the app (the pipe, not the app, is what it waits for).
   */
  consume(bytes: number, starved = false): void {
    if (this.disposed) return;
    this.consumed += bytes;
    this.starved = starved && this.consumed >= this.arrived;
    if (this.starved) bulkGovernor.readerWaited();
    this.owe();
  }

  /** What is owed goes now if it makes a batch, else within `CREDIT_FLUSH_MS`. */
  private owe(): void {
    const owed = this.consumed - this.credited;
    if (owed <= 0) return;
    const window = typeof this.windowBytes === 'number' ? this.windowBytes : this.windowBytes();
    if (owed >= window / CREDIT_BATCH_FRACTION) {
      this.flush();
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), CREDIT_FLUSH_MS);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /** Whether the governor holds a credit back now (the stream is waiting, not idle). */
  get held(): boolean {
    return this.heldTimer !== undefined;
  }

  /** The stream is over: no more credits. */
  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.disposed || this.heldTimer !== undefined || this.consumed <= this.credited) return;
    const grant = bulkGovernor.reserve(this.consumed - this.credited, GOVERNED_CREDIT_BYTES);
    if (grant.waitMs <= 0) {
      this.credited += grant.bytes;
      this.send(this.credited, this.starved && this.credited >= this.consumed && !this.governedLately());
      if (this.credited < this.consumed) this.flush();
      return;
    }
    this.heldTo = this.credited + grant.bytes;
    this.heldTimer = setTimeout(() => this.release(), grant.waitMs);
    (this.heldTimer as { unref?: () => void }).unref?.();
  }

  private governedLately(): boolean {
    return this.heldUntil !== -Infinity && performance.now() - this.heldUntil < GOVERNED_QUIET_MS;
  }

  /** The governor's wait is over: the held credit goes, and what was consumed meanwhile follows as usual. */
  private release(): void {
    this.heldTimer = undefined;
    if (this.disposed) return;
    this.heldUntil = performance.now();
    this.credited = this.heldTo;
    this.send(this.credited, false);
    this.owe();
  }
}
