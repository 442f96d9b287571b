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
import Database from 'better-sqlite3';
import { StoreError } from './errors.ts';

export const MIGRATIONS_DIR = resolve(fileURLToPath(import.meta.url), '../../../migrations');

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** A problem with the migrations or with the schema they produced; a `StoreError` with its reason. */
export class MigrationError extends StoreError {
  constructor(reason: 'SchemaMismatch' | 'SchemaTooNew' | 'MigrationChanged' | 'MigrationFilesInvalid', message: string) {
    super(reason, message);
  }
}

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const match = FILE_PATTERN.exec(file);
    if (match === null) {
      if (file.endsWith('.sql')) throw new MigrationError('MigrationFilesInvalid', `migration file "${file}" does not match NNNN_name.sql`);
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
    if (m.version !== i + 1)
      throw new MigrationError('MigrationFilesInvalid', `migrations must be numbered 0001 upward without gaps; found ${m.version} at position ${i + 1}`);
  });
  return migrations;
}

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`;

/**
 * The recorded migrations, checked against the files: none newer than the code knows, none changed
 * since it was applied, numbered 1..n without a gap. Reads only.
 */
function appliedMigrations(db: Database.Database, migrations: Migration[]): Map<number, string> {
  const rows = db.prepare('SELECT version, checksum FROM schema_migrations ORDER BY version').all() as Array<{ version: number; checksum: string }>;
  return checkApplied(new Map(rows.map((row) => [row.version, row.checksum])), migrations);
}

/**
 * The checks of `appliedMigrations` on recorded (version, checksum) pairs, whichever database they
 * come from (the PostgreSQL store runs them too, bridge/store/postgres-migrate.ts).
 */
export function checkApplied(applied: Map<number, string>, migrations: Migration[]): Map<number, string> {
  const newest = Math.max(0, ...applied.keys());
  if (newest > migrations.length) {
    throw new MigrationError(
      'SchemaTooNew',
      `the database is at schema version ${newest}, newer than this Bridge knows (${migrations.length}); upgrade the Bridge`,
    );
  }
  for (const migration of migrations.slice(0, newest)) {
    const checksum = applied.get(migration.version);
    if (checksum === undefined) {
      throw new MigrationError('SchemaMismatch', `the database records schema version ${newest} but not migration ${migration.version} (${migration.name})`);
    }
    if (checksum !== migration.checksum) {
      throw new MigrationError('MigrationChanged', `migration ${migration.version} (${migration.name}) changed after it was applied`);
    }
  }
  return applied;
}

interface SchemaObject {
  type: string;
  name: string;
  sql: string | null;
}

function schemaObjects(db: Database.Database): SchemaObject[] {
  return db
    .prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY type, name")
    .all() as SchemaObject[];
}

/**
 * Checks, reading only, that the database is one these migrations made: its `schema_migrations` passes
 * `appliedMigrations`, and every table, index, view and trigger the recorded migrations create is
 * there with the same definition (replayed on an in-memory database to know what that is). Objects an
 * operator added are allowed. A database with no objects at all is new and passes.
 */
export function verifySchema(db: Database.Database, migrations: Migration[] = loadMigrations()): void {
  const actual = schemaObjects(db);
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
  if (!hasTable) {
    if (actual.length === 0) return;
    throw new MigrationError(
      'SchemaMismatch',
      `the database has ${actual.length} tables and indexes but no schema_migrations table: it is not a sealroom database, or its migration record was lost`,
    );
  }
  const applied = appliedMigrations(db, migrations);
  const expected = new Database(':memory:');
  try {
    for (const migration of migrations.slice(0, applied.size)) expected.exec(migration.sql);
    const have = new Map(actual.map((o) => [`${o.type} ${o.name}`, o.sql]));
    for (const object of schemaObjects(expected)) {
      const sql = have.get(`${object.type} ${object.name}`);
      if (sql === undefined) {
        throw new MigrationError('SchemaMismatch', `the ${object.type} "${object.name}" that schema version ${applied.size} creates is missing`);
      }
      if (sql !== object.sql) {
        throw new MigrationError('SchemaMismatch', `the ${object.type} "${object.name}" differs from what schema version ${applied.size} creates`);
      }
    }
  } finally {
    expected.close();
  }
}

/** Applies pending migrations; returns the versions applied now. */
export function migrate(db: Database.Database, migrations: Migration[] = loadMigrations()): number[] {
  db.exec(MIGRATIONS_TABLE);
  const applied = appliedMigrations(db, migrations);
  const record = db.prepare('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)');
  const done: number[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, migration.checksum, Date.now());
    })();
    done.push(migration.version);
  }
  return done;
}
