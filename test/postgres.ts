/**
 * A real PostgreSQL server for tests, from Debian's `postgresql` package (`make postgres` installs it):
 * `initdb` into a temporary folder, `pg_ctl start` on a free port of 127.0.0.1 with its unix socket in
 * that folder, one fresh database per `createDatabase()`. PostgreSQL refuses to run as root, so as root
 * both run as the package's `postgres` user (`runuser -u postgres --`). Start one per test file
 * (beforeAll) and stop it in afterAll: a start costs about a second, a database a few milliseconds.
 * Durability is off (fsync, synchronous_commit): a test server never outlives its test file.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** The newest installed server's bin folder, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

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
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error('PostgreSQL is not installed: run `make postgres` (apt-get install -y postgresql)');
  const root = mkdtempSync(join(tmpdir(), 'sealroom-pg-'));
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? { uid: Number((await run('id', ['-u', 'postgres'])).stdout), gid: Number((await run('id', ['-g', 'postgres'])).stdout) } : undefined;
  if (owner !== undefined) chownSync(root, owner.uid, owner.gid);
  chmodSync(root, 0o700);
  const tool = (name: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, name), ...args]) : run(join(bin, name), args));

  const data = join(root, 'data');
  const log = join(root, 'server.log');
  await tool('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  const port = await freePort();
  const options = [
    `-c listen_addresses=127.0.0.1 -p ${port} -k ${root}`,
    '-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200',
  ].join(' ');
  const start = async () => {
    try {
      await tool('pg_ctl', ['-D', data, '-o', options, '-l', log, '-w', '-t', '30', 'start']);
    } catch (error) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
      throw new Error(`pg_ctl start failed: ${(error as Error).message}\n${tail}`);
    }
  };
  await start();
  // A test process that dies without its afterAll must not leave a server running.
  const stopAtExit = () => {
    try {
      execFileSync(
        asRoot ? 'runuser' : join(bin, 'pg_ctl'),
        [...(asRoot ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []), '-D', data, '-m', 'immediate', 'stop'],
        {
          stdio: 'ignore',
        },
      );
    } catch {
      // Stopped already.
    }
  };
  process.once('exit', stopAtExit);

  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    adminUrl,
    port,
    createDatabase: (prefix?: string) => createDatabaseAt(adminUrl, prefix),
    async stop() {
      await tool('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    },
    start,
    async destroy() {
      process.off('exit', stopAtExit);
      await tool('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
