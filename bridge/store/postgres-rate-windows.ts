/**
 * Fixed-window counters in PostgreSQL, shared by every Bridge on the database
 * (docs/operations/limits.md, "Across Bridges"; the table: migrations/postgres/0002_rate_windows.sql).
 *
 * A hit is one upsert of the key's row: the row lock makes concurrent hits from several Bridges count
 * exactly, and the window is aligned to the database's clock, so every Bridge counts into the same
 * window whatever its own clock says. Used only where a request already goes to the store (room writes,
 * logins), never per message.
 */
import type { Queryable } from './postgres-db.ts';
import type { RateWindowCount, RateWindows } from './types.ts';

/** Rows whose window started longer ago than this are deleted (the longest window is far shorter). Ms. */
const SWEEP_AGE_MS = 86_400_000;
/** How often a Bridge sweeps (after a hit). Ms. */
const SWEEP_EVERY_MS = 60_000;

const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

export class PostgresRateWindows implements RateWindows {
  #lastSweep = 0;

  constructor(private readonly db: Queryable) {}

  async hit(keys: readonly string[], windowMs: number): Promise<RateWindowCount[]> {
    this.#sweep();
    // Every key once per statement: ON CONFLICT cannot touch one row twice.
    const distinct = [...new Set(keys)];
    const { rows } = await this.db.query<{ key: string; count: number; resets_in_ms: string }>(
      `WITH now AS (SELECT ${NOW_MS} AS ms)
       INSERT INTO rate_windows AS w (key, window_start, count)
       SELECT k, (now.ms / $2::bigint) * $2::bigint, 1 FROM unnest($1::text[]) AS k, now
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN w.window_start = EXCLUDED.window_start THEN w.count + 1 ELSE 1 END,
         window_start = EXCLUDED.window_start
       RETURNING w.key, w.count, w.window_start + $2::bigint - (SELECT ms FROM now) AS resets_in_ms`,
      [distinct, windowMs],
    );
    return keys.map((key) => found(rows, key));
  }

  async counts(keys: readonly string[], windowMs: number): Promise<RateWindowCount[]> {
    const { rows } = await this.db.query<{ key: string; count: number; resets_in_ms: string }>(
      `WITH now AS (SELECT ${NOW_MS} AS ms)
       SELECT w.key, w.count, w.window_start + $2::bigint - now.ms AS resets_in_ms
       FROM rate_windows w, now WHERE w.key = ANY($1::text[]) AND w.window_start = (now.ms / $2::bigint) * $2::bigint`,
      [[...keys], windowMs],
    );
    return keys.map((key) => found(rows, key));
  }

  async reset(key: string): Promise<void> {
    await this.db.query('DELETE FROM rate_windows WHERE key = $1', [key]);
  }

  #sweep(): void {
    const now = Date.now();
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    // Not awaited: a failed sweep is tried again a minute later.
    this.db.query(`DELETE FROM rate_windows WHERE window_start < ${NOW_MS} - $1::bigint`, [SWEEP_AGE_MS]).catch(() => undefined);
  }
}

function found(rows: Array<{ key: string; count: number; resets_in_ms: string }>, key: string): RateWindowCount {
  const row = rows.find((r) => r.key === key);
  return row === undefined ? { count: 0, resetsInMs: 0 } : { count: Number(row.count), resetsInMs: Math.max(0, Number(row.resets_in_ms)) };
}
