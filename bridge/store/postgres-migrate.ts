/**
 * Migrations of the PostgreSQL store: `migrations/postgres/NNNN_name.sql`, run the way migrate.ts runs
 * SQLite's: in order, each in its own transaction, recorded in `schema_migrations` with a checksum, and
 * refused when a recorded one changed, is unknown (a database newer than the code) or has a gap
 * (`checkApplied`). Several Bridges may start on one database at once: the whole check-and-migrate
 * step holds a session-level advisory lock, so exactly one of them migrates and the others then find
 * the schema done.
 *
 * The schema check is lighter than SQLite's replay (migrate.ts `verifySchema`): every table and index
 * the recorded migrations create must exist in the database's schema; definitions are not compared.
 */
import { resolve } from 'node:path';
import type { PoolClient } from 'pg';
import { checkApplied, loadMigrations, MigrationError, MIGRATIONS_DIR, type Migration } from './migrate.ts';

export const POSTGRES_MIGRATIONS_DIR = resolve(MIGRATIONS_DIR, 'postgres');

/** The advisory lock key of the migration step (an arbitrary constant: "sealroom" in ASCII, as a bigint). */
const MIGRATION_LOCK = '8314045240452190573';

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`;

/** The tables and indexes a migration creates, by name. */
function createdObjects(sql: string): string[] {
  return [...sql.matchAll(/CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX)\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)/gi)].map((m) => m[1]!.toLowerCase());
}

async function existingObjects(client: PoolClient): Promise<Set<string>> {
  const { rows } = await client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'i', 'p')`,
  );
  return new Set(rows.map((r) => r.relname));
}

/**
 * Checks the recorded migrations and the schema, then applies the pending ones; returns the versions
 * applied now. `client` is a connection of the store's pool, returned to it by the caller.
 */
export async function migratePostgres(client: PoolClient, migrations: Migration[] = loadMigrations(POSTGRES_MIGRATIONS_DIR)): Promise<number[]> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    const before = await existingObjects(client);
    if (!before.has('schema_migrations') && [...before].some((name) => !name.startsWith('pg_'))) {
      throw new MigrationError(
        'SchemaMismatch',
        `the database has ${before.size} tables and indexes but no schema_migrations table: it is not a sealroom database, or its migration record was lost`,
      );
    }
    await client.query(MIGRATIONS_TABLE);
    const { rows } = await client.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations ORDER BY version');
    const applied = checkApplied(new Map(rows.map((r) => [r.version, r.checksum])), migrations);
    for (const migration of migrations.slice(0, applied.size)) {
      const missing = createdObjects(migration.sql).filter((name) => !before.has(name));
      if (missing.length > 0) {
        throw new MigrationError('SchemaMismatch', `the table or index "${missing[0]}" that schema version ${applied.size} creates is missing`);
      }
    }
    const done: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)', [
          migration.version,
          migration.name,
          migration.checksum,
          Date.now(),
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
      done.push(migration.version);
    }
    return done;
  } finally {
    // A broken connection has released the lock with its session; that failure is the one to report.
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
  }
}
