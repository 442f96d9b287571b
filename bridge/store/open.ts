/**
 * Opening the SQLite database, with the start-up checks that keep a damaged or lost database from
 * being served or silently replaced:
 *
 * 1. No database file (or an empty one) where a `-wal`, `-shm` or `-journal` file, or the empty file
 *    itself, shows there was one: refused (`DatabaseMissing`) unless `forceNewDatabase`, which moves
 *    those files aside and starts an empty database.
 * 2. The file's own layout, read with node:fs before SQLite opens it: the SQLite header, a page size
 *    that divides the file size, and (with no WAL content to add pages) the page count the header
 *    records. This catches truncation and appended bytes, which SQLite itself does not notice until a
 *    read reaches the missing or extra pages.
 * 3. `PRAGMA quick_check` and the schema against the recorded migrations (migrate.ts `verifySchema`).
 *
 * A refusal changes nothing in the folder: steps 1 and 2 only read; step 3 reads through a read-only
 * connection when the WAL holds commits (so they are not checkpointed into a file being refused), and
 * otherwise through a normal connection, whose `-wal` and `-shm` SQLite removes again on close.
 * File format: https://www.sqlite.org/fileformat2.html, section 1.3 (the database header).
 */
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { StoreError } from './errors.ts';
import { loadMigrations, migrate, verifySchema } from './migrate.ts';

export const DATABASE_FILE = 'sealroom.db';

/** Files SQLite keeps beside a database; any of them without the database is a sign of a lost one. */
const SIDE_SUFFIXES = ['-wal', '-shm', '-journal'] as const;

/** The SQLite database header (fileformat2, section 1.3). */
const HEADER_BYTES = 100;
const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** `quick_check` problems reported in an error, at most. */
const MAX_REPORTED_PROBLEMS = 5;

export interface OpenDatabaseOptions {
  /** Folder of the database file; created if missing. Ignored when `file` is given. */
  dataDir?: string;
  /** Overrides the file path; ':memory:' for a throwaway database. */
  file?: string;
  /** SQLite busy timeout, in milliseconds. */
  busyTimeoutMs?: number;
  /**
   * Start an empty database even where the folder shows signs of an earlier one (see `DatabaseMissing`
   * in errors.ts); those files are renamed aside, never deleted. A damaged database is still refused.
   */
  forceNewDatabase?: boolean;
  log?: Pick<Logger, 'warn'>;
}

export function databaseFile(options: Pick<OpenDatabaseOptions, 'dataDir' | 'file'>): string {
  if (options.file !== undefined) return options.file;
  if (options.dataDir !== undefined) return join(options.dataDir, DATABASE_FILE);
  throw new TypeError('SqliteStore: expected "dataDir" or "file"');
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** What the folder holds for this database: the file's size, and which side files exist. */
export function inspectFiles(file: string): { size: number | undefined; walBytes: number; sideFiles: string[] } {
  return {
    size: sizeOf(file),
    walBytes: sizeOf(`${file}-wal`) ?? 0,
    sideFiles: SIDE_SUFFIXES.map((suffix) => `${file}${suffix}`).filter((path) => existsSync(path)),
  };
}

/**
 * Step 2: the header and the size of the file. `walHasContent`: the WAL may hold pages the file does
 * not have yet (an unclean stop, or another process writing), so the header's page count is not final.
 */
export function checkFileLayout(file: string, size: number, walHasContent: boolean): void {
  const header = Buffer.alloc(HEADER_BYTES);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, HEADER_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  if (size < HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw StoreError.corrupt(file, 'it does not start with a SQLite header');
  }
  const raw = header.readUInt16BE(16);
  const pageSize = raw === 1 ? 65_536 : raw;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) {
    throw StoreError.corrupt(file, `its header names a page size of ${raw}, expected a power of two from 512 to 65536`);
  }
  if (size % pageSize !== 0) {
    throw StoreError.corrupt(file, `its size (${size} bytes) is not a whole number of ${pageSize}-byte pages: it was cut short or bytes were appended`, {
      details: { size, pageSize },
    });
  }
  // The header's page count is valid when its change counter matches "version-valid-for" (offsets 24
  // and 92); SQLite keeps both current in WAL mode. With the WAL empty, the file is the whole database.
  const pages = header.readUInt32BE(28);
  const valid = pages > 0 && header.readUInt32BE(24) === header.readUInt32BE(92);
  if (valid && !walHasContent && pages * pageSize !== size) {
    throw StoreError.corrupt(
      file,
      `its header records ${pages} pages of ${pageSize} bytes (${pages * pageSize} bytes) but the file holds ${size} bytes: it was ${
        size < pages * pageSize ? 'cut short' : 'extended with bytes that are not part of the database'
      }`,
      { details: { size, pageSize, pages } },
    );
  }
}

function isCorruption(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

/** Step 3 on an open connection: SQLite's own check (`full`: integrity_check) and the schema. */
export function checkContent(db: Database.Database, file: string, options: { full?: boolean } = {}): void {
  const pragma = options.full === true ? 'integrity_check' : 'quick_check';
  try {
    const rows = db.pragma(`${pragma}(${MAX_REPORTED_PROBLEMS})`) as Array<Record<string, string>>;
    const problems = rows.map((row) => Object.values(row)[0]!);
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw StoreError.corrupt(file, `SQLite's ${pragma} failed: ${problems.join('; ')}`, { details: { problems } });
    }
    verifySchema(db, loadMigrations());
  } catch (error) {
    if (isCorruption(error)) throw StoreError.corrupt(file, `SQLite reports: ${(error as Error).message}`, { cause: error });
    throw error;
  }
}

/** Renames each file to `<name>.set-aside-<time>` beside it; returns the new names. */
function setAside(paths: readonly string[]): string[] {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return paths.map((path) => {
    const target = `${path}.set-aside-${stamp}`;
    renameSync(path, target);
    return target;
  });
}

function configure(db: Database.Database, busyTimeoutMs: number): void {
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  db.pragma('journal_mode = WAL');
  // FULL: every commit syncs the WAL before it returns, so a write the Bridge acknowledged survives an
  // OS crash or power loss. NORMAL would survive a process kill (the WAL is in the OS's page cache)
  // but could lose the last commits on power loss. Its cost, measured with the CRUD bench, is in the
  // README, "Operations: durability, checks, backups". https://www.sqlite.org/pragma.html#pragma_synchronous
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
}

/** Opens (or, in an empty folder, creates) the database after the start-up checks, and migrates it. */
export function openDatabase(options: OpenDatabaseOptions): { db: Database.Database; file: string } {
  const file = databaseFile(options);
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (file === ':memory:') {
    const db = new Database(file);
    configure(db, busyTimeoutMs);
    migrate(db);
    return { db, file };
  }

  const found = inspectFiles(file);
  if (found.size === undefined || found.size === 0) {
    const signs = [...(found.size === 0 ? [file] : []), ...found.sideFiles];
    if (signs.length > 0) {
      if (options.forceNewDatabase !== true)
        throw StoreError.databaseMissing(
          file,
          signs.map((path) => basename(path)),
        );
      const moved = setAside(signs);
      options.log?.warn({ movedAside: moved }, 'forceNewDatabase: set the files of an earlier database aside; starting an empty one');
    }
    if (options.dataDir !== undefined && options.file === undefined) mkdirSync(options.dataDir, { recursive: true });
    const db = new Database(file);
    configure(db, busyTimeoutMs);
    migrate(db);
    return { db, file };
  }

  checkFileLayout(file, found.size, found.walBytes > 0);
  let db = openQuietly(file, busyTimeoutMs);
  try {
    checkContent(db, file);
    if (db.readonly) {
      db.close();
      db = new Database(file, { fileMustExist: true });
    }
    configure(db, busyTimeoutMs);
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return { db, file };
}

/**
 * A connection that changes nothing on disk: read-only while the WAL holds commits (they are part of
 * the database and must not be checkpointed into a file that is being refused; another process may
 * be writing them), else a normal one, whose `-wal` and `-shm` SQLite removes again on close (a
 * read-only connection would leave them behind).
 */
export function openQuietly(file: string, busyTimeoutMs = 5000): Database.Database {
  const walHasContent = (sizeOf(`${file}-wal`) ?? 0) > 0;
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, readonly: walHasContent });
  } catch (error) {
    if (isCorruption(error)) throw StoreError.corrupt(file, `SQLite reports: ${(error as Error).message}`, { cause: error });
    throw error;
  }
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  return db;
}

export interface DatabaseSummary {
  file: string;
  /** The newest applied migration; 0 for a database without tables. */
  schemaVersion: number;
  pages: number;
  pageSize: number;
}

/**
 * The checks of `openDatabase` on an existing database, without opening it for the Bridge: for
 * `sealroom check` (with `full`, SQLite's complete integrity_check) and for verifying a backup. Safe
 * while a Bridge is running on the file.
 */
export function checkDatabase(file: string, options: { full?: boolean } = {}): DatabaseSummary {
  const found = inspectFiles(file);
  if (found.size === undefined || found.size === 0) {
    throw StoreError.databaseMissing(
      file,
      [...(found.size === 0 ? [file] : []), ...found.sideFiles].map((path) => basename(path)),
    );
  }
  checkFileLayout(file, found.size, found.walBytes > 0);
  const db = openQuietly(file);
  try {
    checkContent(db, file, options);
    return summarize(db, file);
  } finally {
    db.close();
  }
}

export function summarize(db: Database.Database, file: string): DatabaseSummary {
  const hasMigrations = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
  const schemaVersion = hasMigrations ? ((db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0) : 0;
  return {
    file,
    schemaVersion,
    pages: db.pragma('page_count', { simple: true }) as number,
    pageSize: db.pragma('page_size', { simple: true }) as number,
  };
}
