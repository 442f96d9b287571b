import { describe, expect, it } from 'vitest';
import { BulkQueue } from './send-scheduler.ts';

/** A socket's write: frames are "on the wire" until `confirm()` fires their callbacks, in order. */
function socket() {
  const written: Uint8Array[] = [];
  const callbacks: Array<() => void> = [];
  return {
    written,
    write: (frame: Uint8Array, done: (error?: Error) => void) => {
      written.push(frame);
      callbacks.push(() => done());
    },
    confirm(n = callbacks.length) {
      for (let i = 0; i < n; i++) callbacks.shift()?.();
    },
  };
}
const frame = (seq: number, size = 100) => new Uint8Array(size).fill(seq);

describe('BulkQueue', () => {
  it('keeps at most its share unconfirmed in the socket, holds the rest in order, and pumps on each confirmation', () => {
    const s = socket();
    const q = new BulkQueue(s.write, 250);
    for (let i = 0; i < 6; i++) q.push(1, frame(i));
    expect(s.written.map((f) => f[0])).toEqual([0, 1, 2]); // 300 bytes passed the 250-byte share
    expect([q.inFlightBytes, q.queuedBytes]).toEqual([300, 300]);
    s.confirm(1);
    expect(s.written.map((f) => f[0])).toEqual([0, 1, 2, 3]);
    s.confirm();
    s.confirm();
    expect(s.written.map((f) => f[0])).toEqual([0, 1, 2, 3, 4, 5]);
    s.confirm();
    expect([q.inFlightBytes, q.queuedBytes]).toEqual([0, 0]);
  });

  it('drops the queued frames of one stream only, and nothing once closed', () => {
    const s = socket();
    const q = new BulkQueue(s.write, 100);
    for (let i = 0; i < 6; i++) q.push(i % 2, frame(i));
    expect(s.written.map((f) => f[0])).toEqual([0]);
    q.drop(1);
    expect(q.queuedBytes).toBe(200);
    s.confirm();
    s.confirm();
    s.confirm();
    expect(s.written.map((f) => f[0])).toEqual([0, 2, 4]);
    q.close();
    q.push(0, frame(9));
    s.confirm();
    expect(s.written.map((f) => f[0])).toEqual([0, 2, 4]);
    expect(q.queuedBytes).toBe(0);
  });

  it('afterSent: released once every frame pushed before it was confirmed or dropped, in order; at once when nothing is held; at close', () => {
    const s = socket();
    const q = new BulkQueue(s.write, 100);
    const released: string[] = [];
    q.afterSent(() => released.push('empty'));
    expect(released).toEqual(['empty']);
    const nos = [0, 1, 2].map((i) => q.push(i % 2, frame(i)));
    q.afterSent(() => released.push('first three'));
    const fourth = q.push(1, frame(3));
    q.afterSent(() => released.push('four'));
    expect(nos.map((n) => q.holds(n))).toEqual([true, true, true]);
    s.confirm(1); // frame 0 left; 1 is written now
    expect([q.holds(nos[0]!), q.holds(nos[1]!)]).toEqual([false, true]);
    q.drop(0); // frame 2 never goes
    s.confirm(1); // frame 1 left, 2 is skipped, 3 is written
    expect(released).toEqual(['empty', 'first three']);
    expect(q.holds(fourth)).toBe(true);
    const before = q.lastSentAt;
    s.confirm(1);
    expect(released).toEqual(['empty', 'first three', 'four']);
    expect(q.holding).toBe(false);
    expect(q.lastSentAt).toBeGreaterThanOrEqual(before);
    q.push(0, frame(4));
    q.afterSent(() => released.push('closed'));
    q.close();
    expect(released.at(-1)).toBe('closed');
    expect(q.holds(fourth + 1)).toBe(false);
  });
});
