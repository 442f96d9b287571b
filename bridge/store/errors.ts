/**
 * Errors of the store: one class with a `reason` from a documented union and a stable `code`
 * (`ERR_STORE_<REASON>`). They belong to the storage layer (STYLE.md, rule 12): nothing here knows
 * HTTP, and a store error at start-up stops the Bridge before it listens.
 */
import { SealroomError, reasonToCode } from '../../protocol/errors.ts';

/**
 * - `Corrupt`: the database file is damaged: not a SQLite file, truncated, bytes appended, or pages
 *   that fail SQLite's integrity check.
 * - `DatabaseMissing`: the data folder shows signs of an existing database (a `-wal` or `-shm` file,
 *   an empty database file) but holds no database to open. Starting fresh there would hide a lost
 *   database behind a new one; `forceNewDatabase` sets the leftovers aside and does.
 * - `SchemaMismatch`: the database is not what its recorded migrations produce (no migrations table
 *   beside other tables, a gap in the recorded versions, a table or index missing or different).
 * - `SchemaTooNew`: the database was migrated by a newer Bridge.
 * - `MigrationChanged`: a migration file changed after it was applied to this database.
 * - `MigrationFilesInvalid`: the migrations folder itself is wrong (a misnamed file, a gap).
 * - `BackupFailed`: `sealroom backup` could not write or verify the copy.
 * - `Unavailable`: the PostgreSQL server cannot be reached (at start: the Bridge does not start; at run
 *   time: the operation was not done, and the Bridge answers 503 STORE_UNAVAILABLE until it returns).
 */
export type StoreErrorReason =
  | 'Corrupt'
  | 'DatabaseMissing'
  | 'SchemaMismatch'
  | 'SchemaTooNew'
  | 'MigrationChanged'
  | 'MigrationFilesInvalid'
  | 'BackupFailed'
  | 'Unavailable';

export class StoreError extends SealroomError {
  readonly reason: StoreErrorReason;
  readonly details: Record<string, unknown> | undefined;

  constructor(reason: StoreErrorReason, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(reasonToCode('ERR_STORE', reason), message, { cause: options.cause });
    this.reason = reason;
    this.details = options.details;
  }

  static corrupt(file: string, what: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}): StoreError {
    return new StoreError(
      'Corrupt',
      `the database ${file} is damaged: ${what}. Nothing was changed; restore a backup (sealroom backup makes them) or move the file away`,
      options,
    );
  }

  /** `signs`: the files that show a database was there; none when the folder simply has no database. */
  static databaseMissing(file: string, signs: readonly string[]): StoreError {
    if (signs.length === 0) return new StoreError('DatabaseMissing', `no database at ${file}`, { details: { signs: [] } });
    return new StoreError(
      'DatabaseMissing',
      `no database to open at ${file}, but the folder shows signs of one (${signs.join(', ')}). ` +
        'Nothing was changed; restore the database, or start the Bridge with --force-new-database ' +
        '(forceNewDatabase) to set these files aside and begin an empty one',
      { details: { signs: [...signs] } },
    );
  }
}
