import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { numberToBytesLE } from '@noble/curves/utils.js';
import { describe, expect, it } from 'vitest';
import { fromHex } from './bytes.ts';
import { assertEd25519PublicKeyEncoding, ed25519EncodingProblem, ed25519Precheck, isCanonicalScalar } from './ed25519-strict.ts';
import { wrapEpochKey, wrapEpochKeyForMany } from './key-wrap.ts';
import { createStreamDecryptor } from './stream/decryptor.ts';

const L = ed25519.Point.Fn.ORDER;
const P = ed25519.Point.Fp.ORDER;
const le = (n: bigint): Uint8Array => numberToBytesLE(n, 32);
const withSign = (bytes: Uint8Array): Uint8Array => {
  const out = bytes.slice();
  out[31]! |= 0x80;
  return out;
};
/** The identity point: y = 1, x = 0. */
const IDENTITY = le(1n);

describe('the shared Ed25519 pre-check (docs/security/ed25519.md)', () => {
  it('takes S < L and refuses S >= L, at the boundary and above', () => {
    expect(isCanonicalScalar(le(0n))).toBe(true);
    expect(isCanonicalScalar(le(L - 1n))).toBe(true);
    expect(isCanonicalScalar(le(L))).toBe(false);
    expect(isCanonicalScalar(le(L + 1n))).toBe(false);
    expect(isCanonicalScalar(le((1n << 256n) - 1n))).toBe(false);
    // Differs from L only in a low byte, so the comparison must walk down from the top.
    expect(isCanonicalScalar(le(L - 256n))).toBe(true);
    expect(isCanonicalScalar(le(L + 256n))).toBe(false);
  });

  it('refuses y >= p and x = 0 with the sign bit set as non-canonical, whatever the point', () => {
    for (let y = 0n; y < 19n; y++) {
      expect(ed25519EncodingProblem(le(P + y))).toBe('non-canonical');
      expect(ed25519EncodingProblem(withSign(le(P + y)))).toBe('non-canonical');
    }
    expect(ed25519EncodingProblem(withSign(IDENTITY))).toBe('non-canonical');
    expect(ed25519EncodingProblem(withSign(le(P - 1n)))).toBe('non-canonical');
  });

  it('refuses the 8 small-order points (as noble lists them: an independent source) and no multiple of B', () => {
    expect(ED25519_TORSION_SUBGROUP).toHaveLength(8);
    for (const hex of ED25519_TORSION_SUBGROUP) expect(ed25519EncodingProblem(fromHex(hex))).toBe('small-order');
    for (let i = 1n; i <= 64n; i++) {
      expect(ed25519EncodingProblem(ed25519.Point.BASE.multiply(i * 7919n).toBytes())).toBeUndefined();
    }
  });

  it('reads the encoding at the offset it is given, and checks types and lengths', () => {
    const B = ed25519.Point.BASE.toBytes();
    const both = new Uint8Array(64);
    both.set(B, 0);
    both.set(IDENTITY, 32);
    expect(ed25519EncodingProblem(both, 0)).toBeUndefined();
    expect(ed25519EncodingProblem(both, 32)).toBe('small-order');
    const signature = new Uint8Array(64);
    signature.set(B, 0); // R = B, S = 0: passes the pre-check, and the equation decides.
    expect(ed25519Precheck(signature, B)).toBe(true);
    expect(ed25519Precheck(signature, IDENTITY)).toBe(false);
    const universal = new Uint8Array(64);
    universal.set(IDENTITY, 0); // R = identity, S = 0
    expect(ed25519Precheck(universal, B)).toBe(false);
    expect(ed25519Precheck(signature.subarray(1), B)).toBe(false);
    expect(ed25519Precheck(signature, B.subarray(1))).toBe(false);
    expect(ed25519Precheck('x' as unknown as Uint8Array, B)).toBe(false);
  });

  it('names the problem, and no key material, in an InvalidKey error', () => {
    const nonCanonical = withSign(le(P - 1n));
    expect(() => assertEd25519PublicKeyEncoding('public key', IDENTITY)).toThrow(
      expect.objectContaining({ code: 'ERR_CRYPTO_INVALID_KEY', reason: 'InvalidKey', message: expect.stringMatching(/^public key: .*small-order/) }),
    );
    expect(() => assertEd25519PublicKeyEncoding('public key', nonCanonical)).toThrow(/^public key: .*non-canonical/);
  });
});

describe('every entry point for a raw Ed25519 public key refuses a small-order one', () => {
  const epochKey = new Uint8Array(32).fill(1);

  it('the stream decryptor, at construction', () => {
    expect(() => createStreamDecryptor({ epochKey, streamId: new Uint8Array(16), senderId: 'alice', senderPublicKey: IDENTITY })).toThrow(
      expect.objectContaining({ reason: 'InvalidKey', message: expect.stringMatching(/^senderPublicKey: /) }),
    );
  });

  it('key wrapping, for one recipient and before any work for many', async () => {
    await expect(wrapEpochKey({ epochKey, roomId: 'r', epoch: 1, recipientId: 'bob', recipientPublicKey: le(P - 1n) })).rejects.toMatchObject({
      reason: 'InvalidKey',
    });
    const good = ed25519.getPublicKey(new Uint8Array(32).fill(2));
    await expect(
      wrapEpochKeyForMany(epochKey, 'r', 1, [
        { recipientId: 'alice', recipientPublicKey: good },
        { recipientId: 'bob', recipientPublicKey: withSign(IDENTITY) },
      ]),
    ).rejects.toMatchObject({ reason: 'InvalidKey', message: expect.stringMatching(/^recipients\[1\]\.recipientPublicKey: .*non-canonical/) });
  });
});
