/**
 * Applies `migrations/NNNN_name.sql` in order, each in its own transaction, and records each in
 * `schema_migrations` with a checksum. Running again does nothing; an old database is brought up to date
 * at start. A recorded migration whose file changed since is refused: the schema would no longer be
 * what the file says.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Database from 'better-sqlite3';

export const MIGRATIONS_DIR = resolve(fileURLToPath(import.meta.url), '../../../migrations');

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const match = FILE_PATTERN.exec(file);
    if (match === null) {
      if (file.endsWith('.sql')) throw new MigrationError(`migration file "${file}" does not match NNNN_name.sql`);
      continue;
    }
    const sql = readFileSync(join(dir, file), 'utf8');
    migrations.push({
      version: Number(match[1]),
      name: match[2]!,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new MigrationError(`migrations must be numbered 0001 upward without gaps; found ${m.version} at position ${i + 1}`);
  });
  return migrations;
}

/** Applies pending migrations; returns the versions applied now. */
export function migrate(db: Database.Database, migrations: Migration[] = loadMigrations()): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const applied = new Map(
    (db.prepare('SELECT version, checksum FROM schema_migrations').all() as Array<{ version: number; checksum: string }>).map(
      (row) => [row.version, row.checksum],
    ),
  );
  const newest = Math.max(0, ...applied.keys());
  if (newest > migrations.length) {
    throw new MigrationError(
      `the database is at schema version ${newest}, newer than this Bridge knows (${migrations.length}); upgrade the Bridge`,
    );
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)');
  const done: number[] = [];
  for (const migration of migrations) {
    const checksum = applied.get(migration.version);
    if (checksum !== undefined) {
      if (checksum !== migration.checksum) {
        throw new MigrationError(`migration ${migration.version} (${migration.name}) changed after it was applied`);
      }
      continue;
    }
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, migration.checksum, Date.now());
    })();
    done.push(migration.version);
  }
  return done;
}
