/**
 * User identities: Ed25519 key pairs, their X25519 forms for key agreement (RFC 7748 birational map),
 * and checksummed text forms.
 *
 * Text forms are bech32m (BIP 350) strings: `srsk1...` for a private key (its 32-byte seed) and
 * `srpk1...` for a public key. bech32m's checksum detects any error in up to 4 characters, so a
 * mistyped key fails to parse instead of decoding to another key; the prefix stops a public key from
 * being pasted where a private key belongs.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bech32m } from '@scure/base';
import { backend, type CryptoBackend } from './backend/index.ts';
import { assertBytes } from './bytes.ts';
import { assertEd25519PublicKeyEncoding, ed25519Precheck } from './ed25519-strict.ts';
import { CryptoError } from './errors.ts';

export const PRIVATE_KEY_PREFIX = 'srsk';
export const PUBLIC_KEY_PREFIX = 'srpk';
export const ED25519_SEED_LENGTH = 32;
export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;
/** bech32m's own 90-character limit is for addresses; a 32-byte key needs 4 + 1 + 52 + 6 = 63. */
const KEY_TEXT_MAX_LENGTH = 100;

export interface KeyPair {
  /** `srsk1...`: keep it secret. */
  privateKey: string;
  /** `srpk1...`: what the operator registers for a context user. */
  publicKey: string;
}

function encodeKey(prefix: string, bytes: Uint8Array): string {
  return bech32m.encode(prefix, bech32m.toWords(bytes), KEY_TEXT_MAX_LENGTH);
}

function decodeKey(prefix: string, what: string, text: unknown): Uint8Array {
  if (typeof text !== 'string') throw CryptoError.invalidKey(`${what}: expected a string starting with "${prefix}1"`);
  if (!text.toLowerCase().startsWith(`${prefix}1`)) {
    const other = prefix === PRIVATE_KEY_PREFIX ? PUBLIC_KEY_PREFIX : PRIVATE_KEY_PREFIX;
    const hint = text.toLowerCase().startsWith(`${other}1`) ? ` (this looks like a ${other === PUBLIC_KEY_PREFIX ? 'public' : 'private'} key)` : '';
    throw CryptoError.invalidKey(`${what}: expected a string starting with "${prefix}1"${hint}`);
  }
  let words: number[];
  try {
    const decoded = bech32m.decode(text as `${string}1${string}`, KEY_TEXT_MAX_LENGTH);
    if (decoded.prefix !== prefix) throw new Error('prefix');
    words = decoded.words;
  } catch (cause) {
    // No part of the input goes into the message: it may be a secret with one typo.
    throw new CryptoError('InvalidKey', `${what}: the checksum does not match (mistyped or truncated key)`, { cause });
  }
  const bytes = bech32m.fromWords(words);
  if (bytes.length !== 32) throw CryptoError.invalidKey(`${what}: expected 32 bytes, got ${bytes.length}`);
  return bytes;
}

/** `srsk1...` of a 32-byte Ed25519 seed. */
export function encodePrivateKey(seed: Uint8Array): string {
  assertBytes('seed', seed, ED25519_SEED_LENGTH);
  return encodeKey(PRIVATE_KEY_PREFIX, seed);
}

/** The 32-byte seed of an `srsk1...` text; throws `InvalidKey` with no part of the input in the message. */
export function decodePrivateKey(text: string): Uint8Array {
  return decodeKey(PRIVATE_KEY_PREFIX, 'private key', text);
}

/** `srpk1...` of a 32-byte Ed25519 public key. */
export function encodePublicKey(publicKey: Uint8Array): string {
  assertBytes('publicKey', publicKey, ED25519_PUBLIC_KEY_LENGTH);
  return encodeKey(PUBLIC_KEY_PREFIX, publicKey);
}

/**
 * Public keys already decoded and checked. The point check costs ~90 us in pure JS, and every parse of
 * a room record checks every member's key: without this, a 1,000-member record took ~90 ms to parse.
 * Public keys are not secret, so keeping them is harmless; the map is bounded.
 */
const validatedPublicKeys = new Map<string, Uint8Array>();
const VALIDATED_PUBLIC_KEYS_ENTRIES = 16_384;

/**
 * The 32 bytes of an `srpk1...` text. Also checks that they are the canonical encoding of a point on
 * the curve that is not of small order (docs/security/ed25519.md), so a key that can never verify a
 * signature, or one for which a "universal" signature verifies, is refused when it is registered.
 */
export function decodePublicKey(text: string): Uint8Array {
  const known = typeof text === 'string' ? validatedPublicKeys.get(text) : undefined;
  if (known !== undefined) return known.slice();
  const bytes = decodeKey(PUBLIC_KEY_PREFIX, 'public key', text);
  assertEd25519Point(bytes);
  if (validatedPublicKeys.size >= VALIDATED_PUBLIC_KEYS_ENTRIES) {
    validatedPublicKeys.delete(validatedPublicKeys.keys().next().value as string);
  }
  validatedPublicKeys.set(text, bytes.slice());
  return bytes;
}

/** `InvalidKey` unless `publicKey` is a canonical, large-order point on Ed25519 (docs/security/ed25519.md). */
function assertEd25519Point(publicKey: Uint8Array): void {
  assertEd25519PublicKeyEncoding('public key', publicKey);
  try {
    ed25519.Point.fromBytes(publicKey);
  } catch (cause) {
    throw new CryptoError('InvalidKey', 'public key: not a point on Ed25519', { cause });
  }
}

/** A new random identity, in text form. */
export async function generateKeyPair(b: CryptoBackend = backend()): Promise<KeyPair> {
  const seed = b.randomBytes(ED25519_SEED_LENGTH);
  return { privateKey: encodePrivateKey(seed), publicKey: encodePublicKey(await b.ed25519PublicKey(seed)) };
}

/** The public key (text) of a private key (text). */
export async function publicKeyOf(privateKey: string, b: CryptoBackend = backend()): Promise<string> {
  return encodePublicKey(await b.ed25519PublicKey(decodePrivateKey(privateKey)));
}

/** Ed25519 signature (RFC 8032) of `message` with a 32-byte seed. */
export async function sign(seed: Uint8Array, message: Uint8Array, b: CryptoBackend = backend()): Promise<Uint8Array> {
  assertBytes('seed', seed, ED25519_SEED_LENGTH);
  assertBytes('message', message);
  return b.ed25519Sign(seed, message);
}

/**
 * Ed25519 verification under sealroom's one rule (docs/security/ed25519.md): RFC 8032 section 5.1.7
 * with S < L, canonical A and R, neither of small order, and the cofactorless equation. Returns false
 * for any malformed input rather than throwing. The pre-check runs here as well as in the built-in
 * backends because `setBackend` accepts any backend, and this is the function logins rely on.
 */
export async function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, b: CryptoBackend = backend()): Promise<boolean> {
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_LENGTH) return false;
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) return false;
  assertBytes('message', message);
  if (!ed25519Precheck(signature, publicKey)) return false;
  return b.ed25519Verify(signature, message, publicKey);
}

const montgomeryCache = new Map<string, Uint8Array>();
const MONTGOMERY_CACHE_ENTRIES = 4096;

/**
 * The X25519 public key of an Ed25519 public key (RFC 7748 section 4.1 birational map, u = (1+y)/(1-y)).
 * One field inversion in pure JS; results are cached because a rotation converts every member's key.
 * Refuses (`InvalidKey`) what `decodePublicKey` refuses: a small-order key maps to a low-order X25519
 * key, which would only fail later, inside HPKE.
 */
export function x25519PublicFromEd25519(publicKey: Uint8Array): Uint8Array {
  assertBytes('publicKey', publicKey, ED25519_PUBLIC_KEY_LENGTH);
  const id = String.fromCharCode(...publicKey);
  let out = montgomeryCache.get(id);
  if (out === undefined) {
    assertEd25519PublicKeyEncoding('public key', publicKey);
    try {
      out = ed25519.utils.toMontgomery(publicKey);
    } catch (cause) {
      throw new CryptoError('InvalidKey', 'public key: not a point on Ed25519', { cause });
    }
    if (montgomeryCache.size >= MONTGOMERY_CACHE_ENTRIES) {
      montgomeryCache.delete(montgomeryCache.keys().next().value as string);
    }
    montgomeryCache.set(id, out);
  }
  return out.slice();
}

/** The X25519 secret key of an Ed25519 seed: the clamped first half of SHA-512(seed) (RFC 8032 5.1.5). */
export function x25519SecretFromEd25519(seed: Uint8Array): Uint8Array {
  assertBytes('seed', seed, ED25519_SEED_LENGTH);
  return ed25519.utils.toMontgomerySecret(seed);
}
