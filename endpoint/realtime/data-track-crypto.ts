/**
 * The parts of data-track SFrame (RFC 9605) that are sealroom's choices (DESIGN.md "Data tracks and
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
 */
import { lengthPrefixed, utf8 } from '../../crypto/bytes.ts';
import { MAX_MEMBER_INDEX } from '../../crypto/sframe/index.ts';
import { membersOf } from '../../protocol/room-chain.ts';
import type { RoomRecord } from '../../protocol/room-record.ts';

/** Domain tag at the start of every data-track frame's metadata. */
export const DATA_TRACK_AAD_TAG = 'sealroom/v1/data-track';

/** Epochs a KID's 8 low bits can name: half ahead of the newest held, half behind. */
const EPOCH_LOW_MODULUS = 256;
const EPOCH_AHEAD_MAX = 127;

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

/**
 * The full epoch a KID's low 8 bits name, given the newest epoch held: `newer` when it is ahead of it
 * (the room must be fetched again). Undefined when it would be below epoch 1.
 */
export function resolveEpoch(newestHeld: number, epochLow: number): { epoch: number; newer: boolean } | undefined {
  const delta = (((epochLow - newestHeld) % EPOCH_LOW_MODULUS) + EPOCH_LOW_MODULUS) % EPOCH_LOW_MODULUS;
  if (delta === 0) return { epoch: newestHeld, newer: false };
  if (delta <= EPOCH_AHEAD_MAX) return { epoch: newestHeld + delta, newer: true };
  const epoch = newestHeld + delta - EPOCH_LOW_MODULUS;
  return epoch >= 1 ? { epoch, newer: false } : undefined;
}
