/**
 * The parts of data-track SFrame (RFC 9605) that are sealroom's choices (docs/design.md "Data tracks and
 * media frames"), kept apart from the I/O so they can be tested on their own:
 *
 * - **Member index.** The KID carries the sender's index in the room (RFC 9605 section 5.2). It is the
 *   sender's position in the verified head record's member list: `users` first, then `managers`, each
 *   user id counted once at its first appearance, in record order (`membersOf` of the room chain). Every
 *   member computes the same list from the same signed record. Receivers never need the index: they take
 *   the sender from the Bridge's track mapping and the KID as a whole, so an index that shifts (members
 *   added without a rotation) changes nothing for them (the sender id in the base key keeps senders
 *   apart, crypto/sframe/kid.ts).
 * - **Epoch from the KID.** The KID holds the low 8 bits of the epoch. Receivers keep only the newest
 *   epoch and those still in their grace period, so the full epoch is the one with those low bits
 *   nearest to the newest held: up to 127 epochs newer (a rotation this client has not fetched yet) or
 *   up to 128 older.
 * - **Metadata.** Each frame's AAD (SFrame metadata, section 4.4.3) binds the domain tag, room, stream
 *   and track ids. A sender's KID is shared by all its tracks in a room, so without this binding the
 *   Bridge could move a frame from one of the sender's tracks to another; with it, the moved frame fails
 *   to authenticate and is dropped.
 * - **Stamp.** The encrypted plaintext starts with a fixed header, so SFrame authenticates it with the
 *   message (docs/security/bridge-adversary.md):
 *
 *     format (1 byte, = 1) || sender time (u64 BE, ms since the Unix epoch, never decreasing within a
 *     session) || room version (u64 BE) || head hash (32 bytes, `recordHash` of that version) || message
 *
 *   The time lets receivers refuse stale frames and replays of frames they forgot; the version and
 *   hash are the sender's trusted head when it sent, so members shown different heads notice
 *   (endpoint/rooms/head-tracker.ts). 49 bytes per frame; no signature (SFrame's group authentication).
 */
import { lengthPrefixed, utf8 } from '../../crypto/bytes.ts';
import { MAX_MEMBER_INDEX } from '../../crypto/sframe/index.ts';
import { membersOf } from '../../protocol/room-chain.ts';
import type { RoomRecord } from '../../protocol/room-record.ts';
import { MAX_DATA_MESSAGE_BYTES } from './limits.ts';

export { resolveEpoch } from './kid-epoch.ts';

/** Domain tag at the start of every data-track frame's metadata. */
export const DATA_TRACK_AAD_TAG = 'sealroom/v1/data-track';

/** Format byte of the stamp that starts every data-track plaintext. */
export const DATA_TRACK_STAMP_FORMAT = 1;
/** Length of a room head hash (SHA-256, protocol/room-record.ts `recordHash`). */
export const HEAD_HASH_BYTES = 32;
/** Bytes of the stamp before the message: format, time, version, head hash. */
export const DATA_TRACK_STAMP_BYTES = 1 + 8 + 8 + HEAD_HASH_BYTES;
/** Largest data-track plaintext: the stamp and the largest message. Bytes. */
export const MAX_DATA_PLAINTEXT_BYTES = DATA_TRACK_STAMP_BYTES + MAX_DATA_MESSAGE_BYTES;

/** What a sender binds into every frame, and a receiver reads back after it authenticated. */
export interface DataTrackStamp {
  /** The sender's clock, ms since the Unix epoch. */
  time: number;
  /** The version of the sender's trusted room head. */
  version: number;
  /** That head's hash, 32 bytes. */
  headHash: Uint8Array;
}

/** Writes the stamp into the first `DATA_TRACK_STAMP_BYTES` of `plaintext` (the message follows it). */
export function writeDataTrackStamp(plaintext: Uint8Array, stamp: DataTrackStamp): void {
  const view = new DataView(plaintext.buffer, plaintext.byteOffset, DATA_TRACK_STAMP_BYTES);
  view.setUint8(0, DATA_TRACK_STAMP_FORMAT);
  setU64(view, 1, stamp.time);
  setU64(view, 9, stamp.version);
  plaintext.set(stamp.headHash.subarray(0, HEAD_HASH_BYTES), 17);
}

/** A plaintext of a data-track frame: the stamp, then the message. */
export function encodeDataTrackPlaintext(stamp: DataTrackStamp, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(DATA_TRACK_STAMP_BYTES + message.length);
  writeDataTrackStamp(out, stamp);
  out.set(message, DATA_TRACK_STAMP_BYTES);
  return out;
}

/** Splits an authenticated plaintext into stamp and message; undefined if it has no valid stamp. */
export function decodeDataTrackPlaintext(plaintext: Uint8Array): { stamp: DataTrackStamp; message: Uint8Array } | undefined {
  if (plaintext.length < DATA_TRACK_STAMP_BYTES || plaintext[0] !== DATA_TRACK_STAMP_FORMAT) return undefined;
  // Read in place (no DataView): this runs for every received frame.
  const time = getU64(plaintext, 1);
  const version = getU64(plaintext, 9);
  if (time === undefined || version === undefined || version < 1) return undefined;
  return { stamp: { time, version, headHash: plaintext.subarray(17, DATA_TRACK_STAMP_BYTES) }, message: plaintext.subarray(DATA_TRACK_STAMP_BYTES) };
}

/** Two u32 halves: no BigInt on the per-frame path. */
function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / 2 ** 32));
  view.setUint32(at + 4, value >>> 0);
}

/** u64 big-endian at `at`; undefined above 2^53 - 1 (no time or version gets there). */
function getU64(bytes: Uint8Array, at: number): number | undefined {
  const high = readU32(bytes, at);
  if (high > 0x1f_ffff) return undefined;
  return high * 2 ** 32 + readU32(bytes, at + 4);
}

function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** The SFrame metadata of a data-track frame: binds it to its room, stream and track. */
export function dataTrackMetadata(roomId: string, streamId: string, trackId: string): Uint8Array {
  return lengthPrefixed(utf8(DATA_TRACK_AAD_TAG), utf8(roomId), utf8(streamId), utf8(trackId));
}

/**
 * The sender's index in the room: its position among the record's users then managers, deduplicated,
 * in record order. Undefined if it is not a member, or past the 16 bits the KID has for it.
 */
export function memberIndexOf(record: Pick<RoomRecord, 'users' | 'managers'>, userId: string): number | undefined {
  let index = 0;
  for (const member of membersOf(record).keys()) {
    if (member === userId) return index <= MAX_MEMBER_INDEX ? index : undefined;
    index++;
  }
  return undefined;
}
