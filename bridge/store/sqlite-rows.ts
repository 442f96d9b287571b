/** Row mappers of the SQLite store (sqlite.ts): database rows to the store's typed rows. */
import type { RoomPolicy } from '../../protocol/policy.ts';
import type {
  ApiKeyRow,
  ContextRow,
  ContextUserRow,
  FormerContextUser,
  RoomAccessRow,
  RoomKeyRow,
  RoomMemberRow,
  RoomRow,
  RoomVersionRow,
  SessionRow,
  SolutionRow,
} from './types.ts';

export type Row = Record<string, unknown>;

export const apiKey = (r: Row): ApiKeyRow => ({
  id: r.id as string,
  name: r.name as string,
  keyHash: r.key_hash as string,
  ephemeral: r.ephemeral === 1,
  createdAt: r.created_at as number,
  lastUsedAt: (r.last_used_at as number | null) ?? null,
  revokedAt: (r.revoked_at as number | null) ?? null,
});
export const solution = (r: Row): SolutionRow => ({ id: r.id as string, name: r.name as string, createdAt: r.created_at as number });
export const context = (r: Row): ContextRow => ({
  id: r.id as string,
  solutionId: r.solution_id as string,
  name: r.name as string,
  createdAt: r.created_at as number,
});
export const formerUser = (r: Row): FormerContextUser => ({
  userId: r.user_id as string,
  publicKey: r.public_key as string,
  addedAt: r.added_at as number,
  removedAt: r.removed_at as number,
});
export const contextUser = (r: Row): ContextUserRow => ({
  contextId: r.context_id as string,
  solutionId: r.solution_id as string,
  userId: r.user_id as string,
  publicKey: r.public_key as string,
  createdAt: r.created_at as number,
});
export const session = (r: Row): SessionRow => ({
  tokenHash: r.token_hash as string,
  solutionId: r.solution_id as string,
  publicKey: r.public_key as string,
  userId: r.user_id as string,
  createdAt: r.created_at as number,
  expiresAt: r.expires_at as number,
});
export const bytes = (value: unknown): Uint8Array => {
  const buffer = value as Buffer;
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
};
/** better-sqlite3 binds Buffers, not plain Uint8Arrays; this wraps without copying. */
export const blob = (value: Uint8Array): Buffer => Buffer.from(value.buffer, value.byteOffset, value.length);
export const room = (r: Row): RoomRow => ({
  id: r.id as string,
  contextId: r.context_id as string,
  version: r.version as number,
  epoch: r.epoch as number,
  headHash: bytes(r.head_hash),
  creator: r.creator as string,
  lastModifier: r.last_modifier as string,
  policy: JSON.parse(r.policy as string) as RoomPolicy,
  publicMetaJson: (r.public_meta_json as string | null) ?? null,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});
export const member = (r: Row): RoomMemberRow => ({
  userId: r.user_id as string,
  publicKey: r.public_key as string,
  isManager: r.is_manager === 1,
});
/**
 * A row of the room access query (the `roomAccess` statement, postgres-rooms.ts `roomAccess`): the
 * room's columns, then the user's standing. `flag` reads a boolean column: 0/1 here, BOOLEAN there.
 */
export const roomAccessRow =
  (flag: (value: unknown) => boolean) =>
  (r: Row): RoomAccessRow => ({
    room: room(r),
    solutionId: (r.access_solution_id as string | null) ?? undefined,
    contextUser: flag(r.access_context_user),
    member:
      r.member_user_id === null
        ? undefined
        : { userId: r.member_user_id as string, publicKey: r.member_public_key as string, isManager: flag(r.member_is_manager) },
  });
export const roomAccess = roomAccessRow((value) => value === 1);
export const version = (r: Row): RoomVersionRow => ({
  roomId: r.room_id as string,
  version: r.version as number,
  record: r.record as string,
  signature: r.signature as string,
  hash: bytes(r.hash),
  author: r.author as string,
  createdAt: r.created_at as number,
});
export const roomKey = (r: Row): RoomKeyRow => ({
  roomId: r.room_id as string,
  epoch: r.epoch as number,
  recipientId: r.recipient_id as string,
  version: r.version as number,
  wrapped: bytes(r.wrapped),
  leafIndex: r.leaf_index as number,
  treeSize: r.tree_size as number,
  proof: bytes(r.proof),
});
