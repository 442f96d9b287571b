/**
 * The Node backend: node:crypto (OpenSSL) for everything, so bulk AES-GCM, X25519 and Ed25519 run
 * natively. This file and bulk-thread.ts are the only places in crypto/ that import `node:`; browsers get `web.ts` through
 * the `#crypto-backend` import condition in package.json.
 */
import * as nodeCrypto from 'node:crypto';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { ed25519Precheck } from '../ed25519-strict.ts';
import { isAllZero } from '../bytes.ts';
import { bulkThread } from './bulk-thread.ts';
import { CryptoError } from '../errors.ts';
import type { AeadKey, CryptoBackend, HashName, IncrementalHash } from './types.ts';

// Keys cross into OpenSSL as JWK rather than DER: on Node 20 a PKCS#8 DER import costs ~355 us and an
// SPKI import ~80 us, against ~38 us and ~7 us for JWK, which turned X25519 into a 2k ops/s bottleneck
// for key rotation (1,000 HPKE wraps). Node builds an OKP private key from `d` alone; `x` must be
// present but is not used, so a placeholder stands in.
/**
 * node:crypto's one-shot `hash` (Node 20.12+), which makes no Hash object: about 0.6 us less per call
 * on a 3 KB input (a catch-up hashes every record it reads). `createHash` where it is missing.
 */
const oneShotHash = (nodeCrypto as { hash?: (name: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;

const CURVE = { ed25519: 'Ed25519', x25519: 'X25519' } as const;
const PLACEHOLDER_X = 'A'.repeat(43);

function b64url(raw: Uint8Array): string {
  return Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('base64url');
}

function fromB64url(text: string | undefined): Uint8Array {
  const buffer = Buffer.from(text ?? '', 'base64url');
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
}

function privateKeyObject(kind: 'ed25519' | 'x25519', raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: CURVE[kind], d: b64url(raw), x: PLACEHOLDER_X }, format: 'jwk' });
}

function publicKeyObject(kind: 'ed25519' | 'x25519', raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: CURVE[kind], x: b64url(raw) }, format: 'jwk' });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  return fromB64url(createPublicKey(key).export({ format: 'jwk' }).x);
}

/**
 * Key objects are cached. Secret keys are cached by the identity of the caller's Uint8Array (a WeakMap:
 * nothing secret is copied into a key string), which also lets `x25519Generate` hand its ephemeral key
 * object straight to the next `x25519` call; public keys are cached by value in a bounded map.
 */
const secretKeyCache = new WeakMap<Uint8Array, KeyObject>();
const PUBLIC_KEY_CACHE_ENTRIES = 4096;
const publicKeyCache = new Map<string, KeyObject>();

function cachedSecret(kind: 'ed25519' | 'x25519', raw: Uint8Array): KeyObject {
  let key = secretKeyCache.get(raw);
  if (key === undefined || key.asymmetricKeyType !== kind) {
    key = privateKeyObject(kind, raw);
    secretKeyCache.set(raw, key);
  }
  return key;
}

function cachedPublic(kind: 'ed25519' | 'x25519', raw: Uint8Array): KeyObject {
  const id = kind + b64url(raw);
  let key = publicKeyCache.get(id);
  if (key === undefined) {
    key = publicKeyObject(kind, raw);
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_ENTRIES) {
      publicKeyCache.delete(publicKeyCache.keys().next().value as string);
    }
    publicKeyCache.set(id, key);
  }
  return key;
}

// The GCM overloads of createCipheriv also type ChaCha20-Poly1305 correctly (same options, same tag API).
type CipherName = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

function nodeAead(algorithm: CipherName, key: Uint8Array): AeadKey {
  const k = Buffer.from(key);
  // node:crypto has no call to give a decipher a new IV, so each message gets its own (about 4 us for
  // a small one here, most of it creating the decipher); what is kept across messages is the key.
  const openSync = (nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array => {
    if (ciphertext.length < 16) throw CryptoError.decryptFailed();
    const bodyLength = ciphertext.length - 16;
    try {
      const decipher = createDecipheriv(algorithm as 'aes-256-gcm', k, nonce, { authTagLength: 16 });
      decipher.setAuthTag(ciphertext.subarray(bodyLength));
      decipher.setAAD(aad);
      const body = decipher.update(ciphertext.subarray(0, bodyLength));
      decipher.final();
      return new Uint8Array(body.buffer, body.byteOffset, body.length);
    } catch (cause) {
      throw CryptoError.decryptFailed(cause);
    }
  };
  const sealSync = (nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, headroom = 0): Uint8Array => {
    const cipher = createCipheriv(algorithm as 'aes-256-gcm', k, nonce, { authTagLength: 16 });
    cipher.setAAD(aad);
    // node:crypto writes only into buffers it allocates, so the ciphertext is copied once, into its
    // place after the caller's headroom; the rest of the output buffer is not zeroed first (every byte
    // of it is written here: the room, the ciphertext, the tag).
    const head = cipher.update(plaintext);
    cipher.final();
    const out = Buffer.allocUnsafe(headroom + head.length + 16);
    out.fill(0, 0, headroom);
    out.set(head, headroom);
    cipher.getAuthTag().copy(out, headroom + head.length);
    return new Uint8Array(out.buffer, out.byteOffset + headroom, head.length + 16);
  };
  return {
    async seal(nonce, plaintext, aad, headroom) {
      return sealSync(nonce, plaintext, aad, headroom);
    },
    async open(nonce, ciphertext, aad) {
      return openSync(nonce, ciphertext, aad);
    },
    openSync,
    sealSync,
  };
}

function gcmAlgorithm(key: Uint8Array): CipherName {
  if (key.length === 16) return 'aes-128-gcm';
  if (key.length === 32) return 'aes-256-gcm';
  throw CryptoError.invalidArgument(`"key" expected Uint8Array of length 16 or 32, got length=${key.length}`);
}

function toBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
}

/** node:crypto on the calling thread for everything, byte streams too: the default in Node (default-node.ts). */
export const nodeInlineBackend: CryptoBackend = {
  name: 'node',

  randomBytes: (length) => toBytes(randomBytes(length)),

  hash: (name: HashName, data) => toBytes(oneShotHash === undefined ? createHash(name).update(data).digest() : oneShotHash(name, data, 'buffer')),
  createHash(name: HashName): IncrementalHash {
    const state = createHash(name);
    return {
      update: (data) => void state.update(data),
      digest: () => toBytes(state.digest()),
      snapshot: () => toBytes(state.copy().digest()),
    };
  },
  hmac: (name: HashName, key, data) => toBytes(createHmac(name, key).update(data).digest()),

  aesGcm: async (key) => nodeAead(gcmAlgorithm(key), key),
  chacha20Poly1305: async (key) => nodeAead('chacha20-poly1305', key),
  async aesCtr(key, counterBlock, data) {
    const algorithm = key.length === 16 ? 'aes-128-ctr' : key.length === 32 ? 'aes-256-ctr' : undefined;
    if (algorithm === undefined) {
      throw CryptoError.invalidArgument(`"key" expected Uint8Array of length 16 or 32, got length=${key.length}`);
    }
    const cipher = createCipheriv(algorithm, key, counterBlock);
    return toBytes(Buffer.concat([cipher.update(data), cipher.final()]));
  },

  async x25519Generate() {
    // Not generateKeyPairSync + export: on Node 20, exporting a generated key as JWK holds the key's
    // mutex while it allocates; a GC in that allocation destroys the KeyGenJob, which takes the same
    // mutex, and the thread deadlocks on itself (seen under load in 1,000-member rotations). Keys
    // imported from bytes have no job. Any 32 bytes are a valid X25519 secret (RFC 7748 clamps them).
    const secretKey = toBytes(randomBytes(32));
    return { secretKey, publicKey: rawPublicKey(cachedSecret('x25519', secretKey)) };
  },
  x25519PublicKey: async (secretKey) => rawPublicKey(cachedSecret('x25519', secretKey)),
  async x25519(secretKey, publicKey) {
    let shared: Buffer;
    try {
      shared = diffieHellman({
        privateKey: cachedSecret('x25519', secretKey),
        publicKey: cachedPublic('x25519', publicKey),
      });
    } catch (cause) {
      throw new CryptoError('InvalidKey', 'X25519: the peer public key is of low order', { cause });
    }
    if (isAllZero(shared)) throw CryptoError.invalidKey('X25519: the peer public key is of low order');
    return toBytes(shared);
  },

  ed25519PublicKey: async (seed) => rawPublicKey(cachedSecret('ed25519', seed)),
  ed25519Sign: async (seed, message) => toBytes(sign(null, message, cachedSecret('ed25519', seed))),
  async ed25519Verify(signature, message, publicKey) {
    // OpenSSL checks S < L and the cofactorless equation but accepts small-order A and R: the shared
    // pre-check refuses those, so this backend follows docs/security/ed25519.md like the others.
    if (!ed25519Precheck(signature, publicKey)) return false;
    try {
      return verify(null, message, cachedPublic('ed25519', publicKey), signature);
    } catch {
      return false;
    }
  },
};

/**
 * `nodeInlineBackend` with byte-stream chunk work on the bulk thread (bulk-thread.ts), and its
 * signature checks there too: the Endpoint uses it only for streams that start while its process
 * carries real-time tracks, whose header, checkpoint and end signatures then wait behind real-time
 * work as their chunks do (docs/operations/realtime-priorities.md, "The bulk thread").
 */
export const nodeBackend: CryptoBackend = {
  ...nodeInlineBackend,
  bulk: bulkThread,
  ed25519Verify: (signature, message, publicKey) => bulkThread.verify(signature, message, publicKey),
};
