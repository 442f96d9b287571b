/**
 * The AES-CTR + HMAC AEAD of RFC 9605 section 4.5, behind which suites 1-3 sit.
 *
 * SFrame defines it because a 16-byte GCM tag per 20 ms audio frame is a large overhead; HMAC can be
 * truncated to 10, 8 or 4 bytes safely where GCM cannot (section 4.5, and the analysis it cites).
 * Encrypt-then-MAC: the tag covers the ciphertext, and decryption checks it before decrypting anything.
 */
import { backend as defaultBackend, type CryptoBackend } from '../backend/index.ts';
import { assertBytes, equalBytes, u64be, wipe } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import type { SFrameSuite } from './suites.ts';

/** An AEAD key for one SFrame suite. Output of `seal` is ciphertext || tag of `tagLength` bytes. */
export interface SFrameAead {
  readonly tagLength: number;
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** Rejects with `CryptoError.decryptFailed` when authentication fails. */
  open(nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** `open` without a promise, where the backend has one (AeadKey.openSync); throws `decryptFailed`. */
  openSync?(nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** `seal` without a promise, where the backend has one (AeadKey.sealSync), with its `headroom`. */
  sealSync?(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, headroom?: number): Uint8Array;
}

/**
 * Section 4.5.1: the AES-CTR initial counter block is the 12-byte nonce followed by four zero bytes,
 * and the whole 16-byte block increments.
 */
function initialCounterBlock(nonce: Uint8Array): Uint8Array {
  const block = new Uint8Array(16);
  block.set(nonce, 0);
  return block;
}

/**
 * Section 4.5.1, compute_tag: HMAC(auth_key, aad_len || ct_len || tag_len || nonce || aad || ct),
 * truncated to Nt, where the three lengths are 64-bit big-endian integers. Binding the lengths makes the
 * split between aad and ct unambiguous, and binding Nt keeps a tag of one suite from truncating to a
 * valid tag of another.
 */
function computeTag(backend: CryptoBackend, authKey: Uint8Array, tagLength: number, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const authData = new Uint8Array(24 + nonce.length + aad.length + ct.length);
  authData.set(u64be(aad.length), 0);
  authData.set(u64be(ct.length), 8);
  authData.set(u64be(tagLength), 16);
  authData.set(nonce, 24);
  authData.set(aad, 24 + nonce.length);
  authData.set(ct, 24 + nonce.length + aad.length);
  return backend.hmac('sha256', authKey, authData).subarray(0, tagLength);
}

/**
 * Makes the section 4.5 AEAD from a 48-byte sframe_key: its first Nka = 16 bytes are the AES-128 key
 * (enc_key) and the other 32 the HMAC-SHA256 key (auth_key), as derive_subkeys in section 4.5.1 does.
 */
export function aesCtrHmac(suite: SFrameSuite, key: Uint8Array, backend: CryptoBackend = defaultBackend()): SFrameAead {
  if (suite.aead !== 'aes-ctr-hmac' || suite.encKeyLength === undefined) {
    throw CryptoError.invalidArgument(`"suite" expected an AES-CTR-HMAC suite, got ${suite.name}`);
  }
  assertBytes('key', key, suite.keyLength);
  const encKey = key.slice(0, suite.encKeyLength);
  const authKey = key.slice(suite.encKeyLength);
  const { tagLength, nonceLength } = suite;

  return {
    tagLength,
    async seal(nonce, plaintext, aad) {
      assertBytes('nonce', nonce, nonceLength);
      const ct = await backend.aesCtr(encKey, initialCounterBlock(nonce), plaintext);
      const tag = computeTag(backend, authKey, tagLength, nonce, aad, ct);
      const out = new Uint8Array(ct.length + tagLength);
      out.set(ct, 0);
      out.set(tag, ct.length);
      return out;
    },
    async open(nonce, ciphertext, aad) {
      assertBytes('nonce', nonce, nonceLength);
      if (ciphertext.length < tagLength) throw CryptoError.decryptFailed();
      const ct = ciphertext.subarray(0, ciphertext.length - tagLength);
      const tag = ciphertext.subarray(ciphertext.length - tagLength);
      const expected = computeTag(backend, authKey, tagLength, nonce, aad, ct);
      // Constant time, and before any decryption: nothing is decrypted under a bad tag.
      const ok = equalBytes(expected, tag);
      wipe(expected);
      if (!ok) throw CryptoError.decryptFailed();
      return backend.aesCtr(encKey, initialCounterBlock(nonce), ct);
    },
  };
}
