/**
 * The byte-stream format (docs/design.md, "Byte streams and text streams"): per-stream keys, nonces, the
 * AAD of each chunk, the final chunk's plaintext and the signed message. Everything here is pure and
 * shared by the encryptor and the decryptor, so that both sides build the same bytes.
 *
 * A stream is chunk 0, then data chunks with a checkpoint chunk every `STREAM_CHECKPOINT_INTERVAL_BYTES`
 * of content (from the second interval on), then one final chunk (last flag set) that ends or aborts
 * the stream. This is the STREAM
 * construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption and its
 * Nonce-Reuse Misuse-Resistance", CRYPTO 2015), as in Tink's streaming AEAD: the nonce is the chunk
 * index and the AAD carries the last-chunk flag, so reordering, dropping, duplicating or truncating
 * chunks makes decryption fail.
 *
 * The AEAD only proves that a chunk came from someone holding the stream key: for a room stream, any
 * member. Three Ed25519 signatures by the sender prove that it came from the sender:
 * - chunk 0 is the keying prefix in clear (keying.ts: room key, or a random key wrapped to each
 *   recipient), then the sealed [header signature (64)] [header]. The header signature covers the
 *   stream id, the sender, the keying prefix (so the recipients) and the header (topic, time, room
 *   version...), and is checked before the reader hands the header on;
 * - a checkpoint chunk, sealed [signature (64)], signs the running SHA-256 of the content up to one
 *   interval back. The content is cut in segments of `STREAM_CHECKPOINT_INTERVAL_BYTES` (a data chunk
 *   never crosses a multiple of it). Where the content reaches the end of segment k (k >= 2), the next
 *   chunk, unless it is the final one, is a checkpoint signing the SHA-256 of segments 1..k-1; both
 *   sides know where each comes. It signs one segment late so that neither side waits for the
 *   signature: a snapshot of the running hash is taken when a segment ends and signed by the time
 *   the next checkpoint needs it. So a reader never holds more than
 *   `STREAM_UNSIGNED_MAX_BYTES` (two intervals) of content no signature covers;
 * - the final chunk signs the SHA-256 of all the content and how the stream ended.
 */
import type { AeadKey, CryptoBackend } from '../backend/index.ts';
import { concatBytes, lengthPrefixed, u64be, utf8 } from '../bytes.ts';
import { DOMAIN } from '../domains.ts';
import { expandUnchecked, hkdfExtract } from '../hkdf.ts';

/** Version of this format, bound into every chunk's AAD and the signatures: another version never opens. */
export const STREAM_FORMAT_VERSION = 2;
/** A stream id is 16 random bytes (docs/design.md): the HKDF salt, so every stream has its own key. */
export const STREAM_ID_BYTES = 16;
export const STREAM_EPOCH_KEY_BYTES = 32;
/** Plaintext bytes per data chunk at most (docs/design.md: 64 KiB; the Endpoint re-chunks larger writes). */
export const STREAM_CHUNK_MAX_BYTES = 65_536;
/** Serialised header bytes at most (chunk 0). */
export const STREAM_HEADER_MAX_BYTES = 65_536;
/** UTF-8 bytes of an abort reason at most. */
export const STREAM_ABORT_REASON_MAX_BYTES = 1024;
/**
 * Chunks per stream at most, header and final chunk included. The nonce has room for 2^64, but 2^32
 * chunks of 64 KiB (256 TiB) is beyond any stream, and keeps every index a safe integer.
 */
export const STREAM_MAX_CHUNKS = 2 ** 32;
export const STREAM_TAG_BYTES = 16;
export const STREAM_SIGNATURE_BYTES = 64;
/** Bytes of the AAD of every chunk; layout in `streamAad`. */
export const STREAM_AAD_BYTES = 27;
/** Bytes of the final chunk's plaintext before the reason: kind (1) and signature (64). */
export const STREAM_FINAL_FIXED_BYTES = 1 + STREAM_SIGNATURE_BYTES;
/** A checkpoint chunk's plaintext: the signature alone. */
export const STREAM_CHECKPOINT_BYTES = STREAM_SIGNATURE_BYTES;
/**
 * Content per segment, and between two checkpoints (a multiple of the 64 KiB chunk, so full chunks
 * fit). Smaller bounds the unsigned content tighter and costs one Ed25519 signature and one
 * verification per interval: at 512 KiB they took about 8% of the CPU of a byte stream, at 1 MiB
 * about half that (docs/security/bridge-adversary.md).
 */
export const STREAM_CHECKPOINT_INTERVAL_BYTES = 1024 * 1024;
/**
 * Content a reader may hold that no sender signature covers yet, at most: what a room member who
 * forges chunks inside another member's stream, with the Bridge's help, can show a reader before the
 * stream fails. Two intervals (2 MiB), as checkpoints sign one segment late.
 */
export const STREAM_UNSIGNED_MAX_BYTES = 2 * STREAM_CHECKPOINT_INTERVAL_BYTES;

/**
 * A chunk's role follows from its position, which both sides compute: 0 is the header, the last is
 * final, a checkpoint comes where the content reached the end of a segment from the second on, the
 * rest are data.
 */
export type ChunkRole = 'header' | 'data' | 'checkpoint' | 'final';
const ROLE_BYTE: Record<ChunkRole, number> = { header: 0x01, data: 0x02, final: 0x03, checkpoint: 0x04 };

/** How a stream ended: the first byte of the final chunk's plaintext, and signed. */
export type StreamEnding = 'end' | 'abort';
const ENDING_BYTE: Record<StreamEnding, number> = { end: 0x01, abort: 0x02 };

/** Plaintext bytes a chunk of this role may carry at most; longer input can only be forged. */
export function roleMaxPlaintextBytes(role: ChunkRole): number {
  if (role === 'header') return STREAM_SIGNATURE_BYTES + STREAM_HEADER_MAX_BYTES;
  if (role === 'data') return STREAM_CHUNK_MAX_BYTES;
  if (role === 'checkpoint') return STREAM_CHECKPOINT_BYTES;
  return STREAM_FINAL_FIXED_BYTES + STREAM_ABORT_REASON_MAX_BYTES;
}

export interface StreamKeys {
  /** The AES-256-GCM key of this stream. */
  key: Uint8Array;
  /**
   * A second output of the same HKDF-Extract, signed with the stream: it ties the signature to this
   * epoch key (so to this room and epoch), which the header alone does not name. Without it, a member
   * of two rooms could replay a sender's signed stream from one room into the other.
   */
  binding: Uint8Array;
}

/**
 * Key = HKDF-SHA256(ikm, salt = streamId, info = lengthPrefixed(DOMAIN.stream, senderId)), 32 bytes
 * (docs/design.md; RFC 5869), where ikm is the epoch key (a room stream) or the stream's random secret (a
 * private stream, keying.ts). The binding uses the same PRK with DOMAIN.streamSignature as info.
 */
export function deriveStreamKeys(ikm: Uint8Array, streamId: Uint8Array, senderId: string, b: CryptoBackend): StreamKeys {
  const prk = hkdfExtract('sha256', streamId, ikm, b);
  const sender = utf8(senderId);
  const key = expandUnchecked('sha256', prk, lengthPrefixed(utf8(DOMAIN.stream), sender), 32, b);
  const binding = expandUnchecked('sha256', prk, lengthPrefixed(utf8(DOMAIN.streamSignature), sender), 32, b);
  prk.fill(0);
  return { key, binding };
}

/** The nonce of chunk `index`: 4 zero bytes || u64 big-endian index (12 bytes). */
export function streamNonce(index: number): Uint8Array {
  const nonce = new Uint8Array(12);
  writeU64(nonce, 4, index);
  return nonce;
}

/** Writes a safe non-negative integer as u64 big-endian (no DataView: this runs once per chunk). */
function writeU64(out: Uint8Array, offset: number, value: number): void {
  const high = Math.floor(value / 0x1_0000_0000);
  const low = value >>> 0;
  out[offset] = high >>> 24;
  out[offset + 1] = high >>> 16;
  out[offset + 2] = high >>> 8;
  out[offset + 3] = high;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = low >>> 16;
  out[offset + 6] = low >>> 8;
  out[offset + 7] = low;
}

/**
 * The AAD of a chunk, 27 bytes:
 *   [0]      format version (0x02)
 *   [1]      role: 0x01 header, 0x02 data, 0x03 final, 0x04 checkpoint
 *   [2..18)  stream id (16 bytes)
 *   [18..26) chunk index, u64 big-endian (the same index as the nonce)
 *   [26]     last-chunk flag: 0x00 or 0x01 (set for the final chunk only)
 * Both sides compute the role from the position (see ChunkRole); binding it names the framing, so a
 * chunk sealed as data never opens where a checkpoint is due.
 */
export function streamAad(streamId: Uint8Array, index: number, role: ChunkRole): Uint8Array {
  const aad = new Uint8Array(STREAM_AAD_BYTES);
  aad[0] = STREAM_FORMAT_VERSION;
  aad[1] = ROLE_BYTE[role];
  aad.set(streamId, 2);
  writeU64(aad, 18, index);
  aad[26] = role === 'final' ? 1 : 0;
  return aad;
}

/** What the sender signs in chunk 0, before the header: checked before the header is handed on. */
export interface SignedHeader {
  streamId: Uint8Array;
  senderId: string;
  binding: Uint8Array;
  /** The clear keying prefix of chunk 0, as sent (keying.ts): room, or the recipients and their wraps. */
  keying: Uint8Array;
  /** The serialised header. */
  header: Uint8Array;
}

/**
 * lengthPrefixed(DOMAIN.streamHeader, [version], streamId, senderId, binding, keying prefix, header).
 * The binding ties it to the stream key (for a room stream: to the room and epoch).
 */
export function headerSignatureMessage(h: SignedHeader): Uint8Array {
  return lengthPrefixed(utf8(DOMAIN.streamHeader), Uint8Array.of(STREAM_FORMAT_VERSION), h.streamId, utf8(h.senderId), h.binding, h.keying, h.header);
}

export interface SignedCheckpoint {
  streamId: Uint8Array;
  senderId: string;
  binding: Uint8Array;
  headerHash: Uint8Array;
  /** SHA-256 of the first `contentBytes` of content (up to one segment before the checkpoint's position). */
  contentHash: Uint8Array;
  /** Content bytes the hash covers: a multiple of the interval. */
  contentBytes: number;
}

/** lengthPrefixed(DOMAIN.streamCheckpoint, [version], streamId, senderId, binding, SHA-256(header), SHA-256(content so far), u64be(its bytes)). */
export function checkpointSignatureMessage(c: SignedCheckpoint): Uint8Array {
  return lengthPrefixed(
    utf8(DOMAIN.streamCheckpoint),
    Uint8Array.of(STREAM_FORMAT_VERSION),
    c.streamId,
    utf8(c.senderId),
    c.binding,
    c.headerHash,
    c.contentHash,
    u64be(c.contentBytes),
  );
}

/** The chunk 0 plaintext: [header signature (64)] [header]. */
export function encodeSignedHeader(signature: Uint8Array, header: Uint8Array): Uint8Array {
  return concatBytes(signature, header);
}

export interface SignedStream {
  streamId: Uint8Array;
  senderId: string;
  binding: Uint8Array;
  headerHash: Uint8Array;
  contentHash: Uint8Array;
  contentBytes: number;
  ending: StreamEnding;
  reason: Uint8Array;
}

/**
 * What the sender signs at the end: lengthPrefixed(DOMAIN.streamSignature, [version], streamId,
 * senderId, binding, SHA-256(header), SHA-256(content), u64be(content bytes), [ending], reason).
 */
export function signatureMessage(s: SignedStream): Uint8Array {
  return lengthPrefixed(
    utf8(DOMAIN.streamSignature),
    Uint8Array.of(STREAM_FORMAT_VERSION),
    s.streamId,
    utf8(s.senderId),
    s.binding,
    s.headerHash,
    s.contentHash,
    u64be(s.contentBytes),
    Uint8Array.of(ENDING_BYTE[s.ending]),
    s.reason,
  );
}

/** The final chunk's plaintext: [ending (1)] [signature (64)] [reason: UTF-8, abort only]. */
export function encodeFinal(ending: StreamEnding, signature: Uint8Array, reason: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(ENDING_BYTE[ending]), signature, reason);
}

/** Parses a final chunk's plaintext, or returns undefined if it is malformed. */
export function parseFinal(plaintext: Uint8Array): { ending: StreamEnding; signature: Uint8Array; reason: Uint8Array } | undefined {
  if (plaintext.length < STREAM_FINAL_FIXED_BYTES) return undefined;
  const ending = plaintext[0] === ENDING_BYTE.end ? 'end' : plaintext[0] === ENDING_BYTE.abort ? 'abort' : undefined;
  if (ending === undefined) return undefined;
  const reason = plaintext.subarray(STREAM_FINAL_FIXED_BYTES);
  if (ending === 'end' && reason.length > 0) return undefined;
  if (reason.length > STREAM_ABORT_REASON_MAX_BYTES) return undefined;
  return { ending, signature: plaintext.subarray(1, STREAM_FINAL_FIXED_BYTES), reason };
}

/**
 * Imports a derived stream key for AES-GCM and wipes the caller's copy once the import settles: every
 * backend copies the key on import, so the raw bytes need not live longer.
 */
export function importStreamKey(key: Uint8Array, b: CryptoBackend): Promise<AeadKey> {
  return b.aesGcm(key).finally(() => key.fill(0));
}
