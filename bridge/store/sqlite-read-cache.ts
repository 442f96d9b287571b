/**
 * Reads of the SQLite store served from memory while the database has not changed: the room access
 * and key reads behind every room read (docs/operations/room-creates.md, "Verified gets").
 *
 * Exact, not timed: before each read the cache asks SQLite for two counters, and drops
 * every entry when either moved since the last read:
 * - `total_changes()`: rows this connection has inserted, updated or deleted since it opened, foreign-key
 *   cascades included. Every write of this store moves it, whatever the table, even one rolled back.
 * - `data_version`: moves when another connection commits to the file (another store on it, a tool).
 *
 * So a cached entry is what the same query would return now. Entries are shared: callers must not
 * change them, and the objects are frozen so a change fails loudly.
 */
import type Database from 'better-sqlite3';

/** Entries kept at most; past it the oldest goes. About 1 KB each. */
export const READ_CACHE_ENTRIES = 10_000;

export class SqliteReadCache {
  readonly #totalChanges: Database.Statement;
  readonly #dataVersion: Database.Statement;
  readonly #entries = new Map<string, unknown>();
  #changes = -1;
  #version = -1;

  constructor(
    db: Database.Database,
    private readonly maxEntries = READ_CACHE_ENTRIES,
  ) {
    // Two statements: together about 1.1 us a read here, against 2 us for one that reads the pragma
    // as a table (`FROM pragma_data_version`).
    this.#totalChanges = db.prepare('SELECT total_changes()').pluck();
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck();
  }

  /** The value under `key`, read with `read` (synchronous, no writes) unless a current one is cached. */
  get<T>(key: string, read: () => T): T {
    this.#check();
    return this.#lookup(key, read);
  }

  /**
   * Several reads after one check (each check is two statements): `fn` runs synchronously, so nothing
   * writes between the check and its reads, and every read is what its query would return at the check.
   */
  batch<T>(fn: (get: <V>(key: string, read: () => V) => V) => T): T {
    this.#check();
    return fn(this.#lookupBound);
  }

  readonly #lookupBound = <V>(key: string, read: () => V): V => this.#lookup(key, read);

  /** Drops every entry when either counter moved since the last check. */
  #check(): void {
    const changes = this.#totalChanges.get() as number;
    const version = this.#dataVersion.get() as number;
    if (changes !== this.#changes || version !== this.#version) {
      this.#entries.clear();
      this.#changes = changes;
      this.#version = version;
    }
  }

  #lookup<T>(key: string, read: () => T): T {
    if (this.#entries.has(key)) return this.#entries.get(key) as T;
    const value = read();
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, value);
    return value;
  }

  /** Entries held now (tests). */
  get size(): number {
    return this.#entries.size;
  }
}

/** Freezes a row object and the plain objects in it (not its byte arrays, which cannot be frozen). */
export function frozen<T extends object>(value: T): T {
  for (const field of Object.values(value)) {
    if (field !== null && typeof field === 'object' && !ArrayBuffer.isView(field)) frozen(field as object);
  }
  return Object.freeze(value);
}
