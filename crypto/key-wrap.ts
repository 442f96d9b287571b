/**
 * Epoch-key wrapping (docs/design.md, "Room keys and room state"): each member gets the room's 32-byte epoch
 * key sealed with HPKE base mode (RFC 9180) to the X25519 form of their Ed25519 identity key (RFC 7748
 * birational map). The HPKE info binds the domain tag, the room id, the epoch and the recipient's user
 * id, so a wrapped key opens only for that member, in that room, at that epoch.
 *
 * The wrapped form names its suite, so a room can move to another AEAD without a format change.
 */
import { backend, type CryptoBackend } from './backend/index.ts';
import { assertBytes, assertInt, assertMaxBytes, assertString, concatBytes, lengthPrefixed, u32be, u64be, utf8, wipe } from './bytes.ts';
import { DOMAIN } from './domains.ts';
import { assertEd25519PublicKeyEncoding } from './ed25519-strict.ts';
import { CryptoError } from './errors.ts';
import { HPKE_TAG_LENGTH_BYTES, HPKE_X25519_KEY_LENGTH_BYTES, openBase, sealBase, type HpkeAead } from './hpke.ts';
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SEED_LENGTH, x25519PublicFromEd25519, x25519SecretFromEd25519 } from './identity.ts';

/** The suites a wrapped key may use: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, and the named AEAD. */
export type WrapSuite = 'x25519-hkdf256-aes128gcm' | 'x25519-hkdf256-chacha20poly1305';

/** AES-128-GCM is native in both node:crypto and WebCrypto, so it is the default. */
export const DEFAULT_WRAP_SUITE: WrapSuite = 'x25519-hkdf256-aes128gcm';

export interface WrappedKey {
  suite: WrapSuite;
  /** HPKE encapsulated key, 32 bytes. */
  enc: Uint8Array;
  /** The sealed epoch key: 32 bytes of key and a 16-byte tag. */
  ciphertext: Uint8Array;
}

export const EPOCH_KEY_LENGTH_BYTES = 32;
export const WRAPPED_KEY_CIPHERTEXT_LENGTH_BYTES = EPOCH_KEY_LENGTH_BYTES + HPKE_TAG_LENGTH_BYTES;
/** Suite id (1) + enc (32) + ciphertext (48). Every suite has this length; nothing longer is parsed. */
export const WRAPPED_KEY_ENCODED_LENGTH_BYTES = 1 + HPKE_X25519_KEY_LENGTH_BYTES + WRAPPED_KEY_CIPHERTEXT_LENGTH_BYTES;
/** Room and user ids are bound into the HPKE info; longer ones are refused rather than hashed. */
export const WRAP_ID_MAX_LENGTH = 1024;
/** Epochs start at 1 (docs/design.md) and travel as u64; JS numbers are exact up to 2^53 - 1. */
export const MAX_EPOCH = Number.MAX_SAFE_INTEGER;

interface SuiteInfo {
  /** The 1-byte id of the binary encoding; it equals the RFC 9180 aead_id. */
  id: number;
  aead: HpkeAead;
}

const SUITES: Readonly<Record<WrapSuite, SuiteInfo>> = {
  'x25519-hkdf256-aes128gcm': { id: 0x01, aead: 'aes-128-gcm' },
  'x25519-hkdf256-chacha20poly1305': { id: 0x03, aead: 'chacha20-poly1305' },
};

function suiteById(id: number): WrapSuite | undefined {
  for (const [name, info] of Object.entries(SUITES) as [WrapSuite, SuiteInfo][]) if (info.id === id) return name;
  return undefined;
}

function assertSuite(name: string, suite: unknown): asserts suite is WrapSuite {
  if (typeof suite !== 'string' || !Object.hasOwn(SUITES, suite)) {
    throw CryptoError.invalidArgument(`"${name}" expected one of ${Object.keys(SUITES).join(', ')}, got ${String(suite)}`);
  }
}

function assertWrapped(wrapped: unknown): asserts wrapped is WrappedKey {
  if (typeof wrapped !== 'object' || wrapped === null) {
    throw CryptoError.invalidArgument(`"wrapped" expected a WrappedKey, got ${wrapped === null ? 'null' : typeof wrapped}`);
  }
  const w = wrapped as Partial<WrappedKey>;
  assertSuite('wrapped.suite', w.suite);
  assertBytes('wrapped.enc', w.enc, HPKE_X25519_KEY_LENGTH_BYTES);
  assertBytes('wrapped.ciphertext', w.ciphertext, WRAPPED_KEY_CIPHERTEXT_LENGTH_BYTES);
}

/** The part of the HPKE info shared by every recipient of one rotation: (tag, room id, epoch). */
function infoPrefix(roomId: string, epoch: number): Uint8Array {
  return lengthPrefixed(utf8(DOMAIN.keyWrap), utf8(roomId), u64be(epoch));
}

/**
 * The HPKE info of a wrapped epoch key:
 * `lengthPrefixed(utf8(DOMAIN.keyWrap), utf8(roomId), u64be(epoch), utf8(recipientId))`.
 */
export function keyWrapInfo(roomId: string, epoch: number, recipientId: string): Uint8Array {
  assertString('roomId', roomId, WRAP_ID_MAX_LENGTH);
  assertInt('epoch', epoch, 1, MAX_EPOCH);
  assertString('recipientId', recipientId, WRAP_ID_MAX_LENGTH);
  return withRecipient(infoPrefix(roomId, epoch), recipientId);
}

function withRecipient(prefix: Uint8Array, recipientId: string): Uint8Array {
  const id = utf8(recipientId);
  // Same bytes as lengthPrefixed(..., id), without re-framing the shared prefix for every recipient.
  return concatBytes(prefix, u32be(id.length), id);
}

export interface WrapEpochKeyParams {
  /** The 32-byte epoch key. */
  epochKey: Uint8Array;
  roomId: string;
  /** The epoch number, from 1. */
  epoch: number;
  /** The recipient's user id, as in the room record. */
  recipientId: string;
  /** The recipient's 32-byte Ed25519 public key; its X25519 form is the HPKE recipient key. */
  recipientPublicKey: Uint8Array;
  /** Defaults to `DEFAULT_WRAP_SUITE`. */
  suite?: WrapSuite;
  backend?: CryptoBackend;
}

/** One recipient of `wrapEpochKeyForMany`. */
export interface WrapRecipient {
  recipientId: string;
  /** 32-byte Ed25519 public key. */
  recipientPublicKey: Uint8Array;
}

/** One result of `wrapEpochKeyForMany`, in the order of the recipients given. */
export interface WrappedEpochKey {
  recipientId: string;
  wrapped: WrappedKey;
}

export interface UnwrapEpochKeyParams {
  wrapped: WrappedKey;
  roomId: string;
  epoch: number;
  /** The unwrapping user's own id: it must be the id the key was wrapped for. */
  recipientId: string;
  /** The unwrapping user's 32-byte Ed25519 seed. */
  recipientSeed: Uint8Array;
  backend?: CryptoBackend;
}

async function wrapOne(epochKey: Uint8Array, info: Uint8Array, recipientPublicKey: Uint8Array, suite: WrapSuite, b: CryptoBackend): Promise<WrappedKey> {
  const { enc, ciphertext } = await sealBase({
    aead: SUITES[suite].aead,
    recipientPublicKey: x25519PublicFromEd25519(recipientPublicKey),
    info,
    plaintext: epochKey,
    backend: b,
  });
  return { suite, enc, ciphertext };
}

/**
 * Wraps a 32-byte epoch key for one room member.
 * @example const wrapped = await wrapEpochKey({ epochKey, roomId, epoch: 2, recipientId: 'alice', recipientPublicKey })
 */
export async function wrapEpochKey(params: WrapEpochKeyParams): Promise<WrappedKey> {
  const { epochKey, roomId, epoch, recipientId, recipientPublicKey, suite = DEFAULT_WRAP_SUITE } = params;
  assertBytes('epochKey', epochKey, EPOCH_KEY_LENGTH_BYTES);
  assertBytes('recipientPublicKey', recipientPublicKey, ED25519_PUBLIC_KEY_LENGTH);
  assertEd25519PublicKeyEncoding('recipientPublicKey', recipientPublicKey);
  assertSuite('suite', suite);
  const info = keyWrapInfo(roomId, epoch, recipientId);
  return wrapOne(epochKey, info, recipientPublicKey, suite, params.backend ?? backend());
}

/**
 * How many wraps are in flight at once. The node backend runs each wrap synchronously, so this only
 * matters for WebCrypto, whose operations overlap; a bound keeps memory flat for very large rooms.
 */
const WRAP_CONCURRENCY = 32;

/**
 * Wraps one epoch key for every member of a rotation. Results come back in the order of `recipients`.
 * Refuses duplicate recipient ids, which would indicate a malformed member list.
 */
export async function wrapEpochKeyForMany(
  epochKey: Uint8Array,
  roomId: string,
  epoch: number,
  recipients: readonly WrapRecipient[],
  options: { suite?: WrapSuite; backend?: CryptoBackend } = {},
): Promise<WrappedEpochKey[]> {
  const { suite = DEFAULT_WRAP_SUITE } = options;
  const b = options.backend ?? backend();
  assertBytes('epochKey', epochKey, EPOCH_KEY_LENGTH_BYTES);
  assertString('roomId', roomId, WRAP_ID_MAX_LENGTH);
  assertInt('epoch', epoch, 1, MAX_EPOCH);
  assertSuite('suite', suite);
  if (!Array.isArray(recipients)) throw CryptoError.invalidArgument('"recipients" expected an Array');
  const seen = new Set<string>();
  for (const [i, r] of recipients.entries()) {
    assertString(`recipients[${i}].recipientId`, r?.recipientId, WRAP_ID_MAX_LENGTH);
    assertBytes(`recipients[${i}].recipientPublicKey`, r.recipientPublicKey, ED25519_PUBLIC_KEY_LENGTH);
    // Before any wrap, so one bad member key fails the rotation up front (docs/security/ed25519.md).
    assertEd25519PublicKeyEncoding(`recipients[${i}].recipientPublicKey`, r.recipientPublicKey);
    if (seen.has(r.recipientId)) throw CryptoError.invalidArgument(`"recipients" lists recipient id ${JSON.stringify(r.recipientId)} twice`);
    seen.add(r.recipientId);
  }

  const prefix = infoPrefix(roomId, epoch);
  const out = new Array<WrappedEpochKey>(recipients.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < recipients.length) {
      const i = next++;
      const { recipientId, recipientPublicKey } = recipients[i]!;
      const wrapped = await wrapOne(epochKey, withRecipient(prefix, recipientId), recipientPublicKey, suite, b);
      out[i] = { recipientId, wrapped };
    }
  };
  await Promise.all(Array.from({ length: Math.min(WRAP_CONCURRENCY, recipients.length) }, lane));
  return out;
}

/**
 * Unwraps an epoch key with the recipient's own Ed25519 seed. A wrong room id, epoch, recipient id or
 * key, or any tampering, fails with `DecryptFailed`.
 */
export async function unwrapEpochKey(params: UnwrapEpochKeyParams): Promise<Uint8Array> {
  const { wrapped, roomId, epoch, recipientId, recipientSeed } = params;
  assertWrapped(wrapped);
  assertBytes('recipientSeed', recipientSeed, ED25519_SEED_LENGTH);
  return openWrapped(wrapped, keyWrapInfo(roomId, epoch, recipientId), recipientSeed, params.backend ?? backend());
}

async function openWrapped(wrapped: WrappedKey, info: Uint8Array, recipientSeed: Uint8Array, b: CryptoBackend): Promise<Uint8Array> {
  const recipientSecretKey = x25519SecretFromEd25519(recipientSeed);
  try {
    // The ciphertext length is checked by assertWrapped, so an authentic plaintext is always 32 bytes.
    return await openBase({ aead: SUITES[wrapped.suite].aead, enc: wrapped.enc, recipientSecretKey, info, ciphertext: wrapped.ciphertext, backend: b });
  } finally {
    wipe(recipientSecretKey);
  }
}

/**
 * Wraps a 32-byte key for one recipient under an HPKE `info` the caller built, which must start with
 * a tag of crypto/domains.ts (crypto/stream/keying.ts wraps a private stream's key this way). Same
 * suites, checks and encoding as an epoch key.
 */
export async function wrapKeyUnderInfo(
  key: Uint8Array,
  info: Uint8Array,
  recipientPublicKey: Uint8Array,
  options: { suite?: WrapSuite; backend?: CryptoBackend } = {},
): Promise<WrappedKey> {
  const { suite = DEFAULT_WRAP_SUITE } = options;
  assertBytes('key', key, EPOCH_KEY_LENGTH_BYTES);
  assertBytes('recipientPublicKey', recipientPublicKey, ED25519_PUBLIC_KEY_LENGTH);
  assertEd25519PublicKeyEncoding('recipientPublicKey', recipientPublicKey);
  assertSuite('suite', suite);
  return wrapOne(key, info, recipientPublicKey, suite, options.backend ?? backend());
}

/** Opens what `wrapKeyUnderInfo` wrapped, with the recipient's Ed25519 seed; any mismatch is `DecryptFailed`. */
export async function unwrapKeyUnderInfo(wrapped: WrappedKey, info: Uint8Array, recipientSeed: Uint8Array, b: CryptoBackend = backend()): Promise<Uint8Array> {
  assertWrapped(wrapped);
  assertBytes('recipientSeed', recipientSeed, ED25519_SEED_LENGTH);
  return openWrapped(wrapped, info, recipientSeed, b);
}

/** The compact binary form: suite id (1 byte), enc (32 bytes), ciphertext (48 bytes). */
export function encodeWrappedKey(wrapped: WrappedKey): Uint8Array {
  assertWrapped(wrapped);
  const out = new Uint8Array(WRAPPED_KEY_ENCODED_LENGTH_BYTES);
  out[0] = SUITES[wrapped.suite].id;
  out.set(wrapped.enc, 1);
  out.set(wrapped.ciphertext, 1 + HPKE_X25519_KEY_LENGTH_BYTES);
  return out;
}

/**
 * Parses `encodeWrappedKey`'s output strictly: an unknown suite id or any length but 81 bytes is
 * refused (`LimitExceeded` when longer, `InvalidArgument` otherwise). The result holds copies.
 */
export function decodeWrappedKey(bytes: Uint8Array): WrappedKey {
  assertMaxBytes('bytes', bytes, WRAPPED_KEY_ENCODED_LENGTH_BYTES);
  if (bytes.length === 0) throw CryptoError.invalidArgument('"bytes" expected a wrapped key, got 0 bytes');
  const suite = suiteById(bytes[0]!);
  if (suite === undefined) {
    throw CryptoError.invalidArgument(`"bytes" has an unknown wrapped-key suite id 0x${bytes[0]!.toString(16).padStart(2, '0')}`);
  }
  if (bytes.length !== WRAPPED_KEY_ENCODED_LENGTH_BYTES) {
    throw CryptoError.invalidArgument(`"bytes" expected ${WRAPPED_KEY_ENCODED_LENGTH_BYTES} bytes for suite ${suite}, got ${bytes.length}`);
  }
  return {
    suite,
    enc: bytes.slice(1, 1 + HPKE_X25519_KEY_LENGTH_BYTES),
    ciphertext: bytes.slice(1 + HPKE_X25519_KEY_LENGTH_BYTES),
  };
}
