/**
 * `sealroom start --heap-growth` (bridge/cli/heap-growth.ts): what a start accepts and refuses. What
 * the setting does to a Bridge's collections is measured, not tested: docs/operations/node-heap.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startBridgeProcess } from '../../test/cli.ts';
import { DEFAULT_HEAP_GROWTH_PERCENT, heapGrowthProblem, MAX_HEAP_GROWTH_PERCENT, parseHeapGrowth, setHeapGrowth } from './heap-growth.ts';

const dir = mkdtempSync(join(tmpdir(), 'sealroom-cli-heap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('heap growth', () => {
  it("takes whole percents from 0 (V8 decides) to V8's own largest factor, and the default is in range", () => {
    expect(heapGrowthProblem(0)).toBeUndefined();
    expect(heapGrowthProblem(MAX_HEAP_GROWTH_PERCENT)).toBeUndefined();
    expect(heapGrowthProblem(DEFAULT_HEAP_GROWTH_PERCENT)).toBeUndefined();
    for (const bad of [-1, MAX_HEAP_GROWTH_PERCENT + 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(heapGrowthProblem(bad)).toContain(`from 0 (V8's own heuristic) to ${MAX_HEAP_GROWTH_PERCENT}`);
    }
    expect(() => setHeapGrowth(-1)).toThrow(RangeError);
  });

  it('reads a percent as a user wrote it, and names what it refuses', () => {
    expect(parseHeapGrowth('200')).toEqual({ percent: 200 });
    expect(parseHeapGrowth(' 0 ')).toEqual({ percent: 0 });
    for (const bad of ['', '  ', 'lots', '12.5', '-3', '301']) {
      expect(parseHeapGrowth(bad)).toEqual({ problem: expect.stringContaining(`got ${JSON.stringify(bad)}`) });
    }
  });

  it('refuses a bad --heap-growth or SEALROOM_HEAP_GROWTH before anything starts, naming what was given', async () => {
    const flag = await runCli(['start', '--data-dir', join(dir, 'a'), '--port', '0', '--heap-growth', '400']);
    expect(flag.code).not.toBe(0);
    expect(flag.stderr).toContain('--heap-growth');
    expect(flag.stderr).toContain('got "400"');
    const env = await runCli(['start', '--data-dir', join(dir, 'b'), '--port', '0'], { SEALROOM_HEAP_GROWTH: 'lots' });
    expect(env.code).not.toBe(0);
    expect(env.stderr).toContain('got "lots"');
  });

  it('starts with a value in range, and with V8 left to decide', async () => {
    for (const [sub, value] of [
      ['c', '0'],
      ['d', '150'],
    ] as const) {
      const bridge = await startBridgeProcess(join(dir, sub), ['--heap-growth', value]);
      try {
        expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
      } finally {
        bridge.child.kill('SIGTERM');
        await bridge.exited;
      }
    }
  });
});
