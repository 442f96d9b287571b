/**
 * The browser backend: WebCrypto for AES-GCM, AES-CTR, X25519 and Ed25519, libsodium-wrappers (WASM)
 * for ChaCha20-Poly1305 and for X25519/Ed25519 where the browser's WebCrypto lacks them, and noble for
 * small sync hashes (WebCrypto has neither a sync nor an incremental digest). No `node:` imports, so a
 * bundler can ship it as is; it also runs in Node, where tests cross-check it.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { base64urlnopad } from '@scure/base';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { ed25519Precheck } from '../ed25519-strict.ts';
import { isAllZero, withHeadroom } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import type { AeadKey, CryptoBackend, HashName, IncrementalHash } from './types.ts';

type Sodium = typeof import('libsodium-wrappers');

const hashes = { sha256, sha512 } as const;

const PKCS8_PREFIX = {
  Ed25519: new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]),
  X25519: new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]),
};

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (s === undefined) throw CryptoError.unsupported('WebCrypto (crypto.subtle) is not available in this runtime');
  return s;
}

/** WebCrypto's BufferSource typing wants an ArrayBuffer-backed view; copies only when needed. */
function buf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

function pkcs8(kind: 'Ed25519' | 'X25519', raw: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(PKCS8_PREFIX[kind].length + raw.length);
  out.set(PKCS8_PREFIX[kind], 0);
  out.set(raw, PKCS8_PREFIX[kind].length);
  return out;
}

let sodiumPromise: Promise<Sodium> | undefined;
function sodium(): Promise<Sodium> {
  sodiumPromise ??= import('libsodium-wrappers').then(async (module) => {
    const s = (module as unknown as { default?: Sodium }).default ?? (module as unknown as Sodium);
    await s.ready;
    return s;
  });
  return sodiumPromise;
}

/** Whether this runtime's WebCrypto implements a curve; probed once. */
const curveSupport = new Map<'Ed25519' | 'X25519', Promise<boolean>>();
function supports(curve: 'Ed25519' | 'X25519'): Promise<boolean> {
  let probe = curveSupport.get(curve);
  if (probe === undefined) {
    const usages: KeyUsage[] = curve === 'Ed25519' ? ['sign', 'verify'] : ['deriveBits'];
    probe = subtle()
      .generateKey({ name: curve }, false, usages)
      .then(
        () => true,
        () => false,
      );
    curveSupport.set(curve, probe);
  }
  return probe;
}

function webAead(algorithm: 'AES-GCM', key: Uint8Array): Promise<AeadKey> {
  return subtle()
    .importKey('raw', buf(key), { name: algorithm }, false, ['encrypt', 'decrypt'])
    .then((cryptoKey) => ({
      async seal(nonce, plaintext, aad, headroom = 0) {
        const params = { name: algorithm, iv: buf(nonce), additionalData: buf(aad), tagLength: 128 };
        return withHeadroom(new Uint8Array(await subtle().encrypt(params, cryptoKey, buf(plaintext))), headroom);
      },
      async open(nonce, ciphertext, aad) {
        try {
          const params = { name: algorithm, iv: buf(nonce), additionalData: buf(aad), tagLength: 128 };
          return new Uint8Array(await subtle().decrypt(params, cryptoKey, buf(ciphertext)));
        } catch (cause) {
          throw CryptoError.decryptFailed(cause);
        }
      },
    }));
}

async function sodiumChaCha(key: Uint8Array): Promise<AeadKey> {
  const s = await sodium();
  const k = key.slice();
  return {
    async seal(nonce, plaintext, aad, headroom = 0) {
      return withHeadroom(s.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, k), headroom);
    },
    async open(nonce, ciphertext, aad) {
      try {
        return s.crypto_aead_chacha20poly1305_ietf_decrypt(null, ciphertext, aad, nonce, k);
      } catch (cause) {
        throw CryptoError.decryptFailed(cause);
      }
    },
  };
}

/**
 * libsodium's verify (RFC 8032 section 5.1.7: S < L, canonical A, A and R not of small order,
 * cofactorless equation) behind the shared pre-check: the web backend's verify where WebCrypto lacks
 * Ed25519. Exported so that the edge-case vectors also cover this path in Node, whose WebCrypto has it.
 */
export async function ed25519VerifyWithSodium(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  if (!ed25519Precheck(signature, publicKey)) return false;
  try {
    return (await sodium()).crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}

function lowOrder(cause?: unknown): CryptoError {
  return new CryptoError('InvalidKey', 'X25519: the peer public key is of low order', { cause });
}

export const webBackend: CryptoBackend = {
  name: 'web',

  randomBytes(length) {
    const out = new Uint8Array(length);
    // getRandomValues fills at most 65,536 bytes per call.
    for (let offset = 0; offset < length; offset += 65_536) {
      globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65_536)));
    }
    return out;
  },

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

  aesGcm(key) {
    if (key.length !== 16 && key.length !== 32) {
      return Promise.reject(CryptoError.invalidArgument(`"key" expected Uint8Array of length 16 or 32, got length=${key.length}`));
    }
    return webAead('AES-GCM', key);
  },
  chacha20Poly1305: (key) => sodiumChaCha(key),
  async aesCtr(key, counterBlock, data) {
    const cryptoKey = await subtle().importKey('raw', buf(key), { name: 'AES-CTR' }, false, ['encrypt']);
    const params = { name: 'AES-CTR', counter: buf(counterBlock), length: 128 };
    return new Uint8Array(await subtle().encrypt(params, cryptoKey, buf(data)));
  },

  async x25519Generate() {
    const secretKey = webBackend.randomBytes(32);
    return { secretKey, publicKey: await webBackend.x25519PublicKey(secretKey) };
  },
  async x25519PublicKey(secretKey) {
    if (await supports('X25519')) {
      const key = await subtle().importKey('pkcs8', pkcs8('X25519', secretKey), { name: 'X25519' }, true, ['deriveBits']);
      const jwk = await subtle().exportKey('jwk', key);
      return base64urlnopad.decode(jwk.x ?? '');
    }
    return (await sodium()).crypto_scalarmult_base(secretKey);
  },
  async x25519(secretKey, publicKey) {
    let shared: Uint8Array;
    try {
      if (await supports('X25519')) {
        const priv = await subtle().importKey('pkcs8', pkcs8('X25519', secretKey), { name: 'X25519' }, false, ['deriveBits']);
        const pub = await subtle().importKey('raw', buf(publicKey), { name: 'X25519' }, false, []);
        shared = new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: pub }, priv, 256));
      } else {
        shared = (await sodium()).crypto_scalarmult(secretKey, publicKey);
      }
    } catch (cause) {
      throw lowOrder(cause);
    }
    if (isAllZero(shared)) throw lowOrder();
    return shared;
  },

  async ed25519PublicKey(seed) {
    if (await supports('Ed25519')) {
      const key = await subtle().importKey('pkcs8', pkcs8('Ed25519', seed), { name: 'Ed25519' }, true, ['sign']);
      const jwk = await subtle().exportKey('jwk', key);
      return base64urlnopad.decode(jwk.x ?? '');
    }
    return (await sodium()).crypto_sign_seed_keypair(seed).publicKey;
  },
  async ed25519Sign(seed, message) {
    if (await supports('Ed25519')) {
      const key = await subtle().importKey('pkcs8', pkcs8('Ed25519', seed), { name: 'Ed25519' }, false, ['sign']);
      return new Uint8Array(await subtle().sign({ name: 'Ed25519' }, key, buf(message)));
    }
    const s = await sodium();
    return s.crypto_sign_detached(message, s.crypto_sign_seed_keypair(seed).privateKey);
  },
  async ed25519Verify(signature, message, publicKey) {
    if (!(await supports('Ed25519'))) return ed25519VerifyWithSodium(signature, message, publicKey);
    // WebCrypto engines differ on small-order A and R (Node's, which is OpenSSL, accepts them): the
    // shared pre-check makes every engine follow docs/security/ed25519.md.
    if (!ed25519Precheck(signature, publicKey)) return false;
    try {
      const key = await subtle().importKey('raw', buf(publicKey), { name: 'Ed25519' }, false, ['verify']);
      return await subtle().verify({ name: 'Ed25519' }, key, buf(signature), buf(message));
    } catch {
      return false;
    }
  },
};
