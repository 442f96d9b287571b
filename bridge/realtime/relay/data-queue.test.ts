import { describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../../protocol/ws.ts';
import { DataQueue, QUEUE_BYTES_PER_FRAME, type DataSink } from './data-queue.ts';

/** A socket stand-in: frames count in priorityBufferedAmount until `drain()` writes them out. */
class FakeSink implements DataSink {
  closed = false;
  priorityBufferedAmount = 0;
  readonly written: Uint8Array[] = [];
  readonly events: ServerEvent[] = [];
  private readonly unflushed: Array<() => void> = [];

  binary(frame: Uint8Array, done?: (error?: Error) => void): void {
    this.written.push(frame);
    this.priorityBufferedAmount += frame.length;
    this.unflushed.push(() => {
      this.priorityBufferedAmount -= frame.length;
      done?.();
    });
  }

  event(event: ServerEvent): void {
    this.events.push(event);
  }

  /** Lets the kernel take everything written so far (and whatever the callbacks pump next). */
  drain(): void {
    while (this.unflushed.length > 0) this.unflushed.shift()!();
  }
}

const frame = (seq: number, size = 100) => new Uint8Array(size).fill(seq);
const limits = { queueBytes: 1000, highWaterBytes: 250, reportIntervalMs: 20, reportHoldBytes: 10_000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DataQueue', () => {
  it('hands frames over only below the high-water mark and pumps the rest as the socket drains, in order', () => {
    const sink = new FakeSink();
    const q = new DataQueue(sink, limits);
    for (let i = 0; i < 8; i++) q.push(7, frame(i));
    expect(sink.written.map((f) => f[0])).toEqual([0, 1, 2]); // 300 bytes reached the 250-byte mark
    expect(q.stats()).toMatchObject({ queuedFrames: 5, queuedBytes: 500 });
    sink.drain();
    expect(sink.written.map((f) => f[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(q.stats()).toMatchObject({ queuedFrames: 0, queuedBytes: 0, delivered: 8, dropped: 0 });
    q.close();
  });

  it('drops the oldest frames when full, stays within queueBytes, and reports the count once, coalesced', async () => {
    const sink = new FakeSink();
    const q = new DataQueue(sink, limits);
    for (let i = 0; i < 50; i++) q.push(i < 25 ? 1 : 2, frame(i));
    // 3 in the socket, then a full queue of the newest ten; 37 dropped, oldest first.
    expect(q.stats()).toMatchObject({ queuedBytes: 1000, peakQueuedBytes: 1000, dropped: 37, delivered: 3 });
    expect(sink.events).toEqual([]);
    await sleep(60);
    expect(sink.events).toEqual([
      { type: 'dataDropped', trackNo: 1, count: 22, cause: 'slow' },
      { type: 'dataDropped', trackNo: 2, count: 15, cause: 'slow' },
    ]);
    sink.drain();
    expect(sink.written.map((f) => f[0])).toEqual([0, 1, 2, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49]);
    q.close();
  });

  it(`holds at most one frame per ${QUEUE_BYTES_PER_FRAME} bytes of its bound, however small the frames (lossy dropped, reliable cut)`, () => {
    const sink = new FakeSink();
    const cut: number[] = [];
    const q = new DataQueue(sink, { ...limits, highWaterBytes: 0, onReliableOverflow: (trackNo) => cut.push(trackNo) });
    const max = limits.queueBytes / QUEUE_BYTES_PER_FRAME;
    for (let i = 0; i < 100; i++) q.push(1, frame(i, 5));
    // The newest `max` wait (far fewer bytes than the bound allows); every other one was dropped or written.
    const stats = q.stats();
    expect(stats).toMatchObject({ queuedFrames: Math.ceil(max), queuedBytes: Math.ceil(max) * 5 });
    expect(stats.dropped + stats.queuedFrames + stats.delivered).toBe(100);
    let pushed = 0;
    while (cut.length === 0 && pushed < 100) q.push(2, frame(pushed++, 5), { reliable: true, deadlineMs: 0 });
    // Cut at the frame bound, long before 5-byte frames reach the byte bound.
    expect(cut).toEqual([2]);
    expect(pushed).toBe(Math.ceil(max) + 1);
    q.close();
  });

  it('drops and counts a frame that can never fit', async () => {
    const sink = new FakeSink();
    const q = new DataQueue(sink, limits);
    q.push(3, frame(1, 1001));
    expect(q.stats()).toMatchObject({ queuedBytes: 0, dropped: 1, delivered: 0 });
    await sleep(40);
    expect(sink.events).toEqual([{ type: 'dataDropped', trackNo: 3, count: 1, cause: 'slow' }]);
    q.close();
  });

  it('holds reports while the socket is not draining, then sends the total', async () => {
    const sink = new FakeSink();
    const q = new DataQueue(sink, { ...limits, reportHoldBytes: 200 });
    for (let i = 0; i < 20; i++) q.push(1, frame(i));
    await sleep(60);
    expect(sink.events).toEqual([]); // 300 bytes in the socket: above the hold mark
    for (let i = 20; i < 25; i++) q.push(1, frame(i));
    sink.drain();
    await sleep(60);
    expect(sink.events).toEqual([{ type: 'dataDropped', trackNo: 1, count: 12, cause: 'slow' }]);
    q.close();
  });

  it('purges a track without counting drops, and stops when closed', () => {
    const sink = new FakeSink();
    const q = new DataQueue(sink, limits);
    for (let i = 0; i < 8; i++) q.push(i % 2, frame(i));
    q.purge(new Set([1]));
    sink.drain();
    expect(sink.written.map((f) => f[0])).toEqual([0, 1, 2, 4, 6]);
    expect(q.stats().dropped).toBe(0);
    q.close();
    q.push(0, frame(9));
    expect(q.stats()).toMatchObject({ queuedFrames: 0, delivered: 5 });
  });

  it('drops a lossy frame older than its deadline when its turn comes, counted as deadline', async () => {
    const sink = new FakeSink();
    const drops: string[] = [];
    const q = new DataQueue(sink, { ...limits, onDrop: (cause) => drops.push(cause) });
    const lossy = { reliable: false, deadlineMs: 30 };
    for (let i = 0; i < 5; i++) q.push(4, frame(i), lossy); // 3 in the socket, 2 wait
    await sleep(50);
    q.push(4, frame(5), lossy); // fresh: it still goes
    sink.drain();
    expect(sink.written.map((f) => f[0])).toEqual([0, 1, 2, 5]);
    expect(q.stats()).toMatchObject({ dropped: 2, droppedDeadline: 2, droppedSlow: 0, queuedFrames: 0 });
    expect(drops).toEqual(['deadline', 'deadline']);
    await sleep(40);
    expect(sink.events).toEqual([{ type: 'dataDropped', trackNo: 4, count: 2, cause: 'deadline' }]);
    q.close();
  });

  it('never drops a reliable frame, keeps arrival order with lossy ones, and cuts the track past its bound', async () => {
    const sink = new FakeSink();
    const cut: number[] = [];
    const q = new DataQueue(sink, { ...limits, reliableQueueBytes: 500, onReliableOverflow: (trackNo) => cut.push(trackNo) });
    const reliable = { reliable: true, deadlineMs: 0 };
    const lossy = { reliable: false, deadlineMs: 10 };
    for (let i = 0; i < 3; i++) q.push(8, frame(i), reliable); // in the socket
    q.push(8, frame(3), reliable);
    q.push(9, frame(4), lossy);
    q.push(8, frame(5), reliable);
    await sleep(30); // older than the lossy deadline, and than any deadline a reliable frame could have
    sink.drain();
    expect(sink.written.map((f) => f[0])).toEqual([0, 1, 2, 3, 5]);
    expect(q.stats()).toMatchObject({ droppedDeadline: 1, queuedFrames: 0 });
    // Past 500 bytes waiting, the track that overflows is cut and its frames forgotten; nothing counted as dropped.
    let pushed = 0;
    while (cut.length === 0 && pushed < 20) q.push(8, frame(10 + pushed++), reliable);
    expect(pushed).toBe(9); // 3 into the socket, 5 wait (500 bytes), the 9th would pass the bound
    expect(cut).toEqual([8]);
    expect(q.stats()).toMatchObject({ droppedSlow: 0, droppedDeadline: 1, queuedBytes: 0 });
    sink.drain();
    expect(sink.written.map((f) => f[0]).slice(5)).toEqual([10, 11, 12]);
    q.close();
  });
  it("drops a lossy frame whose age plus its reader's lag passes the deadline, and never a reliable one", () => {
    const sink = new FakeSink();
    const q = new DataQueue(sink, { ...limits, highWaterBytes: 100_000 });
    const reader = sink as FakeSink & { receiverLagMs: number };
    reader.receiverLagMs = 600; // the kernel holds 600 ms this reader has not read
    q.push(7, frame(1), { reliable: false, deadlineMs: 500 });
    q.push(8, frame(2), { reliable: true, deadlineMs: 0 });
    q.push(7, frame(3), { reliable: false, deadlineMs: 1000 }); // within a longer deadline
    expect(sink.written.map((f) => f[0])).toEqual([2, 3]);
    expect(q.stats()).toMatchObject({ droppedDeadline: 1, delivered: 2 });
    reader.receiverLagMs = 0;
    q.push(7, frame(4), { reliable: false, deadlineMs: 500 });
    expect(sink.written.map((f) => f[0])).toEqual([2, 3, 4]);
    q.close();
  });
});
