/**
 * The pure-JS reference backend (@noble). Audited, portable and slow: tests use it to cross-check the
 * native backends, and it is the last resort where a runtime has neither WebCrypto nor WASM.
 */
import { gcm, ctr } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { bytesToNumberLE, equalBytes } from '@noble/curves/utils.js';
import { ed25519Precheck } from '../ed25519-strict.ts';
import { isAllZero, withHeadroom } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import type { AeadKey, CryptoBackend, HashName, IncrementalHash } from './types.ts';

const hashes = { sha256, sha512 } as const;

type NobleAead = (
  key: Uint8Array,
  nonce: Uint8Array,
  aad?: Uint8Array,
) => {
  encrypt(plaintext: Uint8Array): Uint8Array;
  decrypt(ciphertext: Uint8Array): Uint8Array;
};

function nobleAead(cipher: NobleAead, key: Uint8Array): AeadKey {
  const k = key.slice();
  return {
    async seal(nonce, plaintext, aad, headroom = 0) {
      return withHeadroom(cipher(k, nonce, aad).encrypt(plaintext), headroom);
    },
    async open(nonce, ciphertext, aad) {
      try {
        return cipher(k, nonce, aad).decrypt(ciphertext);
      } catch (cause) {
        throw CryptoError.decryptFailed(cause);
      }
    },
  };
}

const Point = ed25519.Point;
const L = Point.Fn.ORDER;

/**
 * RFC 8032 section 5.1.7 under our rule (docs/security/ed25519.md): the shared pre-check, then the
 * cofactorless equation, checked as libsodium and OpenSSL do: encode [S]B - [k]A and compare it with
 * R's bytes. noble's own `verify` checks the cofactored equation, which accepts a signature whose R
 * has a small-order component that the native backends refuse.
 */
function ed25519VerifyCofactorless(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!ed25519Precheck(signature, publicKey)) return false;
  try {
    const A = Point.fromBytes(publicKey);
    const r = signature.subarray(0, 32);
    const s = bytesToNumberLE(signature.subarray(32, 64));
    const state = sha512.create();
    state.update(r);
    state.update(publicKey);
    state.update(message);
    const k = bytesToNumberLE(state.digest()) % L;
    return equalBytes(Point.BASE.multiplyUnsafe(s).subtract(A.multiplyUnsafe(k)).toBytes(), r);
  } catch {
    return false;
  }
}

export const jsBackend: CryptoBackend = {
  name: 'js',

  randomBytes: (length) => randomBytes(length),

  hash: (name: HashName, data) => hashes[name](data),
  createHash(name: HashName): IncrementalHash {
    const state = hashes[name].create();
    return {
      update: (data) => void state.update(data),
      digest: () => state.digest(),
      snapshot: () => state.clone().digest(),
    };
  },
  hmac: (name: HashName, key, data) => hmac(hashes[name], key, data),

  aesGcm: async (key) => nobleAead(gcm as NobleAead, key),
  chacha20Poly1305: async (key) => nobleAead(chacha20poly1305 as NobleAead, key),
  aesCtr: async (key, counterBlock, data) => ctr(key, counterBlock).encrypt(data),

  async x25519Generate() {
    const secretKey = x25519.utils.randomSecretKey();
    return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
  },
  x25519PublicKey: async (secretKey) => x25519.getPublicKey(secretKey),
  async x25519(secretKey, publicKey) {
    let shared: Uint8Array;
    try {
      shared = x25519.getSharedSecret(secretKey, publicKey);
    } catch (cause) {
      throw new CryptoError('InvalidKey', 'X25519: the peer public key is of low order', { cause });
    }
    if (isAllZero(shared)) throw CryptoError.invalidKey('X25519: the peer public key is of low order');
    return shared;
  },

  ed25519PublicKey: async (seed) => ed25519.getPublicKey(seed),
  ed25519Sign: async (seed, message) => ed25519.sign(message, seed),
  async ed25519Verify(signature, message, publicKey) {
    return ed25519VerifyCofactorless(signature, message, publicKey);
  },
};
