import { describe, expect, it } from 'vitest';
import { Deadlines } from './deadlines.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Deadlines: many deadlines on one timer', () => {
  it('fires each item once, in deadline order, never before its deadline, and not a deleted one', async () => {
    const fired: Array<{ item: string; at: number }> = [];
    const deadlines = new Deadlines<string>((item) => fired.push({ item, at: Date.now() }), Date.now, 20);
    const start = Date.now();
    const due = { late: start + 150, early: start + 40, same: start + 40, gone: start + 60 };
    deadlines.add('late', due.late);
    deadlines.add('early', due.early);
    deadlines.add('same', due.same);
    deadlines.add('gone', due.gone);
    deadlines.delete('gone', due.gone);
    expect(deadlines.size).toBe(3);
    await sleep(400);
    expect(fired.map((f) => f.item)).toEqual(['early', 'same', 'late']);
    for (const f of fired) expect(f.at).toBeGreaterThanOrEqual(due[f.item as keyof typeof due]);
    expect(deadlines.size).toBe(0);
  });

  it('an earlier deadline added after a later one re-arms the timer for it', async () => {
    const fired: string[] = [];
    const deadlines = new Deadlines<string>((item) => fired.push(item), Date.now, 10);
    deadlines.add('in an hour', Date.now() + 3_600_000);
    deadlines.add('soon', Date.now() + 30);
    await sleep(200);
    expect(fired).toEqual(['soon']);
    expect(deadlines.size).toBe(1);
    deadlines.close();
    expect(deadlines.size).toBe(0);
  });
});
