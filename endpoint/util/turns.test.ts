/** Turns: one task at a time per key, in order, a failure passing the turn on, nothing kept once idle. */
import { describe, expect, it } from 'vitest';
import { sharedTurns, Turns } from './turns.ts';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('Turns', () => {
  it('runs the tasks of one key one at a time, in order, and those of other keys meanwhile', async () => {
    const turns = new Turns<string>();
    const log: string[] = [];
    const task = (name: string) => async () => {
      log.push(`${name} start`);
      await tick();
      log.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([turns.run('a', task('a1')), turns.run('a', task('a2')), turns.run('b', task('b1')), turns.run('a', task('a3'))]);
    expect(results).toEqual(['a1', 'a2', 'b1', 'a3']);
    const a = log.filter((l) => l.startsWith('a'));
    expect(a).toEqual(['a1 start', 'a1 end', 'a2 start', 'a2 end', 'a3 start', 'a3 end']);
    // b did not wait for a's queue.
    expect(log.indexOf('b1 start')).toBeLessThan(log.indexOf('a1 end'));
    expect(turns.size).toBe(0);
  });

  it('passes the turn on after a task that fails, which fails its own caller only', async () => {
    const turns = new Turns<number>();
    const failed = turns.run(1, async () => {
      await tick();
      throw new Error('no');
    });
    const next = turns.run(1, async () => 'next');
    await expect(failed).rejects.toThrow('no');
    await expect(next).resolves.toBe('next');
    expect(turns.size).toBe(0);
  });

  it('are shared by owner and kind: the users of one trust store wait for each other', () => {
    const store = {};
    expect(sharedTurns(store, 'pins')).toBe(sharedTurns(store, 'pins'));
    expect(sharedTurns(store, 'rooms')).not.toBe(sharedTurns(store, 'pins'));
    expect(sharedTurns({}, 'pins')).not.toBe(sharedTurns(store, 'pins'));
  });
});
