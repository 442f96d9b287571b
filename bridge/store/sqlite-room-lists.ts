/**
 * Room listings on SQLite (sqlite.ts): the rooms of a context a reader may see by its list policy, in
 * pages (`listRooms`: a total, keyset or offset paging) or as a scan in batches (`scanRooms`: keyset
 * paging over the (context_id, sort column, id) index, each batch costing its own rows only).
 */
import type Database from 'better-sqlite3';
import { room, type Row } from './sqlite-rows.ts';
import type { ListRoomsQuery, RoomCursor, RoomRow, RoomScan, RoomScanRow } from './types.ts';

/** The conditions and parameters of the rooms a listing may show: the context, then the list policy. */
function listable(scan: Pick<ListRoomsQuery, 'contextId' | 'userId'>): { where: string[]; params: Record<string, string | number | null> } {
  // Visibility by the list policy (protocol/policy.ts ROLE_BITS): all=1, user=2, manager=4, owner=8.
  // The caller is known to be a user of the context, so `all` admits it.
  const visible = `((r.list_bits & 1) != 0
    OR ((r.list_bits & 2) != 0 AND EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = @userId))
    OR ((r.list_bits & 4) != 0 AND EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = @userId AND m.is_manager = 1))
    OR ((r.list_bits & 8) != 0 AND r.creator = @userId))`;
  const where = [`r.context_id = @contextId`];
  const params: Record<string, string | number | null> = { contextId: scan.contextId };
  if (scan.userId !== undefined) {
    where.push(visible);
    params.userId = scan.userId;
  }
  return { where, params };
}

export function scanRooms(db: Database.Database, scan: RoomScan, after: RoomCursor | undefined, limit: number): RoomScanRow[] {
  const { where, params } = listable(scan);
  const column = scan.sortBy === 'createDate' ? 'created_at' : 'updated_at';
  const direction = scan.sortOrder === 'asc' ? 'ASC' : 'DESC';
  if (after !== undefined) {
    // Keyset paging over the (context_id, column, id) index: each batch costs its own rows only.
    where.push(`(r.${column}, r.id) ${scan.sortOrder === 'asc' ? '>' : '<'} (@afterKey, @afterId)`);
    params.afterKey = after.sortKey;
    params.afterId = after.id;
  }
  params.limit = limit;
  const rows = db
    .prepare(
      `SELECT r.id, r.${column} AS sort_key, r.public_meta_json FROM rooms r WHERE ${where.join(' AND ')}
       ORDER BY r.${column} ${direction}, r.id ${direction} LIMIT @limit`,
    )
    .all(params) as Row[];
  return rows.map((r) => ({ id: r.id as string, sortKey: r.sort_key as number, publicMetaJson: (r.public_meta_json as string | null) ?? null }));
}

export function listRooms(db: Database.Database, query: ListRoomsQuery): { total: number; rooms: RoomRow[] } {
  const { where, params } = listable(query);
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM rooms r WHERE ${where.join(' AND ')}`).get(params) as { n: number }).n;

  const column = query.sortBy === 'createDate' ? 'created_at' : 'updated_at';
  const direction = query.sortOrder === 'asc' ? 'ASC' : 'DESC';
  const page = [...where];
  if (query.lastId !== undefined) {
    // Keyset paging: strictly after the given room in (sort column, id) order. An unknown lastId
    // matches nothing, rather than silently restarting from the top.
    const op = query.sortOrder === 'asc' ? '>' : '<';
    page.push(`(r.${column}, r.id) ${op} (SELECT c.${column}, c.id FROM rooms c WHERE c.id = @lastId)`);
    params.lastId = query.lastId;
  }
  params.limit = query.limit;
  params.skip = query.skip;
  const rows = db
    .prepare(`SELECT r.* FROM rooms r WHERE ${page.join(' AND ')} ORDER BY r.${column} ${direction}, r.id ${direction} LIMIT @limit OFFSET @skip`)
    .all(params) as Row[];
  return { total, rooms: rows.map(room) };
}
