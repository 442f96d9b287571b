import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SFRAME_MAX_U64 } from './header.ts';
import { DEFAULT_REPLAY_WINDOW_SIZE, ReplayWindow } from './replay-window.ts';

function accept(window: ReplayWindow, ctr: bigint): void {
  window.check(ctr);
  window.commit(ctr);
}

function replayError(fn: () => void): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('ReplayWindow (RFC 3711 section 3.3.2 style)', () => {
  it('accepts anything first, then new highest counters', () => {
    const window = new ReplayWindow();
    expect(window.size).toBe(DEFAULT_REPLAY_WINDOW_SIZE);
    expect(window.highest).toBeUndefined();
    accept(window, 1000n);
    accept(window, 1001n);
    accept(window, 1005n);
    expect(window.highest).toBe(1005n);
  });

  it('accepts a late counter inside the window once', () => {
    const window = new ReplayWindow();
    accept(window, 10n);
    accept(window, 200n);
    expect(window.verdict(100n)).toBe('ok');
    accept(window, 100n);
    expect(window.verdict(100n)).toBe('duplicate');
    // The first counter is still remembered while inside the window (200 - 73 = 127 < 128).
    accept(window, 73n);
    expect(window.verdict(73n)).toBe('duplicate');
  });

  it('refuses duplicates with reason Replay', () => {
    const window = new ReplayWindow();
    accept(window, 5n);
    const error = replayError(() => window.check(5n));
    expect(error).toMatchObject({ code: 'ERR_CRYPTO_REPLAY', reason: 'Replay', message: 'replayed frame: counter already seen' });
    expect(() => window.commit(5n)).toThrow(/already seen/);
  });

  it('refuses counters older than the window, and accepts the oldest one inside it', () => {
    const window = new ReplayWindow({ size: 64 });
    accept(window, 1000n);
    expect(window.verdict(1000n - 63n)).toBe('ok');
    expect(window.verdict(1000n - 64n)).toBe('too-old');
    expect(() => window.check(1000n - 64n)).toThrow('replayed frame: counter older than the replay window of 64');
    expect(window.verdict(0n)).toBe('too-old');
  });

  it('forgets everything on a jump of a window or more, and shifts on a smaller one', () => {
    const window = new ReplayWindow();
    for (let i = 0n; i < 128n; i++) accept(window, i);
    accept(window, 127n + 128n); // jump of exactly one window
    for (let i = 128n; i < 255n; i++) expect(window.verdict(i), String(i)).toBe('ok');
    expect(window.verdict(127n)).toBe('too-old');
    accept(window, 10n ** 15n); // large jump forward
    expect(window.verdict(255n)).toBe('too-old');
    expect(window.verdict(10n ** 15n - 1n)).toBe('ok');

    const small = new ReplayWindow();
    accept(small, 0n);
    accept(small, 2n);
    accept(small, 3n);
    accept(small, 100n); // shift by 97: 0, 2, 3 stay marked
    for (const seen of [0n, 2n, 3n, 100n]) expect(small.verdict(seen), String(seen)).toBe('duplicate');
    for (const fresh of [1n, 4n, 99n]) expect(small.verdict(fresh), String(fresh)).toBe('ok');
    accept(small, 101n); // shift by 1: 0 is still inside (101 - 0 < 128)
    expect(small.verdict(0n)).toBe('duplicate');
    accept(small, 128n); // 128 - 0 = 128: 0 is now too old
    expect(small.verdict(0n)).toBe('too-old');
    expect(small.verdict(2n)).toBe('duplicate');
  });

  it('works at the top of the counter space', () => {
    const window = new ReplayWindow();
    accept(window, SFRAME_MAX_U64 - 1n);
    accept(window, SFRAME_MAX_U64);
    expect(window.verdict(SFRAME_MAX_U64)).toBe('duplicate');
    expect(window.verdict(SFRAME_MAX_U64 - 1n)).toBe('duplicate');
    expect(window.verdict(SFRAME_MAX_U64 - 127n)).toBe('ok');
    expect(window.verdict(SFRAME_MAX_U64 - 128n)).toBe('too-old');
    expect(() => window.check(SFRAME_MAX_U64 + 1n)).toThrow(/"ctr" expected a bigint/);
  });

  it('does not move when a counter is only checked (a frame that failed to authenticate)', () => {
    const window = new ReplayWindow();
    accept(window, 10n);
    window.check(10n ** 12n); // a forged frame with a huge counter: checked, never committed
    expect(window.highest).toBe(10n);
    expect(window.verdict(11n)).toBe('ok');
  });

  it('lets only the first of two concurrent commits of one counter through', () => {
    const window = new ReplayWindow();
    window.check(7n);
    window.check(7n); // both copies pass check while their decryptions run
    window.commit(7n);
    expect(() => window.commit(7n)).toThrow(/already seen/);
  });

  it('takes sizes in [64, 65536] and refuses others', () => {
    for (const size of [64, 100, 1024, 65_536]) {
      const window = new ReplayWindow({ size });
      accept(window, BigInt(size) + 10n);
      expect(window.verdict(11n), String(size)).toBe('ok');
      expect(window.verdict(10n), String(size)).toBe('too-old');
    }
    for (const size of [0, 63, 65_537, 1.5, Number.NaN]) {
      expect(() => new ReplayWindow({ size }), String(size)).toThrow(/"size" expected an integer in \[64, 65536\]/);
    }
  });

  it('agrees with a set-based model on random sequences', () => {
    fc.assert(
      fc.property(fc.constantFrom(64, 128, 200), fc.array(fc.bigInt(0n, 600n), { maxLength: 300 }), (size, counters) => {
        const window = new ReplayWindow({ size });
        const seen = new Set<bigint>();
        let highest = -1n;
        for (const ctr of counters) {
          const expected = highest >= 0n && ctr <= highest && highest - ctr >= BigInt(size) ? 'too-old' : seen.has(ctr) ? 'duplicate' : 'ok';
          expect(window.verdict(ctr)).toBe(expected);
          if (expected === 'ok') {
            window.commit(ctr);
            seen.add(ctr);
            if (ctr > highest) highest = ctr;
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
