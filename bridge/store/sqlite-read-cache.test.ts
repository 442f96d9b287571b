import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { roomWrite, seedTenant, T0, user } from './store-contract-test.ts';
import { frozen, SqliteReadCache } from './sqlite-read-cache.ts';
import { SqliteStore } from './sqlite.ts';

const dirs: string[] = [];
const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function database(): { file: string; db: Database.Database } {
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-read-cache-'));
  dirs.push(dir);
  const file = join(dir, 'cache.db');
  const db = new Database(file);
  closers.push(() => db.close());
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.exec(
    'CREATE TABLE parent (id TEXT PRIMARY KEY); CREATE TABLE child (parent TEXT REFERENCES parent(id) ON DELETE CASCADE, n INTEGER); CREATE TABLE other (x)',
  );
  db.exec("INSERT INTO parent VALUES ('p'); INSERT INTO child VALUES ('p', 1)");
  return { file, db };
}

/** A cache and a counted read of the child rows. */
function counted(db: Database.Database, maxEntries?: number) {
  const cache = new SqliteReadCache(db, maxEntries);
  let reads = 0;
  const children = (parent = 'p') =>
    cache.get(`children ${parent}`, () => {
      reads++;
      return db.prepare('SELECT n FROM child WHERE parent = ?').pluck().all(parent);
    });
  return { cache, children, reads: () => reads };
}

describe('SqliteReadCache', () => {
  it('answers from memory while nothing changed, and reads again after a write of this connection to any table', () => {
    const { db } = database();
    const { children, reads } = counted(db);
    expect(children()).toEqual([1]);
    expect(children()).toEqual([1]);
    expect(reads()).toBe(1);
    db.exec('INSERT INTO other VALUES (1)'); // a table the entry never read: still dropped
    expect(children()).toEqual([1]);
    expect(reads()).toBe(2);
    db.exec("INSERT INTO child VALUES ('p', 2)");
    expect(children()).toEqual([1, 2]);
    expect(reads()).toBe(3);
  });

  it('reads again after a cascade, a rolled-back write and another connection commit', () => {
    const { db, file } = database();
    const { children, reads } = counted(db);
    children();
    db.exec("DELETE FROM parent WHERE id = 'p'"); // the child row goes by the foreign key's cascade
    expect(children()).toEqual([]);
    expect(reads()).toBe(2);
    db.exec("INSERT INTO parent VALUES ('p')");
    children();
    const n = reads();
    expect(() =>
      db.transaction(() => {
        db.exec("INSERT INTO child VALUES ('p', 3)");
        throw new Error('rolled back');
      })(),
    ).toThrow('rolled back');
    expect(children()).toEqual([]);
    expect(reads()).toBe(n + 1);
    const another = new Database(file);
    closers.push(() => another.close());
    another.exec("INSERT INTO child VALUES ('p', 4)");
    expect(children()).toEqual([4]);
    expect(reads()).toBe(n + 2);
  });

  it('reads a batch after one check: a write before the batch drops what its reads had cached', () => {
    const { db, file } = database();
    const cache = new SqliteReadCache(db);
    let others = 0;
    const batch = () =>
      cache.batch((get) => ({
        children: get('children p', () => {
          others++;
          return db.prepare('SELECT n FROM child WHERE parent = ?').pluck().all('p');
        }),
        count: get('count', () => db.prepare('SELECT COUNT(*) FROM other').pluck().get()),
      }));
    expect(batch()).toEqual({ children: [1], count: 0 });
    expect(batch()).toEqual({ children: [1], count: 0 });
    expect(others).toBe(1);
    db.exec('INSERT INTO other VALUES (1)');
    expect(batch()).toEqual({ children: [1], count: 1 });
    expect(others).toBe(2);
    const another = new Database(file);
    closers.push(() => another.close());
    another.exec("INSERT INTO child VALUES ('p', 5)");
    expect(batch()).toEqual({ children: [1, 5], count: 1 });
    expect(others).toBe(3);
  });

  it('keeps at most its entries, dropping the oldest', () => {
    const { db } = database();
    db.exec("INSERT INTO parent VALUES ('q'), ('r')");
    const { cache, children, reads } = counted(db, 2);
    children('p');
    children('q');
    children('r'); // p goes
    expect(cache.size).toBe(2);
    children('q');
    expect(reads()).toBe(3);
    children('p');
    expect(reads()).toBe(4);
  });

  it('freezes rows so a caller cannot change a shared entry', () => {
    const row = frozen({ id: 'r', policy: { get: 'member' }, hash: new Uint8Array([1]) });
    expect(() => {
      (row as { id: string }).id = 'x';
    }).toThrow(TypeError);
    expect(() => {
      (row.policy as { get: string }).get = 'all';
    }).toThrow(TypeError);
    row.hash[0] = 2; // byte arrays cannot be frozen; rows are not changed by their readers
    expect(Object.isFrozen(row.policy)).toBe(true);
  });
});

describe('SqliteStore room reads through the cache', () => {
  it('follow every write: membership, the directory, keys and deletes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealroom-read-cache-'));
    dirs.push(dir);
    const store = new SqliteStore({ dataDir: dir });
    closers.push(() => void store.close());
    await seedTenant(store);
    for (const id of ['alice', 'bob']) await store.addContextUser(user('ctx', id));
    const alice = { userId: 'alice', publicKey: 'key-alice', isManager: true };
    const bob = { userId: 'bob', publicKey: 'key-bob', isManager: false };
    await store.createRoom(roomWrite('r1', 'ctx', 1, { members: [alice, bob], keysFor: ['alice', 'bob'] }));
    expect((await store.roomAccess('r1', 'bob'))?.member).toEqual(bob);
    expect(await store.getRoomKeys('r1', 'bob', 5)).toHaveLength(1);
    // bob leaves the room in version 2: the next read says so, and he gets no key of epoch 2.
    await store.appendRoomVersion(roomWrite('r1', 'ctx', 2, { members: [alice], epoch: 2, keysFor: ['alice'] }), 1);
    expect((await store.roomAccess('r1', 'bob'))?.member).toBeUndefined();
    expect((await store.getRoomKeys('r1', 'bob', 5)).map((k) => k.epoch)).toEqual([1]);
    expect((await store.getRoomKeys('r1', 'alice', 5)).map((k) => k.epoch)).toEqual([2, 1]);
    expect((await store.roomAccess('r1', 'alice'))?.contextUser).toBe(true);
    await store.removeContextUser('ctx', 'alice', T0 + 1);
    expect((await store.roomAccess('r1', 'alice'))?.contextUser).toBe(false);
    await store.deleteRoom('r1');
    expect(await store.roomAccess('r1', 'alice')).toBeUndefined();
    expect(await store.getRoomKeys('r1', 'alice', 5)).toEqual([]);
  });
});
