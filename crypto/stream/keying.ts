/**
 * Who can read a byte stream: the clear prefix of chunk 0 (docs/design.md, "Byte streams and text streams").
 *
 * - **room**: the stream key derives from the room's epoch key, so every member can read it. One byte:
 *   `0x01`.
 * - **recipients**: the stream key derives from a random 32-byte secret drawn for this stream only,
 *   wrapped with HPKE (crypto/key-wrap.ts) to each recipient's key from the verified room record. A
 *   member who is not listed holds no wrap, so a Bridge that delivers the stream to it gives it nothing
 *   it can open. Layout:
 *
 *     0x02 || u16 count || count x (u8 id length || recipient id (UTF-8) || wrapped key (81 bytes))
 *
 *   The HPKE info binds (DOMAIN.streamKeyWrap, room id, stream id, sender id, recipient id), so a wrap
 *   opens only for that recipient, in that room, for that stream and sender.
 *
 * The recipient ids travel in clear: the Bridge already knows a stream's destinations, it routes by
 * them. The whole prefix is covered by the sender's header signature (format.ts), so the list a reader
 * sees is the list the sender signed.
 */
import { backend, type CryptoBackend } from '../backend/index.ts';
import { assertBytes, assertString, concatBytes, lengthPrefixed, utf8 } from '../bytes.ts';
import { DOMAIN } from '../domains.ts';
import { CryptoError } from '../errors.ts';
import { ED25519_PUBLIC_KEY_LENGTH } from '../identity.ts';
import {
  decodeWrappedKey,
  encodeWrappedKey,
  unwrapKeyUnderInfo,
  WRAPPED_KEY_ENCODED_LENGTH_BYTES,
  WRAP_ID_MAX_LENGTH,
  wrapKeyUnderInfo,
  type WrappedKey,
  type WrapRecipient,
} from '../key-wrap.ts';

/**
 * Recipients of one private stream at most. Every recipient gets every wrap (about 100 bytes each
 * with short ids), so chunk 0 grows with the list: 256 keeps it under 64 KiB with the longest ids.
 */
export const STREAM_RECIPIENTS_MAX = 256;
/** A recipient id's UTF-8 bytes at most (one length byte). */
export const STREAM_RECIPIENT_ID_MAX_BYTES = 255;
/** Bytes of the keying prefix at most: kind, count and 256 entries of the longest ids. */
export const STREAM_KEYING_MAX_BYTES = 3 + STREAM_RECIPIENTS_MAX * (1 + STREAM_RECIPIENT_ID_MAX_BYTES + WRAPPED_KEY_ENCODED_LENGTH_BYTES);
/** The random secret of a private stream (the input of the stream-key derivation, like an epoch key). */
export const STREAM_SECRET_BYTES = 32;

const KIND_ROOM = 0x01;
const KIND_RECIPIENTS = 0x02;

export type StreamKeying = { kind: 'room' } | { kind: 'recipients'; recipients: Array<{ recipientId: string; wrapped: WrappedKey }> };

/** Where a private stream is sent: the room (bound into each wrap) and the recipients with their keys. */
export interface StreamRecipients {
  roomId: string;
  /** 1 to `STREAM_RECIPIENTS_MAX` recipients, each id once; public keys from the verified room record. */
  list: readonly WrapRecipient[];
}

/** What binds a wrap to its stream. */
export interface StreamWrapContext {
  roomId: string;
  streamId: Uint8Array;
  senderId: string;
}

export interface UnwrapStreamSecretParams extends StreamWrapContext {
  wrapped: WrappedKey;
  /** The unwrapping user's own id: the id the secret was wrapped for. */
  recipientId: string;
  /** The unwrapping user's 32-byte Ed25519 seed. */
  recipientSeed: Uint8Array;
  backend?: CryptoBackend;
}

/** The HPKE info: `lengthPrefixed(DOMAIN.streamKeyWrap, roomId, streamId, senderId, recipientId)`. */
export function streamKeyWrapInfo(c: StreamWrapContext, recipientId: string): Uint8Array {
  assertString('roomId', c.roomId, WRAP_ID_MAX_LENGTH);
  assertBytes('streamId', c.streamId);
  assertString('senderId', c.senderId, WRAP_ID_MAX_LENGTH);
  assertString('recipientId', recipientId, WRAP_ID_MAX_LENGTH);
  return lengthPrefixed(utf8(DOMAIN.streamKeyWrap), utf8(c.roomId), c.streamId, utf8(c.senderId), utf8(recipientId));
}

/** Checks a recipient list up front, so that a bad one fails before anything is sent. */
export function assertStreamRecipients(r: StreamRecipients): void {
  if (typeof r !== 'object' || r === null || !Array.isArray(r.list)) {
    throw CryptoError.invalidArgument('"recipients" expected { roomId, list: [{ recipientId, recipientPublicKey }] }');
  }
  assertString('recipients.roomId', r.roomId, WRAP_ID_MAX_LENGTH);
  if (r.list.length < 1 || r.list.length > STREAM_RECIPIENTS_MAX) {
    throw CryptoError.limitExceeded(`"recipients.list" expected 1 to ${STREAM_RECIPIENTS_MAX} recipients, got ${r.list.length}`);
  }
  const seen = new Set<string>();
  for (const [i, { recipientId, recipientPublicKey }] of r.list.entries()) {
    assertString(`recipients.list[${i}].recipientId`, recipientId, WRAP_ID_MAX_LENGTH);
    const bytes = utf8(recipientId).length;
    if (bytes < 1 || bytes > STREAM_RECIPIENT_ID_MAX_BYTES) {
      throw CryptoError.invalidArgument(`"recipients.list[${i}].recipientId" expected 1 to ${STREAM_RECIPIENT_ID_MAX_BYTES} UTF-8 bytes, got ${bytes}`);
    }
    assertBytes(`recipients.list[${i}].recipientPublicKey`, recipientPublicKey, ED25519_PUBLIC_KEY_LENGTH);
    if (seen.has(recipientId)) throw CryptoError.invalidArgument(`"recipients.list" lists ${JSON.stringify(recipientId)} twice`);
    seen.add(recipientId);
  }
}

/** Wraps a private stream's secret for every recipient (HPKE, one encapsulation each) and encodes the prefix. */
export async function wrapStreamSecret(secret: Uint8Array, c: StreamWrapContext, list: readonly WrapRecipient[], b: CryptoBackend): Promise<Uint8Array> {
  const recipients = await Promise.all(
    list.map(async ({ recipientId, recipientPublicKey }) => ({
      recipientId,
      wrapped: await wrapKeyUnderInfo(secret, streamKeyWrapInfo(c, recipientId), recipientPublicKey, { backend: b }),
    })),
  );
  return encodeKeying({ kind: 'recipients', recipients });
}

/**
 * Opens a private stream's secret with the recipient's own seed (the Endpoint's Connection calls this;
 * the seed never leaves it). A wrap made for another stream, sender, room or recipient is `DecryptFailed`.
 */
export function unwrapStreamSecret(p: UnwrapStreamSecretParams): Promise<Uint8Array> {
  return unwrapKeyUnderInfo(p.wrapped, streamKeyWrapInfo(p, p.recipientId), p.recipientSeed, p.backend ?? backend());
}

export function encodeKeying(k: StreamKeying): Uint8Array {
  if (k.kind === 'room') return Uint8Array.of(KIND_ROOM);
  const parts: Uint8Array[] = [Uint8Array.of(KIND_RECIPIENTS, k.recipients.length >>> 8, k.recipients.length & 0xff)];
  for (const { recipientId, wrapped } of k.recipients) {
    const id = utf8(recipientId);
    parts.push(Uint8Array.of(id.length), id, encodeWrappedKey(wrapped));
  }
  return concatBytes(...parts);
}

/**
 * Parses the keying prefix at the start of `bytes` (chunk 0 as received), strictly: an unknown kind,
 * a count of 0 or over the maximum, an empty or repeated id, or a short entry is refused (undefined).
 * Returns the keying and the prefix length; the sealed header follows it.
 */
export function parseKeying(bytes: Uint8Array): { keying: StreamKeying; length: number } | undefined {
  if (bytes.length < 1) return undefined;
  if (bytes[0] === KIND_ROOM) return { keying: { kind: 'room' }, length: 1 };
  if (bytes[0] !== KIND_RECIPIENTS || bytes.length < 3) return undefined;
  const count = (bytes[1]! << 8) | bytes[2]!;
  if (count < 1 || count > STREAM_RECIPIENTS_MAX) return undefined;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const recipients: Array<{ recipientId: string; wrapped: WrappedKey }> = [];
  const seen = new Set<string>();
  let at = 3;
  for (let i = 0; i < count; i++) {
    const idLength = bytes[at];
    if (idLength === undefined || idLength === 0 || at + 1 + idLength + WRAPPED_KEY_ENCODED_LENGTH_BYTES > bytes.length) return undefined;
    let recipientId: string;
    let wrapped: WrappedKey;
    try {
      recipientId = decoder.decode(bytes.subarray(at + 1, at + 1 + idLength));
      wrapped = decodeWrappedKey(bytes.subarray(at + 1 + idLength, at + 1 + idLength + WRAPPED_KEY_ENCODED_LENGTH_BYTES));
    } catch {
      return undefined;
    }
    if (seen.has(recipientId)) return undefined;
    seen.add(recipientId);
    recipients.push({ recipientId, wrapped });
    at += 1 + idLength + WRAPPED_KEY_ENCODED_LENGTH_BYTES;
  }
  return { keying: { kind: 'recipients', recipients }, length: at };
}
