/**
 * Room slots in PostgreSQL, shared by every Bridge on the database (docs/operations/limits.md, "Across
 * Bridges"; the table: migrations/postgres/0003_room_slots.sql): the room caps count the connections
 * joined on every Bridge, and two joins at the same moment on two Bridges cannot both take the last
 * slot. A claim runs in one transaction under an advisory lock of the room, so the claims of one room
 * run one at a time whatever Bridge makes them; other rooms do not wait.
 */
import type { PostgresDb, Queryable } from './postgres-db.ts';
import type { RoomSlotCaps, RoomSlotClaim, RoomSlotStore } from './types.ts';

/** The first key of the room locks (pg_advisory_xact_lock(int, int)): "slot" in ASCII. */
const ROOM_LOCK_SPACE = 0x736c6f74;
/** Rows of a Bridge not refreshed for this long are taken as gone (the Bridges refresh every few s). Ms. */
export const ROOM_SLOT_STALE_MS = 30_000;

const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

export class PostgresRoomSlots implements RoomSlotStore {
  constructor(private readonly db: PostgresDb) {}

  claim(roomId: string, connectionId: string, userId: string, origin: string, caps: RoomSlotCaps): Promise<RoomSlotClaim> {
    return this.db.transaction(async (tx: Queryable): Promise<RoomSlotClaim> => {
      await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [ROOM_LOCK_SPACE, roomId]);
      await tx.query(`DELETE FROM room_slots WHERE room_id = $1 AND seen_at < ${NOW_MS} - $2::bigint`, [roomId, ROOM_SLOT_STALE_MS]);
      const { rows } = await tx.query<{ user_id: string; n: number; mine: boolean }>(
        'SELECT user_id, COUNT(*)::int AS n, bool_or(connection_id = $2) AS mine FROM room_slots WHERE room_id = $1 GROUP BY user_id',
        [roomId, connectionId],
      );
      if (rows.some((r) => r.mine)) return 'ok'; // claimed already (a join repeated)
      const own = rows.find((r) => r.user_id === userId)?.n ?? 0;
      if (own >= caps.maxConnectionsPerUserInRoom) return 'TOO_MANY_CONNECTIONS';
      if (own === 0 && rows.length >= caps.maxParticipantsPerRoom) return 'ROOM_FULL';
      await tx.query(`INSERT INTO room_slots (room_id, connection_id, user_id, origin, seen_at) VALUES ($1, $2, $3, $4, ${NOW_MS})`, [
        roomId,
        connectionId,
        userId,
        origin,
      ]);
      return 'ok';
    });
  }

  async release(roomId: string, connectionId: string): Promise<void> {
    await this.db.query('DELETE FROM room_slots WHERE room_id = $1 AND connection_id = $2', [roomId, connectionId]);
  }

  async refresh(origin: string, held: ReadonlyArray<readonly [roomId: string, connectionId: string]>): Promise<void> {
    await this.db.query(
      `UPDATE room_slots SET seen_at = ${NOW_MS}
       WHERE origin = $1 AND (room_id, connection_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
      [origin, held.map((h) => h[0]), held.map((h) => h[1])],
    );
  }

  async releaseOrigin(origin: string): Promise<void> {
    await this.db.query('DELETE FROM room_slots WHERE origin = $1', [origin]);
  }
}
