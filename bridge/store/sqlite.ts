/**
 * The SQLite store: better-sqlite3 in WAL mode, one database file in the data folder. better-sqlite3 is
 * synchronous, so every operation here is atomic by construction; multi-row writes also run inside a
 * transaction so a failure leaves nothing half-written.
 */
import type Database from 'better-sqlite3';
import { policyBits } from '../../protocol/policy.ts';
import { openDatabase, type OpenDatabaseOptions } from './open.ts';
import { apiKey, solution, context, contextUser, formerUser, session, blob, room, member, roomAccess, version, roomKey, type Row } from './sqlite-rows.ts';
import { frozen, SqliteReadCache } from './sqlite-read-cache.ts';
import { listRooms, scanRooms } from './sqlite-room-lists.ts';
import { prepareStatements, type Statements } from './sqlite-statements.ts';
import type {
  AddUserResult,
  ApiKeyRow,
  AppendResult,
  ContextRow,
  ContextUserRow,
  FormerContextUser,
  ListRoomsQuery,
  NonceRow,
  RoomCursor,
  RoomScan,
  RoomScanRow,
  RevokeApiKeyResult,
  RoomAccessRow,
  RoomKeyRow,
  RoomMemberRow,
  RoomRow,
  RoomVersionRow,
  RoomWrite,
  SessionRow,
  SolutionRow,
  Store,
} from './types.ts';

export { DATABASE_FILE } from './open.ts';
/** Where the database is and how to open it; the start-up checks are in open.ts. */
export type SqliteStoreOptions = OpenDatabaseOptions;

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly file: string;
  private readonly db: Database.Database;
  private readonly stmt: Statements;
  /** Writes waiting for the next group commit (`grouped`): rooms, logins and logouts, context users. */
  private readonly pendingWrites: Array<{ write: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }> = [];
  /**
   * Rooms per context, for the quota check of every create: `COUNT(*)` walks the context's index
   * entries (about 0.1 ms per count at 2,000 rooms, growing with the context). An entry is loaded by
   * one count and moved by the creates here; all are forgotten when another connection has committed
   * to the file (`PRAGMA data_version` moved: another store on it, as the store contract races two),
   * on a delete, and on any failed write (docs/operations/room-creates.md).
   */
  private readonly roomCounts = new Map<string, number>();
  private roomCountsVersion: unknown;
  private readonly dataVersion: Database.Statement;
  /**
   * One write of a group in its own savepoint (better-sqlite3 nests a transaction as one), made once:
   * `db.transaction()` builds four wrappers per call, a share of every create's time on the Bridge.
   */
  private readonly inSavepoint: (write: () => unknown) => unknown;
  /** Room access and key reads while the database is unchanged (sqlite-read-cache.ts). */
  private readonly reads: SqliteReadCache;

  constructor(options: SqliteStoreOptions) {
    ({ db: this.db, file: this.file } = openDatabase(options));
    this.stmt = prepareStatements(this.db);
    this.dataVersion = this.db.prepare('PRAGMA data_version').pluck();
    this.inSavepoint = this.db.transaction((write: () => unknown) => write());
    this.reads = new SqliteReadCache(this.db);
  }

  /** The applied schema versions, for diagnostics and tests. */
  schemaVersions(): number[] {
    return (this.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as Array<{ version: number }>).map((r) => r.version);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.commitPending();
    if (this.db.open) this.db.close();
  }

  // ---- API keys

  async insertApiKey(row: ApiKeyRow): Promise<void> {
    this.stmt.insertApiKey.run({ id: row.id, name: row.name, keyHash: row.keyHash, ephemeral: row.ephemeral ? 1 : 0, createdAt: row.createdAt });
  }

  async findApiKeyByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    const r = this.stmt.apiKeyByHash.get(keyHash) as Row | undefined;
    return r === undefined ? undefined : apiKey(r);
  }

  async listApiKeys(): Promise<ApiKeyRow[]> {
    return (this.stmt.listApiKeys.all() as Row[]).map(apiKey);
  }

  async countActiveApiKeys(): Promise<number> {
    return (this.stmt.countActiveApiKeys.get() as { n: number }).n;
  }

  async revokeApiKey(id: string, at: number): Promise<RevokeApiKeyResult> {
    return this.db.transaction((): RevokeApiKeyResult => {
      const r = this.stmt.apiKeyById.get(id) as Row | undefined;
      if (r === undefined || r.revoked_at !== null) return 'not_found';
      if (r.ephemeral === 0 && (this.stmt.countActiveApiKeys.get() as { n: number }).n <= 1) return 'last_key';
      this.stmt.revokeApiKey.run(at, id);
      return 'revoked';
    })();
  }

  async touchApiKey(id: string, at: number): Promise<void> {
    this.stmt.touchApiKey.run(at, id);
  }

  async deleteEphemeralApiKeys(): Promise<number> {
    return this.stmt.deleteEphemeralApiKeys.run().changes;
  }

  // ---- Solutions and contexts

  async insertSolution(row: SolutionRow): Promise<void> {
    this.stmt.insertSolution.run(row);
  }

  async getSolution(id: string): Promise<SolutionRow | undefined> {
    const r = this.stmt.getSolution.get(id) as Row | undefined;
    return r === undefined ? undefined : solution(r);
  }

  async listSolutions(): Promise<SolutionRow[]> {
    return (this.stmt.listSolutions.all() as Row[]).map(solution);
  }

  async deleteSolution(id: string): Promise<{ deleted: boolean; sessionsEnded: string[] }> {
    this.roomCounts.clear();
    return this.db.transaction(() => {
      const sessionsEnded = (this.stmt.sessionsOfSolution.all(id) as Array<{ token_hash: string }>).map((r) => r.token_hash);
      return { deleted: this.stmt.deleteSolution.run(id).changes > 0, sessionsEnded };
    })();
  }

  async insertContext(row: ContextRow): Promise<void> {
    this.stmt.insertContext.run(row);
  }

  async getContext(id: string): Promise<ContextRow | undefined> {
    const r = this.stmt.getContext.get(id) as Row | undefined;
    return r === undefined ? undefined : context(r);
  }

  async listContexts(solutionId: string): Promise<ContextRow[]> {
    return (this.stmt.listContexts.all(solutionId) as Row[]).map(context);
  }

  async deleteContext(id: string): Promise<{ deleted: boolean; roomIds: string[]; sessionsEnded: string[] }> {
    this.roomCounts.clear();
    return this.db.transaction(() => {
      const roomIds = (this.stmt.roomIdsOfContext.all(id) as Array<{ id: string }>).map((r) => r.id);
      const ctx = this.stmt.getContext.get(id) as Row | undefined;
      const deleted = this.stmt.deleteContext.run(id).changes > 0;
      const sessionsEnded = ctx === undefined ? [] : this.endOrphanSessions(ctx.solution_id as string);
      return { deleted, roomIds, sessionsEnded };
    })();
  }

  /** Ends the sessions of public keys that no longer belong to any context of the solution. */
  private endOrphanSessions(solutionId: string): string[] {
    const orphans = (this.stmt.orphanSessions.all(solutionId) as Array<{ token_hash: string }>).map((r) => r.token_hash);
    for (const hash of orphans) this.stmt.deleteSession.run(hash);
    return orphans;
  }

  // ---- Context users

  // Adding and removing users is group-committed as room writes are (`grouped`): users registered at
  // once (an operator's import, a dev-mode burst) shared no commit and each waited for its own fsync.
  async addContextUser(row: ContextUserRow): Promise<AddUserResult> {
    return this.grouped((): AddUserResult => {
      if (this.stmt.getContext.get(row.contextId) === undefined) return { status: 'context_not_found' };
      const existing = this.stmt.getContextUser.get(row.contextId, row.userId) as Row | undefined;
      if (existing !== undefined) {
        return existing.public_key === row.publicKey ? { status: 'unchanged' } : { status: 'conflict', reason: 'user_has_other_key' };
      }
      const keys = (this.stmt.userKeysInSolution.all(row.solutionId, row.userId) as Array<{ public_key: string }>).map((r) => r.public_key);
      if (keys.some((k) => k !== row.publicKey)) return { status: 'conflict', reason: 'user_has_other_key' };
      const users = (this.stmt.keyUsersInSolution.all(row.solutionId, row.publicKey) as Array<{ user_id: string }>).map((r) => r.user_id);
      if (users.some((u) => u !== row.userId)) return { status: 'conflict', reason: 'key_has_other_user' };
      this.stmt.insertContextUser.run(row);
      return { status: 'created' };
    });
  }

  async getContextUser(contextId: string, userId: string): Promise<ContextUserRow | undefined> {
    const r = this.stmt.getContextUser.get(contextId, userId) as Row | undefined;
    return r === undefined ? undefined : contextUser(r);
  }

  async contextUsersAmong(contextId: string, userIds: string[]): Promise<ContextUserRow[]> {
    return (this.stmt.contextUsersAmong.all(contextId, JSON.stringify(userIds)) as Row[]).map(contextUser);
  }

  async listContextUsers(contextId: string): Promise<ContextUserRow[]> {
    return (this.stmt.listContextUsers.all(contextId) as Row[]).map(contextUser);
  }

  async removeContextUser(contextId: string, userId: string, at: number): Promise<{ removed: boolean; sessionsEnded: string[] }> {
    return this.grouped(() => {
      const existing = this.stmt.getContextUser.get(contextId, userId) as Row | undefined;
      if (existing === undefined) return { removed: false, sessionsEnded: [] };
      this.stmt.deleteContextUser.run(contextId, userId);
      this.stmt.insertUserHistory.run(contextId, userId, existing.public_key, existing.created_at, at);
      const solutionId = existing.solution_id as string;
      const publicKey = existing.public_key as string;
      const stillKnown = (this.stmt.contextsOfKey.all(solutionId, publicKey) as Row[]).length > 0;
      if (stillKnown) return { removed: true, sessionsEnded: [] };
      const ended = (this.stmt.sessionsOfKey.all(solutionId, publicKey) as Array<{ token_hash: string }>).map((r) => r.token_hash);
      this.stmt.deleteSessionsOfKey.run(solutionId, publicKey);
      return { removed: true, sessionsEnded: ended };
    });
  }

  async contextUserIdsPage(contextId: string, after: string, limit: number, former: boolean): Promise<string[]> {
    const rows = (
      former ? this.stmt.contextUserIdsPageWithFormer.all({ contextId, after, limit }) : this.stmt.contextUserIdsPage.all(contextId, after, limit)
    ) as Array<{ user_id: string }>;
    return rows.map((r) => r.user_id);
  }

  async formerContextUsersAmong(contextId: string, userIds: string[]): Promise<FormerContextUser[]> {
    return (this.stmt.userHistoryAmong.all(contextId, JSON.stringify(userIds)) as Row[]).map(formerUser);
  }

  async findSolutionUser(solutionId: string, publicKey: string): Promise<{ userId: string; contextIds: string[] } | undefined> {
    const rows = this.stmt.contextsOfKey.all(solutionId, publicKey) as Array<{ user_id: string; context_id: string }>;
    if (rows.length === 0) return undefined;
    return { userId: rows[0]!.user_id, contextIds: rows.map((r) => r.context_id) };
  }

  // ---- Authentication

  // Logins and logouts are group-committed as room writes are (`grouped`): each waits for an fsync, and
  // a Bridge that many clients log in to at once (after its restart) would do one at a time.
  async bridgeSecret(name: string, candidate: Uint8Array, now: number): Promise<Uint8Array> {
    this.stmt.insertSecret.run(name, Buffer.from(candidate), now);
    return new Uint8Array((this.stmt.getSecret.get(name) as { secret: Buffer }).secret);
  }

  async startSession(nonce: NonceRow, row: SessionRow, options: { requireUser?: boolean } = {}): Promise<boolean> {
    // One savepoint of one group: a session whose insert fails takes its nonce back with it. Removals
    // are grouped writes too, so the user check and the insert see every removal before them.
    return this.grouped(() => {
      if (this.stmt.recordUsedNonce.run(nonce).changes === 0) return false;
      if (options.requireUser === true && this.stmt.contextsOfKey.get(row.solutionId, row.publicKey) === undefined) return false;
      this.stmt.insertSession.run(row);
      return true;
    });
  }

  async findSession(tokenHash: string, now: number): Promise<SessionRow | undefined> {
    const r = this.stmt.findSession.get(tokenHash, now) as Row | undefined;
    return r === undefined ? undefined : session(r);
  }

  async deleteSession(tokenHash: string): Promise<boolean> {
    return this.grouped(() => this.stmt.deleteSession.run(tokenHash).changes > 0);
  }

  async pruneExpired(now: number): Promise<number> {
    return this.db.transaction(() => this.stmt.pruneNonces.run(now).changes + this.stmt.pruneSessions.run(now).changes)();
  }

  // ---- Rooms

  private roomParams(row: RoomRow) {
    return {
      id: row.id,
      contextId: row.contextId,
      version: row.version,
      epoch: row.epoch,
      headHash: blob(row.headHash),
      creator: row.creator,
      lastModifier: row.lastModifier,
      policy: JSON.stringify(row.policy),
      getBits: policyBits(row.policy.get),
      listBits: policyBits(row.policy.list),
      publicMetaJson: row.publicMetaJson,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }

  /** Members, version and keys of a write; a new room has no members to replace. */
  private writeDetails(write: RoomWrite, isNew: boolean): void {
    if (!isNew) this.stmt.deleteMembers.run(write.room.id);
    for (const m of write.members) this.stmt.insertMember.run(write.room.id, m.userId, m.publicKey, m.isManager ? 1 : 0);
    this.stmt.insertVersion.run({ ...write.version, hash: blob(write.version.hash) });
    for (const k of write.keys) this.stmt.insertKey.run({ ...k, wrapped: blob(k.wrapped), proof: blob(k.proof) });
  }

  async createRoom(write: RoomWrite, maxRoomsInContext = Infinity): Promise<'created' | 'exists' | 'context_full'> {
    return this.grouped((): 'created' | 'exists' | 'context_full' => {
      if (this.stmt.roomExists.get(write.room.id) !== undefined) return 'exists';
      const { contextId } = write.room;
      const count = Number.isFinite(maxRoomsInContext) ? this.roomCount(contextId) : this.cachedRoomCount(contextId);
      if (count !== undefined && count >= maxRoomsInContext) return 'context_full';
      this.stmt.insertRoom.run(this.roomParams(write.room));
      this.writeDetails(write, true);
      if (count !== undefined) this.roomCounts.set(contextId, count + 1); // last: nothing after it can fail and keep the room
      return 'created';
    });
  }

  async appendRoomVersion(write: RoomWrite, expectedVersion: number): Promise<AppendResult> {
    return this.grouped((): AppendResult => {
      const changed = this.stmt.updateRoomHead.run({ ...this.roomParams(write.room), expectedVersion }).changes;
      if (changed === 0) return this.stmt.roomExists.get(write.room.id) === undefined ? 'not_found' : 'conflict';
      this.writeDetails(write, false);
      return 'ok';
    });
  }

  /**
   * Group commit of room writes, and of the writes of logins and logouts. With `synchronous = FULL`
   * every commit waits for fsync (about 5 ms on this project's disk), and better-sqlite3 waits on the
   * event loop: one commit per create capped the Bridge at some 200 creates a second whatever its CPU.
   * Writes that arrive while the loop is busy (the requests read in one turn) run here in order in one
   * transaction, each in its own savepoint, so one write that fails is rolled back alone; every caller
   * hears its own result once the whole group is durable, so nothing is acknowledged before its fsync,
   * as before (open.ts).
   */
  private grouped<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pendingWrites.push({ write, resolve: resolve as (value: unknown) => void, reject });
      if (this.pendingWrites.length === 1) setImmediate(() => this.commitPending());
    });
  }

  private commitPending(): void {
    const group = this.pendingWrites.splice(0);
    if (group.length === 0) return;
    const results: Array<{ value: unknown } | { error: unknown }> = [];
    try {
      this.db.transaction(() => {
        for (const { write } of group) {
          try {
            results.push({ value: this.inSavepoint(write) }); // nested: a savepoint
          } catch (error) {
            results.push({ error });
          }
        }
      })();
    } catch (error) {
      this.roomCounts.clear(); // counts moved by the group's creates were rolled back with them
      for (const { reject } of group) reject(error); // the commit itself failed: nothing was written
      return;
    }
    // A write that failed after its create counted (its savepoint then rolled back): count again.
    if (results.some((r) => 'error' in r)) this.roomCounts.clear();
    for (const [i, { resolve, reject }] of group.entries()) {
      const result = results[i]!;
      if ('error' in result) reject(result.error);
      else resolve(result.value);
    }
  }

  async getRoom(id: string): Promise<RoomRow | undefined> {
    const r = this.stmt.getRoom.get(id) as Row | undefined;
    return r === undefined ? undefined : room(r);
  }

  async getRoomMembers(id: string): Promise<RoomMemberRow[]> {
    return (this.stmt.getMembers.all(id) as Row[]).map(member);
  }

  async getRoomMember(id: string, userId: string): Promise<RoomMemberRow | undefined> {
    const r = this.stmt.getMember.get(id, userId) as Row | undefined;
    return r === undefined ? undefined : member(r);
  }

  async roomAccess(id: string, userId: string): Promise<RoomAccessRow | undefined> {
    return this.reads.get(accessKey(id, userId), () => this.readAccess(id, userId));
  }

  async roomRead(id: string, userId: string, keysLimit: number): Promise<{ access: RoomAccessRow; keys: RoomKeyRow[] } | undefined> {
    return this.reads.batch((get) => {
      const access = get(accessKey(id, userId), () => this.readAccess(id, userId));
      return access === undefined ? undefined : { access, keys: get(keysKey(id, userId, keysLimit), () => this.readKeys(id, userId, keysLimit)) };
    });
  }

  private readAccess(id: string, userId: string): RoomAccessRow | undefined {
    const r = this.stmt.roomAccess.get({ id, userId }) as Row | undefined;
    return r === undefined ? undefined : frozen(roomAccess(r));
  }

  private readKeys(id: string, recipientId: string, limit: number): RoomKeyRow[] {
    return frozen((this.stmt.getKeys.all(id, recipientId, limit) as Row[]).map((r) => frozen(roomKey(r))));
  }

  async getRoomVersions(id: string, afterVersion: number, limit: number, maxBytes = Infinity): Promise<RoomVersionRow[]> {
    // Row by row, so that a page never holds more than its byte budget and the row that crossed it
    // (and a second row when the first alone crossed it: the caller learns that more follow).
    const rows: RoomVersionRow[] = [];
    let bytes = 0;
    for (const r of this.stmt.getVersions.iterate(id, afterVersion, limit) as IterableIterator<Row>) {
      const row = version(r);
      rows.push(row);
      bytes += row.record.length + row.signature.length;
      if (bytes > maxBytes && rows.length >= 2) break;
    }
    return rows;
  }

  async getRoomVersion(id: string, v: number): Promise<RoomVersionRow | undefined> {
    const r = this.stmt.getVersion.get(id, v) as Row | undefined;
    return r === undefined ? undefined : version(r);
  }

  async getRoomKeys(id: string, recipientId: string, limit: number): Promise<RoomKeyRow[]> {
    return this.reads.get(keysKey(id, recipientId, limit), () => this.readKeys(id, recipientId, limit));
  }

  async countRooms(contextId: string): Promise<number> {
    return this.roomCount(contextId);
  }

  /** The context's room count if known and still current (`roomCounts`). */
  private cachedRoomCount(contextId: string): number | undefined {
    const version = this.dataVersion.get();
    if (version !== this.roomCountsVersion) {
      this.roomCounts.clear();
      this.roomCountsVersion = version;
    }
    return this.roomCounts.get(contextId);
  }

  private roomCount(contextId: string): number {
    let n = this.cachedRoomCount(contextId);
    if (n === undefined) {
      n = (this.stmt.countRooms.get(contextId) as { n: number }).n;
      this.roomCounts.set(contextId, n);
    }
    return n;
  }

  async scanRooms(scan: RoomScan, after: RoomCursor | undefined, limit: number): Promise<RoomScanRow[]> {
    return scanRooms(this.db, scan, after, limit);
  }

  async listRooms(query: ListRoomsQuery): Promise<{ total: number; rooms: RoomRow[] }> {
    return listRooms(this.db, query);
  }

  async countRoomMembers(id: string): Promise<number> {
    return (this.stmt.countMembers.get(id) as { n: number }).n;
  }

  async deleteRoom(id: string): Promise<boolean> {
    this.roomCounts.clear();
    return this.stmt.deleteRoom.run(id).changes > 0;
  }
}

/** The read cache's keys of a room's access and of a reader's keys. */
const accessKey = (id: string, userId: string) => `access\0${id}\0${userId}`;
const keysKey = (id: string, recipientId: string, limit: number) => `keys\0${id}\0${recipientId}\0${limit}`;
