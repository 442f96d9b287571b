/**
 * Builds the signed version records a client sends to create or update a room: chooses the epoch,
 * generates a new epoch key when it rotates, wraps it (HPKE) for everyone who is due a key, computes
 * the key-set root, seals the private meta and signs the record (docs/design.md, "Room keys and room state").
 * Browser-safe: crypto only, no I/O.
 */
import { backend, type CryptoBackend } from '../../crypto/backend/index.ts';
import { toBase64 } from '../../crypto/bytes.ts';
import { decodePublicKey } from '../../crypto/identity.ts';
import { buildKeySet } from '../../crypto/key-set.ts';
import { encodeWrappedKey, wrapEpochKeyForMany, EPOCH_KEY_LENGTH_BYTES } from '../../crypto/key-wrap.ts';
import type { CreateRoomRequest, WrappedKeyUpload } from '../../protocol/api.ts';
import type { RoomPolicy } from '../../protocol/policy.ts';
import { removedMembers, requiredRecipients, type VerifiedVersion } from '../../protocol/room-chain.ts';
import { recordHash, ROOM_RECORD_FORMAT, signRecordWith, type Member, type RoomRecord } from '../../protocol/room-record.ts';

/** The signing identity of the user who writes a version. */
export interface Author {
  userId: string;
  /** `srpk1...` */
  publicKey: string;
  /** Signs with the private key (Ed25519); the seed stays with whoever holds it. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** Seals private meta under a version's epoch key (crypto/meta.ts), bound to room, version and epoch. */
export type MetaSealer = (args: { roomId: string; version: number; epoch: number; epochKey: Uint8Array }) => Promise<Uint8Array>;

export interface RoomContent {
  users: Member[];
  managers: Member[];
  policy: RoomPolicy;
  publicMeta: Uint8Array;
  sealPrivateMeta: MetaSealer;
}

export interface BuiltVersion {
  record: RoomRecord;
  request: CreateRoomRequest;
  /** The epoch key this version's data uses (new on rotation). */
  epochKey: Uint8Array;
}

async function wrapFor(
  record: Pick<RoomRecord, 'roomId' | 'epoch'>,
  recipients: Member[],
  epochKey: Uint8Array,
  b: CryptoBackend,
): Promise<{ keys: WrappedKeyUpload[]; root: string; size: number }> {
  if (recipients.length === 0) return { keys: [], root: '', size: 0 };
  const wrapped = await wrapEpochKeyForMany(
    epochKey,
    record.roomId,
    record.epoch,
    recipients.map((m) => ({ recipientId: m.userId, recipientPublicKey: decodePublicKey(m.publicKey) })),
    { backend: b },
  );
  const encoded = wrapped.map((w) => ({ recipientId: w.recipientId, bytes: encodeWrappedKey(w.wrapped) }));
  const set = buildKeySet(
    encoded.map((w) => ({ roomId: record.roomId, epoch: record.epoch, recipientId: w.recipientId, wrapped: w.bytes })),
    b,
  );
  return {
    keys: encoded.map((w) => ({ recipientId: w.recipientId, epoch: record.epoch, wrapped: toBase64(w.bytes) })),
    root: toBase64(set.root),
    size: set.size,
  };
}

async function finish(
  base: Omit<RoomRecord, 'privateMeta' | 'keySetRoot' | 'keySetSize'>,
  recipients: Member[],
  epochKey: Uint8Array,
  content: RoomContent,
  author: Author,
  b: CryptoBackend,
): Promise<BuiltVersion> {
  const [wrapped, sealed] = await Promise.all([
    wrapFor(base, recipients, epochKey, b),
    content.sealPrivateMeta({ roomId: base.roomId, version: base.version, epoch: base.epoch, epochKey }),
  ]);
  const record: RoomRecord = { ...base, privateMeta: toBase64(sealed), keySetRoot: wrapped.root, keySetSize: wrapped.size };
  const signed = await signRecordWith(record, (message) => author.sign(message));
  return { record, epochKey, request: { record: signed.record, signature: signed.signature, keys: wrapped.keys } };
}

/** Version 1 of a new room, with epoch 1 and a fresh epoch key for every member. */
export async function buildGenesis(
  ids: { roomId: string; contextId: string },
  content: RoomContent,
  author: Author,
  options: { timestamp?: number; backend?: CryptoBackend } = {},
): Promise<BuiltVersion> {
  const b = options.backend ?? backend();
  const base = {
    format: ROOM_RECORD_FORMAT,
    roomId: ids.roomId,
    contextId: ids.contextId,
    version: 1,
    prevHash: null,
    creator: author.userId,
    author: author.userId,
    authorPublicKey: author.publicKey,
    timestamp: options.timestamp ?? Date.now(),
    users: content.users,
    managers: content.managers,
    policy: content.policy,
    publicMeta: toBase64(content.publicMeta),
    epoch: 1,
  } as const;
  const epochKey = b.randomBytes(EPOCH_KEY_LENGTH_BYTES);
  return finish(base, requiredRecipients(null, { ...base }), epochKey, content, author, b);
}

/**
 * The version after `prev`. It rotates to a new epoch when asked, or when a member is removed (or its
 * key changed), which the chain rules require; otherwise added members get the current epoch key,
 * which the caller must hold.
 */
export async function buildSuccessor(
  prev: VerifiedVersion,
  currentEpochKey: Uint8Array | undefined,
  content: RoomContent,
  author: Author,
  options: { rotate?: boolean; timestamp?: number; backend?: CryptoBackend } = {},
): Promise<BuiltVersion> {
  const b = options.backend ?? backend();
  const p = prev.record;
  const rotate = options.rotate === true || removedMembers(p, content).length > 0 || currentEpochKey === undefined;
  const epoch = rotate ? p.epoch + 1 : p.epoch;
  const base = {
    format: ROOM_RECORD_FORMAT,
    roomId: p.roomId,
    contextId: p.contextId,
    version: p.version + 1,
    prevHash: toBase64(prev.hash),
    creator: p.creator,
    author: author.userId,
    authorPublicKey: author.publicKey,
    timestamp: Math.max(options.timestamp ?? Date.now(), p.timestamp),
    users: content.users,
    managers: content.managers,
    policy: content.policy,
    publicMeta: toBase64(content.publicMeta),
    epoch,
  } as const;
  const epochKey = rotate ? b.randomBytes(EPOCH_KEY_LENGTH_BYTES) : currentEpochKey!;
  return finish(base, requiredRecipients(p, base), epochKey, content, author, b);
}

/**
 * A version this client built and signed itself is trusted as built: verifying its own signature again
 * only cost time (a share of every create in the profile). The builder already checked the record's
 * form (encodeRecord refuses what no verifier would accept).
 */
export function ownVersion(built: BuiltVersion): VerifiedVersion {
  return { signed: { record: built.request.record, signature: built.request.signature }, record: built.record, hash: recordHash(built.request.record) };
}
