/**
 * The PostgreSQL store: the `Store` of several Bridges on one database (docs/operations/postgres.md).
 * Loaded only when the Bridge is given a `postgres://` URL, so `pg` stays an optional peer of the
 * package (docs/package.md).
 *
 * Concurrency. SQLite's single writer made every store call atomic for free; here several Bridges
 * write at once, each call is one statement or one transaction at READ COMMITTED, and each invariant
 * rests on a unique key or a row lock taken before it is checked. SERIALIZABLE would give the same
 * guarantees without naming the locks, but would abort one of two conflicting writers with a
 * serialization failure that every call site would have to retry; the locks below make the loser wait
 * and then see the winner's commit instead.
 * - A room version: one compare-and-swap UPDATE of the room row (postgres-rooms.ts `appendRoomVersion`);
 *   exactly one writer per version wins, the other gets 'conflict'. The hash chain and the versions
 *   per room quota (checked by the service against the head it read) follow from it.
 * - Rooms per context: creates lock the context row (FOR NO KEY UPDATE) before counting.
 * - Single-use nonces and the Bridge secrets: INSERT ... ON CONFLICT DO NOTHING on the primary key.
 * - The last operator key: a revoke locks every active key (FOR UPDATE, in id order) before counting.
 * - The directory (a user id and a public key map one to one within a solution; sessions end when the
 *   key leaves the solution's last context): adding or removing a user and deleting a context lock the
 *   solution row (FOR NO KEY UPDATE), so these writes of one solution run one at a time.
 * - Sessions: one row each, by primary key; deleting a solution locks its row (FOR UPDATE) so the
 *   sessions it reports ended are exactly the ones its cascade removes.
 */
import type { Logger } from 'pino';
import { migratePostgres } from './postgres-migrate.ts';
import { PostgresDb, redactUrl, type Queryable } from './postgres-db.ts';
import { PostgresRateWindows } from './postgres-rate-windows.ts';
import { PostgresRoomSlots } from './postgres-room-slots.ts';
import * as rooms from './postgres-rooms.ts';
import { apiKey, context, contextUser, formerUser, session, solution, type Row } from './postgres-rows.ts';
import type {
  AddUserResult,
  ApiKeyRow,
  AppendResult,
  ContextRow,
  ContextUserRow,
  FormerContextUser,
  ListRoomsQuery,
  NonceRow,
  RevokeApiKeyResult,
  RoomCursor,
  RoomAccessRow,
  RoomKeyRow,
  RoomMemberRow,
  RoomRow,
  RoomScan,
  RoomScanRow,
  RoomVersionRow,
  RoomWrite,
  SessionRow,
  SolutionRow,
  Store,
} from './types.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. */
  url: string;
  /** Connections this Bridge's pool opens at most. */
  maxConnections?: number;
  /** How long opening a connection may take. Ms. */
  connectTimeoutMs?: number;
  log?: Pick<Logger, 'warn' | 'debug'>;
}

export class PostgresStore implements Store {
  readonly kind = 'postgres';
  /** The database's URL without its password (the Bridge logs it). */
  readonly file: string;
  private readonly db: PostgresDb;
  /** Rate limits shared by the Bridges on this database (postgres-rate-windows.ts). */
  readonly rateWindows: PostgresRateWindows;
  /** Room slots shared by the Bridges on this database (postgres-room-slots.ts). */
  readonly roomSlots: PostgresRoomSlots;

  private constructor(db: PostgresDb) {
    this.db = db;
    this.file = redactUrl(db.url);
    this.rateWindows = new PostgresRateWindows(db);
    this.roomSlots = new PostgresRoomSlots(db);
  }

  /**
   * Connects, checks the recorded migrations and applies pending ones. Throws `StoreError` (reason
   * `Unavailable` when the server cannot be reached) and leaves no connection open.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const db = new PostgresDb(options);
    try {
      await db.withClient((client) => migratePostgres(client));
    } catch (error) {
      await db.close();
      throw error;
    }
    return new PostgresStore(db);
  }

  /** The applied schema versions, for diagnostics and tests. */
  async schemaVersions(): Promise<number[]> {
    return (await this.db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  private async one<T>(sql: string, params: unknown[], map: (r: Row) => T): Promise<T | undefined> {
    const r = (await this.db.query<Row>(sql, params)).rows[0];
    return r === undefined ? undefined : map(r);
  }

  private async all<T>(sql: string, params: unknown[], map: (r: Row) => T): Promise<T[]> {
    return (await this.db.query<Row>(sql, params)).rows.map(map);
  }

  private async count(sql: string, params: unknown[], db: Queryable = this.db): Promise<number> {
    return (await db.query<{ n: number }>(sql, params)).rows[0]!.n;
  }

  // ---- API keys

  async insertApiKey(row: ApiKeyRow): Promise<void> {
    await this.db.query('INSERT INTO api_keys (id, name, key_hash, ephemeral, created_at) VALUES ($1, $2, $3, $4, $5)', [
      row.id,
      row.name,
      row.keyHash,
      row.ephemeral,
      row.createdAt,
    ]);
  }

  findApiKeyByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    return this.one('SELECT * FROM api_keys WHERE key_hash = $1', [keyHash], apiKey);
  }

  listApiKeys(): Promise<ApiKeyRow[]> {
    return this.all('SELECT * FROM api_keys ORDER BY created_at, id', [], apiKey);
  }

  countActiveApiKeys(): Promise<number> {
    return this.count('SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL AND NOT ephemeral', []);
  }

  revokeApiKey(id: string, at: number): Promise<RevokeApiKeyResult> {
    return this.db.transaction(async (tx): Promise<RevokeApiKeyResult> => {
      // Every active key locked, always in id order (two revokes cannot deadlock), then counted: of two
      // revokes of the last two keys, the second waits and then counts one.
      const active = await tx.query('SELECT id FROM api_keys WHERE revoked_at IS NULL AND NOT ephemeral ORDER BY id FOR UPDATE');
      const r = (await tx.query<Row>('SELECT * FROM api_keys WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (r === undefined || r.revoked_at !== null) return 'not_found';
      if (r.ephemeral !== true && (active.rowCount ?? 0) <= 1) return 'last_key';
      await tx.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id]);
      return 'revoked';
    });
  }

  async touchApiKey(id: string, at: number): Promise<void> {
    await this.db.query('UPDATE api_keys SET last_used_at = $1 WHERE id = $2', [at, id]);
  }

  async deleteEphemeralApiKeys(): Promise<number> {
    return (await this.db.query('DELETE FROM api_keys WHERE ephemeral')).rowCount ?? 0;
  }

  // ---- Solutions and contexts

  async insertSolution(row: SolutionRow): Promise<void> {
    await this.db.query('INSERT INTO solutions (id, name, created_at) VALUES ($1, $2, $3)', [row.id, row.name, row.createdAt]);
  }

  getSolution(id: string): Promise<SolutionRow | undefined> {
    return this.one('SELECT * FROM solutions WHERE id = $1', [id], solution);
  }

  listSolutions(): Promise<SolutionRow[]> {
    return this.all('SELECT * FROM solutions ORDER BY created_at, id', [], solution);
  }

  deleteSolution(id: string): Promise<{ deleted: boolean; sessionsEnded: string[] }> {
    return this.db.transaction(async (tx) => {
      // FOR UPDATE waits for logins inserting a session of this solution (they hold a key-share lock
      // on its row) and keeps new ones out until the delete commits.
      if ((await tx.query('SELECT 1 FROM solutions WHERE id = $1 FOR UPDATE', [id])).rowCount === 0) return { deleted: false, sessionsEnded: [] };
      const sessions = await tx.query<{ token_hash: string }>('SELECT token_hash FROM sessions WHERE solution_id = $1', [id]);
      await tx.query('DELETE FROM solutions WHERE id = $1', [id]);
      return { deleted: true, sessionsEnded: sessions.rows.map((r) => r.token_hash) };
    });
  }

  async insertContext(row: ContextRow): Promise<void> {
    await this.db.query('INSERT INTO contexts (id, solution_id, name, created_at) VALUES ($1, $2, $3, $4)', [row.id, row.solutionId, row.name, row.createdAt]);
  }

  getContext(id: string): Promise<ContextRow | undefined> {
    return this.one('SELECT * FROM contexts WHERE id = $1', [id], context);
  }

  listContexts(solutionId: string): Promise<ContextRow[]> {
    return this.all('SELECT * FROM contexts WHERE solution_id = $1 ORDER BY created_at, id', [solutionId], context);
  }

  /**
   * Locks the solution of `contextId` for a directory write (see the head of this file); returns its
   * id, or undefined when the context does not exist.
   */
  private async lockSolutionOf(tx: Queryable, contextId: string): Promise<string | undefined> {
    const { rows } = await tx.query<{ id: string }>(
      'SELECT s.id FROM solutions s JOIN contexts c ON c.solution_id = s.id WHERE c.id = $1 FOR NO KEY UPDATE OF s',
      [contextId],
    );
    return rows[0]?.id;
  }

  /** Ends the sessions of public keys that no longer belong to any context of the solution. */
  private async endOrphanSessions(tx: Queryable, solutionId: string): Promise<string[]> {
    const { rows } = await tx.query<{ token_hash: string }>(
      `DELETE FROM sessions s WHERE s.solution_id = $1
       AND NOT EXISTS (SELECT 1 FROM context_users u WHERE u.solution_id = s.solution_id AND u.public_key = s.public_key)
       RETURNING s.token_hash`,
      [solutionId],
    );
    return rows.map((r) => r.token_hash);
  }

  deleteContext(id: string): Promise<{ deleted: boolean; roomIds: string[]; sessionsEnded: string[] }> {
    return this.db.transaction(async (tx) => {
      const solutionId = await this.lockSolutionOf(tx, id);
      if (solutionId === undefined) return { deleted: false, roomIds: [], sessionsEnded: [] };
      const roomIds = (await tx.query<{ id: string }>('SELECT id FROM rooms WHERE context_id = $1', [id])).rows.map((r) => r.id);
      const deleted = ((await tx.query('DELETE FROM contexts WHERE id = $1', [id])).rowCount ?? 0) > 0;
      return { deleted, roomIds, sessionsEnded: await this.endOrphanSessions(tx, solutionId) };
    });
  }

  // ---- Context users

  addContextUser(row: ContextUserRow): Promise<AddUserResult> {
    return this.db.transaction(async (tx): Promise<AddUserResult> => {
      await tx.query('SELECT 1 FROM solutions WHERE id = $1 FOR NO KEY UPDATE', [row.solutionId]);
      // Held until the commit: the context cannot go between this check and the insert.
      if ((await tx.query('SELECT 1 FROM contexts WHERE id = $1 FOR KEY SHARE', [row.contextId])).rowCount === 0) return { status: 'context_not_found' };
      const existing = (await tx.query<Row>('SELECT * FROM context_users WHERE context_id = $1 AND user_id = $2', [row.contextId, row.userId])).rows[0];
      if (existing !== undefined) {
        return existing.public_key === row.publicKey ? { status: 'unchanged' } : { status: 'conflict', reason: 'user_has_other_key' };
      }
      const keys = await tx.query<{ public_key: string }>('SELECT DISTINCT public_key FROM context_users WHERE solution_id = $1 AND user_id = $2', [
        row.solutionId,
        row.userId,
      ]);
      if (keys.rows.some((k) => k.public_key !== row.publicKey)) return { status: 'conflict', reason: 'user_has_other_key' };
      const users = await tx.query<{ user_id: string }>('SELECT DISTINCT user_id FROM context_users WHERE solution_id = $1 AND public_key = $2', [
        row.solutionId,
        row.publicKey,
      ]);
      if (users.rows.some((u) => u.user_id !== row.userId)) return { status: 'conflict', reason: 'key_has_other_user' };
      await tx.query('INSERT INTO context_users (context_id, solution_id, user_id, public_key, created_at) VALUES ($1, $2, $3, $4, $5)', [
        row.contextId,
        row.solutionId,
        row.userId,
        row.publicKey,
        row.createdAt,
      ]);
      return { status: 'created' };
    });
  }

  getContextUser(contextId: string, userId: string): Promise<ContextUserRow | undefined> {
    return this.one('SELECT * FROM context_users WHERE context_id = $1 AND user_id = $2', [contextId, userId], contextUser);
  }

  contextUsersAmong(contextId: string, userIds: string[]): Promise<ContextUserRow[]> {
    return this.all('SELECT * FROM context_users WHERE context_id = $1 AND user_id = ANY($2::text[])', [contextId, [...new Set(userIds)]], contextUser);
  }

  listContextUsers(contextId: string): Promise<ContextUserRow[]> {
    return this.all('SELECT * FROM context_users WHERE context_id = $1 ORDER BY user_id', [contextId], contextUser);
  }

  removeContextUser(contextId: string, userId: string, at: number): Promise<{ removed: boolean; sessionsEnded: string[] }> {
    return this.db.transaction(async (tx) => {
      const solutionId = await this.lockSolutionOf(tx, contextId);
      if (solutionId === undefined) return { removed: false, sessionsEnded: [] };
      const existing = (
        await tx.query<Row>('DELETE FROM context_users WHERE context_id = $1 AND user_id = $2 RETURNING public_key, created_at', [contextId, userId])
      ).rows[0];
      if (existing === undefined) return { removed: false, sessionsEnded: [] };
      const publicKey = existing.public_key as string;
      await tx.query('INSERT INTO context_user_history (context_id, user_id, public_key, added_at, removed_at) VALUES ($1, $2, $3, $4, $5)', [
        contextId,
        userId,
        publicKey,
        existing.created_at,
        at,
      ]);
      const stillKnown = await tx.query('SELECT 1 FROM context_users WHERE solution_id = $1 AND public_key = $2 LIMIT 1', [solutionId, publicKey]);
      if (stillKnown.rowCount !== 0) return { removed: true, sessionsEnded: [] };
      const ended = await tx.query<{ token_hash: string }>('DELETE FROM sessions WHERE solution_id = $1 AND public_key = $2 RETURNING token_hash', [
        solutionId,
        publicKey,
      ]);
      return { removed: true, sessionsEnded: ended.rows.map((r) => r.token_hash) };
    });
  }

  contextUserIdsPage(contextId: string, after: string, limit: number, former: boolean): Promise<string[]> {
    const sql = former
      ? `SELECT user_id FROM context_users WHERE context_id = $1 AND user_id > $2
         UNION SELECT user_id FROM context_user_history WHERE context_id = $1 AND user_id > $2
         ORDER BY user_id LIMIT $3`
      : 'SELECT user_id FROM context_users WHERE context_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3';
    return this.all(sql, [contextId, after, limit], (r) => r.user_id as string);
  }

  formerContextUsersAmong(contextId: string, userIds: string[]): Promise<FormerContextUser[]> {
    return this.all(
      'SELECT user_id, public_key, added_at, removed_at FROM context_user_history WHERE context_id = $1 AND user_id = ANY($2::text[]) ORDER BY user_id, removed_at',
      [contextId, [...new Set(userIds)]],
      formerUser,
    );
  }

  async findSolutionUser(solutionId: string, publicKey: string): Promise<{ userId: string; contextIds: string[] } | undefined> {
    const { rows } = await this.db.query<{ user_id: string; context_id: string }>(
      'SELECT user_id, context_id FROM context_users WHERE solution_id = $1 AND public_key = $2 ORDER BY context_id',
      [solutionId, publicKey],
    );
    if (rows.length === 0) return undefined;
    return { userId: rows[0]!.user_id, contextIds: rows.map((r) => r.context_id) };
  }

  // ---- Authentication

  async bridgeSecret(name: string, candidate: Uint8Array, now: number): Promise<Uint8Array> {
    await this.db.query('INSERT INTO bridge_secrets (name, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING', [name, candidate, now]);
    const secret = (await this.db.query<{ secret: Buffer }>('SELECT secret FROM bridge_secrets WHERE name = $1', [name])).rows[0]!.secret;
    return new Uint8Array(secret.buffer, secret.byteOffset, secret.length);
  }

  startSession(nonce: NonceRow, row: SessionRow, options: { requireUser?: boolean } = {}): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      if (!(await insertNonceIn(tx, nonce))) return false;
      // FOR SHARE: a removal that deleted the key's row and has not committed is waited for (then the
      // row is gone); one that comes after waits for this commit, and its delete of the key's
      // sessions then sees this one.
      if (options.requireUser === true) {
        const user = await tx.query('SELECT 1 FROM context_users WHERE solution_id = $1 AND public_key = $2 LIMIT 1 FOR SHARE', [
          row.solutionId,
          row.publicKey,
        ]);
        if (user.rowCount === 0) return false;
      }
      await insertSessionIn(tx, row);
      return true;
    });
  }

  findSession(tokenHash: string, now: number): Promise<SessionRow | undefined> {
    return this.one('SELECT * FROM sessions WHERE token_hash = $1 AND expires_at > $2', [tokenHash, now], session);
  }

  async deleteSession(tokenHash: string): Promise<boolean> {
    return ((await this.db.query('DELETE FROM sessions WHERE token_hash = $1', [tokenHash])).rowCount ?? 0) > 0;
  }

  pruneExpired(now: number): Promise<number> {
    return this.db.transaction(async (tx) => {
      const nonces = (await tx.query('DELETE FROM auth_nonces WHERE expires_at <= $1', [now])).rowCount ?? 0;
      return nonces + ((await tx.query('DELETE FROM sessions WHERE expires_at <= $1', [now])).rowCount ?? 0);
    });
  }

  // ---- Rooms (postgres-rooms.ts)

  createRoom(write: RoomWrite, maxRoomsInContext = Infinity): Promise<'created' | 'exists' | 'context_full'> {
    return rooms.createRoom(this.db, write, maxRoomsInContext);
  }

  countRooms(contextId: string): Promise<number> {
    return this.count('SELECT COUNT(*) AS n FROM rooms WHERE context_id = $1', [contextId]);
  }

  appendRoomVersion(write: RoomWrite, expectedVersion: number): Promise<AppendResult> {
    return rooms.appendRoomVersion(this.db, write, expectedVersion);
  }

  getRoom(id: string): Promise<RoomRow | undefined> {
    return rooms.getRoom(this.db, id);
  }

  getRoomMembers(id: string): Promise<RoomMemberRow[]> {
    return rooms.getRoomMembers(this.db, id);
  }

  getRoomMember(id: string, userId: string): Promise<RoomMemberRow | undefined> {
    return rooms.getRoomMember(this.db, id, userId);
  }

  roomAccess(id: string, userId: string): Promise<RoomAccessRow | undefined> {
    return rooms.roomAccess(this.db, id, userId);
  }

  async roomRead(id: string, userId: string, keysLimit: number): Promise<{ access: RoomAccessRow; keys: RoomKeyRow[] } | undefined> {
    const access = await rooms.roomAccess(this.db, id, userId);
    return access === undefined ? undefined : { access, keys: await rooms.getRoomKeys(this.db, id, userId, keysLimit) };
  }

  getRoomVersions(id: string, afterVersion: number, limit: number, maxBytes = Infinity): Promise<RoomVersionRow[]> {
    return rooms.getRoomVersions(this.db, id, afterVersion, limit, maxBytes);
  }

  getRoomVersion(id: string, v: number): Promise<RoomVersionRow | undefined> {
    return rooms.getRoomVersion(this.db, id, v);
  }

  getRoomKeys(id: string, recipientId: string, limit: number): Promise<RoomKeyRow[]> {
    return rooms.getRoomKeys(this.db, id, recipientId, limit);
  }

  listRooms(query: ListRoomsQuery): Promise<{ total: number; rooms: RoomRow[] }> {
    return rooms.listRooms(this.db, query);
  }

  scanRooms(scan: RoomScan, after: RoomCursor | undefined, limit: number): Promise<RoomScanRow[]> {
    return rooms.scanRooms(this.db, scan, after, limit);
  }

  countRoomMembers(id: string): Promise<number> {
    return this.count('SELECT COUNT(*) AS n FROM room_members WHERE room_id = $1', [id]);
  }

  async deleteRoom(id: string): Promise<boolean> {
    return ((await this.db.query('DELETE FROM rooms WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }
}

/**
 * Records a used nonce; false if it was there. The primary key decides: of two Bridges recording one
 * nonce, the second waits for the first to commit and then inserts nothing.
 */
async function insertNonceIn(db: Queryable, row: NonceRow): Promise<boolean> {
  const inserted = await db.query(
    'INSERT INTO auth_nonces (nonce, solution_id, public_key, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (nonce) DO NOTHING',
    [row.nonce, row.solutionId, row.publicKey, row.expiresAt],
  );
  return inserted.rowCount === 1;
}

async function insertSessionIn(db: Queryable, row: SessionRow): Promise<void> {
  await db.query('INSERT INTO sessions (token_hash, solution_id, public_key, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
    row.tokenHash,
    row.solutionId,
    row.publicKey,
    row.userId,
    row.createdAt,
    row.expiresAt,
  ]);
}
