/**
 * The room operations of the PostgreSQL store (postgres.ts), as functions over a `PostgresDb`. The
 * queries are SQLite's (sqlite.ts, sqlite-statements.ts) in PostgreSQL's dialect; the concurrency
 * notes on each write say what replaces SQLite's single writer.
 */
import { policyBits } from '../../protocol/policy.ts';
import type { PostgresDb, Queryable } from './postgres-db.ts';
import { member, Params, room, roomAccess as accessRow, roomKey, version, type Row } from './postgres-rows.ts';
import type {
  AppendResult,
  ListRoomsQuery,
  RoomCursor,
  RoomAccessRow,
  RoomKeyRow,
  RoomMemberRow,
  RoomRow,
  RoomScan,
  RoomScanRow,
  RoomVersionRow,
  RoomWrite,
} from './types.ts';

type CreateResult = 'created' | 'exists' | 'context_full';

const roomValues = (row: RoomRow): unknown[] => [
  row.id,
  row.contextId,
  row.version,
  row.epoch,
  row.headHash,
  row.creator,
  row.lastModifier,
  JSON.stringify(row.policy),
  policyBits(row.policy.get),
  policyBits(row.policy.list),
  row.publicMetaJson,
  row.createdAt,
  row.updatedAt,
];

/** The members, record and keys of a write; members and keys as one statement each (unnest). */
async function writeDetails(tx: Queryable, write: RoomWrite): Promise<void> {
  const id = write.room.id;
  await tx.query('DELETE FROM room_members WHERE room_id = $1', [id]);
  if (write.members.length > 0) {
    await tx.query(
      `INSERT INTO room_members (room_id, user_id, public_key, is_manager)
       SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::boolean[])`,
      [id, write.members.map((m) => m.userId), write.members.map((m) => m.publicKey), write.members.map((m) => m.isManager)],
    );
  }
  const v = write.version;
  await tx.query('INSERT INTO room_versions (room_id, version, record, signature, hash, author, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
    v.roomId,
    v.version,
    v.record,
    v.signature,
    v.hash,
    v.author,
    v.createdAt,
  ]);
  if (write.keys.length > 0) {
    const column = <K extends keyof RoomKeyRow>(key: K) => write.keys.map((k) => k[key]);
    await tx.query(
      `INSERT INTO room_keys (room_id, epoch, recipient_id, version, wrapped, leaf_index, tree_size, proof)
       SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::bytea[], $6::int[], $7::int[], $8::bytea[])`,
      [
        column('roomId'),
        column('epoch'),
        column('recipientId'),
        column('version'),
        column('wrapped'),
        column('leafIndex'),
        column('treeSize'),
        column('proof'),
      ],
    );
  }
}

/**
 * Version 1 of a room. The context's row is locked first (FOR NO KEY UPDATE: it conflicts only with
 * itself, so reads and the foreign-key checks of other inserts go on), which serialises the creates of
 * one context: the count that enforces `maxRoomsInContext` cannot be read by two creates at once. Two
 * creates of one room id in different contexts meet at the primary key (ON CONFLICT: 'exists').
 */
export function createRoom(db: PostgresDb, write: RoomWrite, maxRoomsInContext: number): Promise<CreateResult> {
  return db.transaction(async (tx): Promise<CreateResult> => {
    await tx.query('SELECT 1 FROM contexts WHERE id = $1 FOR NO KEY UPDATE', [write.room.contextId]);
    if ((await tx.query('SELECT 1 FROM rooms WHERE id = $1', [write.room.id])).rowCount !== 0) return 'exists';
    if (Number.isFinite(maxRoomsInContext)) {
      const { rows } = await tx.query<{ n: number }>('SELECT COUNT(*) AS n FROM rooms WHERE context_id = $1', [write.room.contextId]);
      if (rows[0]!.n >= maxRoomsInContext) return 'context_full';
    }
    const inserted = await tx.query(
      `INSERT INTO rooms (id, context_id, version, epoch, head_hash, creator, last_modifier, policy, get_bits, list_bits,
                          public_meta_json, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING`,
      roomValues(write.room),
    );
    if (inserted.rowCount === 0) return 'exists';
    await writeDetails(tx, write);
    return 'created';
  });
}

/**
 * The next version, if the head is still `expectedVersion`: a compare-and-swap in one UPDATE. Under
 * READ COMMITTED, a second UPDATE of the same row waits for the first to commit and then re-checks
 * its WHERE against the committed row (PostgreSQL docs, "Read Committed Isolation Level"), so of two
 * Bridges writing one version exactly one matches and the other gets 'conflict'. The hash chain follows:
 * the winner's record names the head it was checked against, and no other record of that version can
 * commit (the head moved, and room_versions' primary key would refuse a duplicate anyway).
 */
export function appendRoomVersion(db: PostgresDb, write: RoomWrite, expectedVersion: number): Promise<AppendResult> {
  return db.transaction(async (tx): Promise<AppendResult> => {
    const [id, , v, epoch, headHash, , lastModifier, policy, getBits, listBits, publicMeta, , updatedAt] = roomValues(write.room);
    const changed = await tx.query(
      `UPDATE rooms SET version = $2, epoch = $3, head_hash = $4, last_modifier = $5, policy = $6, get_bits = $7, list_bits = $8,
                        public_meta_json = $9, updated_at = $10
       WHERE id = $1 AND version = $11`,
      [id, v, epoch, headHash, lastModifier, policy, getBits, listBits, publicMeta, updatedAt, expectedVersion],
    );
    if (changed.rowCount === 0) {
      return (await tx.query('SELECT 1 FROM rooms WHERE id = $1', [id])).rowCount === 0 ? 'not_found' : 'conflict';
    }
    await writeDetails(tx, write);
    return 'ok';
  });
}

export async function getRoom(db: Queryable, id: string): Promise<RoomRow | undefined> {
  const r = (await db.query<Row>('SELECT * FROM rooms WHERE id = $1', [id])).rows[0];
  return r === undefined ? undefined : room(r);
}

export async function getRoomMembers(db: Queryable, id: string): Promise<RoomMemberRow[]> {
  return (await db.query<Row>('SELECT * FROM room_members WHERE room_id = $1 ORDER BY user_id', [id])).rows.map(member);
}

export async function getRoomMember(db: Queryable, id: string, userId: string): Promise<RoomMemberRow | undefined> {
  const r = (await db.query<Row>('SELECT * FROM room_members WHERE room_id = $1 AND user_id = $2', [id, userId])).rows[0];
  return r === undefined ? undefined : member(r);
}

/** The room and one user's standing toward it in one round trip (the SQLite store's `roomAccess`). */
export async function roomAccess(db: Queryable, id: string, userId: string): Promise<RoomAccessRow | undefined> {
  const r = (
    await db.query<Row>(
      `SELECT r.*, c.solution_id AS access_solution_id, cu.user_id IS NOT NULL AS access_context_user,
              m.user_id AS member_user_id, m.public_key AS member_public_key, m.is_manager AS member_is_manager
       FROM rooms r
       LEFT JOIN contexts c ON c.id = r.context_id
       LEFT JOIN context_users cu ON cu.context_id = r.context_id AND cu.user_id = $2
       LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = $2
       WHERE r.id = $1`,
      [id, userId],
    )
  ).rows[0];
  return r === undefined ? undefined : accessRow(r);
}

/**
 * The byte budget is applied by the server, so a page never carries more than it: a row is returned
 * when it is one of the first two, or when the rows before it hold at most `maxBytes` of record and
 * signature text (the SQLite store's loop, sqlite.ts, in SQL).
 */
export async function getRoomVersions(db: Queryable, id: string, afterVersion: number, limit: number, maxBytes: number): Promise<RoomVersionRow[]> {
  const budget = Number.isFinite(maxBytes) ? maxBytes : null;
  const { rows } = await db.query<Row>(
    `SELECT room_id, version, record, signature, hash, author, created_at FROM (
       SELECT v.*, ROW_NUMBER() OVER w AS n,
              COALESCE(SUM(length(v.record) + length(v.signature)) OVER w, 0) - length(v.record) - length(v.signature) AS before
       FROM (SELECT * FROM room_versions WHERE room_id = $1 AND version > $2 ORDER BY version LIMIT $3) v
       WINDOW w AS (ORDER BY v.version ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
     ) page
     WHERE $4::bigint IS NULL OR n <= 2 OR before <= $4::bigint
     ORDER BY version`,
    [id, afterVersion, limit, budget],
  );
  return rows.map(version);
}

export async function getRoomVersion(db: Queryable, id: string, v: number): Promise<RoomVersionRow | undefined> {
  const r = (await db.query<Row>('SELECT * FROM room_versions WHERE room_id = $1 AND version = $2', [id, v])).rows[0];
  return r === undefined ? undefined : version(r);
}

export async function getRoomKeys(db: Queryable, id: string, recipientId: string, limit: number): Promise<RoomKeyRow[]> {
  const { rows } = await db.query<Row>('SELECT * FROM room_keys WHERE room_id = $1 AND recipient_id = $2 ORDER BY epoch DESC LIMIT $3', [
    id,
    recipientId,
    limit,
  ]);
  return rows.map(roomKey);
}

/** The conditions of the rooms a listing may show (sqlite.ts `listable`: ROLE_BITS all=1, user=2, manager=4, owner=8). */
function listable(scan: Pick<ListRoomsQuery, 'contextId' | 'userId'>, params: Params): string[] {
  const where = [`r.context_id = ${params.add(scan.contextId)}`];
  if (scan.userId !== undefined) {
    const user = params.add(scan.userId);
    where.push(`((r.list_bits & 1) <> 0
      OR ((r.list_bits & 2) <> 0 AND EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = ${user}))
      OR ((r.list_bits & 4) <> 0 AND EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = ${user} AND m.is_manager))
      OR ((r.list_bits & 8) <> 0 AND r.creator = ${user}))`);
  }
  return where;
}

const sortColumn = (sortBy: ListRoomsQuery['sortBy']) => (sortBy === 'createDate' ? 'created_at' : 'updated_at');

export async function scanRooms(db: Queryable, scan: RoomScan, after: RoomCursor | undefined, limit: number): Promise<RoomScanRow[]> {
  const params = new Params();
  const where = listable(scan, params);
  const column = sortColumn(scan.sortBy);
  const direction = scan.sortOrder === 'asc' ? 'ASC' : 'DESC';
  if (after !== undefined) {
    where.push(`(r.${column}, r.id) ${scan.sortOrder === 'asc' ? '>' : '<'} (${params.add(after.sortKey)}::bigint, ${params.add(after.id)}::text)`);
  }
  const { rows } = await db.query<Row>(
    `SELECT r.id, r.${column} AS sort_key, r.public_meta_json FROM rooms r WHERE ${where.join(' AND ')}
     ORDER BY r.${column} ${direction}, r.id ${direction} LIMIT ${params.add(limit)}`,
    params.values,
  );
  return rows.map((r) => ({ id: r.id as string, sortKey: r.sort_key as number, publicMetaJson: (r.public_meta_json as string | null) ?? null }));
}

export async function listRooms(db: PostgresDb, query: ListRoomsQuery): Promise<{ total: number; rooms: RoomRow[] }> {
  // One transaction at REPEATABLE READ: the total and the page come from one snapshot, as in SQLite.
  return db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const params = new Params();
    const where = listable(query, params);
    const total = (await tx.query<{ n: number }>(`SELECT COUNT(*) AS n FROM rooms r WHERE ${where.join(' AND ')}`, params.values)).rows[0]!.n;
    const column = sortColumn(query.sortBy);
    const direction = query.sortOrder === 'asc' ? 'ASC' : 'DESC';
    if (query.lastId !== undefined) {
      // An unknown lastId matches nothing, rather than silently restarting from the top.
      where.push(
        `(r.${column}, r.id) ${query.sortOrder === 'asc' ? '>' : '<'} (SELECT c.${column}, c.id FROM rooms c WHERE c.id = ${params.add(query.lastId)})`,
      );
    }
    const { rows } = await tx.query<Row>(
      `SELECT r.* FROM rooms r WHERE ${where.join(' AND ')} ORDER BY r.${column} ${direction}, r.id ${direction}
       LIMIT ${params.add(query.limit)} OFFSET ${params.add(query.skip)}`,
      params.values,
    );
    return { total, rooms: rows.map(room) };
  });
}
