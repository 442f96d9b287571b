/**
 * Debian's PostgreSQL server (`make postgres` installs it) run from a folder of our own, for the tests
 * (test/postgres.ts: a temporary folder, durability off) and for `make cluster` (scripts/cluster/: a
 * folder kept between runs, default durability). `initdb` once, `pg_ctl start` on 127.0.0.1 with the
 * unix socket in the same folder, `pg_ctl stop`. PostgreSQL refuses to run as root, so as root every
 * tool runs as the package's `postgres` user (`runuser -u postgres --`) and the folder is its.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
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

export interface PostgresServerOptions {
  /** The server's folder: `data/` (the cluster), `server.log` and the unix socket go in it. */
  root: string;
  port: number;
  /** false: fsync, synchronous commit and full-page writes off, for a server that never outlives its test. */
  durable: boolean;
}

export interface PostgresServer {
  /** The server's own `postgres` database, for administration (trust authentication on 127.0.0.1). */
  readonly adminUrl: string;
  readonly port: number;
  readonly logFile: string;
  /** Whether this call ran `initdb` (a new, empty cluster) rather than finding one in `root`. */
  readonly created: boolean;
  /** `pg_ctl start`, waiting until it accepts connections; fails with the log's tail. */
  start(): Promise<void>;
  /** `pg_ctl stop` (fast: open connections are cut; immediate: no shutdown checkpoint), waiting. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** The same, synchronously, for an `exit` handler; never throws. */
  stopSync(mode?: 'fast' | 'immediate'): void;
  /** The pid of a server running on this folder (from `postmaster.pid`, if that process lives), or undefined. */
  runningPid(): number | undefined;
}

/** Prepares (and, when `root` holds none yet, creates with `initdb`) a cluster in `root`; does not start it. */
export async function openPostgresServer(options: PostgresServerOptions): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error('PostgreSQL is not installed: run `make postgres` (apt-get install -y postgresql)');
  const { root, port } = options;
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout);
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout);
    chownSync(root, uid, gid);
  }
  chmodSync(root, 0o700);
  const command = (name: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, name), ...args]] : [join(bin, name), args];
  const tool = (name: string, args: string[]) => run(...command(name, args));

  const data = join(root, 'data');
  const logFile = join(root, 'server.log');
  const created = !existsSync(join(data, 'PG_VERSION'));
  if (created) await tool('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  const settings = [`-c listen_addresses=127.0.0.1 -p ${port} -k ${root}`, '-c max_connections=200'];
  if (!options.durable) settings.push('-c fsync=off -c synchronous_commit=off -c full_page_writes=off');

  const stopArgs = (mode: string) => ['-D', data, '-m', mode, '-w', 'stop'];
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    logFile,
    created,
    async start() {
      try {
        await tool('pg_ctl', ['-D', data, '-o', settings.join(' '), '-l', logFile, '-w', '-t', '30', 'start']);
      } catch (error) {
        const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
        throw new Error(`pg_ctl start failed: ${(error as Error).message}\n${tail}`);
      }
    },
    async stop(mode = 'fast') {
      await tool('pg_ctl', stopArgs(mode));
    },
    stopSync(mode = 'immediate') {
      try {
        execFileSync(...command('pg_ctl', stopArgs(mode)), { stdio: 'ignore' });
      } catch {
        // Not running.
      }
    },
    runningPid() {
      const pidFile = join(data, 'postmaster.pid');
      if (!existsSync(pidFile)) return undefined;
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
      try {
        process.kill(pid, 0);
        return pid;
      } catch {
        return undefined;
      }
    },
  };
}

/** Creates the database `name` on the server of `adminUrl` unless it exists; returns its URL and whether it made it. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<{ url: string; created: boolean }> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name "${name}": expected lower-case letters, digits and _`);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  let created = false;
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${name}`);
      created = true;
    }
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), created };
}
