/**
 * The rules a chain of room records must follow (docs/design.md, "Room keys and room state"). The Bridge
 * applies them to every new version as defence in depth; the Endpoint applies them again to everything
 * it reads, since it does not trust the Bridge with integrity.
 */
import type { CryptoBackend } from '../crypto/backend/index.ts';
import { backend } from '../crypto/backend/index.ts';
import { toBase64 } from '../crypto/bytes.ts';
import { SealroomError, reasonToCode } from './errors.ts';
import { allows, samePolicy, type Standing } from './policy.ts';
import { parseRecordText, recordHash, RecordFormatError, verifyRecordSignature, type Member, type RoomRecord, type SignedRecord } from './room-record.ts';

/**
 * Why a record was refused.
 * - `Malformed`: the text does not parse or breaks a field rule.
 * - `BadSignature`: the author's signature does not verify.
 * - `Unauthorized`: the author may not write this version (not a manager of the previous version, or
 *   the previous policy forbids it).
 * - `BrokenChain`: wrong version number, previous hash, room, context or creator.
 * - `BadEpoch`: the epoch did not advance by 0 or 1, or a member was removed without a new epoch.
 * - `BadKeySet`: the number of wrapped keys does not match who must receive one.
 */
export type ChainErrorReason = 'Malformed' | 'BadSignature' | 'Unauthorized' | 'BrokenChain' | 'BadEpoch' | 'BadKeySet';

export class ChainError extends SealroomError {
  readonly reason: ChainErrorReason;

  constructor(reason: ChainErrorReason, message: string, options?: { cause?: unknown }) {
    super(reasonToCode('ERR_CHAIN', reason), message, options);
    this.reason = reason;
  }
}

/** A record whose signature and chain link have been checked. */
export interface VerifiedVersion {
  signed: SignedRecord;
  record: RoomRecord;
  /** `recordHash` of the record text: what the next version's `prevHash` must be. */
  hash: Uint8Array;
}

/** Users and managers together: everyone who holds the room key. userId -> public key. */
export function membersOf(record: Pick<RoomRecord, 'users' | 'managers'>): Map<string, string> {
  const members = new Map<string, string>();
  for (const m of record.users) members.set(m.userId, m.publicKey);
  for (const m of record.managers) members.set(m.userId, m.publicKey);
  return members;
}

/** A user's standing in a room version, for policy checks. */
export function standingIn(record: Pick<RoomRecord, 'users' | 'managers' | 'creator'>, userId: string, contextUser = true): Standing {
  return {
    contextUser,
    member: record.users.some((m) => m.userId === userId) || record.managers.some((m) => m.userId === userId),
    manager: record.managers.some((m) => m.userId === userId),
    owner: record.creator === userId,
  };
}

/**
 * Who must receive a wrapped key in a new version, and for which epoch. Version 1 and every rotation
 * give every member the new epoch's key; any other update gives the current key to added members only.
 * A member whose public key changed counts as removed and added, so it forces a rotation.
 */
export function requiredRecipients(prev: RoomRecord | null, next: Pick<RoomRecord, 'users' | 'managers' | 'epoch'>): Member[] {
  if (prev !== null && next.epoch === prev.epoch && sameLists(prev, next)) return [];
  const nextMembers = membersOf(next);
  if (prev === null || next.epoch !== prev.epoch) {
    return [...nextMembers].map(([userId, publicKey]) => ({ userId, publicKey }));
  }
  const prevMembers = membersOf(prev);
  return [...nextMembers].filter(([userId, publicKey]) => prevMembers.get(userId) !== publicKey).map(([userId, publicKey]) => ({ userId, publicKey }));
}

/** The very same member lists: a record parsed against its predecessor shares them when they are equal (parseRecordText). */
function sameLists(a: Pick<RoomRecord, 'users' | 'managers'>, b: Pick<RoomRecord, 'users' | 'managers'>): boolean {
  return a.users === b.users && a.managers === b.managers;
}

/** Members of `prev` who are not members of `next` with the same key: their removal forces a rotation. */
export function removedMembers(prev: RoomRecord, next: Pick<RoomRecord, 'users' | 'managers'>): string[] {
  if (sameLists(prev, next)) return [];
  const nextMembers = membersOf(next);
  return [...membersOf(prev)].filter(([userId, key]) => nextMembers.get(userId) !== key).map(([userId]) => userId);
}

function parse(signed: SignedRecord, previous?: RoomRecord): RoomRecord {
  try {
    return parseRecordText(signed.record, previous);
  } catch (cause) {
    const message = cause instanceof RecordFormatError ? cause.message : 'record: malformed';
    throw new ChainError('Malformed', message, { cause });
  }
}

async function checkSignature(signed: SignedRecord, record: RoomRecord, b: CryptoBackend): Promise<void> {
  if (!(await verifyRecordSignature(signed, record.authorPublicKey, b))) {
    throw new ChainError('BadSignature', `version ${record.version}: the author's signature does not verify`);
  }
}

function checkKeySetSize(prev: RoomRecord | null, record: RoomRecord): void {
  const expected = requiredRecipients(prev, record).length;
  if (record.keySetSize !== expected) {
    throw new ChainError('BadKeySet', `version ${record.version}: expected ${expected} wrapped keys, the record states ${record.keySetSize}`);
  }
}

/**
 * Verifies version 1: its form, its signature by the key it names, and the genesis rules. The caller
 * must also check that `record.authorPublicKey` is the author's key in the context directory.
 */
export async function verifyGenesis(signed: SignedRecord, b: CryptoBackend = backend()): Promise<VerifiedVersion> {
  const record = parse(signed);
  if (record.version !== 1 || record.prevHash !== null) {
    throw new ChainError('BrokenChain', `expected version 1 with no previous hash, got version ${record.version}`);
  }
  if (record.creator !== record.author) {
    throw new ChainError('BrokenChain', 'version 1: creator must be the author');
  }
  if (record.epoch !== 1) throw new ChainError('BadEpoch', `version 1: expected epoch 1, got ${record.epoch}`);
  checkKeySetSize(null, record);
  await checkSignature(signed, record, b);
  return { signed, record, hash: recordHash(signed.record, b) };
}

/** Verifies that `signed` is a valid successor of `prev`. */
export async function verifySuccessor(prev: VerifiedVersion, signed: SignedRecord, b: CryptoBackend = backend()): Promise<VerifiedVersion> {
  const record = checkLink(prev, signed);
  await checkSignature(signed, record, b);
  return { signed, record, hash: recordHash(signed.record, b) };
}

/**
 * Verifies `records` (consecutive versions) on top of `head`, or from version 1 when there is no head,
 * and returns them verified, in order. Every record is checked against every chain rule and hashed; a
 * record's own signature is checked when it is version 1, the last of `records`, or changes who may
 * write the next version (its managers or its policy). The signature of any other record is vouched
 * for by the hash chain: its bytes are fixed by `prevHash` up to the next verified signature, whose
 * author held the same authority over it (docs/protocol/room-chain.md, "What a catch-up verifies").
 */
export async function verifyChain(head: VerifiedVersion | undefined, records: SignedRecord[], b: CryptoBackend = backend()): Promise<VerifiedVersion[]> {
  const out: VerifiedVersion[] = [];
  let prev = head;
  for (const [i, signed] of records.entries()) {
    if (prev === undefined) {
      prev = await verifyGenesis(signed, b);
    } else {
      const record = checkLink(prev, signed);
      if (i === records.length - 1 || !sameAuthority(prev.record, record)) await checkSignature(signed, record, b);
      prev = { signed, record, hash: recordHash(signed.record, b) };
    }
    out.push(prev);
  }
  return out;
}

/** Whether `next` leaves who may write its successor as `prev` had it: the same managers and policy. */
function sameAuthority(prev: RoomRecord, next: RoomRecord): boolean {
  if (!samePolicy(prev.policy, next.policy) || prev.managers.length !== next.managers.length) return false;
  if (prev.managers === next.managers) return true;
  const managers = new Map(prev.managers.map((m) => [m.userId, m.publicKey]));
  return next.managers.every((m) => managers.get(m.userId) === m.publicKey);
}

/** Every rule a successor of `prev` must follow, except its signature; returns the parsed record. */
function checkLink(prev: VerifiedVersion, signed: SignedRecord): RoomRecord {
  const record = parse(signed, prev.record);
  const p = prev.record;
  if (record.roomId !== p.roomId || record.contextId !== p.contextId || record.creator !== p.creator) {
    throw new ChainError('BrokenChain', `version ${record.version}: room, context or creator differs from version ${p.version}`);
  }
  if (record.version !== p.version + 1) {
    throw new ChainError('BrokenChain', `expected version ${p.version + 1}, got ${record.version}`);
  }
  if (record.prevHash !== toBase64(prev.hash)) {
    throw new ChainError('BrokenChain', `version ${record.version}: previous hash does not match version ${p.version}`);
  }
  const authorKey = p.managers.find((m) => m.userId === record.author)?.publicKey;
  if (authorKey === undefined || authorKey !== record.authorPublicKey) {
    throw new ChainError('Unauthorized', `version ${record.version}: "${record.author}" is not a manager of version ${p.version}`);
  }
  const standing = standingIn(p, record.author);
  if (!allows(p.policy.update, standing)) {
    throw new ChainError('Unauthorized', `version ${record.version}: policy "update: ${p.policy.update}" forbids "${record.author}"`);
  }
  if (!samePolicy(p.policy, record.policy) && !allows(p.policy.updatePolicy, standing)) {
    throw new ChainError('Unauthorized', `version ${record.version}: policy "updatePolicy: ${p.policy.updatePolicy}" forbids "${record.author}"`);
  }
  if (record.epoch !== p.epoch && record.epoch !== p.epoch + 1) {
    throw new ChainError('BadEpoch', `version ${record.version}: expected epoch ${p.epoch} or ${p.epoch + 1}, got ${record.epoch}`);
  }
  if (record.epoch === p.epoch && removedMembers(p, record).length > 0) {
    throw new ChainError('BadEpoch', `version ${record.version}: a member was removed without a new key epoch`);
  }
  checkKeySetSize(p, record);
  return record;
}
