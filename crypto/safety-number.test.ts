import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jsBackend } from './backend/js.ts';
import { concatBytes, utf8 } from './bytes.ts';
import { decodePublicKey, generateKeyPair } from './identity.ts';
import { normalizeSafetyNumber, safetyNumber, safetyNumberHalf, SAFETY_NUMBER_DIGITS } from './safety-number.ts';

/** docs/security/safety-numbers.md, written again from the text with node:crypto, as a cross-check. */
function reference(userId: string, key: Uint8Array): string {
  let h = concatBytes(utf8('sealroom/v1/safety-number'), new Uint8Array([0]), key, utf8(userId));
  for (let i = 0; i < 5200; i++) h = new Uint8Array(createHash('sha512').update(h).update(key).digest());
  const hex = Buffer.from(h).toString('hex');
  return Array.from({ length: 6 }, (_, g) => String(Number(BigInt(`0x${hex.slice(g * 10, g * 10 + 10)}`) % 100000n)).padStart(5, '0')).join('');
}

const keyA = new Uint8Array(32).map((_, i) => i + 1);
const keyB = new Uint8Array(32).map((_, i) => 200 - i);

describe('safety numbers', () => {
  it('follow the documented construction (cross-checked with node:crypto and the pure-JS backend)', () => {
    expect(safetyNumberHalf({ userId: 'alice', publicKey: keyA })).toBe(reference('alice', keyA));
    expect(safetyNumberHalf({ userId: 'alice', publicKey: keyA }, jsBackend)).toBe(reference('alice', keyA));
    // A fixed vector, so that a change of the construction cannot pass unnoticed.
    expect(safetyNumber({ userId: 'alice', publicKey: keyA }, { userId: 'bob', publicKey: keyB })).toMatchInlineSnapshot(
      `"037064000109795610256461280396459579333857338708986706410749"`,
    );
  });

  it('are 60 digits and the same whichever user computes them', async () => {
    const a = { userId: 'alice', publicKey: decodePublicKey((await generateKeyPair()).publicKey) };
    const b = { userId: 'bob', publicKey: decodePublicKey((await generateKeyPair()).publicKey) };
    const n = safetyNumber(a, b);
    expect(n).toMatch(new RegExp(`^\\d{${SAFETY_NUMBER_DIGITS}}$`));
    expect(safetyNumber(b, a)).toBe(n);
  });

  it('change with either key or either user id', () => {
    const n = safetyNumber({ userId: 'alice', publicKey: keyA }, { userId: 'bob', publicKey: keyB });
    const otherKey = keyB.slice();
    otherKey[31]! ^= 1;
    expect(safetyNumber({ userId: 'alice', publicKey: keyA }, { userId: 'bob', publicKey: otherKey })).not.toBe(n);
    expect(safetyNumber({ userId: 'alice', publicKey: keyA }, { userId: 'bob2', publicKey: keyB })).not.toBe(n);
    // The same key under another id: the id is bound, not only the key.
    expect(safetyNumberHalf({ userId: 'mallory', publicKey: keyB })).not.toBe(safetyNumberHalf({ userId: 'bob', publicKey: keyB }));
  });

  it('compare after spaces and dashes are removed', () => {
    expect(normalizeSafetyNumber('12345 67890-11111\n22222')).toBe('12345678901111122222');
  });

  it('refuse a key of the wrong length', () => {
    expect(() => safetyNumberHalf({ userId: 'alice', publicKey: new Uint8Array(31) })).toThrow(/publicKey/);
  });
});
