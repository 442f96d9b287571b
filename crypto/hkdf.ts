/**
 * HKDF (RFC 5869) over the backend's HMAC, so that Node runs it natively (node:crypto) and browsers use
 * noble's sync HMAC (WebCrypto has no sync HMAC). HPKE's key schedule, SFrame keys, stream keys and the
 * private-meta key are all derived through these three functions.
 */
import { backend, type CryptoBackend, type HashName } from './backend/index.ts';
import { assertBytes } from './bytes.ts';
import { CryptoError } from './errors.ts';

/** HashLen of RFC 5869 section 2.1, in bytes. */
export const HASH_LENGTH_BYTES: Readonly<Record<HashName, number>> = { sha256: 32, sha512: 64 };

/** RFC 5869 section 2.3: HKDF-Expand yields at most 255 blocks of HashLen bytes. */
export const HKDF_MAX_BLOCKS = 255;

function assertHash(hash: unknown): asserts hash is HashName {
  if (hash !== 'sha256' && hash !== 'sha512') {
    throw CryptoError.invalidArgument(`"hash" expected 'sha256' or 'sha512', got ${String(hash)}`);
  }
}

/** Checks `length` against RFC 5869 section 2.3 (L <= 255 * HashLen). */
function assertOutputLength(hash: HashName, length: unknown): asserts length is number {
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    throw CryptoError.invalidArgument(`"length" expected a non-negative integer, got ${String(length)}`);
  }
  const max = HKDF_MAX_BLOCKS * HASH_LENGTH_BYTES[hash];
  if (length > max) {
    throw CryptoError.limitExceeded(`"length" expected at most ${max} bytes for HKDF-${hash.toUpperCase()}, got ${length}`);
  }
}

/**
 * HKDF-Extract (RFC 5869 section 2.2): PRK = HMAC-Hash(salt, IKM).
 *
 * An empty `salt` stands for "not provided". RFC 5869 then uses HashLen zero bytes, which HMAC treats
 * exactly like an empty key (keys are zero-padded to the block size), so no special case is needed.
 */
export function hkdfExtract(hash: HashName, salt: Uint8Array, ikm: Uint8Array, b: CryptoBackend = backend()): Uint8Array {
  assertHash(hash);
  assertBytes('salt', salt);
  assertBytes('ikm', ikm);
  return b.hmac(hash, salt, ikm);
}

/**
 * HKDF-Expand (RFC 5869 section 2.3): `length` bytes of T(1) || T(2) || ..., where
 * T(i) = HMAC-Hash(PRK, T(i-1) || info || i). `length` may be at most 255 * HashLen.
 *
 * `prk` should be at least HashLen bytes (the output of `hkdfExtract`, or a uniformly random key).
 */
export function hkdfExpand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number, b: CryptoBackend = backend()): Uint8Array {
  assertHash(hash);
  assertBytes('prk', prk);
  assertBytes('info', info);
  assertOutputLength(hash, length);
  return expandUnchecked(hash, prk, info, length, b);
}

/**
 * HKDF-Expand without argument checks, for callers inside crypto/ that have validated already (HPKE's
 * LabeledExpand runs seven times per wrapped key). One HMAC input buffer is reused for every block.
 */
export function expandUnchecked(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number, b: CryptoBackend): Uint8Array {
  const hashLength = HASH_LENGTH_BYTES[hash];
  const out = new Uint8Array(length);
  // Layout of the HMAC input: [T(i-1) (absent for i = 1)] [info] [i].
  const input = new Uint8Array(hashLength + info.length + 1);
  input.set(info, hashLength);
  let previous: Uint8Array | undefined;
  for (let block = 1, offset = 0; offset < length; block++, offset += hashLength) {
    input[input.length - 1] = block;
    let t: Uint8Array;
    if (previous === undefined) {
      t = b.hmac(hash, prk, input.subarray(hashLength));
    } else {
      input.set(previous, 0);
      t = b.hmac(hash, prk, input);
    }
    out.set(length - offset >= hashLength ? t : t.subarray(0, length - offset), offset);
    previous = t;
  }
  return out;
}

/**
 * HKDF (RFC 5869 section 2): Expand(Extract(salt, ikm), info, length).
 * @example hkdf('sha256', epochKey, new Uint8Array(0), utf8(DOMAIN.meta), 32)
 */
export function hkdf(hash: HashName, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number, b: CryptoBackend = backend()): Uint8Array {
  assertHash(hash);
  assertBytes('ikm', ikm);
  assertBytes('salt', salt);
  assertBytes('info', info);
  assertOutputLength(hash, length);
  return expandUnchecked(hash, b.hmac(hash, salt, ikm), info, length, b);
}
