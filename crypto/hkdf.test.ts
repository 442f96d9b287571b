import { expand as nobleExpand, extract as nobleExtract, hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { jsBackend } from './backend/js.ts';
import { nodeBackend } from './backend/node.ts';
import type { CryptoBackend, HashName } from './backend/types.ts';
import { webBackend } from './backend/web.ts';
import { fromHex, toHex } from './bytes.ts';
import { hkdf, hkdfExpand, hkdfExtract } from './hkdf.ts';

const backends: CryptoBackend[] = [nodeBackend, webBackend, jsBackend];
const nobleHashes = { sha256, sha512 } as const;

function range(from: number, to: number): Uint8Array {
  return Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

// RFC 5869 Appendix A, test cases 1-3 (the SHA-256 ones).
const RFC5869_SHA256 = [
  {
    name: 'A.1 basic',
    ikm: new Uint8Array(22).fill(0x0b),
    salt: range(0x00, 0x0c),
    info: range(0xf0, 0xf9),
    length: 42,
    prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    name: 'A.2 longer inputs and outputs',
    ikm: range(0x00, 0x4f),
    salt: range(0x60, 0xaf),
    info: range(0xb0, 0xff),
    length: 82,
    prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
    okm:
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c' +
      '59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71' +
      'cc30c58179ec3e87c14c01d5c1f3434f1d87',
  },
  {
    name: 'A.3 zero-length salt and info',
    ikm: new Uint8Array(22).fill(0x0b),
    salt: new Uint8Array(0),
    info: new Uint8Array(0),
    length: 42,
    prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
];

describe.each(backends.map((b) => [b.name, b] as const))('HKDF on the %s backend', (_name, b) => {
  it.each(RFC5869_SHA256)('RFC 5869 $name', (tc) => {
    const prk = hkdfExtract('sha256', tc.salt, tc.ikm, b);
    expect(toHex(prk)).toBe(tc.prk);
    expect(toHex(hkdfExpand('sha256', prk, tc.info, tc.length, b))).toBe(tc.okm);
    expect(toHex(hkdf('sha256', tc.ikm, tc.salt, tc.info, tc.length, b))).toBe(tc.okm);
  });

  it('matches @noble/hashes on random inputs, for both hashes and lengths around block edges', () => {
    for (const hash of ['sha256', 'sha512'] as const satisfies readonly HashName[]) {
      const hashLength = hash === 'sha256' ? 32 : 64;
      const lengths = [0, 1, hashLength - 1, hashLength, hashLength + 1, 3 * hashLength, 255 * hashLength];
      for (let round = 0; round < 12; round++) {
        const ikm = b.randomBytes(round * 7);
        const salt = b.randomBytes((round * 13) % 150);
        const info = b.randomBytes((round * 29) % 300);
        const length = lengths[round % lengths.length]!;
        const prk = hkdfExtract(hash, salt, ikm, b);
        expect(prk).toEqual(nobleExtract(nobleHashes[hash], ikm, salt));
        expect(hkdfExpand(hash, prk, info, length, b)).toEqual(nobleExpand(nobleHashes[hash], prk, info, length));
        expect(hkdf(hash, ikm, salt, info, length, b)).toEqual(nobleHkdf(nobleHashes[hash], ikm, salt, info, length));
      }
    }
  });
});

describe('HKDF limits and arguments', () => {
  const prk = new Uint8Array(32).fill(7);

  it('allows exactly 255 * HashLen bytes and refuses one more (RFC 5869 section 2.3)', () => {
    expect(hkdfExpand('sha256', prk, new Uint8Array(0), 255 * 32)).toHaveLength(8160);
    expect(hkdfExpand('sha512', prk, new Uint8Array(0), 255 * 64)).toHaveLength(16320);
    expect(() => hkdfExpand('sha256', prk, new Uint8Array(0), 255 * 32 + 1)).toThrow(
      expect.objectContaining({
        reason: 'LimitExceeded',
        code: 'ERR_CRYPTO_LIMIT_EXCEEDED',
        message: '"length" expected at most 8160 bytes for HKDF-SHA256, got 8161',
      }),
    );
    expect(() => hkdf('sha512', prk, prk, prk, 255 * 64 + 1)).toThrow(/"length" expected at most 16320 bytes/);
  });

  it('names the bad argument', () => {
    const empty = new Uint8Array(0);
    expect(() => hkdfExpand('sha256', prk, empty, -1)).toThrow('"length" expected a non-negative integer, got -1');
    expect(() => hkdfExpand('sha256', prk, empty, 1.5)).toThrow(/"length"/);
    expect(() => hkdfExpand('sha256', 'key' as unknown as Uint8Array, empty, 32)).toThrow('"prk" expected Uint8Array, got string');
    expect(() => hkdfExtract('sha256', empty, [1, 2] as unknown as Uint8Array)).toThrow('"ikm" expected Uint8Array, got Array');
    expect(() => hkdf('sha256', prk, null as unknown as Uint8Array, empty, 32)).toThrow('"salt" expected Uint8Array, got null');
    expect(() => hkdf('md5' as HashName, prk, empty, empty, 32)).toThrow(
      expect.objectContaining({ reason: 'InvalidArgument', message: `"hash" expected 'sha256' or 'sha512', got md5` }),
    );
  });

  it('returns an empty key for length 0 and a prefix of the longer output otherwise', () => {
    const long = hkdfExpand('sha256', prk, fromHex('aa'), 100);
    expect(hkdfExpand('sha256', prk, fromHex('aa'), 0)).toHaveLength(0);
    expect(hkdfExpand('sha256', prk, fromHex('aa'), 33)).toEqual(long.subarray(0, 33));
  });
});
