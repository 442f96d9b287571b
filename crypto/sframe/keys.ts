/**
 * SFrame key schedule (RFC 9605 section 4.4.2) and the per-KID key object that encryption and
 * decryption use.
 *
 *   sframe_secret = HKDF-Extract("", base_key)
 *   sframe_key    = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret key "  || KID || suite, Nk)
 *   sframe_salt   = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret salt " || KID || suite, Nn)
 *
 * with KID as a 64-bit and the suite as a 16-bit big-endian integer. Binding KID means two senders that
 * were (wrongly) given the same base key still get different keys and salts; binding the suite means one
 * base key never serves two algorithms.
 */
import { backend as defaultBackend, type CryptoBackend } from '../backend/index.ts';
import { assertBytes, assertU64, concatBytes, u64be, utf8 } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { aesCtrHmac, type SFrameAead } from './aes-ctr-hmac.ts';
import { hkdfExpand, hkdfExtract } from '../hkdf.ts';
import type { SFrameSuite } from './suites.ts';

/** Shortest base key accepted: 128 bits, the strength of the weakest suite's cipher. */
export const SFRAME_MIN_BASE_KEY_BYTES = 16;
/** Longest base key accepted; a guard against passing a whole buffer by mistake. */
export const SFRAME_MAX_BASE_KEY_BYTES = 64;

const KEY_LABEL_PREFIX = utf8('SFrame 1.0 Secret key ');
const SALT_LABEL_PREFIX = utf8('SFrame 1.0 Secret salt ');

function suiteId(suite: SFrameSuite): Uint8Array {
  return new Uint8Array([suite.id >> 8, suite.id & 0xff]);
}

/** `sframe_key_label` of section 4.4.2: "SFrame 1.0 Secret key " || u64(KID) || u16(suite). */
export function sframeKeyLabel(kid: bigint, suite: SFrameSuite): Uint8Array {
  assertU64('kid', kid);
  return concatBytes(KEY_LABEL_PREFIX, u64be(kid), suiteId(suite));
}

/** `sframe_salt_label` of section 4.4.2: "SFrame 1.0 Secret salt " || u64(KID) || u16(suite). */
export function sframeSaltLabel(kid: bigint, suite: SFrameSuite): Uint8Array {
  assertU64('kid', kid);
  return concatBytes(SALT_LABEL_PREFIX, u64be(kid), suiteId(suite));
}

/** The output of section 4.4.2 for one KID. */
export interface SFrameKeyMaterial {
  /** `sframe_key`, Nk bytes. */
  key: Uint8Array;
  /** `sframe_salt`, Nn bytes. */
  salt: Uint8Array;
}

/** Derives sframe_key and sframe_salt for `kid` from `baseKey` (section 4.4.2, derive_key_salt). */
export function deriveSFrameKeyMaterial(suite: SFrameSuite, baseKey: Uint8Array, kid: bigint, backend: CryptoBackend = defaultBackend()): SFrameKeyMaterial {
  assertBaseKey(baseKey);
  assertU64('kid', kid);
  const secret = hkdfExtract(suite.hash, new Uint8Array(0), baseKey, backend);
  const key = hkdfExpand(suite.hash, secret, sframeKeyLabel(kid, suite), suite.keyLength, backend);
  const salt = hkdfExpand(suite.hash, secret, sframeSaltLabel(kid, suite), suite.nonceLength, backend);
  secret.fill(0);
  return { key, salt };
}

function assertBaseKey(baseKey: unknown): asserts baseKey is Uint8Array {
  assertBytes('baseKey', baseKey);
  if (baseKey.length < SFRAME_MIN_BASE_KEY_BYTES || baseKey.length > SFRAME_MAX_BASE_KEY_BYTES) {
    throw CryptoError.invalidArgument(
      `"baseKey" expected Uint8Array of length ${SFRAME_MIN_BASE_KEY_BYTES} to ${SFRAME_MAX_BASE_KEY_BYTES}, got length=${baseKey.length}`,
    );
  }
}

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The nonce of section 4.4.3: sframe_salt XOR CTR, with CTR as an Nn-byte big-endian integer. CTR is at
 * most 64 bits, so only the last 8 bytes of the salt change. Distinct counters under one key give
 * distinct nonces, which is all that AES-GCM and AES-CTR need.
 */
export function sframeNonce(salt: Uint8Array, ctr: bigint): Uint8Array {
  const nonce = new Uint8Array(12);
  sframeNonceInto(salt, ctr, nonce);
  return nonce;
}

/** `sframeNonce` written into `out` (12 bytes), for a caller that reuses one buffer per frame. */
export function sframeNonceInto(salt: Uint8Array, ctr: bigint, out: Uint8Array): void {
  // The checks' quick forms first (this runs for every frame); the asserts give the errors.
  if (!(salt instanceof Uint8Array) || salt.length !== 12) assertBytes('salt', salt, 12);
  assertU64('ctr', ctr);
  if (!(out instanceof Uint8Array) || out.length !== 12) assertBytes('out', out, 12);
  out.set(salt);
  // XOR into the last 8 bytes, as two 32-bit halves: cheaper per frame than bigint DataView access,
  // and without bigint arithmetic (each result a new bigint) while the counter is a safe integer.
  const small = ctr <= MAX_SAFE_BIG;
  const n = small ? Number(ctr) : 0;
  let lo = small ? n >>> 0 : Number(ctr & 0xffff_ffffn);
  let hi = small ? Math.floor(n / 2 ** 32) : Number(ctr >> 32n);
  for (let i = 11; i >= 8; i--, lo >>>= 8) out[i]! ^= lo & 0xff;
  for (let i = 7; i >= 4; i--, hi >>>= 8) out[i]! ^= hi & 0xff;
}

/** The AEAD of a suite under `key` (sframe_key): AES-GCM from the backend, or section 4.5's CTR-HMAC. */
export async function importSFrameAead(suite: SFrameSuite, key: Uint8Array, backend: CryptoBackend = defaultBackend()): Promise<SFrameAead> {
  assertBytes('key', key, suite.keyLength);
  if (suite.aead === 'aes-ctr-hmac') return aesCtrHmac(suite, key, backend);
  const aead = await backend.aesGcm(key);
  const sealed: SFrameAead = { tagLength: suite.tagLength, seal: aead.seal.bind(aead), open: aead.open.bind(aead) };
  if (aead.openSync !== undefined) sealed.openSync = aead.openSync.bind(aead);
  if (aead.sealSync !== undefined) sealed.sealSync = aead.sealSync.bind(aead);
  return sealed;
}

/** Everything needed to encrypt or decrypt under one KID: derived once, then reused for every frame. */
export interface SFrameKey {
  readonly suite: SFrameSuite;
  readonly kid: bigint;
  readonly salt: Uint8Array;
  readonly aead: SFrameAead;
}

/** Derives the key and salt for `kid` and imports the AEAD key (section 4.4.2). */
export async function createSFrameKey(suite: SFrameSuite, baseKey: Uint8Array, kid: bigint, backend: CryptoBackend = defaultBackend()): Promise<SFrameKey> {
  const { key, salt } = deriveSFrameKeyMaterial(suite, baseKey, kid, backend);
  try {
    return { suite, kid, salt, aead: await importSFrameAead(suite, key, backend) };
  } finally {
    // The AEAD keeps its own copy (an imported key object, or the split CTR and HMAC keys).
    key.fill(0);
  }
}
