/**
 * The outbound queue of data-track frames to one subscriber connection (docs/design.md, "Data tracks
 * and media frames"; the delivery modes are in docs/protocol/data-tracks.md).
 *
 * Frames are handed to the socket only while what real-time traffic waits behind in it (its
 * `priorityBufferedAmount`: byte-stream chunks beyond their share do not count, they queue in the
 * connection's bulk lane) is below a small high-water mark; the socket's write callbacks pump the rest.
 * The backlog therefore sits here, where it is bounded:
 *
 * - `lossy` tracks: a frame older than its track's deadline when its turn comes is dropped (`deadline`),
 *   its age counted with how far behind the reader already is (`receiverLagMs`: what waits in the
 *   kernel, which this queue does not see); a new frame that does not fit `queueBytes` pushes the
 *   oldest lossy frames out (`slow`).
 * - `reliable` tracks: frames are never dropped. A subscriber whose reliable backlog would pass
 *   `reliableQueueBytes` is cut from the track that overflowed (`onReliableOverflow`), and its queued
 *   frames of that track are forgotten.
 *
 * Each drop is counted per trackNo and cause and reported with a coalesced `dataDropped` event
 * (docs/design.md "Lessons from earlier systems": no unbounded buffers, no silent loss). Memory per
 * subscriber stays within queueBytes + reliableQueueBytes + highWaterBytes + one frame.
 */
import type { DataDropCause, ServerEvent } from '../../../protocol/ws.ts';

/** What the queue needs of a connection (RealtimeConnection fits; tests may pass a fake). */
export interface DataSink {
  readonly closed: boolean;
  /** Bytes a frame written now waits behind in the socket, bulk within its share not counted. */
  readonly priorityBufferedAmount: number;
  /**
   * How far behind its reader is, beyond the socket: what the kernel holds that it has not read
   * (../receiver-lag.ts). Milliseconds; absent: 0.
   */
  readonly receiverLagMs?: number;
  binary(frame: Uint8Array, done?: (error?: Error) => void): void;
  event(event: ServerEvent): void;
}

/** How a track's frames are delivered (from its publisher's `publish`). */
export interface TrackDelivery {
  readonly reliable: boolean;
  /** Lossy only: a frame older than this (since it reached this Bridge) is dropped. Milliseconds. */
  readonly deadlineMs: number;
}

export interface DataQueueLimits {
  /** Bytes of lossy frames held here before the oldest are dropped. */
  queueBytes: number;
  /** Bytes of reliable frames held here before the track that overflows is cut. 0: as `queueBytes`. */
  reliableQueueBytes?: number;
  /** Frames go to the socket only while its priorityBufferedAmount is below this. Bytes. */
  highWaterBytes: number;
  /** `dataDropped` events are sent at most this often. Milliseconds. */
  reportIntervalMs: number;
  /** Reports wait (and keep coalescing) while the socket holds more than this. Bytes. */
  reportHoldBytes: number;
  /** Called for every frame dropped here (relay-wide counters). */
  onDrop?: (cause: Exclude<DataDropCause, 'lost'>) => void;
  /** A reliable track's backlog passed its bound: the relay cuts this subscriber from the track. */
  onReliableOverflow?: (trackNo: number) => void;
}

export interface DataQueueStats {
  queuedBytes: number;
  queuedFrames: number;
  /** The most bytes ever held at once: tests assert it never passed its bounds. */
  peakQueuedBytes: number;
  /** Frames handed to the socket. */
  delivered: number;
  /** Frames dropped here (slow and deadline). */
  dropped: number;
  droppedSlow: number;
  droppedDeadline: number;
}

/** Lossy frames go here unless their track says otherwise. */
export const LOSSY: TrackDelivery = { reliable: false, deadlineMs: 500 };

/**
 * When frames wait but none of ours is in flight (the socket is full of other traffic, whose writes
 * carry no callback of ours), the pump looks again after this long. Milliseconds.
 */
const RETRY_PUMP_MS = 10;
/** The frame arrays are compacted once this many slots at their head are spent. */
const COMPACT_AFTER_FRAMES = 1024;

interface Queued {
  trackNo: number;
  frame: Uint8Array;
  /** performance.now() when it was queued. */
  at: number;
  deadlineMs: number;
}

/**
 * Each queue also holds at most one frame per this many bytes of its bound. Bytes alone let a
 * subscriber's queue hold some 400,000 frames of 5 bytes within a 2 MiB bound: tens of MiB of entries.
 * With it, a 1 MiB bound holds at most 16,384 frames, whatever their size.
 */
export const QUEUE_BYTES_PER_FRAME = 64;

/** A first-in first-out list of frames with a byte count. */
class Fifo {
  items: Array<Queued | undefined> = [];
  head = 0;
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  peek(): Queued | undefined {
    return this.items[this.head];
  }

  push(q: Queued): void {
    this.items.push(q);
    this.bytes += q.frame.length;
  }

  shift(): Queued | undefined {
    if (this.head >= this.items.length) return undefined;
    const q = this.items[this.head]!;
    this.items[this.head] = undefined;
    this.head++;
    this.bytes -= q.frame.length;
    if (this.head >= COMPACT_AFTER_FRAMES && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return q;
  }

  /** Removes the frames of these tracks; returns how many went. */
  remove(trackNos: ReadonlySet<number>): void {
    const kept: Queued[] = [];
    let bytes = 0;
    for (let i = this.head; i < this.items.length; i++) {
      const q = this.items[i]!;
      if (trackNos.has(q.trackNo)) continue;
      kept.push(q);
      bytes += q.frame.length;
    }
    this.items = kept;
    this.head = 0;
    this.bytes = bytes;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }
}

export class DataQueue {
  private readonly lossy = new Fifo();
  private readonly reliable = new Fifo();
  private peakBytes = 0;
  private inFlight = 0;
  private delivered = 0;
  private readonly dropped = { slow: 0, deadline: 0 };
  /** trackNo -> cause -> count, reported and cleared by `report()`. */
  private readonly pendingDrops = new Map<number, Map<DataDropCause, number>>();
  private lastReportAt = Number.NEGATIVE_INFINITY;
  private reportTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly sink: DataSink,
    private readonly limits: DataQueueLimits,
  ) {}

  private get reliableQueueBytes(): number {
    return this.limits.reliableQueueBytes || this.limits.queueBytes;
  }

  /** Queues one frame (already encoded; it may be shared with other subscribers) and pumps. */
  push(trackNo: number, frame: Uint8Array, delivery: TrackDelivery = LOSSY): void {
    if (this.closed || this.sink.closed) return;
    const now = performance.now();
    if (delivery.reliable) {
      if (this.reliable.bytes + frame.length > this.reliableQueueBytes || this.reliable.length >= this.reliableQueueBytes / QUEUE_BYTES_PER_FRAME) {
        // Never dropped: the subscriber that cannot keep up leaves the track instead.
        this.reliable.remove(new Set([trackNo]));
        this.limits.onReliableOverflow?.(trackNo);
        return;
      }
      this.reliable.push({ trackNo, frame, at: now, deadlineMs: 0 });
    } else {
      if (frame.length > this.limits.queueBytes) {
        // It could never fit: dropping it is the newest-first exception, and it is counted all the same.
        this.countDrop(trackNo, 'slow');
        return;
      }
      while (this.lossy.bytes + frame.length > this.limits.queueBytes || this.lossy.length >= this.limits.queueBytes / QUEUE_BYTES_PER_FRAME) {
        const oldest = this.lossy.shift();
        if (oldest === undefined) break;
        this.countDrop(oldest.trackNo, now - oldest.at > oldest.deadlineMs ? 'deadline' : 'slow');
      }
      this.lossy.push({ trackNo, frame, at: now, deadlineMs: delivery.deadlineMs });
    }
    const bytes = this.lossy.bytes + this.reliable.bytes;
    if (bytes > this.peakBytes) this.peakBytes = bytes;
    this.pump();
  }

  /** Forgets queued frames of these tracks (unsubscribed, unpublished, or the subscriber left). */
  purge(trackNos: ReadonlySet<number>): void {
    if (trackNos.size === 0) return;
    this.lossy.remove(trackNos);
    this.reliable.remove(trackNos);
    for (const trackNo of trackNos) this.pendingDrops.delete(trackNo);
  }

  /** The connection is gone: frees everything and stops the timers. */
  close(): void {
    this.closed = true;
    this.lossy.clear();
    this.reliable.clear();
    this.pendingDrops.clear();
    clearTimeout(this.reportTimer);
    clearTimeout(this.retryTimer);
    this.reportTimer = undefined;
    this.retryTimer = undefined;
  }

  stats(): DataQueueStats {
    return {
      queuedBytes: this.lossy.bytes + this.reliable.bytes,
      queuedFrames: this.lossy.length + this.reliable.length,
      peakQueuedBytes: this.peakBytes,
      delivered: this.delivered,
      dropped: this.dropped.slow + this.dropped.deadline,
      droppedSlow: this.dropped.slow,
      droppedDeadline: this.dropped.deadline,
    };
  }

  private readonly onWritten = (): void => {
    this.inFlight--;
    this.pump();
  };

  /**
   * The next frame in arrival order over both lists; stale lossy frames are dropped on the way: those
   * whose age here plus the reader's lag (`lagMs`) passes their deadline.
   */
  private next(now: number, lagMs: number): Queued | undefined {
    for (;;) {
      const l = this.lossy.peek();
      const r = this.reliable.peek();
      if (l === undefined) return this.reliable.shift();
      if (r !== undefined && r.at <= l.at) return this.reliable.shift();
      this.lossy.shift();
      if (now - l.at + lagMs <= l.deadlineMs) return l;
      this.countDrop(l.trackNo, 'deadline');
    }
  }

  private pump(): void {
    const now = performance.now();
    const lagMs = this.sink.receiverLagMs ?? 0;
    while (!this.closed && !this.sink.closed && this.sink.priorityBufferedAmount < this.limits.highWaterBytes) {
      const q = this.next(now, lagMs);
      if (q === undefined) break;
      this.inFlight++;
      this.delivered++;
      this.sink.binary(q.frame, this.onWritten);
    }
    const waiting = this.lossy.length + this.reliable.length > 0;
    if (this.closed || this.sink.closed || !waiting || this.inFlight > 0 || this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, RETRY_PUMP_MS);
    this.retryTimer.unref();
  }

  /**
   * Frames of the track that were lost before they reached this Bridge (between Bridges, over NATS:
   * docs/operations/cluster.md): reported in the same `dataDropped` events with cause `lost`.
   */
  countLost(trackNo: number, count: number): void {
    if (this.closed || count <= 0) return;
    this.addPending(trackNo, 'lost', count);
  }

  private countDrop(trackNo: number, cause: 'slow' | 'deadline'): void {
    this.dropped[cause]++;
    this.limits.onDrop?.(cause);
    this.addPending(trackNo, cause, 1);
  }

  private addPending(trackNo: number, cause: DataDropCause, count: number): void {
    let byCause = this.pendingDrops.get(trackNo);
    if (byCause === undefined) this.pendingDrops.set(trackNo, (byCause = new Map()));
    byCause.set(cause, (byCause.get(cause) ?? 0) + count);
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
    if (this.sink.priorityBufferedAmount > this.limits.reportHoldBytes) {
      // The socket is not draining: keep counting here (one entry per track and cause) and look again later.
      this.lastReportAt = performance.now();
      this.scheduleReport();
      return;
    }
    for (const [trackNo, byCause] of this.pendingDrops) {
      for (const [cause, count] of byCause) this.sink.event({ type: 'dataDropped', trackNo, count, cause });
    }
    this.pendingDrops.clear();
    this.lastReportAt = performance.now();
  }
}
