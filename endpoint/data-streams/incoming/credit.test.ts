/**
 * When a reader's credits go (credit.ts): in quarter-window batches, never per chunk (not even while its
 * sender waits at the limit), and a smaller one within the flush delay.
 */
import { describe, expect, it } from 'vitest';
import { bulkGovernor } from '../../util/bulk-governor.ts';
import { Credit } from './credit.ts';

const WINDOW = 1024 * 1024;
const CHUNK = 64 * 1024;

function recorder(): { credit: Credit; sent: Array<{ offset: number; starved: boolean }> } {
  const sent: Array<{ offset: number; starved: boolean }> = [];
  const credit = new Credit(WINDOW, (offset, starved) => sent.push({ offset, starved }));
  return { credit, sent };
}

describe('Credit', () => {
  it('sends one credit per quarter window while the reader has a quarter window in hand, even with the sender at its limit', () => {
    const { credit, sent } = recorder();
    // The sender used its whole window: everything it may send has arrived.
    for (let i = 0; i < WINDOW / CHUNK; i++) credit.arrive(CHUNK);
    // The reader works through the first three quarters: 12 chunks, each leaving at least 4 in hand.
    for (let i = 0; i < 12; i++) credit.consume(CHUNK);
    expect(sent.map((s) => s.offset)).toEqual([WINDOW / 4, WINDOW / 2, (3 * WINDOW) / 4]);
    credit.dispose();
  });

  it('credits a reader that consumed all that arrived, its sender at the limit, with STARVED', () => {
    const { credit, sent } = recorder();
    for (let i = 0; i < WINDOW / CHUNK; i++) credit.arrive(CHUNK);
    for (let i = 0; i < WINDOW / CHUNK; i++) credit.consume(CHUNK, i === WINDOW / CHUNK - 1);
    expect(sent).toEqual([
      { offset: WINDOW / 4, starved: false },
      { offset: WINDOW / 2, starved: false },
      { offset: (3 * WINDOW) / 4, starved: false },
      { offset: WINDOW, starved: true },
    ]);
    credit.dispose();
  });

  it('holds a small credit while the sender has room, and sends it within the flush delay', async () => {
    const { credit, sent } = recorder();
    credit.arrive(CHUNK);
    credit.consume(CHUNK, true);
    expect(sent).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sent).toEqual([{ offset: CHUNK, starved: true }]);
    credit.dispose();
  });

  it('while the bulk governor holds credits back, sends them in one-chunk pieces after its wait, never STARVED, and counts as held', async () => {
    bulkGovernor.setMode('always');
    try {
      // Other streams of this process took the rate's room for the next ~100 ms.
      for (let taken = 0; taken < 100; ) taken += bulkGovernor.reserve(64 * 1024, 64 * 1024).waitMs > 0 ? 1 : 0;
      const { credit, sent } = recorder();
      for (let i = 0; i < WINDOW / CHUNK; i++) credit.arrive(CHUNK);
      // The reader consumes everything: a quarter window is owed at once, and it is starved.
      for (let i = 0; i < WINDOW / CHUNK; i++) credit.consume(CHUNK, true);
      expect(sent).toEqual([]);
      expect(credit.held).toBe(true);
      const started = performance.now();
      while (sent.at(-1)?.offset !== WINDOW && performance.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 10));
      // The first credit waited for the rate (about 100 pieces ahead of it at 8 MiB/s: 0.8 s) and
      // covered one chunk; then the rest, and none said STARVED (the reader waited for its process).
      expect(performance.now() - started).toBeGreaterThan(400);
      expect(sent[0]!.offset).toBe(CHUNK);
      expect(sent.at(-1)!.offset).toBe(WINDOW);
      expect(sent.every((s) => !s.starved)).toBe(true);
      expect(credit.held).toBe(false);
      credit.dispose();
    } finally {
      bulkGovernor.setMode('auto');
      bulkGovernor.stopSampling();
    }
  });
});
