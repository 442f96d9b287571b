/**
 * Private-meta sealing (docs/design.md, "Room keys and room state"): AES-256-GCM under
 * HKDF(epochKey, "meta"), a random 96-bit nonce prefixed to the output, and AAD binding the room id,
 * version and epoch, so sealed meta cannot be moved to another room, version or epoch.
 *
 * Output: nonce (12) || ciphertext || tag (16).
 */
import { backend, type CryptoBackend } from './backend/index.ts';
import { assertBytes, assertInt, assertMaxBytes, assertString, lengthPrefixed, u64be, utf8 } from './bytes.ts';
import { DOMAIN } from './domains.ts';
import { CryptoError } from './errors.ts';
import { hkdf } from './hkdf.ts';

export const META_NONCE_BYTES = 12;
export const META_TAG_BYTES = 16;
/** Largest private meta, in bytes of plaintext. */
export const META_MAX_PLAINTEXT_BYTES = 64 * 1024;

export interface MetaBinding {
  epochKey: Uint8Array;
  roomId: string;
  version: number;
  epoch: number;
  backend?: CryptoBackend;
}

function check(binding: MetaBinding): CryptoBackend {
  assertBytes('epochKey', binding.epochKey, 32);
  assertString('roomId', binding.roomId, 256);
  assertInt('version', binding.version, 1, Number.MAX_SAFE_INTEGER);
  assertInt('epoch', binding.epoch, 1, Number.MAX_SAFE_INTEGER);
  return binding.backend ?? backend();
}

function metaKey(epochKey: Uint8Array, b: CryptoBackend): Uint8Array {
  return hkdf('sha256', epochKey, new Uint8Array(), utf8(DOMAIN.meta), 32, b);
}

function aad(binding: MetaBinding): Uint8Array {
  return lengthPrefixed(utf8(DOMAIN.meta), utf8(binding.roomId), u64be(binding.version), u64be(binding.epoch));
}

/**
 * Seals private meta for one room version.
 * @example const sealed = await sealMeta({ epochKey, roomId, version: 1, epoch: 1, plaintext: utf8('agenda') });
 */
export async function sealMeta(binding: MetaBinding & { plaintext: Uint8Array }): Promise<Uint8Array> {
  const b = check(binding);
  assertMaxBytes('plaintext', binding.plaintext, META_MAX_PLAINTEXT_BYTES);
  const nonce = b.randomBytes(META_NONCE_BYTES);
  const sealed = await (await b.aesGcm(metaKey(binding.epochKey, b))).seal(nonce, binding.plaintext, aad(binding));
  const out = new Uint8Array(META_NONCE_BYTES + sealed.length);
  out.set(nonce, 0);
  out.set(sealed, META_NONCE_BYTES);
  return out;
}

/** Opens sealed meta; any change to it or to the binding fails with `DecryptFailed`. */
export async function openMeta(binding: MetaBinding & { sealed: Uint8Array }): Promise<Uint8Array> {
  const b = check(binding);
  assertMaxBytes('sealed', binding.sealed, META_NONCE_BYTES + META_MAX_PLAINTEXT_BYTES + META_TAG_BYTES);
  if (binding.sealed.length < META_NONCE_BYTES + META_TAG_BYTES) throw CryptoError.decryptFailed();
  const key = await b.aesGcm(metaKey(binding.epochKey, b));
  return key.open(binding.sealed.subarray(0, META_NONCE_BYTES), binding.sealed.subarray(META_NONCE_BYTES), aad(binding));
}
