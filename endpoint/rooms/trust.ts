/**
 * What this client trusts: about each room, the last verified head (version, hash, record), the creation
 * facts from version 1, and the signed key-set roots its wrapped keys are checked against (the chain is
 * verified from here on, and a head older than this one is a rollback, docs/design.md); about each user of a
 * context, the public key pinned on first use (docs/security/key-trust.md).
 *
 * The default store persists (a folder in Node, IndexedDB in browsers: persistent-trust-store.ts), so
 * pins and rollback protection survive restarts. `MemoryTrustStore` forgets both with the process. Every
 * value is plain JSON.
 */
import { fromBase64, toBase64 } from '../../crypto/bytes.ts';
import type { VerifiedVersion } from '../../protocol/room-chain.ts';
import { parseRecordText, type SignedRecord } from '../../protocol/room-record.ts';

export interface TrustedKeySet {
  version: number;
  epoch: number;
  /** base64 Merkle root, as signed in that version. */
  root: string;
  size: number;
}

export interface TrustedRoom {
  roomId: string;
  contextId: string;
  head: { version: number; hash: string; signed: SignedRecord };
  createDate: number;
  creator: string;
  /** Key sets of recent versions (current and previous epoch), to verify wrapped-key proofs. */
  keySets: TrustedKeySet[];
}

/** A key a pinned user had before its current one, trusted only for versions signed in [from, until]. */
export interface FormerKey {
  publicKey: string;
  /** When it became the user's key (the Bridge's clock, ms), if known. */
  from: number | null;
  /** When it stopped being the user's key. */
  until: number;
}

/** The key this client trusts for a user of a context (docs/security/key-trust.md). */
export interface UserPin {
  contextId: string;
  userId: string;
  /** `srpk1...`: the only key accepted for this user in new versions; null once it left the context. */
  publicKey: string | null;
  /** When this client pinned it (its own clock, ms). */
  pinnedAt: number;
  /** The user compared safety numbers (`verifyUser`): a change of key then needs a new comparison. */
  verified: boolean;
  former: FormerKey[];
}

export interface TrustStore {
  get(roomId: string): TrustedRoom | undefined | Promise<TrustedRoom | undefined>;
  set(roomId: string, room: TrustedRoom): void | Promise<void>;
  delete(roomId: string): void | Promise<void>;
  getPin(contextId: string, userId: string): UserPin | undefined | Promise<UserPin | undefined>;
  /** Stores pins, all or none (they are written together when a room's members are first seen). */
  setPins(pins: UserPin[]): void | Promise<void>;
}

export class MemoryTrustStore implements TrustStore {
  private readonly rooms = new Map<string, TrustedRoom>();
  private readonly pins = new Map<string, UserPin>();

  get(roomId: string): TrustedRoom | undefined {
    return this.rooms.get(roomId);
  }

  set(roomId: string, room: TrustedRoom): void {
    this.rooms.set(roomId, room);
  }

  delete(roomId: string): void {
    this.rooms.delete(roomId);
  }

  getPin(contextId: string, userId: string): UserPin | undefined {
    return this.pins.get(pinKey(contextId, userId));
  }

  setPins(pins: UserPin[]): void {
    for (const pin of pins) this.pins.set(pinKey(pin.contextId, pin.userId), pin);
  }
}

/** Context and user ids never contain a NUL (protocol/room-record.ts patterns). */
export const pinKey = (contextId: string, userId: string): string => `${contextId}\u0000${userId}`;

/** Key sets older than the previous epoch can no longer cover a key this client may need. */
const MAX_KEY_SETS = 256;

/**
 * Parsed trusted heads, by head hash: a get of an unchanged room would otherwise parse its record (every
 * member's key included) each time. Bounded; only ever holds records this client verified.
 */
const parsedHeads = new Map<string, VerifiedVersion>();
const PARSED_HEADS_ENTRIES = 1024;

/**
 * The head each trusted room was made from (`advance`), by identity: a store that keeps the objects it
 * is given (both built-in ones do) never has its head parsed again, however many rooms this client
 * reads in turn (the bounded map above only helps while fewer rooms than its size are read in a cycle).
 */
const headsOfRooms = new WeakMap<TrustedRoom, VerifiedVersion>();

export function headOf(room: TrustedRoom): VerifiedVersion {
  const own = headsOfRooms.get(room);
  if (own !== undefined) return own;
  const known = parsedHeads.get(room.head.hash);
  if (known !== undefined && known.signed.record === room.head.signed.record) return known;
  const head = { signed: room.head.signed, record: parseRecordText(room.head.signed.record), hash: fromBase64(room.head.hash) };
  if (parsedHeads.size >= PARSED_HEADS_ENTRIES) parsedHeads.delete(parsedHeads.keys().next().value as string);
  parsedHeads.set(room.head.hash, head);
  return head;
}

/** The trust after verifying `versions` (in order) on top of `previous` (or from version 1). */
export function advance(previous: TrustedRoom | undefined, versions: VerifiedVersion[]): TrustedRoom {
  const last = versions.at(-1);
  if (last === undefined) {
    if (previous === undefined) throw new Error('advance: nothing to trust');
    return previous;
  }
  const first = versions[0]!.record;
  const keySets = [...(previous?.keySets ?? [])];
  for (const v of versions) {
    if (v.record.keySetSize > 0) {
      keySets.push({ version: v.record.version, epoch: v.record.epoch, root: v.record.keySetRoot, size: v.record.keySetSize });
    }
  }
  const oldestEpoch = last.record.epoch - 1;
  const room: TrustedRoom = {
    roomId: last.record.roomId,
    contextId: last.record.contextId,
    head: { version: last.record.version, hash: toBase64(last.hash), signed: last.signed },
    createDate: previous?.createDate ?? first.timestamp,
    creator: previous?.creator ?? first.creator,
    keySets: keySets.filter((k) => k.epoch >= oldestEpoch).slice(-MAX_KEY_SETS),
  };
  headsOfRooms.set(room, last);
  return room;
}
