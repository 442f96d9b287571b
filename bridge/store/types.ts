/**
 * The Bridge's storage interface. SQLite (better-sqlite3) implements it today; it is async and made of
 * coarse operations, each atomic on its own, so that a PostgreSQL store for multi-node deployments can
 * implement it with one transaction per call (docs/design.md, "Storage").
 */
import type { RoomPolicy } from '../../protocol/policy.ts';

export interface ApiKeyRow {
  id: string;
  name: string;
  keyHash: string;
  ephemeral: boolean;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface SolutionRow {
  id: string;
  name: string;
  createdAt: number;
}

export interface ContextRow {
  id: string;
  solutionId: string;
  name: string;
  createdAt: number;
}

export interface ContextUserRow {
  contextId: string;
  solutionId: string;
  userId: string;
  publicKey: string;
  createdAt: number;
}

/** A user who was removed from a context, with the key it had (directory history). */
export interface FormerContextUser {
  userId: string;
  publicKey: string;
  addedAt: number;
  removedAt: number;
}

export interface NonceRow {
  nonce: string;
  solutionId: string;
  publicKey: string;
  expiresAt: number;
}

export interface SessionRow {
  tokenHash: string;
  solutionId: string;
  publicKey: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
}

export interface RoomMemberRow {
  userId: string;
  publicKey: string;
  isManager: boolean;
}

/**
 * What every access check of a room needs about one user, read at once (bridge/rooms/service.ts,
 * `roomFor`): one query instead of four on the path of every room read.
 */
export interface RoomAccessRow {
  room: RoomRow;
  /** The solution of the room's context; undefined when the context is gone. */
  solutionId: string | undefined;
  /** Whether the user is in the context's directory now. */
  contextUser: boolean;
  /** The user's membership, when the user is a member. */
  member: RoomMemberRow | undefined;
}

export interface RoomRow {
  id: string;
  contextId: string;
  version: number;
  epoch: number;
  headHash: Uint8Array;
  creator: string;
  lastModifier: string;
  policy: RoomPolicy;
  publicMetaJson: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface RoomVersionRow {
  roomId: string;
  version: number;
  record: string;
  signature: string;
  hash: Uint8Array;
  author: string;
  createdAt: number;
}

export interface RoomKeyRow {
  roomId: string;
  epoch: number;
  recipientId: string;
  version: number;
  wrapped: Uint8Array;
  leafIndex: number;
  treeSize: number;
  /** Concatenated 32-byte sibling hashes. */
  proof: Uint8Array;
}

/** The state a create or update writes: the new head, its members, its record and its wrapped keys. */
export interface RoomWrite {
  room: RoomRow;
  members: RoomMemberRow[];
  version: RoomVersionRow;
  keys: RoomKeyRow[];
}

/** `context_not_found`: the context is gone when the write runs (deleted since the caller looked it up). */
export type AddUserResult =
  | { status: 'created' }
  | { status: 'unchanged' }
  | { status: 'conflict'; reason: 'user_has_other_key' | 'key_has_other_user' }
  | { status: 'context_not_found' };

export type RevokeApiKeyResult = 'revoked' | 'not_found' | 'last_key';

export type AppendResult = 'ok' | 'conflict' | 'not_found';

export type SortBy = 'createDate' | 'lastModificationDate';

export interface ListRoomsQuery {
  contextId: string;
  /** The listing user, whose list policy applies; undefined for the operator, who sees every room. */
  userId: string | undefined;
  skip: number;
  limit: number;
  sortOrder: 'asc' | 'desc';
  sortBy: SortBy;
  /** Items strictly after this room in the sort order. */
  lastId?: string | undefined;
}

/** A room's place in a listing's sort order: (sort column, id). */
export interface RoomCursor {
  sortKey: number;
  id: string;
}

/** What a filtered listing reads of each room (bridge/rooms/list-scan.ts). */
export interface RoomScanRow extends RoomCursor {
  publicMetaJson: string | null;
}

/** The rooms a listing scans: the context, the listing user's visibility, the sort order. */
export type RoomScan = Pick<ListRoomsQuery, 'contextId' | 'userId' | 'sortOrder' | 'sortBy'>;

/** A key's count in its current window, and the ms until that window ends. */
export interface RateWindowCount {
  count: number;
  resetsInMs: number;
}

/**
 * Fixed-window counters shared by every Bridge on the store (docs/operations/limits.md, "Across
 * Bridges"). Only a shared store has them: on SQLite one Bridge counts everything in memory.
 */
export interface RateWindows {
  /** Counts one event for each key (distinct keys) in its current window; returns the counts after it. */
  hit(keys: readonly string[], windowMs: number): Promise<RateWindowCount[]>;
  /** The keys' counts in their current windows (0 when none). */
  counts(keys: readonly string[], windowMs: number): Promise<RateWindowCount[]>;
  reset(key: string): Promise<void>;
}

export interface RoomSlotCaps {
  maxParticipantsPerRoom: number;
  maxConnectionsPerUserInRoom: number;
}

export type RoomSlotClaim = 'ok' | 'ROOM_FULL' | 'TOO_MANY_CONNECTIONS';

/**
 * Connections joined to rooms on every Bridge of the store, so the room caps hold across Bridges
 * (docs/operations/limits.md, "Across Bridges"). Only a shared store has them.
 */
export interface RoomSlotStore {
  /** Takes a slot for the connection, or says which cap refuses it; claims of one room run one at a time. */
  claim(roomId: string, connectionId: string, userId: string, origin: string, caps: RoomSlotCaps): Promise<RoomSlotClaim>;
  release(roomId: string, connectionId: string): Promise<void>;
  /** Marks the origin's slots it still holds as alive; the others go stale and are pruned. */
  refresh(origin: string, held: ReadonlyArray<readonly [roomId: string, connectionId: string]>): Promise<void>;
  /** Frees every slot of a Bridge that is gone or closing. */
  releaseOrigin(origin: string): Promise<void>;
}

export interface Store {
  readonly kind: string;
  /** Rate counters shared by the Bridges on this store; absent on SQLite (one Bridge). */
  readonly rateWindows?: RateWindows;
  /** Room slots shared by the Bridges on this store; absent on SQLite (one Bridge). */
  readonly roomSlots?: RoomSlotStore;
  /**
   * Resolves when the database answers; throws `StoreError` reason `Unavailable` when it cannot be
   * reached (PostgreSQL down or cut off). `/healthz` asks it.
   */
  ping(): Promise<void>;
  close(): Promise<void>;

  // Operator API keys
  insertApiKey(row: ApiKeyRow): Promise<void>;
  findApiKeyByHash(keyHash: string): Promise<ApiKeyRow | undefined>;
  listApiKeys(): Promise<ApiKeyRow[]>;
  countActiveApiKeys(): Promise<number>;
  /** Refuses to revoke the last active non-ephemeral key, which would lock the operator out. */
  revokeApiKey(id: string, at: number): Promise<RevokeApiKeyResult>;
  touchApiKey(id: string, at: number): Promise<void>;
  deleteEphemeralApiKeys(): Promise<number>;

  // Solutions and contexts
  insertSolution(row: SolutionRow): Promise<void>;
  getSolution(id: string): Promise<SolutionRow | undefined>;
  listSolutions(): Promise<SolutionRow[]>;
  /** Deletes the solution with its contexts, users, rooms and sessions; returns the ended sessions. */
  deleteSolution(id: string): Promise<{ deleted: boolean; sessionsEnded: string[] }>;
  insertContext(row: ContextRow): Promise<void>;
  getContext(id: string): Promise<ContextRow | undefined>;
  listContexts(solutionId: string): Promise<ContextRow[]>;
  /**
   * Deletes the context with its users and rooms. Sessions of users who no longer belong to any context
   * of the solution end too.
   */
  deleteContext(id: string): Promise<{ deleted: boolean; roomIds: string[]; sessionsEnded: string[] }>;

  // Context users (the directory)
  addContextUser(row: ContextUserRow): Promise<AddUserResult>;
  getContextUser(contextId: string, userId: string): Promise<ContextUserRow | undefined>;
  listContextUsers(contextId: string): Promise<ContextUserRow[]>;
  /** The directory rows of those of `userIds` who are users of the context, in no particular order. */
  contextUsersAmong(contextId: string, userIds: string[]): Promise<ContextUserRow[]>;
  /**
   * Removes the user and records it in the directory history; also ends its sessions when it no longer
   * belongs to any context of the solution.
   */
  removeContextUser(contextId: string, userId: string, at: number): Promise<{ removed: boolean; sessionsEnded: string[] }>;
  /**
   * One page of the directory's user ids, byte order: at most `limit` ids sorting after `after` ('' for
   * the first page) of the context's users and, with `former`, of users it removed (each id once).
   */
  contextUserIdsPage(contextId: string, after: string, limit: number, former: boolean): Promise<string[]>;
  /** The history rows of those of `userIds` who were removed from the context, oldest removal first per user. */
  formerContextUsersAmong(contextId: string, userIds: string[]): Promise<FormerContextUser[]>;
  /** The user id of a public key in a solution, and the contexts it belongs to. */
  findSolutionUser(solutionId: string, publicKey: string): Promise<{ userId: string; contextIds: string[] } | undefined>;

  // Authentication
  /**
   * The Bridge secret called `name`, created from `candidate` if there is none yet. Every caller (every
   * Bridge on the database) gets the same secret, whichever candidate won.
   */
  bridgeSecret(name: string, candidate: Uint8Array, now: number): Promise<Uint8Array>;
  /**
   * A login's one durable write: records `nonce` as used (kept until it expires) and inserts
   * `session`, both or neither. False, and no session, if the nonce was recorded already: the check
   * and the insert are one atomic step, which is what makes a nonce single use. With `requireUser`,
   * false too (the nonce used) when the session's key is in no context of its solution, checked in
   * the same step: a removal that ends the key's sessions either commits first and is seen here, or
   * commits after and ends this one too (a login checks the user before it verifies, and a removal
   * in between left a session for a removed key).
   */
  startSession(nonce: NonceRow, session: SessionRow, options?: { requireUser?: boolean }): Promise<boolean>;
  findSession(tokenHash: string, now: number): Promise<SessionRow | undefined>;
  deleteSession(tokenHash: string): Promise<boolean>;
  /** Deletes expired nonces and sessions; returns how many rows went. */
  pruneExpired(now: number): Promise<number>;

  // Rooms
  /**
   * Writes version 1; 'exists' if the room id is taken, 'context_full' if the context already holds
   * `maxRoomsInContext` rooms (checked in the same transaction as the insert).
   */
  createRoom(write: RoomWrite, maxRoomsInContext?: number): Promise<'created' | 'exists' | 'context_full'>;
  countRooms(contextId: string): Promise<number>;
  /** Writes the next version if the head is still `expectedVersion` (compare and swap). */
  appendRoomVersion(write: RoomWrite, expectedVersion: number): Promise<AppendResult>;
  getRoom(id: string): Promise<RoomRow | undefined>;
  getRoomMembers(id: string): Promise<RoomMemberRow[]>;
  getRoomMember(id: string, userId: string): Promise<RoomMemberRow | undefined>;
  /** The room with `userId`'s standing toward it (RoomAccessRow); undefined when the room does not exist. */
  roomAccess(id: string, userId: string): Promise<RoomAccessRow | undefined>;
  /**
   * What a room read needs at once: `roomAccess(id, userId)` and, when the room exists,
   * `getRoomKeys(id, userId, keysLimit)` (on SQLite, both after one check of its read cache).
   */
  roomRead(id: string, userId: string, keysLimit: number): Promise<{ access: RoomAccessRow; keys: RoomKeyRow[] } | undefined>;
  /**
   * Versions after `afterVersion`, oldest first: at most `limit`, and none after the first one that takes
   * the total length of record and signature text past `maxBytes` (that one is included, and so is the
   * second version when the first alone is past it).
   */
  getRoomVersions(id: string, afterVersion: number, limit: number, maxBytes?: number): Promise<RoomVersionRow[]>;
  getRoomVersion(id: string, version: number): Promise<RoomVersionRow | undefined>;
  /** The recipient's wrapped keys, newest epoch first, at most `limit`. */
  getRoomKeys(id: string, recipientId: string, limit: number): Promise<RoomKeyRow[]>;
  listRooms(query: ListRoomsQuery): Promise<{ total: number; rooms: RoomRow[] }>;
  /** At most `limit` rooms of the scan strictly after `after` in its sort order, with their public meta. */
  scanRooms(scan: RoomScan, after: RoomCursor | undefined, limit: number): Promise<RoomScanRow[]>;
  countRoomMembers(id: string): Promise<number>;
  deleteRoom(id: string): Promise<boolean>;
}
