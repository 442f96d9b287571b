import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { loadMigrations, migrate, MIGRATIONS_DIR } from './migrate.ts';
import { SqliteStore } from './sqlite.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-migrate-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tables(db: Database.Database): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
}

describe('migrations', () => {
  it('run on an empty database, in order, and again without effect', () => {
    const db = new Database(':memory:');
    expect(migrate(db)).toEqual(loadMigrations().map((m) => m.version));
    const schema = tables(db);
    expect(schema).toEqual(
      expect.arrayContaining([
        'api_keys',
        'solutions',
        'contexts',
        'context_users',
        'sessions',
        'auth_nonces',
        'rooms',
        'room_versions',
        'room_keys',
        'schema_migrations',
      ]),
    );
    expect(migrate(db)).toEqual([]);
    expect(tables(db)).toEqual(schema);
    db.close();
  });

  it('upgrade an old database on start, keeping its data', () => {
    const dir = tempDir();
    const migrations = tempDir();
    copyFileSync(join(MIGRATIONS_DIR, '0001_initial.sql'), join(migrations, '0001_initial.sql'));
    const file = join(dir, 'old.db');
    const old = new Database(file);
    migrate(old, loadMigrations(migrations));
    old.prepare("INSERT INTO solutions (id, name, created_at) VALUES ('sol_1', 'kept', 1)").run();
    old.close();

    writeFileSync(join(migrations, '0002_add_note.sql'), 'ALTER TABLE solutions ADD COLUMN note TEXT;');
    const db = new Database(file);
    expect(migrate(db, loadMigrations(migrations))).toEqual([2]);
    expect(db.prepare("SELECT name, note FROM solutions WHERE id = 'sol_1'").get()).toEqual({ name: 'kept', note: null });
    db.close();
  });

  it('roll back a failing migration entirely and record nothing', () => {
    const migrations = tempDir();
    copyFileSync(join(MIGRATIONS_DIR, '0001_initial.sql'), join(migrations, '0001_initial.sql'));
    writeFileSync(join(migrations, '0002_broken.sql'), 'CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);');
    const db = new Database(':memory:');
    expect(() => migrate(db, loadMigrations(migrations))).toThrow(/no such table: nowhere/);
    expect(tables(db)).not.toContain('half');
    expect(db.prepare('SELECT version FROM schema_migrations').all()).toEqual([{ version: 1 }]);
    db.close();
  });

  it('refuse a changed migration, a gap, and a database newer than the code', () => {
    const migrations = tempDir();
    copyFileSync(join(MIGRATIONS_DIR, '0001_initial.sql'), join(migrations, '0001_initial.sql'));
    const db = new Database(':memory:');
    migrate(db, loadMigrations(migrations));
    writeFileSync(join(migrations, '0001_initial.sql'), '-- edited\n', { flag: 'a' });
    expect(() => migrate(db, loadMigrations(migrations))).toThrow(/changed after it was applied/);

    db.prepare("INSERT INTO schema_migrations VALUES (7, 'future', 'x', 0)").run();
    expect(() => migrate(db, loadMigrations())).toThrow(/newer than this Bridge knows/);
    db.close();

    const gap = tempDir();
    copyFileSync(join(MIGRATIONS_DIR, '0001_initial.sql'), join(gap, '0001_initial.sql'));
    writeFileSync(join(gap, '0003_skip.sql'), 'SELECT 1;');
    expect(() => loadMigrations(gap)).toThrow(/without gaps/);
  });

  it('the store opens in WAL mode with foreign keys on', () => {
    const dir = tempDir();
    const store = new SqliteStore({ dataDir: dir });
    const db = new Database(join(dir, 'sealroom.db'), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    expect(store.schemaVersions()).toEqual(loadMigrations().map((m) => m.version));
    void store.close();
  });

  it('a failing multi-row write leaves nothing behind', async () => {
    const store = new SqliteStore({ file: ':memory:' });
    await store.insertSolution({ id: 's', name: 's', createdAt: 1 });
    await store.insertContext({ id: 'c', solutionId: 's', name: 'c', createdAt: 1 });
    const key = {
      roomId: 'room_aaaaaaaaaaaaaaaa',
      epoch: 1,
      recipientId: 'u',
      version: 1,
      wrapped: new Uint8Array(3),
      leafIndex: 0,
      treeSize: 1,
      proof: new Uint8Array(),
    };
    const write = {
      room: {
        id: 'room_aaaaaaaaaaaaaaaa',
        contextId: 'c',
        version: 1,
        epoch: 1,
        headHash: new Uint8Array(32),
        creator: 'u',
        lastModifier: 'u',
        policy: { get: 'user', list: 'user', update: 'manager', delete: 'manager', updatePolicy: 'manager' },
        publicMetaJson: null,
        createdAt: 1,
        updatedAt: 1,
      },
      members: [{ userId: 'u', publicKey: 'k', isManager: true }],
      version: { roomId: 'room_aaaaaaaaaaaaaaaa', version: 1, record: '{}', signature: '', hash: new Uint8Array(32), author: 'u', createdAt: 1 },
      keys: [key, key], // the second insert violates the primary key
    };
    await expect(store.createRoom(write)).rejects.toThrow(/UNIQUE constraint failed/);
    expect(await store.getRoom('room_aaaaaaaaaaaaaaaa')).toBeUndefined();
    expect(await store.getRoomVersions('room_aaaaaaaaaaaaaaaa', 0, 10)).toEqual([]);
    await store.close();
  });
});
