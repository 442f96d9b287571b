/**
 * The lossy outbound queue of data-track frames to one subscriber connection (docs/design.md, "Data tracks
 * and media frames": when a subscriber is slow, the oldest data-track messages are dropped and counted).
 *
 * Frames are handed to the socket only while its `bufferedAmount` is below a small high-water mark;
 * the socket's write callbacks pump the rest. The backlog therefore sits here, where it is bounded by
 * `queueBytes`: a new frame that does not fit pushes the oldest ones out, and each drop is counted per
 * trackNo and reported with a coalesced `dataDropped` event (docs/design.md "Lessons from earlier systems": no unbounded buffers, no
 * silent loss). Memory per subscriber stays within queueBytes + highWaterBytes + one frame, whatever
 * the subscriber does.
 */
import type { ServerEvent } from '../../../protocol/ws.ts';

/** What the queue needs of a connection (RealtimeConnection fits; tests may pass a fake). */
export interface DataSink {
  readonly closed: boolean;
  readonly bufferedAmount: number;
  binary(frame: Uint8Array, done?: (error?: Error) => void): void;
  event(event: ServerEvent): void;
}

export interface DataQueueLimits {
  /** Bytes of frames held here before the oldest are dropped. */
  queueBytes: number;
  /** Frames go to the socket only while its bufferedAmount is below this. Bytes. */
  highWaterBytes: number;
  /** `dataDropped` events are sent at most this often. Milliseconds. */
  reportIntervalMs: number;
  /** Reports wait (and keep coalescing) while the socket holds more than this. Bytes. */
  reportHoldBytes: number;
  /** Called for every frame dropped for slowness (relay-wide counters). */
  onDrop?: () => void;
}

export interface DataQueueStats {
  queuedBytes: number;
  queuedFrames: number;
  /** The most bytes ever held at once: tests assert it never passed `queueBytes`. */
  peakQueuedBytes: number;
  /** Frames handed to the socket. */
  delivered: number;
  /** Frames dropped because the subscriber read too slowly. */
  dropped: number;
}

/**
 * When frames wait but none of ours is in flight (the socket is full of other traffic, whose writes
 * carry no callback of ours), the pump looks again after this long. Milliseconds.
 */
const RETRY_PUMP_MS = 10;
/** The frame array is compacted once this many slots at its head are spent. */
const COMPACT_AFTER_FRAMES = 1024;

interface Queued {
  trackNo: number;
  frame: Uint8Array;
}

export class DataQueue {
  private frames: Array<Queued | undefined> = [];
  private head = 0;
  private bytes = 0;
  private peakBytes = 0;
  private inFlight = 0;
  private delivered = 0;
  private droppedTotal = 0;
  private readonly pendingDrops = new Map<number, number>();
  private lastReportAt = Number.NEGATIVE_INFINITY;
  private reportTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly sink: DataSink,
    private readonly limits: DataQueueLimits,
  ) {}

  /** Queues one frame (already encoded; it may be shared with other subscribers) and pumps. */
  push(trackNo: number, frame: Uint8Array): void {
    if (this.closed || this.sink.closed) return;
    if (frame.length > this.limits.queueBytes) {
      // It could never fit: dropping it is the newest-first exception, and it is counted all the same.
      this.countDrop(trackNo);
      return;
    }
    while (this.bytes + frame.length > this.limits.queueBytes) {
      const oldest = this.shift();
      if (oldest === undefined) break;
      this.countDrop(oldest.trackNo);
    }
    this.frames.push({ trackNo, frame });
    this.bytes += frame.length;
    if (this.bytes > this.peakBytes) this.peakBytes = this.bytes;
    this.pump();
  }

  /** Forgets queued frames of these tracks (unsubscribed, unpublished, or the subscriber left). */
  purge(trackNos: ReadonlySet<number>): void {
    if (trackNos.size === 0) return;
    const kept: Queued[] = [];
    let bytes = 0;
    for (let i = this.head; i < this.frames.length; i++) {
      const q = this.frames[i]!;
      if (trackNos.has(q.trackNo)) continue;
      kept.push(q);
      bytes += q.frame.length;
    }
    this.frames = kept;
    this.head = 0;
    this.bytes = bytes;
    for (const trackNo of trackNos) this.pendingDrops.delete(trackNo);
  }

  /** The connection is gone: frees everything and stops the timers. */
  close(): void {
    this.closed = true;
    this.frames = [];
    this.head = 0;
    this.bytes = 0;
    this.pendingDrops.clear();
    clearTimeout(this.reportTimer);
    clearTimeout(this.retryTimer);
    this.reportTimer = undefined;
    this.retryTimer = undefined;
  }

  stats(): DataQueueStats {
    return {
      queuedBytes: this.bytes,
      queuedFrames: this.frames.length - this.head,
      peakQueuedBytes: this.peakBytes,
      delivered: this.delivered,
      dropped: this.droppedTotal,
    };
  }

  private shift(): Queued | undefined {
    if (this.head >= this.frames.length) return undefined;
    const q = this.frames[this.head]!;
    this.frames[this.head] = undefined;
    this.head++;
    this.bytes -= q.frame.length;
    if (this.head >= COMPACT_AFTER_FRAMES && this.head * 2 >= this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
    return q;
  }

  private readonly onWritten = (): void => {
    this.inFlight--;
    this.pump();
  };

  private pump(): void {
    while (!this.closed && !this.sink.closed && this.head < this.frames.length && this.sink.bufferedAmount < this.limits.highWaterBytes) {
      const q = this.shift()!;
      this.inFlight++;
      this.delivered++;
      this.sink.binary(q.frame, this.onWritten);
    }
    if (this.closed || this.sink.closed || this.head >= this.frames.length || this.inFlight > 0 || this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, RETRY_PUMP_MS);
    this.retryTimer.unref();
  }

  /**
   * Frames of the track that were lost before they reached this Bridge (between Bridges, over NATS:
   * docs/operations/cluster.md): reported in the same `dataDropped` events, not counted as slowness.
   */
  countLost(trackNo: number, count: number): void {
    if (this.closed || count <= 0) return;
    this.pendingDrops.set(trackNo, (this.pendingDrops.get(trackNo) ?? 0) + count);
    this.scheduleReport();
  }

  private countDrop(trackNo: number): void {
    this.droppedTotal++;
    this.limits.onDrop?.();
    this.pendingDrops.set(trackNo, (this.pendingDrops.get(trackNo) ?? 0) + 1);
    this.scheduleReport();
  }

  private scheduleReport(): void {
    if (this.reportTimer !== undefined || this.closed) return;
    const delay = Math.max(0, this.lastReportAt + this.limits.reportIntervalMs - performance.now());
    this.reportTimer = setTimeout(() => this.report(), delay);
    this.reportTimer.unref();
  }

  private report(): void {
    this.reportTimer = undefined;
    if (this.closed || this.sink.closed || this.pendingDrops.size === 0) return;
    if (this.sink.bufferedAmount > this.limits.reportHoldBytes) {
      // The socket is not draining: keep counting here (one entry per track) and look again later.
      this.lastReportAt = performance.now();
      this.scheduleReport();
      return;
    }
    for (const [trackNo, count] of this.pendingDrops) this.sink.event({ type: 'dataDropped', trackNo, count });
    this.pendingDrops.clear();
    this.lastReportAt = performance.now();
  }
}
