/**
 * Start-up checks on real database files: a damaged or lost database is refused with a coded error and
 * left exactly as it was; a healthy one, also after `kill -9`, starts with all its data.
 */
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  cpSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startBridgeProcess } from '../../test/cli.ts';
import { makeUser } from '../../test/identities.ts';
import { createBridge, type Bridge } from '../bridge.ts';
import { ManageClient } from '../manage/client.ts';
import { StoreError } from './errors.ts';
import { DATABASE_FILE } from './open.ts';
import { SqliteStore } from './sqlite.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-open-'));
  dirs.push(dir);
  return dir;
}
function copyOf(fixture: string): string {
  const dir = tempDir();
  cpSync(fixture, dir, { recursive: true });
  return dir;
}

/** Every file in the folder with its size, modification time and content hash. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir).map((name) => {
      const path = join(dir, name);
      const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
      return [name, `${statSync(path).size} ${statSync(path).mtimeMs} ${hash}`];
    }),
  );
}

const start = (dataDir: string, more: { apiKey?: string; forceNewDatabase?: boolean } = {}): Promise<Bridge> =>
  createBridge({ dataDir, port: 0, logLevel: 'silent', ...more });

/** Starting on `dataDir` must fail with `code` and leave every file in it as it was. */
async function expectRefusal(dataDir: string, code: string): Promise<StoreError> {
  const before = snapshot(dataDir);
  const error = await start(dataDir).then(
    async (bridge) => {
      await bridge.close();
      throw new Error('the Bridge started');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
  expect(snapshot(dataDir)).toEqual(before);
  return error as StoreError;
}

const SOLUTIONS = 120;
let healthy: string; // a cleanly closed Bridge's folder: sealroom.db only
let healthyKey: string;
let killed: string; // a folder after `kill -9`: sealroom.db, -wal with commits, -shm
let killedKey: string;
let killedSolutions: string[];

beforeAll(async () => {
  healthy = tempDir();
  const bridge = await start(healthy);
  healthyKey = bridge.initialApiKey!;
  for (let i = 0; i < SOLUTIONS; i++) await bridge.manage.createSolution(`solution ${i} ${'x'.repeat(150)}`);
  const { contextId } = await bridge.manage.createContext((await bridge.manage.listSolutions())[0]!.solutionId, 'ctx');
  for (let i = 0; i < 20; i++) await bridge.manage.addContextUser(contextId, `user${i}`, (await makeUser(`user${i}`)).publicKey);
  await bridge.close();

  killed = tempDir();
  const proc = await startBridgeProcess(killed);
  killedKey = proc.apiKey;
  const manage = new ManageClient(proc.url, proc.apiKey);
  killedSolutions = [];
  for (let i = 0; i < 20; i++) killedSolutions.push((await manage.createSolution(`acknowledged ${i}`)).solutionId);
  proc.child.kill('SIGKILL');
  expect(await proc.exited).toBe('SIGKILL');
});
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('start-up checks', () => {
  it('the fixtures are what the tests assume', () => {
    expect(readdirSync(healthy)).toEqual([DATABASE_FILE]);
    expect(readdirSync(killed).sort()).toEqual([DATABASE_FILE, `${DATABASE_FILE}-shm`, `${DATABASE_FILE}-wal`]);
    expect(statSync(join(killed, `${DATABASE_FILE}-wal`)).size).toBeGreaterThan(0);
  });

  it('a healthy database restarts with its data and without a new operator key', async () => {
    const dir = copyOf(healthy);
    const bridge = await start(dir, { apiKey: healthyKey });
    expect(bridge.initialApiKey).toBeUndefined();
    expect(await bridge.manage.listSolutions()).toHaveLength(SOLUTIONS);
    await bridge.close();
    expect(readdirSync(dir)).toEqual([DATABASE_FILE]);
  });

  it('every commit is synced before it is acknowledged: synchronous = FULL, in WAL mode', () => {
    const dir = copyOf(healthy);
    const store = new SqliteStore({ dataDir: dir });
    // better-sqlite3's connection is private to the store; the pragma is per connection, so ask that one.
    // biome-ignore lint/complexity/useLiteralKeys: the bracket reaches the private field, which is the point here
    const db = store['db'];
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
    void store.close();
  });

  it('after kill -9 the Bridge restarts with every acknowledged write (they were in the WAL)', async () => {
    const dir = copyOf(killed);
    const bridge = await start(dir, { apiKey: killedKey });
    expect(bridge.initialApiKey).toBeUndefined();
    const ids = (await bridge.manage.listSolutions()).map((s) => s.solutionId);
    expect(ids).toEqual(expect.arrayContaining(killedSolutions));
    await bridge.close();
  });

  it.each([
    ['to half its size', (size: number) => Math.floor(size / 2 / 4096) * 4096],
    ['by 100 bytes (into its last page)', (size: number) => size - 100],
    ['to its first page', () => 4096],
  ])('a database truncated %s is refused: ERR_STORE_CORRUPT', async (_name, cut) => {
    const dir = copyOf(healthy);
    const file = join(dir, DATABASE_FILE);
    truncateSync(file, cut(statSync(file).size));
    const error = await expectRefusal(dir, 'ERR_STORE_CORRUPT');
    expect(error.message).toMatch(/cut short/);
  });

  it.each([
    ['1000 bytes', 1000],
    ['a whole page', 4096],
    ['ten pages', 40_960],
  ])('a database with %s of garbage appended is refused: ERR_STORE_CORRUPT', async (_name, bytes) => {
    const dir = copyOf(healthy);
    appendFileSync(join(dir, DATABASE_FILE), Buffer.alloc(bytes, 0xa5));
    const error = await expectRefusal(dir, 'ERR_STORE_CORRUPT');
    expect(error.message).toMatch(/appended|extended/);
  });

  it('a database with a damaged page inside is refused by quick_check: ERR_STORE_CORRUPT', async () => {
    const dir = copyOf(healthy);
    const fd = openSync(join(dir, DATABASE_FILE), 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x55), 0, 4096, 4096 * 3);
    closeSync(fd);
    const error = await expectRefusal(dir, 'ERR_STORE_CORRUPT');
    expect(error.message).toMatch(/quick_check|malformed/);
  });

  it('a file that is not a SQLite database is refused: ERR_STORE_CORRUPT', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, DATABASE_FILE), 'not a database\n'.repeat(1000));
    await expectRefusal(dir, 'ERR_STORE_CORRUPT');
  });

  it('a -wal and -shm without the database are refused: ERR_STORE_DATABASE_MISSING', async () => {
    const dir = copyOf(killed);
    rmSync(join(dir, DATABASE_FILE));
    const error = await expectRefusal(dir, 'ERR_STORE_DATABASE_MISSING');
    expect(error.details).toEqual({ signs: [`${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`] });
    expect(error.message).toMatch(/--force-new-database/);
  });

  it('an empty database beside its -wal is refused: ERR_STORE_DATABASE_MISSING', async () => {
    const dir = copyOf(killed);
    truncateSync(join(dir, DATABASE_FILE), 0);
    const error = await expectRefusal(dir, 'ERR_STORE_DATABASE_MISSING');
    expect(error.details).toEqual({ signs: [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`] });
  });

  it('an empty database file alone is refused, and so is a lone -shm', async () => {
    const empty = tempDir();
    writeFileSync(join(empty, DATABASE_FILE), '');
    await expectRefusal(empty, 'ERR_STORE_DATABASE_MISSING');
    const shm = copyOf(killed);
    rmSync(join(shm, DATABASE_FILE));
    rmSync(join(shm, `${DATABASE_FILE}-wal`));
    await expectRefusal(shm, 'ERR_STORE_DATABASE_MISSING');
  });

  it('forceNewDatabase sets the leftovers aside, unchanged, and starts an empty database', async () => {
    const dir = copyOf(killed);
    rmSync(join(dir, DATABASE_FILE));
    const wal = readFileSync(join(dir, `${DATABASE_FILE}-wal`));
    const bridge = await start(dir, { forceNewDatabase: true });
    expect(bridge.initialApiKey).toMatch(/^srk_/);
    expect(await bridge.manage.listSolutions()).toEqual([]);
    await bridge.close();
    const aside = readdirSync(dir).filter((name) => name.includes('.set-aside-'));
    expect(aside.map((name) => name.replace(/\.set-aside-.*/, '')).sort()).toEqual([`${DATABASE_FILE}-shm`, `${DATABASE_FILE}-wal`]);
    expect(readFileSync(join(dir, aside.find((name) => name.startsWith(`${DATABASE_FILE}-wal`))!))).toEqual(wal);
  });

  it('forceNewDatabase does not replace a damaged database', async () => {
    const dir = copyOf(healthy);
    appendFileSync(join(dir, DATABASE_FILE), Buffer.alloc(1000));
    const before = snapshot(dir);
    await expect(start(dir, { forceNewDatabase: true })).rejects.toMatchObject({ code: 'ERR_STORE_CORRUPT' });
    expect(snapshot(dir)).toEqual(before);
  });

  it('a SQLite database that sealroom did not make, or that lost an index, is refused: ERR_STORE_SCHEMA_MISMATCH', async () => {
    const other = tempDir();
    const db = new Database(join(other, DATABASE_FILE));
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)');
    db.close();
    const error = await expectRefusal(other, 'ERR_STORE_SCHEMA_MISMATCH');
    expect(error.message).toMatch(/no schema_migrations table/);

    const dir = copyOf(healthy);
    const damaged = new Database(join(dir, DATABASE_FILE));
    damaged.exec('DROP INDEX sessions_by_expiry');
    damaged.close();
    const missing = await expectRefusal(dir, 'ERR_STORE_SCHEMA_MISMATCH');
    expect(missing.message).toMatch(/index "sessions_by_expiry" .* is missing/);
  });

  it('sealroom start refuses too: exit code 1 and the coded error on stderr', async () => {
    const dir = copyOf(killed);
    rmSync(join(dir, DATABASE_FILE));
    const before = snapshot(dir);
    const result = await runCli(['start', '--data-dir', dir, '--port', '0', '--log-level', 'silent']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: ERR_STORE_DATABASE_MISSING: no database to open at .*sealroom\.db-wal, sealroom\.db-shm/m);
    expect(snapshot(dir)).toEqual(before);
  });
});
