/**
 * The bulk lane of one connection's send path (docs/operations/realtime-priorities.md).
 *
 * Results, events, credits and data-track frames go straight into the socket. Byte-stream chunks
 * (bulk) go through this queue: only `shareBytes` of them may sit in the socket beyond what its write
 * callbacks have confirmed, and the rest waits here, pumped from those callbacks. A real-time frame
 * written at any moment therefore waits behind at most about one chunk of bulk in the socket's own
 * buffer (plus what the kernel holds, which Node cannot bound on a TCP socket).
 *
 * The queue holds no more than end-to-end flow control lets be in flight to the connection (one
 * window per stream it receives), and its bytes count toward the connection's outbound budget exactly
 * as when they sat in the socket (RealtimeConnection.bufferedAmount).
 *
 * Frames are numbered in push order. `afterSent` tells when every frame pushed so far has left the
 * Bridge (its write callback came: the socket handed it to the kernel) or was dropped, so the relay
 * keeps counting an ended stream's bytes until they are gone (docs/protocol/byte-streams.md,
 * "Accounting"); `lastSentAt` tells whether the socket drains at all ("Cuts").
 */

/** Bulk bytes that may be in the socket, written and not yet confirmed by its write callback. */
export const BULK_SHARE_BYTES = 64 * 1024;
/** The frame arrays are compacted once this many slots at their head are spent. */
const COMPACT_AFTER_FRAMES = 256;

/** Writes one binary frame to the socket; `done` fires once the socket handed it on (or failed). */
export type BulkWrite = (frame: Uint8Array, done: (error?: Error) => void) => void;

export class BulkQueue {
  #tags: number[] = [];
  #frames: Array<Uint8Array | undefined> = [];
  #head = 0;
  #queuedBytes = 0;
  /** Lengths of the frames written and not yet confirmed, in write order (callbacks come in order). */
  #inFlight: number[] = [];
  #inFlightHead = 0;
  #inFlightBytes = 0;
  /** Push number of `#frames[0]`; the frame at index i is number `#base + i`. */
  #base = 0;
  /** Push numbers of the frames in `#inFlight`, in the same order. */
  #inFlightNos: number[] = [];
  /** Callbacks waiting for every frame up to `mark` (a push number) to leave, in push order. */
  #waiters: Array<{ mark: number; release: () => void }> = [];
  #lastSentAt = performance.now();
  #closed = false;

  constructor(
    private readonly write: BulkWrite,
    private readonly shareBytes: number = BULK_SHARE_BYTES,
  ) {}

  /** Bytes waiting here (not yet in the socket). */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Bulk bytes written to the socket whose write callback has not come yet. */
  get inFlightBytes(): number {
    return this.#inFlightBytes;
  }

  /** Monotonic time (performance.now()) of the last write callback, or of the queue's creation. */
  get lastSentAt(): number {
    return this.#lastSentAt;
  }

  /** Whether a frame pushed so far is still here or in the socket unconfirmed. */
  get holding(): boolean {
    return this.#inFlightHead < this.#inFlight.length || this.#queuedBytes > 0;
  }

  /** Whether the frame numbered `no` (push's return) has not left yet (dropped frames may count as held a little longer). */
  holds(no: number): boolean {
    return !this.#closed && no >= this.oldestHeld();
  }

  /**
   * Calls `release` once every frame pushed so far has left: written and confirmed by the socket's
   * write callback, or dropped. At once when none is held; at close in any case.
   */
  afterSent(release: () => void): void {
    if (this.#closed || !this.holding) {
      release();
      return;
    }
    this.#waiters.push({ mark: this.#base + this.#frames.length - 1, release });
  }

  /** Queues a frame of stream `tag` (sent in order with every other bulk frame) and pumps. Returns its number. */
  push(tag: number, frame: Uint8Array): number {
    if (this.#closed) return -1;
    const no = this.#base + this.#frames.length;
    this.#tags.push(tag);
    this.#frames.push(frame);
    this.#queuedBytes += frame.length;
    this.pump();
    return no;
  }

  /** Forgets the queued frames of stream `tag` (cut or aborted: its receiver gets none of them). */
  drop(tag: number): void {
    if (this.#queuedBytes === 0) return;
    for (let i = this.#head; i < this.#frames.length; i++) {
      const frame = this.#frames[i];
      if (frame === undefined || this.#tags[i] !== tag) continue;
      this.#frames[i] = undefined;
      this.#queuedBytes -= frame.length;
    }
  }

  /** The connection is gone: frees what waits, and releases every `afterSent` waiter. */
  close(): void {
    this.#closed = true;
    this.#tags = [];
    this.#frames = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.release();
  }

  private readonly written = (): void => {
    this.#inFlightBytes -= this.#inFlight[this.#inFlightHead++] ?? 0;
    this.#lastSentAt = performance.now();
    if (this.#inFlightHead >= COMPACT_AFTER_FRAMES && this.#inFlightHead * 2 >= this.#inFlight.length) {
      this.#inFlight = this.#inFlight.slice(this.#inFlightHead);
      this.#inFlightNos = this.#inFlightNos.slice(this.#inFlightHead);
      this.#inFlightHead = 0;
    }
    this.pump();
    if (this.#waiters.length > 0) this.releaseSent();
  };

  /**
   * The number of the oldest frame still held: the first unconfirmed one (callbacks come in write
   * order, writes in push order, and the queue is empty while none is in flight: pump writes up to the
   * share), else the next push. Dropped frames behind it count as held with it, which only delays.
   */
  private oldestHeld(): number {
    return this.#inFlightHead < this.#inFlight.length ? this.#inFlightNos[this.#inFlightHead]! : this.#base + this.#frames.length;
  }

  /** Releases the waiters whose frames have all left. */
  private releaseSent(): void {
    const held = this.oldestHeld();
    while (this.#waiters.length > 0 && this.#waiters[0]!.mark < held) this.#waiters.shift()!.release();
  }

  private pump(): void {
    while (!this.#closed && this.#head < this.#frames.length && this.#inFlightBytes < this.shareBytes) {
      const frame = this.#frames[this.#head];
      this.#frames[this.#head] = undefined;
      this.#head++;
      if (frame === undefined) continue; // dropped
      this.#queuedBytes -= frame.length;
      this.#inFlight.push(frame.length);
      this.#inFlightNos.push(this.#base + this.#head - 1);
      this.#inFlightBytes += frame.length;
      this.write(frame, this.written);
    }
    if (this.#head >= COMPACT_AFTER_FRAMES && this.#head * 2 >= this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#tags = this.#tags.slice(this.#head);
      this.#base += this.#head;
      this.#head = 0;
    } else if (this.#head === this.#frames.length && this.#head > 0) {
      this.#frames.length = 0;
      this.#tags.length = 0;
      this.#base += this.#head;
      this.#head = 0;
    }
  }
}
