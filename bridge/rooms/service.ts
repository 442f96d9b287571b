/**
 * Room CRUD on the Bridge. The Bridge cannot read a room, but it checks every new version as defence in
 * depth: the record chains onto the head, its author is the session's user and a manager of the
 * previous version under its policy, every member is in the context directory with the key the record
 * names, and the uploaded wrapped keys are exactly the ones the record's signed key-set root covers.
 * Clients check all of it again.
 */
import { toBase64 } from '../../crypto/bytes.ts';
import {
  type ContextUsersResponse,
  type CreateRoomRequest,
  DIRECTORY_PAGE_MAX_USERS,
  type ListRoomsResponse,
  type RoomKey,
  type RoomResponse,
  type RoomWriteResponse,
  type UpdateRoomRequest,
} from '../../protocol/api.ts';
import { allows, type Standing } from '../../protocol/policy.ts';
import { ChainError, membersOf, removedMembers, verifyGenesis, verifySuccessor, type VerifiedVersion } from '../../protocol/room-chain.ts';
import { parseRecordText, RecordFormatError, type RoomRecord } from '../../protocol/room-record.ts';
import { RateLimiter } from '../auth/rate-limit.ts';
import { retrySeconds, SharedLimits } from '../auth/shared-rate-limit.ts';
import type { RoomAudience, RoomDeletedEvent } from '../events.ts';
import { BridgeError } from '../errors.ts';
import type { BridgeServices } from '../services.ts';
import { frozen } from '../store/sqlite-read-cache.ts';
import type { ContextRow, ListRoomsQuery, RoomCursor, RoomKeyRow, RoomMemberRow, RoomRow, RoomWrite, SessionRow } from '../store/types.ts';
import { scanListing, Turns } from './list-scan.ts';
import { PerUserSlots } from './per-user-slots.ts';
import { compileQuery, type RoomFilter } from './query.ts';
import { checkUploadedKeys, recordInvalid, roomWrite } from './record-checks.ts';
import { visibleAccess, visibleRoom } from './visible.ts';

export interface ListInput {
  skip: number;
  limit: number;
  sortOrder: 'asc' | 'desc';
  sortBy: 'createDate' | 'lastModificationDate';
  lastId?: string | undefined;
  queryAsJson?: string | undefined;
}

/**
 * The wire form of a reader's keys, kept per rows array: the SQLite store hands out the same frozen
 * array while the database is unchanged (bridge/store/sqlite-read-cache.ts), so a repeated read of a
 * room encodes nothing again (docs/operations/room-creates.md, "Verified gets"). Exact: a frozen array
 * and its rows never change, and an entry goes with its array when the cache drops it. Rows a store
 * does not cache (PostgreSQL's, which are not frozen) are encoded each time.
 */
const keyResponses = new WeakMap<readonly RoomKeyRow[], readonly RoomKey[]>();

function keysResponse(rows: readonly RoomKeyRow[]): RoomKey[] {
  if (!Object.isFrozen(rows)) return rows.map(keyResponse);
  let keys = keyResponses.get(rows);
  if (keys === undefined) {
    keys = frozen(rows.map(keyResponse));
    keyResponses.set(rows, keys);
  }
  return keys as RoomKey[];
}

function keyResponse(row: RoomKeyRow): RoomKey {
  const proof: string[] = [];
  for (let i = 0; i < row.proof.length; i += 32) proof.push(toBase64(row.proof.subarray(i, i + 32)));
  return {
    epoch: row.epoch,
    version: row.version,
    wrapped: toBase64(row.wrapped),
    leafIndex: row.leafIndex,
    treeSize: row.treeSize,
    proof,
  };
}

function audience(write: RoomWrite): RoomAudience {
  return {
    members: write.members.map((m) => m.userId),
    managers: write.members.filter((m) => m.isManager).map((m) => m.userId),
    creator: write.room.creator,
    policy: write.room.policy,
  };
}

/** The `roomDeleted` event of a room whose rows are gone, from what was read before deleting them. */
export function roomDeletedEvent(room: RoomRow, members: RoomMemberRow[], at: number): RoomDeletedEvent {
  return {
    roomId: room.id,
    contextId: room.contextId,
    members: members.map((m) => m.userId),
    managers: members.filter((m) => m.isManager).map((m) => m.userId),
    creator: room.creator,
    policy: room.policy,
    at,
  };
}

/** Limits the room routes applied, for /metrics (docs/operations/limits.md). Only ever incremented. */
/** The room-write rate's window (`writesPerUserPerMinute`). Ms. */
const WRITE_WINDOW_MS = 60_000;

export interface RoomCounters {
  /** Pages of a room's chain ended early by `pageBytes`. */
  pagesCutByBytes: number;
  /** Room listings ended early (fewer items than their limit) by `pageBytes`. */
  listingsCutByBytes: number;
  /** Filtered listings refused with QUERY_TOO_COSTLY (`listScanBytes`). */
  listingsTooCostly: number;
  /** Creates refused with CONTEXT_ROOM_QUOTA (`roomsPerContext`). */
  contextRoomQuotaRefusals: number;
  /** Updates refused with ROOM_VERSION_QUOTA (`versionsPerRoom`). */
  roomVersionQuotaRefusals: number;
  /** Writes refused with RATE_LIMITED (`writesPerUserPerMinute`). */
  writesRateLimited: number;
  /** Filtered listings refused with RATE_LIMITED: the user had `filteredListingsPerUser` in progress. */
  listingsRateLimited: number;
  /** Write-rate decisions taken on this Bridge's own window because the shared counters failed. */
  writeLimitFallbacks: number;
}

/** A user for the write rate and the listing slots: a public key in a solution, the same person in every context of it. */
const userKeyOf = (session: SessionRow): string => `${session.solutionId} ${session.publicKey}`;

/** What a record counts for against `pageBytes`: its text and its signature. */
const recordBytes = (r: { record: string; signature: string }): number => r.record.length + r.signature.length;

export class RoomService {
  readonly counters: RoomCounters = {
    pagesCutByBytes: 0,
    listingsCutByBytes: 0,
    listingsTooCostly: 0,
    contextRoomQuotaRefusals: 0,
    roomVersionQuotaRefusals: 0,
    writesRateLimited: 0,
    listingsRateLimited: 0,
    writeLimitFallbacks: 0,
  };
  /** Filtered listings take turns at the event loop (bridge/rooms/list-scan.ts). */
  readonly #turns = new Turns();
  /** Filtered listings in progress per user (a public key in a solution). */
  readonly #scans: PerUserSlots;
  readonly #writes: RateLimiter;
  /** Room writes counted across the Bridges on a shared store (docs/operations/limits.md, "Across Bridges"). */
  readonly #shared: SharedLimits;

  constructor(private readonly s: BridgeServices) {
    this.#writes = new RateLimiter({ limit: s.config.limits.writesPerUserPerMinute, windowMs: WRITE_WINDOW_MS, now: s.now });
    this.#scans = new PerUserSlots(s.config.limits.filteredListingsPerUser);
    this.#shared = new SharedLimits(s.store.rateWindows, s.log, () => this.counters.writeLimitFallbacks++);
  }

  /**
   * Counts a room write (create, update, delete) of the session's user, refusing it with 429 when the
   * user is over `writesPerUserPerMinute`. The HTTP layer calls it before reading the write's body.
   * Every attempt counts, failed ones too: they cost checks.
   */
  async admitWrite(session: SessionRow): Promise<void> {
    const key = userKeyOf(session);
    const limit = this.s.config.limits.writesPerUserPerMinute;
    const localWait = this.#writes.retryAfter(key);
    if (localWait === 0) this.#writes.hit(key);
    // On a shared store the count is every Bridge's (bridge/auth/shared-rate-limit.ts); this Bridge's
    // own window counts too, and decides when the store cannot answer.
    const retryAfter = await this.#shared.decide(
      async (windows) => {
        const [w] = await windows.hit([SharedLimits.key('room-writes', key)], WRITE_WINDOW_MS);
        return w!.count > limit ? retrySeconds(w!.resetsInMs) : 0;
      },
      () => localWait,
    );
    if (retryAfter > 0) {
      this.counters.writesRateLimited++;
      throw new BridgeError('RATE_LIMITED', `expected at most ${limit} room writes a minute; retry in ${retryAfter} s`, {
        retryAfter,
        details: { limit },
      });
    }
  }

  #contextFull(contextId: string): BridgeError {
    this.counters.contextRoomQuotaRefusals++;
    const limit = this.s.config.limits.roomsPerContext;
    return BridgeError.conflict('CONTEXT_ROOM_QUOTA', `context "${contextId}" already holds its limit of ${limit} rooms`, { limit });
  }

  // ---- access

  /** The context, if it exists in the session's solution and the session's user belongs to it. */
  private async contextFor(session: SessionRow, contextId: string): Promise<ContextRow> {
    const context = await this.s.store.getContext(contextId);
    if (context === undefined || context.solutionId !== session.solutionId) {
      throw BridgeError.notFound('CONTEXT_NOT_FOUND', `context "${contextId}" does not exist`);
    }
    if ((await this.s.store.getContextUser(contextId, session.userId)) === undefined) {
      throw BridgeError.forbidden(`"${session.userId}" is not a user of context "${contextId}"`);
    }
    return context;
  }

  /**
   * The room, if the session's user may see that it exists: users outside the room's context get
   * 404 ROOM_NOT_FOUND exactly as for a room that does not exist.
   */
  private roomFor(session: SessionRow, roomId: string): Promise<{ room: RoomRow; standing: Standing }> {
    return visibleRoom(this.s.store, session, roomId);
  }

  // ---- checks shared by create and update

  private checkAuthor(session: SessionRow, record: RoomRecord): void {
    if (record.author !== session.userId || record.authorPublicKey !== session.publicKey) {
      throw BridgeError.forbidden(`the record's author must be the session's user "${session.userId}" with its own key`);
    }
  }

  private async checkDirectory(record: RoomRecord): Promise<void> {
    // The members' rows only: listing the whole context made every create cost O(context users).
    const members = membersOf(record);
    const directory = new Map((await this.s.store.contextUsersAmong(record.contextId, [...members.keys()])).map((u) => [u.userId, u.publicKey]));
    for (const [userId, publicKey] of members) {
      const known = directory.get(userId);
      if (known === undefined) {
        throw BridgeError.unprocessable('RECORD_INVALID', `member "${userId}" is not a user of context "${record.contextId}"`, {
          reason: 'UnknownMember',
        });
      }
      if (known !== publicKey) {
        throw BridgeError.unprocessable('RECORD_INVALID', `member "${userId}" is listed with a key that is not its key in the context`, {
          reason: 'WrongMemberKey',
        });
      }
    }
  }

  // ---- operations

  async create(session: SessionRow, body: CreateRoomRequest): Promise<RoomWriteResponse> {
    let verified: VerifiedVersion;
    try {
      verified = await verifyGenesis({ record: body.record, signature: body.signature });
    } catch (error) {
      if (error instanceof ChainError) throw recordInvalid(error);
      throw error;
    }
    const { record } = verified;
    await this.contextFor(session, record.contextId);
    this.checkAuthor(session, record);
    // Before the directory and key-set checks, which grow with the room; the store checks again with
    // the insert, so concurrent creates cannot pass the quota together.
    const { roomsPerContext } = this.s.config.limits;
    if ((await this.s.store.countRooms(record.contextId)) >= roomsPerContext) throw this.#contextFull(record.contextId);
    await this.checkDirectory(record);
    const keys = checkUploadedKeys(null, record, body.keys);
    const now = this.s.now();
    const write = roomWrite(verified, keys, now, now);
    const created = await this.s.store.createRoom(write, roomsPerContext);
    if (created === 'exists') throw BridgeError.conflict('ROOM_EXISTS', `room "${record.roomId}" already exists`);
    if (created === 'context_full') throw this.#contextFull(record.contextId);
    this.s.events.emit('roomCreated', {
      roomId: record.roomId,
      contextId: record.contextId,
      version: 1,
      epoch: record.epoch,
      ...audience(write),
      at: write.room.updatedAt,
    });
    return { roomId: record.roomId, version: 1 };
  }

  async update(session: SessionRow, roomId: string, body: UpdateRoomRequest): Promise<RoomWriteResponse> {
    const { room, standing } = await this.roomFor(session, roomId);
    if (!standing.manager) throw BridgeError.forbidden(`"${session.userId}" is not a manager of room "${roomId}"`);
    if (!allows(room.policy.update, standing)) {
      throw BridgeError.forbidden(`policy "update: ${room.policy.update}" forbids "${session.userId}"`);
    }
    // A hard cap, not compaction: clients verify the chain from version 1 (or from the head they trust),
    // so the Bridge can never drop old versions (docs/operations/limits.md, "Quotas").
    const { versionsPerRoom } = this.s.config.limits;
    if (room.version >= versionsPerRoom) {
      this.counters.roomVersionQuotaRefusals++;
      throw BridgeError.conflict('ROOM_VERSION_QUOTA', `room "${roomId}" already has its limit of ${versionsPerRoom} versions`, {
        limit: versionsPerRoom,
      });
    }
    const conflict = () => BridgeError.conflict('VERSION_CONFLICT', `room "${roomId}" is at version ${room.version}`, { currentVersion: room.version });
    if (body.force !== true && body.version !== room.version) throw conflict();

    let next: RoomRecord;
    try {
      next = parseRecordText(body.record);
    } catch (error) {
      if (error instanceof RecordFormatError) throw recordInvalid(error);
      throw error;
    }
    if (next.roomId !== roomId) throw BridgeError.unprocessable('RECORD_INVALID', 'the record is for another room', { reason: 'BrokenChain' });
    // A record built on another head cannot chain: the same conflict as a stale `version`.
    if (next.version !== room.version + 1 || next.prevHash !== toBase64(room.headHash)) throw conflict();

    const head = await this.s.store.getRoomVersion(roomId, room.version);
    if (head === undefined) throw new Error(`room ${roomId}: head version ${room.version} is missing`);
    const prev: VerifiedVersion = {
      signed: { record: head.record, signature: head.signature },
      record: parseRecordText(head.record),
      hash: head.hash,
    };
    let verified: VerifiedVersion;
    try {
      verified = await verifySuccessor(prev, { record: body.record, signature: body.signature });
    } catch (error) {
      if (error instanceof ChainError) throw recordInvalid(error);
      throw error;
    }
    this.checkAuthor(session, next);
    await this.checkDirectory(next);
    const keys = checkUploadedKeys(prev.record, next, body.keys);
    const write = roomWrite(verified, keys, room.createdAt, this.s.now());
    const result = await this.s.store.appendRoomVersion(write, room.version);
    if (result === 'not_found') throw BridgeError.notFound('ROOM_NOT_FOUND', `room "${roomId}" does not exist`);
    if (result === 'conflict') {
      throw BridgeError.conflict('VERSION_CONFLICT', `room "${roomId}" changed while this update was checked`, {
        currentVersion: (await this.s.store.getRoom(roomId))?.version,
      });
    }
    this.s.events.emit('roomUpdated', {
      roomId,
      contextId: room.contextId,
      version: next.version,
      epoch: next.epoch,
      previousEpoch: room.epoch,
      ...audience(write),
      removed: removedMembers(prev.record, next),
      at: write.room.updatedAt,
    });
    return { roomId, version: next.version };
  }

  async get(session: SessionRow, roomId: string, since: number): Promise<RoomResponse> {
    const { recordsPerResponse, pageBytes, keysPerResponse } = this.s.config.limits;
    // The standing and the keys in one read (one check of the SQLite read cache); the keys go out only
    // past the policy.
    const read = await this.s.store.roomRead(roomId, session.userId, keysPerResponse);
    const { room, standing } = visibleAccess(read?.access, session, roomId);
    if (!allows(room.policy.get, standing)) {
      throw BridgeError.forbidden(`policy "get: ${room.policy.get}" forbids "${session.userId}"`);
    }
    return this.view(room, session.userId, since, recordsPerResponse, pageBytes, read?.keys);
  }

  /**
   * The room with records after `since`: at most `limit` of them and at most `maxBytes` of record text,
   * but always one when there is one, so that a client paging on `hasMore` always moves forward. `keys`:
   * the user's keys when already read.
   */
  private async view(room: RoomRow, userId: string, since: number, limit: number, maxBytes = Infinity, keys?: RoomKeyRow[]): Promise<RoomResponse> {
    // A reader at the head (most reads of a known room) needs no version query.
    const rows = since >= room.version ? [] : await this.s.store.getRoomVersions(room.id, since, limit + 1, maxBytes);
    let count = 0;
    let bytes = 0;
    for (const row of rows) {
      bytes += recordBytes(row);
      if (count === limit || (count > 0 && bytes > maxBytes)) break;
      count++;
    }
    if (count < rows.length && count < limit) this.counters.pagesCutByBytes++;
    keys ??= await this.s.store.getRoomKeys(room.id, userId, this.s.config.limits.keysPerResponse);
    return {
      roomId: room.id,
      contextId: room.contextId,
      version: room.version,
      epoch: room.epoch,
      records: rows.slice(0, count).map((r) => ({ version: r.version, record: r.record, signature: r.signature })),
      hasMore: rows.length > count,
      keys: keysResponse(keys),
    };
  }

  async list(session: SessionRow, contextId: string, input: ListInput): Promise<ListRoomsResponse> {
    await this.contextFor(session, contextId);
    const max = this.s.config.limits.listPageSize;
    if (input.limit > max) {
      throw BridgeError.invalid('VALIDATION_FAILED', `query.limit: expected at most ${max}, got ${input.limit}`, { field: 'query.limit' });
    }
    const query: ListRoomsQuery = {
      contextId,
      userId: session.userId,
      skip: input.skip,
      limit: input.limit,
      sortOrder: input.sortOrder,
      sortBy: input.sortBy,
      lastId: input.lastId,
    };
    const { total, rooms } = input.queryAsJson === undefined ? await this.s.store.listRooms(query) : await this.#filtered(session, query, input.queryAsJson);
    const readItems: RoomResponse[] = [];
    // A listing is bounded by `pageBytes` of records too, as a room's page is: its rooms' head records
    // may be up to a MiB each. It always holds one room; one that stops early has fewer items than its
    // limit, and the client asks for the rest with a larger `skip`.
    const { pageBytes } = this.s.config.limits;
    let bytes = 0;
    for (const room of rooms) {
      // Each item carries the head record only; a client that trusts an older version reads the rest.
      const item = await this.view(room, session.userId, room.version - 1, 1);
      bytes += item.records.reduce((n, r) => n + recordBytes(r), 0);
      if (readItems.length > 0 && bytes > pageBytes) {
        this.counters.listingsCutByBytes++;
        break;
      }
      readItems.push(item);
    }
    return { totalAvailable: total, readItems };
  }

  /** A listing with `queryAsJson`: evaluated in bounded slices, refused past `listScanBytes`. */
  async #filtered(session: SessionRow, query: ListRoomsQuery, queryAsJson: string): Promise<{ total: number; rooms: RoomRow[] }> {
    const filter = compileQuery(queryAsJson);
    const user = userKeyOf(session);
    if (!this.#scans.take(user)) {
      this.counters.listingsRateLimited++;
      const most = this.s.config.limits.filteredListingsPerUser;
      throw BridgeError.rateLimited('RATE_LIMITED', `at most ${most} filtered listings (queryAsJson) at once; wait for one to finish`, 1);
    }
    try {
      return await this.#scan(query, filter);
    } finally {
      this.#scans.release(user);
    }
  }

  async #scan(query: ListRoomsQuery, filter: RoomFilter): Promise<{ total: number; rooms: RoomRow[] }> {
    let after: RoomCursor | null | undefined;
    if (query.lastId !== undefined) {
      // As in the unfiltered listing: an unknown lastId gives an empty page, never the first one.
      const last = await this.s.store.getRoom(query.lastId);
      after = last === undefined ? null : { id: last.id, sortKey: query.sortBy === 'createDate' ? last.createdAt : last.updatedAt };
    }
    const budget = this.s.config.limits.listScanBytes;
    const result = await scanListing(this.s.store, this.#turns, { scan: query, filter, skip: query.skip, limit: query.limit, after, budget });
    if (result.kind === 'too_costly') {
      this.counters.listingsTooCostly++;
      throw BridgeError.unprocessable(
        'QUERY_TOO_COSTLY',
        `queryAsJson: the listing would read more than ${budget} bytes of public meta; narrow it (fewer rooms, no $contains over long arrays)`,
        { limit: budget },
      );
    }
    const rooms: RoomRow[] = [];
    for (const id of result.ids) {
      const room = await this.s.store.getRoom(id);
      if (room !== undefined) rooms.push(room); // deleted since it was scanned
    }
    return { total: result.total, rooms };
  }

  async delete(session: SessionRow, roomId: string): Promise<void> {
    const { room, standing } = await this.roomFor(session, roomId);
    if (!allows(room.policy.delete, standing)) {
      throw BridgeError.forbidden(`policy "delete: ${room.policy.delete}" forbids "${session.userId}"`);
    }
    await this.deleteRoom(room);
  }

  /** Deletes a room and tells the real-time layer (also used by the management API). */
  async deleteRoom(room: RoomRow): Promise<void> {
    const members = await this.s.store.getRoomMembers(room.id);
    if (!(await this.s.store.deleteRoom(room.id))) throw BridgeError.notFound('ROOM_NOT_FOUND', `room "${room.id}" does not exist`);
    this.s.events.emit('roomDeleted', roomDeletedEvent(room, members, this.s.now()));
  }

  /**
   * The directory: the users named in `userIds` (at most DIRECTORY_READ_MAX_USERS), or one page of
   * at most `page.limit` users after `page.after` in user-id order. With `history`, each listed user's
   * former keys too; a page counts a user once whether it is current, former or both.
   */
  async contextUsers(
    session: SessionRow,
    contextId: string,
    history: boolean,
    userIds: string[] | undefined,
    page: { after?: string; limit?: number } = {},
  ): Promise<ContextUsersResponse> {
    await this.contextFor(session, contextId);
    const store = this.s.store;
    let ids = userIds;
    let next: string | undefined;
    if (ids === undefined) {
      const limit = page.limit ?? DIRECTORY_PAGE_MAX_USERS;
      ids = await store.contextUserIdsPage(contextId, page.after ?? '', limit + 1, history);
      if (ids.length > limit) {
        ids.length = limit;
        next = ids[limit - 1];
      }
    }
    const byId = (a: { userId: string }, b: { userId: string }) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0);
    const rows = ids.length === 0 ? [] : await store.contextUsersAmong(contextId, ids);
    const users = rows.map((u) => ({ userId: u.userId, publicKey: u.publicKey })).sort(byId);
    const reply: ContextUsersResponse = next === undefined ? { users } : { users, next };
    if (!history) return reply;
    const former = ids.length === 0 ? [] : await store.formerContextUsersAmong(contextId, ids);
    reply.formerUsers = former.map((u) => ({ userId: u.userId, publicKey: u.publicKey, addedAt: u.addedAt, removedAt: u.removedAt }));
    return reply;
  }
}
