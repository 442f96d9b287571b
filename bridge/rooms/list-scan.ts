/**
 * A filtered listing (`queryAsJson`) without freezing the Bridge (docs/operations/limits.md, "Listings
 * with queryAsJson"). better-sqlite3 runs a query to its end in one synchronous call and has no
 * progress handler to stop it, so the filter is not run in SQL at all: the listing reads the context's
 * rooms in its sort order in small keyset batches (index lookups, no JSON work in SQLite), evaluates the
 * compiled filter in JavaScript (bridge/rooms/query.ts, each meta parsed once), and gives up the event
 * loop every `SCAN_SLICE_MS`. Slices of all listings in progress take turns, one per turn of the event
 * loop, so other requests wait for at most one slice whatever the number of listings. The total work of
 * one listing is bounded by `listScanBytes`; past it the listing fails with 422 QUERY_TOO_COSTLY.
 *
 * The alternatives were weaker: a cap on the filter's size alone still lets the data grow the work; a
 * worker thread with its own connection cannot interrupt SQLite either (terminate waits for the native
 * call) and would still spend a core per attacker.
 */
import type { RoomCursor, RoomScan, RoomScanRow, Store } from '../store/types.ts';
import type { RoomFilter, ScanCost } from './query.ts';

/**
 * Longest a slice of one listing runs before it gives up the event loop (plus the one room it was
 * evaluating, under a millisecond for a 64 KiB meta). Milliseconds. Short, because a request of another
 * user that needs a few turns of the event loop waits for up to one slice at each of them.
 */
export const SCAN_SLICE_MS = 5;
/** Rooms read per batch: at most 1 MiB of public meta (64 KiB each). */
export const SCAN_BATCH_ROWS = 16;

/**
 * Turns for cooperative work: each `next()` resolves in a later turn of the event loop than the last
 * slice, one waiter per turn (setImmediate), so I/O callbacks run between any two slices.
 */
export class Turns {
  readonly #waiting: Array<() => void> = [];
  #scheduled = false;

  next(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#waiting.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#waiting.shift()?.();
      // The slice runs as this immediate's microtask; the next one waits for the next turn.
      this.#schedule();
    });
  }
}

export interface ScanInput {
  scan: RoomScan;
  filter: RoomFilter;
  skip: number;
  limit: number;
  /** The page starts strictly after this place (the `lastId` room's); null: an unknown lastId, no page. */
  after: RoomCursor | null | undefined;
  /** `listScanBytes`. */
  budget: number;
}

export type ScanResult = { kind: 'done'; total: number; ids: string[] } | { kind: 'too_costly'; units: number };

const isAfter = (row: RoomCursor, cursor: RoomCursor, ascending: boolean): boolean => {
  const d = row.sortKey - cursor.sortKey || (row.id < cursor.id ? -1 : row.id > cursor.id ? 1 : 0);
  return ascending ? d > 0 : d < 0;
};

/**
 * Counts the rooms that match and picks the page's ids, in slices. Not a snapshot: a room written
 * between two slices may be counted by its old or its new place (as with any paged listing).
 */
export async function scanListing(store: Store, turns: Turns, input: ScanInput): Promise<ScanResult> {
  const { scan, filter, limit, after, budget } = input;
  const ascending = scan.sortOrder === 'asc';
  const cost: ScanCost = { units: 0 };
  const ids: string[] = [];
  let total = 0;
  let skip = input.skip;
  let batch: RoomScanRow[] = [];
  let next = 0;
  let cursor: RoomCursor | undefined;
  for (;;) {
    await turns.next();
    const started = performance.now();
    do {
      if (next === batch.length) {
        if (batch.length > 0 && batch.length < SCAN_BATCH_ROWS) return { kind: 'done', total, ids };
        batch = await store.scanRooms(scan, cursor, SCAN_BATCH_ROWS);
        next = 0;
        if (batch.length === 0) return { kind: 'done', total, ids };
        cursor = batch.at(-1)!;
      }
      const row = batch[next++]!;
      if (filter(row.publicMetaJson, cost)) {
        total++;
        if (after !== null && (after === undefined || isAfter(row, after, ascending))) {
          if (skip > 0) skip--;
          else if (ids.length < limit) ids.push(row.id);
        }
      }
      if (cost.units > budget) return { kind: 'too_costly', units: cost.units };
    } while (performance.now() - started < SCAN_SLICE_MS);
  }
}
