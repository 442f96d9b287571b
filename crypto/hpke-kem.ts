/**
 * The key-encapsulation half of HPKE (RFC 9180): the labeled HKDF functions of section 4 and
 * DHKEM(X25519, HKDF-SHA256) of section 4.1 (DeriveKeyPair, Encap, Decap). hpke.ts builds the key
 * schedule and the encryption contexts on top and re-exports the public names, so callers import from
 * hpke.ts. X25519 and HMAC come from the crypto backend (native in Node).
 */
import { backend, type CryptoBackend } from './backend/index.ts';
import { assertBytes, concatBytes, utf8, wipe } from './bytes.ts';
import { CryptoError } from './errors.ts';
import { expandUnchecked, HASH_LENGTH_BYTES, HKDF_MAX_BLOCKS } from './hkdf.ts';

/** RFC 9180 section 7.1: DHKEM(X25519, HKDF-SHA256). */
export const HPKE_KEM_ID = 0x0020;
/** Nenc = Npk = Nsk = 32 for DHKEM(X25519, HKDF-SHA256) (RFC 9180 section 7.1). */
export const HPKE_X25519_KEY_LENGTH_BYTES = 32;
/** `export` and LabeledExpand yield at most 255 * Nh bytes (RFC 9180 section 5.3). */
export const HPKE_EXPORT_MAX_BYTES = HKDF_MAX_BLOCKS * HASH_LENGTH_BYTES.sha256;

/** Nsecret of DHKEM(X25519, HKDF-SHA256): the KEM's shared secret is 32 bytes. */
export const HPKE_SHARED_SECRET_LENGTH_BYTES = 32;
/** @internal */
export const EMPTY = new Uint8Array(0);
const HPKE_V1 = utf8('HPKE-v1');

/** @internal I2OSP(value, 2) of RFC 9180 section 3. */
export function i2osp2(value: number): Uint8Array {
  return Uint8Array.of(value >>> 8, value & 0xff);
}

/** suite_id of the KEM (RFC 9180 section 4.1): "KEM" || I2OSP(kem_id, 2). */
export const KEM_SUITE_ID = concatBytes(utf8('KEM'), i2osp2(HPKE_KEM_ID));

/**
 * @internal The labels of RFC 9180 sections 4.1, 5.1, 5.3 and 7.1.3, encoded once: the key schedule
 * runs them for every wrapped key.
 */
export const LABEL = {
  dkpPrk: utf8('dkp_prk'),
  sk: utf8('sk'),
  eaePrk: utf8('eae_prk'),
  sharedSecret: utf8('shared_secret'),
  pskIdHash: utf8('psk_id_hash'),
  infoHash: utf8('info_hash'),
  secret: utf8('secret'),
  key: utf8('key'),
  baseNonce: utf8('base_nonce'),
  exp: utf8('exp'),
  sec: utf8('sec'),
};

/** @internal LabeledExtract (RFC 9180 section 4): Extract(salt, "HPKE-v1" || suite_id || label || ikm). */
export function extractLabeled(suiteId: Uint8Array, salt: Uint8Array, label: Uint8Array, ikm: Uint8Array, b: CryptoBackend): Uint8Array {
  return b.hmac('sha256', salt, concatBytes(HPKE_V1, suiteId, label, ikm));
}

/** @internal LabeledExpand (RFC 9180 section 4): Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L). */
export function expandLabeled(suiteId: Uint8Array, prk: Uint8Array, label: Uint8Array, info: Uint8Array, length: number, b: CryptoBackend): Uint8Array {
  return expandUnchecked('sha256', prk, concatBytes(i2osp2(length), HPKE_V1, suiteId, label, info), length, b);
}

/** LabeledExtract of RFC 9180 section 4, with HKDF-SHA256. `suiteId` is `KEM_SUITE_ID` or `hpkeSuiteId(aead)`. */
export function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array, b: CryptoBackend = backend()): Uint8Array {
  assertBytes('suiteId', suiteId);
  assertBytes('salt', salt);
  assertBytes('ikm', ikm);
  return extractLabeled(suiteId, salt, utf8(label), ikm, b);
}

/** LabeledExpand of RFC 9180 section 4, with HKDF-SHA256; `length` is at most 255 * 32. */
export function labeledExpand(suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number, b: CryptoBackend = backend()): Uint8Array {
  assertBytes('suiteId', suiteId);
  assertBytes('prk', prk);
  assertBytes('info', info);
  assertExportLength(length);
  return expandLabeled(suiteId, prk, utf8(label), info, length, b);
}

/** @internal */
export function assertExportLength(length: unknown): asserts length is number {
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    throw CryptoError.invalidArgument(`"length" expected a non-negative integer, got ${String(length)}`);
  }
  if (length > HPKE_EXPORT_MAX_BYTES) {
    throw CryptoError.limitExceeded(`"length" expected at most ${HPKE_EXPORT_MAX_BYTES} bytes, got ${length}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// DHKEM(X25519, HKDF-SHA256), RFC 9180 section 4.1

export interface HpkeKeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * DeriveKeyPair (RFC 9180 section 7.1.3): a deterministic X25519 key pair from at least 32 bytes of
 * input keying material. The secret key is used as is; X25519 clamps it (RFC 7748 section 5).
 */
export async function deriveKeyPair(ikm: Uint8Array, b: CryptoBackend = backend()): Promise<HpkeKeyPair> {
  assertBytes('ikm', ikm);
  // Section 7.1.3: ikm MUST carry at least Nsk bytes of entropy; fewer bytes cannot.
  if (ikm.length < HPKE_X25519_KEY_LENGTH_BYTES) {
    throw CryptoError.invalidArgument(`"ikm" expected at least ${HPKE_X25519_KEY_LENGTH_BYTES} bytes, got length=${ikm.length}`);
  }
  const dkpPrk = extractLabeled(KEM_SUITE_ID, EMPTY, LABEL.dkpPrk, ikm, b);
  const secretKey = expandLabeled(KEM_SUITE_ID, dkpPrk, LABEL.sk, EMPTY, HPKE_X25519_KEY_LENGTH_BYTES, b);
  wipe(dkpPrk);
  return { secretKey, publicKey: await b.x25519PublicKey(secretKey) };
}

/** ExtractAndExpand (RFC 9180 section 4.1). */
function extractAndExpand(dh: Uint8Array, enc: Uint8Array, pkR: Uint8Array, b: CryptoBackend): Uint8Array {
  const eaePrk = extractLabeled(KEM_SUITE_ID, EMPTY, LABEL.eaePrk, dh, b);
  const sharedSecret = expandLabeled(KEM_SUITE_ID, eaePrk, LABEL.sharedSecret, concatBytes(enc, pkR), HPKE_SHARED_SECRET_LENGTH_BYTES, b);
  wipe(eaePrk);
  return sharedSecret;
}

/**
 * Encap (RFC 9180 section 4.1) with a fresh ephemeral key: `enc` goes to the recipient, `sharedSecret`
 * feeds the key schedule. Rejects a low-order `recipientPublicKey` (`InvalidKey`, from the backend).
 */
export async function encap(recipientPublicKey: Uint8Array, b: CryptoBackend = backend()): Promise<{ sharedSecret: Uint8Array; enc: Uint8Array }> {
  assertBytes('recipientPublicKey', recipientPublicKey, HPKE_X25519_KEY_LENGTH_BYTES);
  return encapWith(recipientPublicKey, undefined, b);
}

/** @internal Encap with a given ephemeral key pair (test vectors), or a fresh one. */
export async function encapWith(pkR: Uint8Array, ephemeral: HpkeKeyPair | undefined, b: CryptoBackend): Promise<{ sharedSecret: Uint8Array; enc: Uint8Array }> {
  const { secretKey: skE, publicKey: enc } = ephemeral ?? (await b.x25519Generate());
  const dh = await b.x25519(skE, pkR);
  if (ephemeral === undefined) wipe(skE);
  const sharedSecret = extractAndExpand(dh, enc, pkR, b);
  wipe(dh);
  return { sharedSecret, enc };
}

/**
 * Decap (RFC 9180 section 4.1). A low-order `enc` fails with `DecryptFailed`, like any other tampering,
 * so that the recipient's errors are no oracle.
 */
export async function decap(enc: Uint8Array, recipientSecretKey: Uint8Array, b: CryptoBackend = backend()): Promise<Uint8Array> {
  assertBytes('enc', enc, HPKE_X25519_KEY_LENGTH_BYTES);
  assertBytes('recipientSecretKey', recipientSecretKey, HPKE_X25519_KEY_LENGTH_BYTES);
  let dh: Uint8Array;
  let pkR: Uint8Array;
  try {
    [dh, pkR] = await Promise.all([b.x25519(recipientSecretKey, enc), b.x25519PublicKey(recipientSecretKey)]);
  } catch (cause) {
    throw CryptoError.decryptFailed(cause);
  }
  const sharedSecret = extractAndExpand(dh, enc, pkR, b);
  wipe(dh);
  return sharedSecret;
}
