/**
 * The SQLite store's group commit (sqlite.ts, `grouped`): room writes issued together commit in one
 * transaction, in order, each with its own result, and a write that fails takes only itself back; so do
 * the writes of logins and logouts (used nonces, sessions) and of context users.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from './sqlite.ts';
import { roomWrite, seedTenant, sessionOf, T0, user } from './store-contract-test.ts';
import type { RoomWrite } from './types.ts';

const root = mkdtempSync(join(tmpdir(), 'sealroom-group-commit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let databases = 0;

async function store(): Promise<{ store: SqliteStore; file: string }> {
  const file = join(root, `db-${++databases}.db`);
  const s = new SqliteStore({ file });
  await seedTenant(s, 'sol', ['ctx']);
  return { store: s, file };
}

describe('SQLite group commit', () => {
  it('runs writes issued together in order, each with its own result', async () => {
    const { store: s } = await store();
    const results = await Promise.all([
      s.createRoom(roomWrite('r1', 'ctx', 1), 2),
      s.createRoom(roomWrite('r1', 'ctx', 1), 2),
      s.createRoom(roomWrite('r2', 'ctx', 1), 2),
      s.createRoom(roomWrite('r3', 'ctx', 1), 2),
      s.appendRoomVersion(roomWrite('r1', 'ctx', 2), 1),
      s.appendRoomVersion(roomWrite('r1', 'ctx', 2), 1),
      s.appendRoomVersion(roomWrite('nope', 'ctx', 2), 1),
    ]);
    expect(results).toEqual(['created', 'exists', 'created', 'context_full', 'ok', 'conflict', 'not_found']);
    expect((await s.getRoom('r1'))?.version).toBe(2);
    expect((await s.getRoomVersions('r1', 0, 10)).map((v) => v.version)).toEqual([1, 2]);
    await s.close();
  });

  it('rolls back only the write that failed', async () => {
    const { store: s } = await store();
    const good = roomWrite('good', 'ctx', 1);
    // A version row without its record breaks NOT NULL after the room row went in: the room must go too.
    const bad: RoomWrite = { ...roomWrite('bad', 'ctx', 1), version: { ...roomWrite('bad', 'ctx', 1).version, record: null as unknown as string } };
    const [a, b, c] = await Promise.allSettled([s.createRoom(good), s.createRoom(bad), s.createRoom(roomWrite('after', 'ctx', 1))]);
    expect(a).toEqual({ status: 'fulfilled', value: 'created' });
    expect(b.status).toBe('rejected');
    expect(String((b as PromiseRejectedResult).reason)).toMatch(/NOT NULL/);
    expect(c).toEqual({ status: 'fulfilled', value: 'created' });
    expect(await s.getRoom('bad')).toBeUndefined();
    expect((await s.getRoom('good'))?.version).toBe(1);
    expect((await s.getRoomKeys('good', 'alice', 10)).length).toBe(1);
    await s.close();
  });

  it('keeps the per-context room count exact for the quota through failed writes and deletes', async () => {
    const { store: s, file } = await store();
    const bad: RoomWrite = { ...roomWrite('bad', 'ctx', 1), version: { ...roomWrite('bad', 'ctx', 1).version, record: null as unknown as string } };
    const first = await Promise.allSettled([s.createRoom(roomWrite('a', 'ctx', 1), 3), s.createRoom(bad, 3), s.createRoom(roomWrite('b', 'ctx', 1), 3)]);
    expect(first.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const truth = new SqliteStore({ file }); // another connection: no cache, counts in SQL
    expect(await s.countRooms('ctx')).toBe(2);
    expect(await truth.countRooms('ctx')).toBe(2);
    expect(await Promise.all([s.createRoom(roomWrite('c', 'ctx', 1), 3), s.createRoom(roomWrite('d', 'ctx', 1), 3)])).toEqual(['created', 'context_full']);
    expect(await s.deleteRoom('c')).toBe(true);
    expect(await s.countRooms('ctx')).toBe(2);
    expect(await s.createRoom(roomWrite('d', 'ctx', 1), 3)).toBe('created');
    expect(await s.createRoom(roomWrite('e', 'ctx', 1), 3)).toBe('context_full');
    expect(await s.countRooms('ctx')).toBe(await truth.countRooms('ctx'));
    // Another connection's create is seen by the next quota check (PRAGMA data_version moved).
    expect(await s.deleteRoom('a')).toBe(true);
    expect(await s.countRooms('ctx')).toBe(2);
    expect(await truth.createRoom(roomWrite('f', 'ctx', 1), 3)).toBe('created');
    expect(await s.createRoom(roomWrite('g', 'ctx', 1), 3)).toBe('context_full');
    expect(await s.countRooms('ctx')).toBe(3);
    await truth.close();
    await s.close();
  });

  it('has the writes on disk when they resolve, and commits what is pending when closed', async () => {
    const { store: s, file } = await store();
    await s.createRoom(roomWrite('first', 'ctx', 1));
    const reader = new SqliteStore({ file });
    expect((await reader.getRoom('first'))?.version).toBe(1); // another connection sees it once resolved
    const pending = s.createRoom(roomWrite('second', 'ctx', 1));
    await s.close();
    await expect(pending).resolves.toBe('created');
    expect((await reader.getRoom('second'))?.version).toBe(1);
    await reader.close();
  });

  it('commits logins and logouts issued together in order, each with its own result', async () => {
    const { store: s, file } = await store();
    await s.addContextUser(user('ctx', 'alice'));
    const nonce = (n: string) => ({ nonce: n, solutionId: 'sol', publicKey: 'key-alice', expiresAt: T0 + 60_000 });
    // Three logins in one turn, two of them with the same nonce: that one starts no session.
    const logins = await Promise.all([
      s.startSession(nonce('n1'), sessionOf('s1', 'alice')),
      s.startSession(nonce('n1'), sessionOf('again', 'alice')),
      s.startSession(nonce('n2'), sessionOf('s2', 'alice')),
    ]);
    expect(logins).toEqual([true, false, true]);
    expect(await Promise.all([s.deleteSession('s1'), s.deleteSession('s1'), s.deleteSession('nope')])).toEqual([true, false, false]);
    await s.close();
    // Durable once resolved: a fresh store on the file sees s2 only, and both nonces used.
    const reopened = new SqliteStore({ file });
    expect(await reopened.findSession('s1', T0)).toBeUndefined();
    expect(await reopened.findSession('again', T0)).toBeUndefined();
    expect((await reopened.findSession('s2', T0))?.userId).toBe('alice');
    expect(await reopened.startSession(nonce('n2'), sessionOf('s3', 'alice'))).toBe(false);
    await reopened.close();
  });

  it('commits users added and removed together in order, each checked against the ones before it', async () => {
    const { store: s, file } = await store();
    const results = await Promise.all([
      s.addContextUser(user('ctx', 'alice')),
      s.addContextUser(user('ctx', 'alice')),
      s.addContextUser(user('ctx', 'alice', 'key-other')),
      s.addContextUser(user('ctx', 'bob', 'key-alice')),
      s.addContextUser(user('ctx', 'bob')),
      s.removeContextUser('ctx', 'bob', T0 + 1),
      s.removeContextUser('ctx', 'bob', T0 + 2),
      s.addContextUser(user('ctx', 'carol')),
    ]);
    expect(results).toEqual([
      { status: 'created' },
      { status: 'unchanged' },
      { status: 'conflict', reason: 'user_has_other_key' },
      { status: 'conflict', reason: 'key_has_other_user' },
      { status: 'created' },
      { removed: true, sessionsEnded: [] },
      { removed: false, sessionsEnded: [] },
      { status: 'created' },
    ]);
    // An add issued before its context's delete in the same turn runs after it: the context is gone.
    await s.insertContext({ id: 'brief', solutionId: 'sol', name: 'brief', createdAt: T0 });
    const [late] = await Promise.all([s.addContextUser(user('brief', 'dave')), s.deleteContext('brief')]);
    expect(late).toEqual({ status: 'context_not_found' });
    await s.close();
    const reopened = new SqliteStore({ file });
    expect((await reopened.contextUsersAmong('ctx', ['alice', 'bob', 'carol'])).map((u) => u.userId).sort()).toEqual(['alice', 'carol']);
    expect((await reopened.formerContextUsersAmong('ctx', ['bob'])).length).toBe(1);
    await reopened.close();
  });
});
