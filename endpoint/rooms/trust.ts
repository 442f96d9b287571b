/**
 * What this client trusts about each room: the last verified head (version, hash, record), the creation
 * facts from version 1, and the signed key-set roots its wrapped keys are checked against. The chain is
 * verified from here on, and a head older than this one is a rollback (DESIGN.md).
 *
 * The default store lives in memory, so rollback protection lasts as long as the process. An app that
 * wants it across restarts passes a persistent `TrustStore`; every value is plain JSON.
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

export interface TrustStore {
  get(roomId: string): TrustedRoom | undefined | Promise<TrustedRoom | undefined>;
  set(roomId: string, room: TrustedRoom): void | Promise<void>;
  delete(roomId: string): void | Promise<void>;
}

export class MemoryTrustStore implements TrustStore {
  private readonly rooms = new Map<string, TrustedRoom>();

  get(roomId: string): TrustedRoom | undefined {
    return this.rooms.get(roomId);
  }

  set(roomId: string, room: TrustedRoom): void {
    this.rooms.set(roomId, room);
  }

  delete(roomId: string): void {
    this.rooms.delete(roomId);
  }
}

/** Key sets older than the previous epoch can no longer cover a key this client may need. */
const MAX_KEY_SETS = 256;

/**
 * Parsed trusted heads, by head hash: a get of an unchanged room would otherwise parse its record (every
 * member's key included) each time. Bounded; only ever holds records this client verified.
 */
const parsedHeads = new Map<string, VerifiedVersion>();
const PARSED_HEADS_ENTRIES = 1024;

export function headOf(room: TrustedRoom): VerifiedVersion {
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
  return {
    roomId: last.record.roomId,
    contextId: last.record.contextId,
    head: { version: last.record.version, hash: toBase64(last.hash), signed: last.signed },
    createDate: previous?.createDate ?? first.timestamp,
    creator: previous?.creator ?? first.creator,
    keySets: keySets.filter((k) => k.epoch >= oldestEpoch).slice(-MAX_KEY_SETS),
  };
}
