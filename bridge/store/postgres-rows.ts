/**
 * Row mappers of the PostgreSQL store. Its rows have the SQLite store's column names and value types
 * (BIGINT parsed as a number, BYTEA as a Buffer; postgres-db.ts), so SQLite's mappers serve, except
 * for the flags, which are BOOLEAN here and 0/1 there.
 */
import type { ApiKeyRow, RoomMemberRow } from './types.ts';
import { roomAccessRow, apiKey as sqliteApiKey, type Row } from './sqlite-rows.ts';

export { context, contextUser, formerUser, room, roomKey, session, solution, version, type Row } from './sqlite-rows.ts';

export const apiKey = (r: Row): ApiKeyRow => ({ ...sqliteApiKey(r), ephemeral: r.ephemeral === true });
export const member = (r: Row): RoomMemberRow => ({
  userId: r.user_id as string,
  publicKey: r.public_key as string,
  isManager: r.is_manager === true,
});
export const roomAccess = roomAccessRow((value) => value === true);

/** Builds a positional parameter list: `add(value)` returns its placeholder (`$1`, `$2`, ...). */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
