/**
 * The store contract: what every `Store` (types.ts) must do, run against SQLite and PostgreSQL
 * (store-contract.sqlite.test.ts, store-contract.postgres.test.ts) so neither drifts. This file covers
 * the operator keys, the directory, logins and sessions; store-contract-rooms-test.ts the rooms. The
 * concurrency cases open a second store on the same database and race the two, which is what several
 * Bridges on one PostgreSQL do (docs/operations/postgres.md). Named `-test.ts` so the package build
 * leaves it out (tsconfig.build.json): it imports vitest.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, type RoomPolicy } from '../../protocol/policy.ts';
import type { ContextUserRow, NonceRow, RoomMemberRow, RoomWrite, SessionRow, Store } from './types.ts';

/** A fresh, empty, migrated database: the store on it, and a way to open more stores on the same one. */
export interface ContractDatabase {
  store: Store;
  another(): Promise<Store>;
}

export interface ContractSetup {
  name: string;
  fresh(): Promise<ContractDatabase>;
}

/** Opens databases for one test and closes every store it opened afterwards. */
export function contractDatabases(setup: ContractSetup): () => Promise<ContractDatabase> {
  const open: Store[] = [];
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
  });
  return async () => {
    const db = await setup.fresh();
    open.push(db.store);
    return {
      store: db.store,
      another: async () => {
        const store = await db.another();
        open.push(store);
        return store;
      },
    };
  };
}

export const T0 = 1_700_000_000_000;

export async function seedTenant(store: Store, solutionId = 'sol', contextIds = ['ctx']): Promise<void> {
  await store.insertSolution({ id: solutionId, name: `${solutionId} name`, createdAt: T0 });
  for (const [i, id] of contextIds.entries()) await store.insertContext({ id, solutionId, name: `${id} name`, createdAt: T0 + i });
}

export const user = (contextId: string, userId: string, publicKey = `key-${userId}`, solutionId = 'sol'): ContextUserRow => ({
  contextId,
  solutionId,
  userId,
  publicKey,
  createdAt: T0,
});

export const sessionOf = (tokenHash: string, userId: string, expiresAt = T0 + 60_000, solutionId = 'sol'): SessionRow => ({
  tokenHash,
  solutionId,
  publicKey: `key-${userId}`,
  userId,
  createdAt: T0,
  expiresAt,
});

/** A session as a login writes it (`Store.startSession`), with a nonce of its own that outlives the test's clock. */
async function insertSession(store: Store, session: SessionRow): Promise<void> {
  const nonce = { nonce: `nonce-of-${session.tokenHash}`, solutionId: session.solutionId, publicKey: session.publicKey, expiresAt: T0 + 10_000_000 };
  if (!(await store.startSession(nonce, session))) throw new Error(`the nonce of session "${session.tokenHash}" was used already`);
}

let nonceSessions = 0;
/** A login's nonce (`Store.startSession`, with a session of its own): whether it was new. */
const useNonce = (store: Store, nonce: NonceRow) =>
  store.startSession(nonce, sessionOf(`of-nonce-${nonceSessions++}`, 'alice', T0 + 10_000_000, nonce.solutionId));

export interface RoomWriteOptions {
  members?: RoomMemberRow[];
  policy?: RoomPolicy;
  publicMetaJson?: string | null;
  createdAt?: number;
  updatedAt?: number;
  epoch?: number;
  /** Recipients of a wrapped key of `epoch`. */
  keysFor?: string[];
  record?: string;
  creator?: string;
}

/** A room write as the room service makes one (the store checks none of the cryptography). */
export function roomWrite(id: string, contextId: string, version: number, options: RoomWriteOptions = {}): RoomWrite {
  const members = options.members ?? [{ userId: 'alice', publicKey: 'key-alice', isManager: true }];
  const createdAt = options.createdAt ?? T0;
  const epoch = options.epoch ?? version;
  const hash = new Uint8Array(32).fill(version);
  return {
    room: {
      id,
      contextId,
      version,
      epoch,
      headHash: hash,
      creator: options.creator ?? 'alice',
      lastModifier: 'alice',
      policy: options.policy ?? { ...DEFAULT_POLICY },
      publicMetaJson: options.publicMetaJson ?? null,
      createdAt,
      updatedAt: options.updatedAt ?? createdAt + version,
    },
    members,
    version: {
      roomId: id,
      version,
      record: options.record ?? `{"room":"${id}","version":${version}}`,
      signature: `sig-${version}`,
      hash,
      author: 'alice',
      createdAt: createdAt + version,
    },
    keys: (options.keysFor ?? members.map((m) => m.userId)).map((recipientId, leafIndex, all) => ({
      roomId: id,
      epoch,
      recipientId,
      version,
      wrapped: new Uint8Array([epoch, leafIndex, 0xff]),
      leafIndex,
      treeSize: all.length,
      proof: new Uint8Array(32 * 2).fill(leafIndex),
    })),
  };
}

const key = (id: string, ephemeral = false, createdAt = T0) => ({
  id,
  name: `key ${id}`,
  keyHash: `hash-${id}`,
  ephemeral,
  createdAt,
  lastUsedAt: null,
  revokedAt: null,
});

export function describeStoreContract(setup: ContractSetup): void {
  const fresh = contractDatabases(setup);

  describe(`store contract (${setup.name}): operator API keys`, () => {
    it('inserts, finds by hash, lists in creation order and counts the active non-ephemeral keys', async () => {
      const { store } = await fresh();
      await store.insertApiKey(key('b', false, T0 + 1));
      await store.insertApiKey(key('a', false, T0 + 1));
      await store.insertApiKey(key('e', true, T0));
      expect(await store.findApiKeyByHash('hash-a')).toEqual(key('a', false, T0 + 1));
      expect(await store.findApiKeyByHash('hash-nope')).toBeUndefined();
      expect((await store.listApiKeys()).map((k) => k.id)).toEqual(['e', 'a', 'b']);
      expect((await store.listApiKeys())[0]!.ephemeral).toBe(true);
      expect(await store.countActiveApiKeys()).toBe(2);
      await expect(store.insertApiKey(key('a'))).rejects.toThrow();
    });

    it('revokes, but never the last active key; touches; deletes the ephemeral keys', async () => {
      const { store } = await fresh();
      await store.insertApiKey(key('a'));
      await store.insertApiKey(key('b'));
      await store.insertApiKey(key('e', true));
      expect(await store.revokeApiKey('nope', T0)).toBe('not_found');
      expect(await store.revokeApiKey('a', T0 + 5)).toBe('revoked');
      expect(await store.revokeApiKey('a', T0 + 6)).toBe('not_found');
      expect(await store.revokeApiKey('b', T0 + 7)).toBe('last_key');
      expect(await store.revokeApiKey('e', T0 + 8)).toBe('revoked');
      expect((await store.findApiKeyByHash('hash-a'))!.revokedAt).toBe(T0 + 5);
      await store.touchApiKey('b', T0 + 9);
      expect((await store.findApiKeyByHash('hash-b'))!.lastUsedAt).toBe(T0 + 9);
      await store.insertApiKey(key('f', true));
      await store.insertApiKey(key('g', true));
      expect(await store.deleteEphemeralApiKeys()).toBe(3);
      expect((await store.listApiKeys()).map((k) => k.id)).toEqual(['a', 'b']);
    });

    it('of two stores revoking the last two keys at once, exactly one succeeds', async () => {
      const { store, another } = await fresh();
      const other = await another();
      await store.insertApiKey(key('x0'));
      for (let round = 0; round < 5; round++) {
        // Two active keys, x and y; each store revokes one of them at the same time.
        await store.insertApiKey(key(`y${round}`));
        const results = await Promise.all([store.revokeApiKey(`x${round}`, T0), other.revokeApiKey(`y${round}`, T0)]);
        expect([...results].sort()).toEqual(['last_key', 'revoked']);
        expect(await store.countActiveApiKeys()).toBe(1);
        const survivor = results[0] === 'revoked' ? `y${round}` : `x${round}`;
        await store.insertApiKey(key(`x${round + 1}`));
        expect(await store.revokeApiKey(survivor, T0)).toBe('revoked');
      }
    });
  });

  describe(`store contract (${setup.name}): solutions, contexts and the directory`, () => {
    it('inserts, gets and lists solutions and contexts', async () => {
      const { store } = await fresh();
      await seedTenant(store, 'sol', ['c2', 'c1']);
      expect(await store.getSolution('sol')).toEqual({ id: 'sol', name: 'sol name', createdAt: T0 });
      expect(await store.getSolution('nope')).toBeUndefined();
      expect(await store.listSolutions()).toHaveLength(1);
      expect(await store.getContext('c1')).toEqual({ id: 'c1', solutionId: 'sol', name: 'c1 name', createdAt: T0 + 1 });
      expect((await store.listContexts('sol')).map((c) => c.id)).toEqual(['c2', 'c1']);
      expect(await store.listContexts('nope')).toEqual([]);
      await expect(store.insertContext({ id: 'c3', solutionId: 'nope', name: 'x', createdAt: T0 })).rejects.toThrow();
    });

    it('adds users one to one with their keys within a solution', async () => {
      const { store } = await fresh();
      await seedTenant(store, 'sol', ['c1', 'c2']);
      expect(await store.addContextUser(user('c1', 'alice'))).toEqual({ status: 'created' });
      expect(await store.addContextUser(user('c1', 'alice'))).toEqual({ status: 'unchanged' });
      expect(await store.addContextUser(user('c1', 'alice', 'other'))).toEqual({ status: 'conflict', reason: 'user_has_other_key' });
      expect(await store.addContextUser(user('c2', 'alice', 'other'))).toEqual({ status: 'conflict', reason: 'user_has_other_key' });
      expect(await store.addContextUser(user('c2', 'bob', 'key-alice'))).toEqual({ status: 'conflict', reason: 'key_has_other_user' });
      expect(await store.addContextUser(user('c2', 'alice'))).toEqual({ status: 'created' });
      expect(await store.addContextUser(user('c1', 'bob'))).toEqual({ status: 'created' });
      // A context that is gone by the time the write runs: refused as such, nothing written.
      expect(await store.addContextUser(user('gone', 'carol'))).toEqual({ status: 'context_not_found' });
      expect(await store.getContextUser('gone', 'carol')).toBeUndefined();
      expect(await store.getContextUser('c1', 'alice')).toEqual(user('c1', 'alice'));
      expect(await store.getContextUser('c1', 'nope')).toBeUndefined();
      expect((await store.listContextUsers('c1')).map((u) => u.userId)).toEqual(['alice', 'bob']);
      const among = await store.contextUsersAmong('c1', ['bob', 'nope', 'alice', 'bob']);
      expect(among.sort((x, y) => (x.userId < y.userId ? -1 : 1))).toEqual([user('c1', 'alice'), user('c1', 'bob')]);
      expect(await store.contextUsersAmong('c2', ['bob'])).toEqual([]);
      expect(await store.findSolutionUser('sol', 'key-alice')).toEqual({ userId: 'alice', contextIds: ['c1', 'c2'] });
      expect(await store.findSolutionUser('sol', 'key-nobody')).toBeUndefined();
    });

    it('sorts text byte by byte (UTF-8), as SQLite does', async () => {
      const { store } = await fresh();
      await seedTenant(store, 'sol', ['c1']);
      const ids = ['b', 'Z', 'a', 'é', '_', 'B1', 'b-2', '€', 'aa'];
      for (const id of ids) await store.addContextUser(user('c1', id));
      const bytewise = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect((await store.listContextUsers('c1')).map((u) => u.userId)).toEqual(bytewise);
    });

    it('of two stores adding one user id with two keys at once, exactly one succeeds', async () => {
      const { store, another } = await fresh();
      const other = await another();
      await seedTenant(store, 'sol', ['c1', 'c2']);
      for (let round = 0; round < 5; round++) {
        const id = `u${round}`;
        const results = await Promise.all([store.addContextUser(user('c1', id, `k1-${round}`)), other.addContextUser(user('c2', id, `k2-${round}`))]);
        expect(results.filter((r) => r.status === 'created')).toHaveLength(1);
        expect(results.filter((r) => r.status === 'conflict')).toHaveLength(1);
      }
    });

    it('removes a user into the history, ending its sessions only when it leaves the last context', async () => {
      const { store } = await fresh();
      await seedTenant(store, 'sol', ['c1', 'c2']);
      await store.addContextUser(user('c1', 'alice'));
      await store.addContextUser(user('c2', 'alice'));
      await insertSession(store, sessionOf('s1', 'alice'));
      expect(await store.removeContextUser('c1', 'alice', T0 + 10)).toEqual({ removed: true, sessionsEnded: [] });
      expect(await store.findSession('s1', T0)).toBeDefined();
      expect(await store.removeContextUser('c1', 'alice', T0 + 11)).toEqual({ removed: false, sessionsEnded: [] });
      expect(await store.removeContextUser('nope', 'alice', T0 + 11)).toEqual({ removed: false, sessionsEnded: [] });
      expect(await store.removeContextUser('c2', 'alice', T0 + 20)).toEqual({ removed: true, sessionsEnded: ['s1'] });
      expect(await store.findSession('s1', T0)).toBeUndefined();
      await store.addContextUser({ ...user('c1', 'alice'), createdAt: T0 + 30 });
      await store.removeContextUser('c1', 'alice', T0 + 40);
      expect(await store.formerContextUsersAmong('c1', ['alice'])).toEqual([
        { userId: 'alice', publicKey: 'key-alice', addedAt: T0, removedAt: T0 + 10 },
        { userId: 'alice', publicKey: 'key-alice', addedAt: T0 + 30, removedAt: T0 + 40 },
      ]);
      expect(await store.formerContextUsersAmong('c2', ['alice'])).toHaveLength(1);
      // By user: only those named (duplicates and unknown ids are fine), oldest removal first.
      await store.addContextUser(user('c1', 'bob'));
      await store.removeContextUser('c1', 'bob', T0 + 50);
      expect(await store.formerContextUsersAmong('c1', ['alice', 'nope', 'alice'])).toEqual([
        { userId: 'alice', publicKey: 'key-alice', addedAt: T0, removedAt: T0 + 10 },
        { userId: 'alice', publicKey: 'key-alice', addedAt: T0 + 30, removedAt: T0 + 40 },
      ]);
      expect((await store.formerContextUsersAmong('c1', ['bob', 'alice'])).map((u) => u.userId).sort()).toEqual(['alice', 'alice', 'bob']);
      expect(await store.formerContextUsersAmong('c2', ['bob'])).toEqual([]);
    });

    it('pages the directory by user id, byte order, each id once, former users only when asked', async () => {
      const { store } = await fresh();
      await seedTenant(store, 'sol', ['c1', 'c2']);
      for (const id of ['b', 'a', 'B', 'c', 'a.1']) await store.addContextUser(user('c1', id));
      await store.addContextUser(user('c2', 'a0'));
      await store.removeContextUser('c1', 'c', T0 + 1);
      await store.addContextUser(user('c1', 'c'));
      await store.removeContextUser('c1', 'c', T0 + 2);
      await store.addContextUser(user('c1', 'd'));
      await store.removeContextUser('c1', 'd', T0 + 3);
      await store.addContextUser(user('c1', 'd'));
      expect(await store.contextUserIdsPage('c1', '', 10, false)).toEqual(['B', 'a', 'a.1', 'b', 'd']);
      expect(await store.contextUserIdsPage('c1', '', 10, true)).toEqual(['B', 'a', 'a.1', 'b', 'c', 'd']);
      expect(await store.contextUserIdsPage('c1', '', 2, true)).toEqual(['B', 'a']);
      expect(await store.contextUserIdsPage('c1', 'a', 2, true)).toEqual(['a.1', 'b']);
      expect(await store.contextUserIdsPage('c1', 'b', 2, true)).toEqual(['c', 'd']);
      expect(await store.contextUserIdsPage('c1', 'b', 2, false)).toEqual(['d']);
      expect(await store.contextUserIdsPage('c1', 'd', 2, true)).toEqual([]);
      expect(await store.contextUserIdsPage('nope', '', 2, true)).toEqual([]);
    });

    it('deletes a context with its users and rooms, ending the sessions of users left in no context', async () => {
      const { store } = await fresh();
      await seedTenant(store, 'sol', ['c1', 'c2']);
      await store.addContextUser(user('c1', 'alice'));
      await store.addContextUser(user('c1', 'bob'));
      await store.addContextUser(user('c2', 'bob'));
      await insertSession(store, sessionOf('sa', 'alice'));
      await insertSession(store, sessionOf('sb', 'bob'));
      await store.createRoom(roomWrite('r1', 'c1', 1));
      const result = await store.deleteContext('c1');
      expect(result).toEqual({ deleted: true, roomIds: ['r1'], sessionsEnded: ['sa'] });
      expect(await store.getContext('c1')).toBeUndefined();
      expect(await store.getRoom('r1')).toBeUndefined();
      expect(await store.listContextUsers('c1')).toEqual([]);
      expect(await store.findSession('sb', T0)).toBeDefined();
      expect(await store.deleteContext('c1')).toEqual({ deleted: false, roomIds: [], sessionsEnded: [] });
    });

    it('deletes a solution with everything in it and reports its sessions', async () => {
      const { store } = await fresh();
      await seedTenant(store, 'sol', ['c1']);
      await seedTenant(store, 'keep', ['k1']);
      await store.addContextUser(user('c1', 'alice'));
      await insertSession(store, sessionOf('sa', 'alice'));
      await insertSession(store, sessionOf('sk', 'zed', T0 + 60_000, 'keep'));
      expect(await store.deleteSolution('sol')).toEqual({ deleted: true, sessionsEnded: ['sa'] });
      expect(await store.getSolution('sol')).toBeUndefined();
      expect(await store.getContext('c1')).toBeUndefined();
      expect(await store.findSolutionUser('sol', 'key-alice')).toBeUndefined();
      expect(await store.findSession('sk', T0)).toBeDefined();
      expect(await store.deleteSolution('sol')).toEqual({ deleted: false, sessionsEnded: [] });
    });
  });

  describe(`store contract (${setup.name}): logins and sessions`, () => {
    it('answers ping', async () => {
      const { store } = await fresh();
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('starts a session with its nonce in one write: both or neither, the nonce once across stores', async () => {
      const { store, another } = await fresh();
      const other = await another();
      await seedTenant(store, 'sol', ['c1']);
      const nonce = (n: string) => ({ nonce: n, solutionId: 'sol', publicKey: 'k', expiresAt: T0 + 1000 });
      expect(await store.startSession(nonce('s-n1'), sessionOf('t1', 'alice'))).toBe(true);
      expect(await store.findSession('t1', T0)).toMatchObject({ userId: 'alice' });
      // The nonce again: refused, and its session is not written.
      expect(await other.startSession(nonce('s-n1'), sessionOf('t2', 'alice'))).toBe(false);
      expect(await store.findSession('t2', T0)).toBeUndefined();
      expect(await store.startSession(nonce('s-n1'), sessionOf('t2', 'alice'))).toBe(false);
      // A session that cannot be written (its token hash is taken) takes its nonce back with it.
      await expect(store.startSession(nonce('s-n2'), sessionOf('t1', 'bob'))).rejects.toThrow();
      expect(await store.findSession('t1', T0)).toMatchObject({ userId: 'alice' });
      expect(await other.startSession(nonce('s-n2'), sessionOf('t3', 'bob'))).toBe(true);
      for (let round = 0; round < 10; round++) {
        const results = await Promise.all(
          [0, 1, 2, 3].map((i) => (i % 2 === 0 ? store : other).startSession(nonce(`s-race-${round}`), sessionOf(`race-${round}-${i}`, 'alice'))),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const written = await Promise.all([0, 1, 2, 3].map((i) => store.findSession(`race-${round}-${i}`, T0)));
        expect(written.filter((w) => w !== undefined)).toHaveLength(1);
      }
    });

    it('with requireUser, starts no session for a key in no context of the solution, a removal committed first included', async () => {
      const { store, another } = await fresh();
      const other = await another();
      await seedTenant(store, 'sol', ['c1', 'c2']);
      await store.addContextUser(user('c1', 'alice'));
      await store.addContextUser(user('c2', 'alice'));
      const nonce = (n: string) => ({ nonce: n, solutionId: 'sol', publicKey: 'key-alice', expiresAt: T0 + 1000 });
      const requireUser = { requireUser: true };
      expect(await store.startSession(nonce('u-n1'), sessionOf('u1', 'alice'), requireUser)).toBe(true);
      // Still in c2: the key keeps its sessions and may start more.
      await other.removeContextUser('c1', 'alice', T0 + 1);
      expect(await store.startSession(nonce('u-n2'), sessionOf('u2', 'alice'), requireUser)).toBe(true);
      // In no context now: its sessions end, and a login that checked before the removal gets none.
      expect((await other.removeContextUser('c2', 'alice', T0 + 2)).sessionsEnded.sort()).toEqual(['u1', 'u2']);
      expect(await store.startSession(nonce('u-n3'), sessionOf('u3', 'alice'), requireUser)).toBe(false);
      expect(await store.findSession('u3', T0)).toBeUndefined();
      // The nonce was used all the same.
      expect(await other.startSession(nonce('u-n3'), sessionOf('u4', 'alice'))).toBe(false);
      // Without requireUser (the option off), the store does not look.
      expect(await store.startSession(nonce('u-n5'), sessionOf('u5', 'alice'))).toBe(true);
    });

    it('keeps the first Bridge secret for every store on the database', async () => {
      const { store, another } = await fresh();
      const other = await another();
      const [a, b] = await Promise.all([store.bridgeSecret('mac', new Uint8Array([1, 2, 3]), T0), other.bridgeSecret('mac', new Uint8Array([4, 5, 6]), T0)]);
      expect([...a]).toEqual([...b]);
      expect([
        [1, 2, 3],
        [4, 5, 6],
      ]).toContainEqual([...a]);
      expect([...(await store.bridgeSecret('mac', new Uint8Array([7]), T0))]).toEqual([...a]);
      expect([...(await store.bridgeSecret('other', new Uint8Array([9]), T0))]).toEqual([9]);
    });

    it('finds sessions until they expire, deletes them and prunes what expired', async () => {
      const { store, another } = await fresh();
      await seedTenant(store);
      await insertSession(store, sessionOf('s1', 'alice', T0 + 100));
      await insertSession(store, sessionOf('s2', 'bob', T0 + 200));
      expect(await useNonce(store, { nonce: 'old', solutionId: 'sol', publicKey: 'k', expiresAt: T0 + 100 })).toBe(true);
      expect(await useNonce(store, { nonce: 'new', solutionId: 'sol', publicKey: 'k', expiresAt: T0 + 300 })).toBe(true);
      expect(await store.findSession('s1', T0 + 99)).toEqual(sessionOf('s1', 'alice', T0 + 100));
      expect(await (await another()).findSession('s1', T0 + 99)).toBeDefined();
      expect(await store.findSession('s1', T0 + 100)).toBeUndefined();
      expect(await store.findSession('nope', T0)).toBeUndefined();
      await expect(insertSession(store, sessionOf('s1', 'alice'))).rejects.toThrow();
      expect(await store.pruneExpired(T0 + 150)).toBe(2);
      expect(await useNonce(store, { nonce: 'old', solutionId: 'sol', publicKey: 'k', expiresAt: T0 + 400 })).toBe(true);
      expect(await useNonce(store, { nonce: 'new', solutionId: 'sol', publicKey: 'k', expiresAt: T0 + 400 })).toBe(false);
      expect(await store.deleteSession('s2')).toBe(true);
      expect(await store.deleteSession('s2')).toBe(false);
    });
  });
}
