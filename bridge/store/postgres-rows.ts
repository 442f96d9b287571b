/**
 * Row mappers of the PostgreSQL store. Its rows have the SQLite store's column names and value types
 * (BIGINT parsed as a number, BYTEA as a Buffer; postgres-db.ts), so SQLite's mappers serve, except
 * for the flags, which are BOOLEAN here and 0/1 there.
 */
import type { ApiKeyRow, RoomAccessRow, RoomMemberRow } from './types.ts';
import { apiKey as sqliteApiKey, room, type Row } from './sqlite-rows.ts';

export { context, contextUser, room, roomKey, session, solution, version, type Row } from './sqlite-rows.ts';

export const apiKey = (r: Row): ApiKeyRow => ({ ...sqliteApiKey(r), ephemeral: r.ephemeral === true });
export const member = (r: Row): RoomMemberRow => ({
  userId: r.user_id as string,
  publicKey: r.public_key as string,
  isManager: r.is_manager === true,
});
/** A row of the room access query (postgres-rooms.ts `roomAccess`), as sqlite-rows.ts's with BOOLEAN flags. */
export const roomAccess = (r: Row): RoomAccessRow => ({
  room: room(r),
  solutionId: (r.access_solution_id as string | null) ?? undefined,
  contextUser: r.access_context_user === true,
  member:
    r.member_user_id === null
      ? undefined
      : { userId: r.member_user_id as string, publicKey: r.member_public_key as string, isManager: r.member_is_manager === true },
});

/** Builds a positional parameter list: `add(value)` returns its placeholder (`$1`, `$2`, ...). */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
