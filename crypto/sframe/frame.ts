/**
 * Encryption and decryption of one SFrame ciphertext under a known key and counter (RFC 9605 sections
 * 4.4.3 and 4.4.4), without any state. sframe.ts adds the counters, the key store and the replay window.
 *
 *   SFrame ciphertext = header || AEAD.Encrypt(sframe_key, nonce, aad = header || metadata, plaintext)
 *
 * The header is inside the AAD, so a changed KID or CTR fails authentication. The metadata (for media,
 * the RTP header; section 4.4.3) is authenticated but not carried: the receiver supplies it again.
 */
import { assertBytes, assertU64 } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { decodeSFrameHeader, encodeSFrameHeader, SFRAME_MAX_HEADER_BYTES, type DecodedSFrameHeader, writeSFrameHeader } from './header.ts';
import { sframeNonce, sframeNonceInto, type SFrameKey } from './keys.ts';

/** header || metadata, the AAD of section 4.4.3. */
function sframeAad(header: Uint8Array, metadata: Uint8Array): Uint8Array {
  const aad = new Uint8Array(header.length + metadata.length);
  aad.set(header, 0);
  aad.set(metadata, header.length);
  return aad;
}

/**
 * Encrypts `plaintext` under `key` with counter `ctr` (section 4.4.3) and returns the full SFrame
 * ciphertext, header || ct || tag. The caller must never use a counter twice under one key: the nonce is
 * salt XOR ctr.
 */
export async function encryptSFrame(key: SFrameKey, ctr: bigint, metadata: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  assertU64('ctr', ctr);
  assertBytes('metadata', metadata);
  assertBytes('plaintext', plaintext);
  const header = encodeSFrameHeader(key.kid, ctr);
  const sealed = await key.aead.seal(sframeNonce(key.salt, ctr), plaintext, sframeAad(header, metadata));
  const out = new Uint8Array(header.length + sealed.length);
  out.set(header, 0);
  out.set(sealed, header.length);
  return out;
}

/**
 * `encryptSFrame` without a promise, for a key whose AEAD encrypts synchronously (`aead.sealSync`, the
 * node backend): the same bytes. Header, AAD and nonce are written into `scratch`; the result is a view
 * that starts `headroom` bytes into its buffer, and those bytes are the caller's (a sender writes its
 * transport header there and sends the frame without copying it again). Throws `InvalidArgument` for a
 * key without `sealSync`.
 */
export function sealSFrameSync(key: SFrameKey, ctr: bigint, metadata: Uint8Array, plaintext: Uint8Array, scratch: SFrameScratch, headroom = 0): Uint8Array {
  const sealSync = key.aead.sealSync;
  if (sealSync === undefined) throw CryptoError.invalidArgument('"key" expected an AEAD that encrypts synchronously');
  assertBytes('metadata', metadata);
  assertBytes('plaintext', plaintext);
  const aadLength = SFRAME_MAX_HEADER_BYTES + metadata.length;
  if (scratch.aad.length < aadLength) scratch.aad = new Uint8Array(aadLength);
  const headerLength = writeSFrameHeader(scratch.aad, key.kid, ctr);
  scratch.aad.set(metadata, headerLength);
  sframeNonceInto(key.salt, ctr, scratch.nonce);
  const sealed = sealSync(scratch.nonce, plaintext, scratch.aad.subarray(0, headerLength + metadata.length), headroom + headerLength);
  const frame = new Uint8Array(sealed.buffer, sealed.byteOffset - headerLength, headerLength + sealed.length);
  frame.set(scratch.aad.subarray(0, headerLength), 0);
  return frame;
}

/**
 * Decrypts an SFrame ciphertext whose header has already been parsed (section 4.4.4). `header` must be
 * the result of `decodeSFrameHeader(frame)` and `key` the key for `header.kid`. Every authentication
 * failure, including a ciphertext too short to hold a tag, is `CryptoError.decryptFailed`.
 */
export async function decryptSFrame(key: SFrameKey, header: DecodedSFrameHeader, frame: Uint8Array, metadata: Uint8Array): Promise<Uint8Array> {
  const { ciphertext, aad } = openingParts(key, header, frame, metadata);
  try {
    return await key.aead.open(sframeNonce(key.salt, header.ctr), ciphertext, aad);
  } catch (cause) {
    throw asDecryptFailed(cause);
  }
}

/**
 * `decryptSFrame` without a promise, for a key whose AEAD decrypts synchronously (`aead.openSync`, the
 * node backend); the same checks, errors and result. Throws `InvalidArgument` for a key without it.
 */
export function decryptSFrameSync(key: SFrameKey, header: DecodedSFrameHeader, frame: Uint8Array, metadata: Uint8Array): Uint8Array {
  return openSFrameSync(key, header, frame, metadata, { aad: new Uint8Array(0), nonce: new Uint8Array(12) });
}

/** Buffers a synchronous caller reuses for every frame: AAD and nonce are copied by the AEAD at once. */
export interface SFrameScratch {
  /** Grown to the longest header || metadata seen. */
  aad: Uint8Array;
  /** Nn = 12 bytes. */
  nonce: Uint8Array;
}

/** `decryptSFrameSync` with the AAD and nonce written into `scratch` rather than new buffers. */
export function openSFrameSync(key: SFrameKey, header: DecodedSFrameHeader, frame: Uint8Array, metadata: Uint8Array, scratch: SFrameScratch): Uint8Array {
  const openSync = key.aead.openSync;
  if (openSync === undefined) throw CryptoError.invalidArgument('"key" expected an AEAD that decrypts synchronously');
  const ciphertext = checkedCiphertext(key, header, frame, metadata);
  const aadLength = header.length + metadata.length;
  if (scratch.aad.length < aadLength) scratch.aad = new Uint8Array(aadLength);
  scratch.aad.set(frame.subarray(0, header.length), 0);
  scratch.aad.set(metadata, header.length);
  sframeNonceInto(key.salt, header.ctr, scratch.nonce);
  try {
    return openSync(scratch.nonce, ciphertext, scratch.aad.subarray(0, aadLength));
  } catch (cause) {
    throw asDecryptFailed(cause);
  }
}

function openingParts(key: SFrameKey, header: DecodedSFrameHeader, frame: Uint8Array, metadata: Uint8Array): { ciphertext: Uint8Array; aad: Uint8Array } {
  const ciphertext = checkedCiphertext(key, header, frame, metadata);
  return { ciphertext, aad: sframeAad(frame.subarray(0, header.length), metadata) };
}

/** The checks before any opening: the inputs, the key's KID against the header's, room for the tag. */
function checkedCiphertext(key: SFrameKey, header: DecodedSFrameHeader, frame: Uint8Array, metadata: Uint8Array): Uint8Array {
  assertBytes('frame', frame);
  assertBytes('metadata', metadata);
  if (header.kid !== key.kid) {
    throw CryptoError.invalidArgument('"key" expected the key of the header\'s KID');
  }
  const ciphertext = frame.subarray(header.length);
  if (ciphertext.length < key.aead.tagLength) throw CryptoError.decryptFailed();
  return ciphertext;
}

/**
 * Backends already map a bad tag to DecryptFailed; anything else they throw on this path is a
 * decryption failure too, with the same message (STYLE.md: no oracle).
 */
function asDecryptFailed(cause: unknown): CryptoError {
  if (cause instanceof CryptoError && cause.reason === 'DecryptFailed') return cause;
  return CryptoError.decryptFailed(cause);
}

/** Parses the header of `frame` and decrypts it under `key` (section 4.4.4), with no replay check. */
export async function openSFrame(key: SFrameKey, frame: Uint8Array, metadata: Uint8Array): Promise<Uint8Array> {
  return decryptSFrame(key, decodeSFrameHeader(frame), frame, metadata);
}
