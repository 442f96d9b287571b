/**
 * A real PostgreSQL server for tests, from Debian's `postgresql` package (`make postgres` installs it):
 * `initdb` into a temporary folder, `pg_ctl start` on a free port of 127.0.0.1 with its unix socket in
 * that folder, one fresh database per `createDatabase()` (scripts/cluster/postgres-server.ts, which
 * `make cluster` uses too; as root the server runs as the package's `postgres` user). Start one per
 * test file (beforeAll) and stop it in afterAll: a start costs about a second, a database a few
 * milliseconds. Durability is off (fsync, synchronous_commit): a test server never outlives its test file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openPostgresServer, type PostgresServer } from '../scripts/cluster/postgres-server.ts';
import { freePort } from '../scripts/cluster/ports.ts';

export { postgresBinDir } from '../scripts/cluster/postgres-server.ts';

export interface TestPostgres {
  /** The server's own `postgres` database, for administration. */
  readonly adminUrl: string;
  readonly port: number;
  /** A new empty database; returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Stops the server (fast shutdown: open connections are cut), keeping its data. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

let created = 0;

/** A new empty database on the server of `adminUrl` (its `postgres` database); returns its URL. */
export async function createDatabaseAt(adminUrl: string, prefix = 'sealroom_test'): Promise<string> {
  const name = `${prefix}_${++created}_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function startPostgres(): Promise<TestPostgres> {
  const root = mkdtempSync(join(tmpdir(), 'sealroom-pg-'));
  let server: PostgresServer;
  try {
    server = await openPostgresServer({ root, port: await freePort(), durable: false });
    await server.start();
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  // A test process that dies without its afterAll must not leave a server running.
  const stopAtExit = () => server.stopSync('immediate');
  process.once('exit', stopAtExit);
  return {
    adminUrl: server.adminUrl,
    port: server.port,
    createDatabase: (prefix?: string) => createDatabaseAt(server.adminUrl, prefix),
    stop: () => server.stop('fast'),
    start: () => server.start(),
    async destroy() {
      process.off('exit', stopAtExit);
      await server.stop('immediate').catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
