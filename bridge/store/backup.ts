/**
 * `sealroom backup`: a consistent copy of the database through SQLite's online backup API
 * (https://www.sqlite.org/backup.html), safe while a Bridge writes to it. The copy is one
 * self-contained file (rollback journal mode, no `-wal`), checked with integrity_check and the schema
 * check before it is given its name, so a file at the destination is always a complete, verified
 * backup.
 */
import { closeSync, existsSync, fsyncSync, linkSync, openSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from './errors.ts';
import { checkContent, checkFileLayout, inspectFiles, openQuietly, summarize, type DatabaseSummary } from './open.ts';

/**
 * Pages per backup step after the first: all of them. A step that another connection's write
 * interrupts starts the copy over, so with small steps a busy Bridge could keep a backup from ever
 * finishing; one step copies a single snapshot under a read transaction, which in WAL mode does not
 * block the Bridge's writers.
 */
const ALL_PAGES = 0x7fff_ffff;

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Copies the database `source` to `target`, which must not exist yet; returns the copy's summary. */
export async function backupDatabase(source: string, target: string): Promise<DatabaseSummary> {
  if (existsSync(target)) throw new StoreError('BackupFailed', `${target} exists already; a backup never overwrites a file`);
  const found = inspectFiles(source);
  if (found.size === undefined || found.size === 0) throw StoreError.databaseMissing(source, []);
  checkFileLayout(source, found.size, found.walBytes > 0);

  const partial = `${target}.partial-${process.pid}`;
  const db = openQuietly(source);
  try {
    await db.backup(partial, { progress: () => ALL_PAGES });
  } catch (error) {
    rmSync(partial, { force: true });
    throw new StoreError('BackupFailed', `copying ${source} to ${partial} failed: ${(error as Error).message}`, { cause: error });
  } finally {
    db.close();
  }

  let summary: DatabaseSummary;
  const copy = new Database(partial, { fileMustExist: true });
  try {
    copy.pragma('journal_mode = DELETE');
    checkContent(copy, target, { full: true });
    summary = summarize(copy, target);
  } catch (error) {
    copy.close();
    rmSync(partial, { force: true });
    if (error instanceof StoreError) throw new StoreError('BackupFailed', `the copy failed its check: ${error.message}`, { cause: error });
    throw error;
  }
  copy.close();
  fsyncPath(partial);
  try {
    linkSync(partial, target); // unlike rename, fails rather than replace a file that appeared meanwhile
  } catch (error) {
    throw new StoreError('BackupFailed', `could not name the backup ${target}: ${(error as Error).message}`, { cause: error });
  } finally {
    rmSync(partial, { force: true });
  }
  fsyncPath(dirname(target));
  return summary;
}
