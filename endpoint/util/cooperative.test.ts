/**
 * The process-wide slice scheduler on its own (docs/operations/realtime-priorities.md, "Receive side"):
 * lanes take turns in round robin, a backlog of work yields to the event loop between slices, a step
 * that waits on I/O holds only its own lane, and each lane keeps its order.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.ts';
import { Pipeline } from '../data-streams/incoming/pipeline.ts';
import { SLICE_BUDGET_MS, sliceStats } from './cooperative.ts';

/** Keeps the thread busy for `ms`, like decrypting and hashing a chunk does. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

function drained(pipelines: Pipeline[]): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (pipelines.every((p) => !p.busy) ? resolve() : setTimeout(check, 1));
    check();
  });
}

describe('slice scheduler', () => {
  it('runs lanes in round robin, each in its own order', async () => {
    const order: string[] = [];
    const lanes = ['a', 'b', 'c'].map((name) => ({ name, pipeline: new Pipeline(silentLogger) }));
    for (let i = 0; i < 4; i++) {
      for (const { name, pipeline } of lanes) pipeline.enqueue(async () => void order.push(`${name}${i}`));
    }
    await drained(lanes.map((l) => l.pipeline));
    expect(order).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'c1', 'a2', 'b2', 'c2', 'a3', 'b3', 'c3']);
  });

  it('yields to the event loop between slices of a backlog', async () => {
    const pipeline = new Pipeline(silentLogger);
    const steps = 20 * SLICE_BUDGET_MS;
    let done = 0;
    for (let i = 0; i < steps; i++) {
      pipeline.enqueue(() => {
        busy(1);
        done++;
      });
    }
    const before = sliceStats().slices;
    // Queued after the first slice: it runs when that slice yields, long before the backlog is done.
    const seenByIo = await new Promise<number>((resolve) => setImmediate(() => resolve(done)));
    await drained([pipeline]);
    expect(done).toBe(steps);
    expect(seenByIo).toBeGreaterThan(0);
    expect(seenByIo).toBeLessThanOrEqual(SLICE_BUDGET_MS + 1);
    expect(sliceStats().slices - before).toBeGreaterThanOrEqual(steps / (SLICE_BUDGET_MS + 1));
  });

  it('a step waiting on I/O holds its own lane only', async () => {
    const slow = new Pipeline(silentLogger);
    const fast = new Pipeline(silentLogger);
    const order: string[] = [];
    let release!: () => void;
    const io = new Promise<void>((resolve) => (release = resolve));
    slow.enqueue(async () => {
      await io;
      order.push('slow0');
    });
    slow.enqueue(() => void order.push('slow1'));
    for (let i = 0; i < 3; i++) fast.enqueue(async () => void order.push(`fast${i}`));
    const waitedBefore = sliceStats().waited;
    await drained([fast]);
    expect(order).toEqual(['fast0', 'fast1', 'fast2']);
    expect(slow.busy).toBe(true);
    expect(sliceStats().waited - waitedBefore).toBe(1);
    setTimeout(release, 5);
    await drained([slow]);
    expect(order).toEqual(['fast0', 'fast1', 'fast2', 'slow0', 'slow1']);
  });

  it('a throwing or rejecting step is logged and the next one runs', async () => {
    const errors: string[] = [];
    const log = { ...silentLogger, error: (fields: unknown) => void errors.push(String((fields as { error: string }).error)) } as typeof silentLogger;
    const pipeline = new Pipeline(log);
    const order: number[] = [];
    pipeline.enqueue(() => {
      throw new Error('sync');
    });
    pipeline.enqueue(() => Promise.reject(new Error('async')));
    pipeline.enqueue(() => void order.push(3));
    await drained([pipeline]);
    expect(order).toEqual([3]);
    expect(errors).toEqual(['Error: sync', 'Error: async']);
  });
});
