/**
 * sealroom's KID layout and per-sender base keys for SFrame.
 *
 *   KID (64 bits) = memberIndex (16 bits) << 48 | sessionId (40 bits) << 8 | (epoch & 0xff)
 *
 * RFC 9605 section 5.2 suggests putting the sender's index and the low bits of the epoch in the KID, so
 * a receiver can pick the key of the right sender and epoch from the header alone; docs/design.md adopts
 * that. sealroom adds 40 random bits per session (per connection of a member) because each sender keeps
 * its own counter, starting at 0, and one member may be connected twice (two tabs, a reconnect after a
 * crash that lost the counter). With the index and epoch alone, both connections would encrypt under one
 * key with the same counters, so the same nonces: catastrophic for AES-GCM and AES-CTR. A fresh session
 * id gives each connection its own KID, hence its own base key (below) and its own (key, counter) pairs.
 * 40 bits make a collision between two sessions of one member in one epoch about 2^-40 per pair.
 *
 * The price is header size: such a KID takes 8 bytes (7 for member index 0) in the SFrame header
 * (section 4.3), against 1-2 bytes for index and epoch alone.
 *
 * Only the low 8 epoch bits are in the KID: receivers keep old epochs only for a short grace period
 * (docs/design.md, "Rotation"), so 256 epochs never overlap. The full epoch number goes into the base key.
 */
import { backend as defaultBackend, type CryptoBackend } from '../backend/index.ts';
import { assertBytes, assertInt, assertString, assertU64, lengthPrefixed, u64be, utf8 } from '../bytes.ts';
import { DOMAIN } from '../domains.ts';
import { CryptoError } from '../errors.ts';
import { hkdfExpand, hkdfExtract } from '../hkdf.ts';
import { DEFAULT_SFRAME_SUITE, sframeSuite, type SFrameSuiteName } from './suites.ts';

/** Largest member index: 16 bits. */
export const MAX_MEMBER_INDEX = 0xffff;
/** Largest session id: 40 bits (fits a JavaScript number exactly). */
export const MAX_SESSION_ID = 2 ** 40 - 1;
/** Epoch keys are 32 bytes (docs/design.md, "Room keys and room state"). */
export const EPOCH_KEY_BYTES = 32;
/** Longest room id accepted in the base-key derivation. */
const ROOM_ID_MAX_LENGTH = 256;

/** The fields of a sealroom KID. */
export interface KidFields {
  /** The sender's index in the room, in [0, 65535]. */
  memberIndex: number;
  /** Random per-session bits, in [0, 2^40 - 1]; see `randomSessionId`. */
  sessionId: number;
  /** The epoch number; only its low 8 bits go into the KID. */
  epoch: number;
}

/** A KID taken apart. */
export interface ParsedKid {
  memberIndex: number;
  sessionId: number;
  /** The low 8 bits of the epoch. */
  epochLow: number;
}

/**
 * Builds a KID from a member index, a session id and an epoch.
 * @example makeKid({ memberIndex: 3, sessionId: randomSessionId(), epoch: 7 })
 */
export function makeKid(fields: KidFields): bigint {
  assertInt('memberIndex', fields.memberIndex, 0, MAX_MEMBER_INDEX);
  assertInt('sessionId', fields.sessionId, 0, MAX_SESSION_ID);
  assertInt('epoch', fields.epoch, 0, Number.MAX_SAFE_INTEGER);
  return (BigInt(fields.memberIndex) << 48n) | (BigInt(fields.sessionId) << 8n) | BigInt(fields.epoch & 0xff);
}

/** Takes a KID apart into member index, session id and the low 8 epoch bits. */
export function parseKid(kid: bigint): ParsedKid {
  assertU64('kid', kid);
  return {
    memberIndex: Number(kid >> 48n),
    sessionId: Number((kid >> 8n) & 0xff_ffff_ffffn),
    epochLow: Number(kid & 0xffn),
  };
}

/** A uniformly random 40-bit session id, fresh for every connection. */
export function randomSessionId(backend: CryptoBackend = defaultBackend()): number {
  const bytes = backend.randomBytes(5);
  let id = 0;
  for (const byte of bytes) id = id * 256 + byte;
  return id;
}

/** Inputs of `deriveSenderBaseKey`. */
export interface SenderBaseKeyInput {
  /** The room's 32-byte epoch key. */
  epochKey: Uint8Array;
  roomId: string;
  /** The full epoch number (the KID has only its low 8 bits). */
  epoch: number;
  /** The sender's KID, from `makeKid`. */
  kid: bigint;
  /**
   * The sender's user id. Receivers take it from the Bridge's mapping of the track to its publisher; a
   * wrong id derives a key under which nothing authenticates, so frames are dropped.
   */
  senderId: string;
  /** The SFrame suite the key is for; sets the length. Default `AES_128_GCM_SHA256_128`. */
  suite?: SFrameSuiteName;
  /**
   * What the frames are: `data` (data tracks, the default) or `media` (encoded audio and video
   * frames). Each has its own domain tag, so a sender's data key and media key are never the same
   * (docs/design.md, "Media frames": a media label distinct from data tracks).
   */
  purpose?: SFramePurpose;
}

/** What an SFrame key protects: data-track messages or media frames. */
export type SFramePurpose = 'data' | 'media';

/**
 * The SFrame base key of one sender session (RFC 9605 section 4.4.2 calls it base_key):
 *
 *   HKDF-SHA256(ikm = epochKey, salt = empty,
 *               info = lengthPrefixed(tag, roomId, u64be(epoch), u64be(kid), senderId), L)
 *
 * where tag is DOMAIN.sframe for data tracks and DOMAIN.sframeMedia for media frames (`purpose`),
 *
 * with L = 16 bytes for the AES-128 suites (the default, AES_128_GCM_SHA256_128) and 32 for
 * AES_256_GCM_SHA512_128 (`baseKeyLength` of the suite).
 *
 * Why each input is there:
 * - the domain tag keeps this key apart from every other key derived from the epoch key (meta, streams),
 *   and a sender's media key apart from its data-track key;
 * - the room id and the full epoch tie the key to one room and epoch even if an epoch key were reused;
 * - the full KID gives every sender session its own key, so two senders never share (key, counter)
 *   pairs even if their counters collide (see the top of this file). SFrame binds the KID into
 *   sframe_key again (section 4.4.2); binding it here as well keeps one session's base key useless for
 *   another KID;
 * - the sender id keeps two members apart even if they came to hold the same member index in one epoch
 *   (members added without a rotation shift the indexes), where only the random session bits would
 *   otherwise separate their keys.
 * Every field is length-prefixed, so no two different tuples give the same info.
 * A member who holds the epoch key can derive every sender's base key: SFrame authenticates the group,
 * not the sender (RFC 9605 section 9.5).
 */
export function deriveSenderBaseKey(input: SenderBaseKeyInput, backend: CryptoBackend = defaultBackend()): Uint8Array {
  const { epochKey, roomId, epoch, kid, senderId } = input;
  assertBytes('epochKey', epochKey, EPOCH_KEY_BYTES);
  assertString('roomId', roomId, ROOM_ID_MAX_LENGTH);
  assertInt('epoch', epoch, 0, Number.MAX_SAFE_INTEGER);
  assertU64('kid', kid);
  assertString('senderId', senderId, ROOM_ID_MAX_LENGTH);
  // A KID from another epoch would derive a key no receiver of this epoch looks for.
  if (parseKid(kid).epochLow !== (epoch & 0xff)) {
    throw CryptoError.invalidArgument(`"kid" expected epoch low bits ${epoch & 0xff}, got ${parseKid(kid).epochLow}`);
  }
  const suite = sframeSuite(input.suite ?? DEFAULT_SFRAME_SUITE);
  const purpose = input.purpose ?? 'data';
  if (purpose !== 'data' && purpose !== 'media') throw CryptoError.invalidArgument(`"purpose" expected "data" or "media", got ${String(purpose)}`);
  const tag = purpose === 'media' ? DOMAIN.sframeMedia : DOMAIN.sframe;
  const info = lengthPrefixed(utf8(tag), utf8(roomId), u64be(epoch), u64be(kid), utf8(senderId));
  const prk = hkdfExtract('sha256', new Uint8Array(0), epochKey, backend);
  try {
    return hkdfExpand('sha256', prk, info, suite.baseKeyLength, backend);
  } finally {
    prk.fill(0);
  }
}
