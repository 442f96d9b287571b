/**
 * PostgreSQL faults and start-up checks (docs/operations/postgres.md, "Faults"): unreachable at start
 * (no start, ERR_STORE_UNAVAILABLE, from createBridge and from `sealroom start --store`), lost at run
 * time (/healthz 503, requests 503 STORE_UNAVAILABLE, recovery when the server is back: the real
 * server is stopped and started again), and the migration checks on a PostgreSQL database.
 */
import { createServer } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridge } from '../bridge.ts';
import { main } from '../cli/main.ts';
import { login, rest, setupTenant, startBridge } from '../../test/harness.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import { genesis } from '../../test/rooms.ts';
import { PostgresStore } from './postgres.ts';
import { PostgresDb } from './postgres-db.ts';
import { loadMigrations } from './migrate.ts';
import { POSTGRES_MIGRATIONS_DIR } from './postgres-migrate.ts';

let server: TestPostgres;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.destroy();
});

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

describe('PostgreSQL unreachable at start', () => {
  it('createBridge refuses with ERR_STORE_UNAVAILABLE, naming the URL without its password', async () => {
    const url = `postgres://sealroom:secret-pw@127.0.0.1:${await closedPort()}/sealroom`;
    const error = await createBridge({ store: url, port: 0, logLevel: 'silent' }).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error?.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(error?.message).toContain('cannot be reached');
    expect(error?.message).not.toContain('secret-pw');
  });

  it('sealroom start --store (and SEALROOM_STORE) exits 1 with the coded error; a URL that is not postgres:// is refused', async () => {
    const url = `postgres://postgres@127.0.0.1:${await closedPort()}/sealroom`;
    const lines: string[] = [];
    const io = { out: (s: string) => lines.push(s), err: (s: string) => lines.push(s) };
    expect(await main(['start', '--store', url, '--port', '0', '--log-level', 'silent', '--no-app'], io)).toBe(1);
    expect(lines.join('\n')).toContain('error: ERR_STORE_UNAVAILABLE');
    lines.length = 0;
    process.env.SEALROOM_STORE = url;
    try {
      expect(await main(['start', '--port', '0', '--log-level', 'silent', '--no-app'], io)).toBe(1);
    } finally {
      delete process.env.SEALROOM_STORE;
    }
    expect(lines.join('\n')).toContain('error: ERR_STORE_UNAVAILABLE');
    lines.length = 0;
    expect(await main(['start', '--store', 'mysql://127.0.0.1/x', '--port', '0', '--log-level', 'silent', '--no-app'], io)).toBe(1);
    expect(lines.join('\n')).toContain('expected a postgres:// URL');
  });
});

describe('PostgreSQL lost at run time', () => {
  it('makes /healthz unhealthy and requests 503 STORE_UNAVAILABLE, and recovers when the server returns', async () => {
    const t = await startBridge({ store: await server.createDatabase() });
    try {
      const tenant = await setupTenant(t.bridge, ['alice']);
      const alice = tenant.users.alice!;
      const token = await login(t.bridge.url, tenant.solutionId, alice);
      const api = rest(t.bridge.url, token);
      expect((await rest(t.bridge.url).get('/healthz')).body).toEqual({ status: 'ok' });

      await server.stop();
      const health = await rest(t.bridge.url).get('/healthz');
      expect(health).toEqual({ status: 503, body: { status: 'unavailable', store: 'unreachable' } });
      const room = await genesis(tenant.contextId, alice, { users: [alice], managers: [alice] });
      const refused = await api.post('/v1/rooms', room.request);
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('STORE_UNAVAILABLE');
      expect(refused.body.error.retryAfter).toBe(5);
      // A client is told to retry, never that its session is gone.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect((await api.get('/v1/me')).status).toBe(503);

      await server.start();
      expect((await rest(t.bridge.url).get('/healthz')).body).toEqual({ status: 'ok' });
      expect((await api.post('/v1/rooms', room.request)).status).toBe(201);
      expect((await api.get(`/v1/rooms/${room.record.roomId}`)).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('PostgreSQL lost under a statement or a transaction', () => {
  it('fails the statement in flight and a transaction cut between statements as unavailable, without ending the process', async () => {
    const db = new PostgresDb({ url: await server.createDatabase() });
    try {
      const sleeping = db.query('SELECT pg_sleep(20)').then(
        () => 'finished',
        (e: { code: string }) => e.code,
      );
      const cut = db.transaction(async (tx) => {
        await tx.query('SELECT 1');
        await server.stop();
        await new Promise((resolve) => setTimeout(resolve, 300));
        await tx.query('SELECT 2');
      });
      expect(
        await cut.then(
          () => 'committed',
          (e: { code: string }) => e.code,
        ),
      ).toBe('ERR_STORE_UNAVAILABLE');
      expect(await sleeping).toBe('ERR_STORE_UNAVAILABLE');
      await server.start();
      expect((await db.query<{ n: number }>('SELECT 7 AS n')).rows[0]!.n).toBe(7);
    } finally {
      await db.close();
    }
  });
});

describe('PostgreSQL migrations', () => {
  it('run once when several Bridges start on a new database at the same time', async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all([1, 2, 3].map(() => PostgresStore.open({ url })));
    try {
      const versions = loadMigrations(POSTGRES_MIGRATIONS_DIR).map((m) => m.version);
      expect(versions.length).toBeGreaterThanOrEqual(4);
      for (const store of stores) expect(await store.schemaVersions()).toEqual(versions);
    } finally {
      for (const store of stores) await store.close();
    }
  });

  it('refuse a changed migration, a database newer than the code, a foreign database and a missing table', async () => {
    const refusal = (url: string) =>
      PostgresStore.open({ url }).then(
        (s) => s.close().then(() => 'opened'),
        (e: { code: string }) => e.code,
      );
    const changed = await server.createDatabase();
    await (await PostgresStore.open({ url: changed })).close();
    await sql(changed, `UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1`);
    expect(await refusal(changed)).toBe('ERR_STORE_MIGRATION_CHANGED');

    const newer = await server.createDatabase();
    await (await PostgresStore.open({ url: newer })).close();
    await sql(newer, `INSERT INTO schema_migrations VALUES (9999, 'future', 'x', 0)`);
    expect(await refusal(newer)).toBe('ERR_STORE_SCHEMA_TOO_NEW');

    const foreign = await server.createDatabase();
    await sql(foreign, 'CREATE TABLE customers (id INTEGER PRIMARY KEY)');
    expect(await refusal(foreign)).toBe('ERR_STORE_SCHEMA_MISMATCH');

    const damaged = await server.createDatabase();
    await (await PostgresStore.open({ url: damaged })).close();
    await sql(damaged, 'DROP TABLE room_keys');
    expect(await refusal(damaged)).toBe('ERR_STORE_SCHEMA_MISMATCH');
  });
});
