/** The load benchmark's flags (bench/lib/load-options.ts): presets, overrides, and clear errors for bad values. */
import { describe, expect, it } from 'vitest';
import { deliveryOptions, FULL, loadConfig, QUICK, SMALL } from './load-options.ts';

describe('load benchmark options', () => {
  it('starts from the preset the run asks for', () => {
    expect(loadConfig([], false)).toEqual(FULL);
    expect(loadConfig([], true)).toEqual(QUICK);
    expect(loadConfig(['--load-small'], true)).toEqual(SMALL);
    expect(FULL.connections / FULL.roomSize).toBe(10);
  });

  it('applies the flags over the preset', () => {
    const c = loadConfig(
      ['--load-connections=60', '--load-room=20', '--load-rate=120.5', '--load-files=0', '--load-file-mib=1-4', '--load-no-baseline'],
      false,
    );
    expect(c).toMatchObject({
      connections: 60,
      roomSize: 20,
      rate: 120.5,
      files: 0,
      fileMinBytes: 1024 * 1024,
      fileMaxBytes: 4 * 1024 * 1024,
      baseline: false,
    });
    expect(deliveryOptions(loadConfig(['--load-delivery=reliable', '--load-deadline-ms=250'], false))).toEqual({ delivery: 'reliable', deadlineMs: 250 });
    expect(deliveryOptions(FULL)).toEqual({});
  });

  it("warms up at the preset's rate, or the run's when lower, unless told", () => {
    expect(loadConfig(['--load-rate=4000'], false)).toMatchObject({ rate: 4000, warmupRate: 300 });
    expect(loadConfig(['--load-rate=50'], false)).toMatchObject({ rate: 50, warmupRate: 50 });
    expect(loadConfig(['--load-rate=4000', '--load-warmup-rate=4000'], false)).toMatchObject({ warmupRate: 4000 });
    expect(() => loadConfig(['--load-warmup-rate=0'], false)).toThrow(/--load-warmup-rate expected a number > 0, got "0"/);
  });

  it('refuses bad values, naming the flag', () => {
    expect(() => loadConfig(['--load-connections=50', '--load-room=30'], false)).toThrow(/--load-connections \(50\) expected a multiple of --load-room \(30\)/);
    expect(() => loadConfig(['--load-rate=-1'], false)).toThrow(/--load-rate expected a number > 0, got "-1"/);
    expect(() => loadConfig(['--load-file-mib=4-1'], false)).toThrow(/--load-file-mib expected A or A-B/);
    expect(() => loadConfig(['--load-bogus=1'], false)).toThrow(/unknown flag --load-bogus=1/);
    expect(() => loadConfig(['--load-room=1', '--load-connections=10'], false)).toThrow(/at least 2 members/);
    expect(() => loadConfig(['--load-client-node-flags=--ok,rm -rf'], false)).toThrow(/--load-client-node-flags expected Node flags .* got "rm -rf"/);
    expect(() => loadConfig(['--load-client-node-flags=--eval=x;y'], false)).toThrow(/got "--eval=x;y"/);
  });

  it('passes Node flags to the client processes only when asked', () => {
    expect(loadConfig([], false).clientNodeFlags).toEqual([]);
    expect(loadConfig(['--load-client-node-flags=--initial-old-space-size=128,--max-semi-space-size=8'], false).clientNodeFlags).toEqual([
      '--initial-old-space-size=128',
      '--max-semi-space-size=8',
    ]);
  });

  it("sets the clients' heap growth as docs/operations/node-heap.md recommends, unless told otherwise", () => {
    expect(loadConfig([], false).clientHeapGrowth).toBe(300);
    expect(loadConfig(['--load-client-heap-growth=0'], false).clientHeapGrowth).toBe(0);
    expect(loadConfig(['--load-client-heap-growth=150'], true).clientHeapGrowth).toBe(150);
    expect(() => loadConfig(['--load-client-heap-growth=301'], false)).toThrow(
      /--load-client-heap-growth expected a whole number of percent from 0 .* got "301"/,
    );
    expect(() => loadConfig(['--load-client-heap-growth='], false)).toThrow(/got ""/);
  });
});
