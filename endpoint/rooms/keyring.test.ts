/** KeyRing: grace periods, and a superseded epoch never coming back (docs/security/bridge-adversary.md). */
import { describe, expect, it } from 'vitest';
import { KeyRing } from './keyring.ts';

const key = (byte: number) => new Uint8Array(32).fill(byte);

function ring(graceMs = 1000) {
  let now = 0;
  const keys = new KeyRing(graceMs, () => now);
  return { keys, advance: (ms: number) => (now += ms) };
}

describe('KeyRing', () => {
  it('keeps a superseded epoch for its grace period, then wipes it', () => {
    const { keys, advance } = ring();
    keys.set('r', 1, key(1));
    keys.set('r', 2, key(2));
    expect(keys.current('r')).toEqual({ epoch: 2, key: key(2) });
    advance(1000);
    expect(keys.get('r', 1)).toEqual(key(1));
    advance(1);
    expect(keys.get('r', 1)).toBeUndefined();
  });

  it('ends the grace of each superseded epoch on its own clock, also after an older one ended', () => {
    const { keys, advance } = ring();
    keys.set('r', 1, key(1));
    advance(500);
    keys.set('r', 2, key(2));
    advance(500);
    keys.set('r', 3, key(3));
    advance(600);
    // Epoch 1 was superseded 1,100 ms ago, epoch 2 600 ms ago.
    expect(keys.get('r', 1)).toBeUndefined();
    expect(keys.get('r', 2)).toEqual(key(2));
    advance(401);
    expect(keys.get('r', 2)).toBeUndefined();
    expect(keys.get('r', 3)).toEqual(key(3));
  });

  it('never re-admits an epoch after its grace ended (a re-read of the room must not restart it)', () => {
    const { keys, advance } = ring();
    keys.set('r', 1, key(1));
    keys.set('r', 2, key(2));
    advance(2000);
    expect(keys.admits('r', 1)).toBe(false);
    expect(keys.set('r', 1, key(1))).toBe(false);
    expect(keys.get('r', 1)).toBeUndefined();
  });

  it('refuses an epoch older than the newest held, even one it never had', () => {
    const { keys } = ring();
    keys.set('r', 3, key(3));
    expect(keys.set('r', 2, key(2))).toBe(false);
    expect(keys.get('r', 2)).toBeUndefined();
    // Still in grace: held, so setting it again is a no-op that succeeds.
    expect(keys.set('r', 3, key(3))).toBe(true);
    expect(keys.set('r', 4, key(4))).toBe(true);
    expect(keys.admits('r', 3)).toBe(true);
    expect(keys.set('r', 3, key(9))).toBe(true);
    expect(keys.get('r', 3)).toEqual(key(3));
  });

  it('keeps the floor across forget: the forgotten epochs stay gone', () => {
    const { keys } = ring();
    keys.set('r', 1, key(1));
    keys.set('r', 2, key(2));
    keys.forget('r');
    expect(keys.current('r')).toBeUndefined();
    expect(keys.set('r', 2, key(2))).toBe(false);
    expect(keys.set('r', 1, key(1))).toBe(false);
    expect(keys.set('r', 3, key(3))).toBe(true);
  });
});
