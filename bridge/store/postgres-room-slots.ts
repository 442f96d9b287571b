/**
 * Room slots in PostgreSQL, shared by every Bridge on the database (docs/operations/limits.md, "Across
 * Bridges"; the table: migrations/postgres/0003_room_slots.sql): the room caps count the connections
 * joined on every Bridge, and two joins at the same moment on two Bridges cannot both take the last
 * slot. A claim runs in one transaction under an advisory lock of the room, so the claims of one room
 * run one at a time whatever Bridge makes them; other rooms do not wait. The claim is one SQL function
 * (one round trip for a join), the release one DELETE.
 */
import type { PostgresDb } from './postgres-db.ts';
import type { RoomSlotCaps, RoomSlotClaim, RoomSlotStore } from './types.ts';

/** The first key of the room locks (pg_advisory_xact_lock(int, int)): "slot" in ASCII. */
const ROOM_LOCK_SPACE = 0x736c6f74;
/** Rows of a Bridge not refreshed for this long are taken as gone (the Bridges refresh every few s). Ms. */
export const ROOM_SLOT_STALE_MS = 30_000;

const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

export class PostgresRoomSlots implements RoomSlotStore {
  constructor(private readonly db: PostgresDb) {}

  async claim(roomId: string, connectionId: string, userId: string, origin: string, caps: RoomSlotCaps): Promise<RoomSlotClaim> {
    // One statement (migrations/postgres/0004_room_slot_claim.sql): the lock, the prune of stale
    // slots, the counts and the insert, in its own transaction.
    const { rows } = await this.db.query<{ claim: RoomSlotClaim }>('SELECT room_slot_claim($1, $2, $3, $4, $5, $6, $7, $8) AS claim', [
      roomId,
      connectionId,
      userId,
      origin,
      caps.maxParticipantsPerRoom,
      caps.maxConnectionsPerUserInRoom,
      ROOM_SLOT_STALE_MS,
      ROOM_LOCK_SPACE,
    ]);
    return rows[0]!.claim;
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
