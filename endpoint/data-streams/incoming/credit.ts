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
 */
import { CREDIT_BATCH_FRACTION, CREDIT_FLUSH_MS } from '../limits.ts';

export class Credit {
  private arrived = 0;
  private consumed = 0;
  private credited = 0;
  /** Whether the reader had consumed all that arrived, at its last consume (the CREDIT's STARVED flag). */
  private starved = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;

  constructor(
    private readonly windowBytes: number,
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
    const owed = this.consumed - this.credited;
    if (owed <= 0) return;
    if (owed >= this.windowBytes / CREDIT_BATCH_FRACTION) {
      this.flush();
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), CREDIT_FLUSH_MS);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /** The stream is over: no more credits. */
  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.disposed || this.consumed <= this.credited) return;
    this.credited = this.consumed;
    this.send(this.credited, this.starved);
  }
}
