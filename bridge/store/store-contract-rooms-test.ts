/**
 * The store contract for rooms (see store-contract-test.ts): creating and updating with their quota and
 * compare-and-swap, reading the chain, keys and members, listing and scanning, deleting; and two
 * stores on one database racing creates and updates.
 */
import { describe, expect, it } from 'vitest';
import { contractDatabases, roomWrite, seedTenant, T0, user, type ContractSetup } from './store-contract-test.ts';
import type { ListRoomsQuery, Store } from './types.ts';

const alice = { userId: 'alice', publicKey: 'key-alice', isManager: true };
const bob = { userId: 'bob', publicKey: 'key-bob', isManager: false };
const carol = { userId: 'carol', publicKey: 'key-carol', isManager: true };

const list = (store: Store, query: Partial<ListRoomsQuery>) =>
  store.listRooms({ contextId: 'ctx', userId: undefined, skip: 0, limit: 100, sortOrder: 'asc', sortBy: 'createDate', ...query });

export function describeRoomContract(setup: ContractSetup): void {
  const fresh = contractDatabases(setup);
  const tenant = async () => {
    const db = await fresh();
    await seedTenant(db.store, 'sol', ['ctx', 'other']);
    return db;
  };

  describe(`store contract (${setup.name}): rooms`, () => {
    it('creates a room with its members, first record and keys, once', async () => {
      const { store } = await tenant();
      const write = roomWrite('r1', 'ctx', 1, {
        members: [alice, bob],
        publicMetaJson: '{"topic":"x"}',
        policy: { get: 'user', list: 'all', update: 'manager', delete: 'owner', updatePolicy: 'manager' },
      });
      expect(await store.createRoom(write)).toBe('created');
      expect(await store.createRoom(write)).toBe('exists');
      expect(await store.createRoom({ ...write, room: { ...write.room, contextId: 'other' } })).toBe('exists');
      const room = (await store.getRoom('r1'))!;
      expect(room).toEqual(write.room);
      expect(room.headHash).toBeInstanceOf(Uint8Array);
      expect(await store.getRoom('nope')).toBeUndefined();
      expect(await store.getRoomMembers('r1')).toEqual([alice, bob]);
      expect(await store.getRoomMember('r1', 'bob')).toEqual(bob);
      expect(await store.getRoomMember('r1', 'carol')).toBeUndefined();
      expect(await store.countRoomMembers('r1')).toBe(2);
      expect(await store.getRoomVersion('r1', 1)).toEqual(write.version);
      expect(await store.getRoomVersion('r1', 2)).toBeUndefined();
      const keys = await store.getRoomKeys('r1', 'bob', 10);
      expect(keys).toEqual([write.keys[1]]);
      expect([...keys[0]!.proof]).toEqual([...write.keys[1]!.proof]);
      expect(await store.countRooms('ctx')).toBe(1);
      expect(await store.countRooms('other')).toBe(0);
    });

    it("reads a room with one user's standing: the context's solution, the directory, the membership", async () => {
      const { store } = await tenant();
      for (const id of ['alice', 'bob', 'dave']) await store.addContextUser(user('ctx', id));
      const write = roomWrite('r1', 'ctx', 1, { members: [alice, bob] });
      await store.createRoom(write);
      const of = async (userId: string) => {
        const access = await store.roomAccess('r1', userId);
        // roomRead: the same standing with the user's keys, as the two reads give them.
        const read = await store.roomRead('r1', userId, 10);
        expect(read).toEqual(access === undefined ? undefined : { access, keys: await store.getRoomKeys('r1', userId, 10) });
        return access;
      };
      expect(await of('alice')).toEqual({ room: write.room, solutionId: 'sol', contextUser: true, member: alice });
      expect(await of('bob')).toEqual({ room: write.room, solutionId: 'sol', contextUser: true, member: bob });
      // In the directory, not a member; a member no longer in the directory; a stranger.
      expect(await of('dave')).toEqual({ room: write.room, solutionId: 'sol', contextUser: true, member: undefined });
      await store.removeContextUser('ctx', 'bob', T0 + 1);
      expect(await of('bob')).toEqual({ room: write.room, solutionId: 'sol', contextUser: false, member: bob });
      expect(await of('eve')).toEqual({ room: write.room, solutionId: 'sol', contextUser: false, member: undefined });
      // A directory entry in another context of the solution does not count.
      await store.addContextUser(user('other', 'eve'));
      expect((await of('eve'))?.contextUser).toBe(false);
      expect(await store.roomAccess('nope', 'alice')).toBeUndefined();
      expect(await store.roomRead('nope', 'alice', 10)).toBeUndefined();
      // The standing follows the room's writes.
      expect(await store.appendRoomVersion(roomWrite('r1', 'ctx', 2, { members: [alice, { ...bob, userId: 'dave', publicKey: 'key-dave' }] }), 1)).toBe('ok');
      const daveRead = await store.roomRead('r1', 'dave', 10); // read first through roomRead
      expect({ member: daveRead?.access.member?.userId, epochs: daveRead?.keys.map((k) => k.epoch) }).toEqual({ member: 'dave', epochs: [2] });
      expect((await of('dave'))?.member).toEqual({ userId: 'dave', publicKey: 'key-dave', isManager: false });
      expect((await of('alice'))?.room.version).toBe(2);
      expect((await store.roomRead('r1', 'alice', 10))?.keys.map((k) => k.epoch)).toEqual([2, 1]);
      expect((await store.roomRead('r1', 'alice', 1))?.keys.map((k) => k.epoch)).toEqual([2]);
    });

    it('writes and reads back a room of 1,000 members with their keys', async () => {
      const { store } = await tenant();
      const many = Array.from({ length: 1000 }, (_, i) => ({ userId: `u${String(i).padStart(4, '0')}`, publicKey: `key-${i}`, isManager: i % 7 === 0 }));
      const write = roomWrite('big', 'ctx', 1, { members: many });
      expect(await store.createRoom(write)).toBe('created');
      expect(await store.getRoomMembers('big')).toEqual(many);
      expect(await store.countRoomMembers('big')).toBe(1000);
      expect(await store.getRoomKeys('big', 'u0999', 5)).toEqual([write.keys[999]]);
      const next = roomWrite('big', 'ctx', 2, { members: many.slice(0, 10) });
      expect(await store.appendRoomVersion(next, 1)).toBe('ok');
      expect(await store.countRoomMembers('big')).toBe(10);
    });

    it('refuses a create past the rooms of a context', async () => {
      const { store } = await tenant();
      expect(await store.createRoom(roomWrite('r1', 'ctx', 1), 2)).toBe('created');
      expect(await store.createRoom(roomWrite('r2', 'ctx', 1), 2)).toBe('created');
      expect(await store.createRoom(roomWrite('r3', 'ctx', 1), 2)).toBe('context_full');
      expect(await store.createRoom(roomWrite('r1', 'ctx', 1), 2)).toBe('exists');
      expect(await store.createRoom(roomWrite('r3', 'other', 1), 2)).toBe('created');
    });

    it('appends a version only on the expected head, replacing the members and adding keys', async () => {
      const { store } = await tenant();
      await store.createRoom(roomWrite('r1', 'ctx', 1, { members: [alice, bob] }));
      const v2 = roomWrite('r1', 'ctx', 2, { members: [alice, carol] });
      expect(await store.appendRoomVersion(v2, 2)).toBe('conflict');
      expect(await store.appendRoomVersion(roomWrite('nope', 'ctx', 2), 1)).toBe('not_found');
      expect(await store.appendRoomVersion(v2, 1)).toBe('ok');
      expect(await store.appendRoomVersion(v2, 1)).toBe('conflict');
      expect(await store.getRoom('r1')).toEqual(v2.room);
      expect(await store.getRoomMembers('r1')).toEqual([alice, carol]);
      expect((await store.getRoomKeys('r1', 'alice', 10)).map((k) => k.epoch)).toEqual([2, 1]);
      expect((await store.getRoomKeys('r1', 'alice', 1)).map((k) => k.epoch)).toEqual([2]);
      expect(await store.getRoomKeys('r1', 'bob', 10)).toHaveLength(1);
      expect((await store.getRoomVersions('r1', 0, 10)).map((v) => v.version)).toEqual([1, 2]);
    });

    it('pages the chain by count and by bytes', async () => {
      const { store } = await tenant();
      const record = (v: number) => `{"v":${v},"pad":"${'x'.repeat(90)}"}`;
      await store.createRoom(roomWrite('r1', 'ctx', 1, { record: record(1) }));
      for (let v = 2; v <= 6; v++) await store.appendRoomVersion(roomWrite('r1', 'ctx', v, { record: record(v) }), v - 1);
      const size = record(1).length + 'sig-1'.length;
      const versions = async (after: number, limit: number, maxBytes?: number) =>
        (await store.getRoomVersions('r1', after, limit, maxBytes)).map((v) => v.version);
      expect(await versions(0, 100)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(await versions(2, 2)).toEqual([3, 4]);
      expect(await versions(6, 10)).toEqual([]);
      // The row that crosses the budget is included, then the page ends.
      expect(await versions(0, 100, size * 2 - 1)).toEqual([1, 2]);
      expect(await versions(0, 100, size * 2)).toEqual([1, 2, 3]);
      // A first row alone past the budget: a second row still comes, so the caller learns more follow.
      expect(await versions(0, 100, 1)).toEqual([1, 2]);
      expect(await versions(5, 100, 1)).toEqual([6]);
      expect((await store.getRoomVersions('r1', 0, 1))[0]!.hash).toEqual(new Uint8Array(32).fill(1));
    });

    it('lists rooms by the list policy, sorted, with skip, limit and lastId', async () => {
      const { store } = await tenant();
      const policy = (listRole: string) => ({ get: 'user', list: listRole, update: 'manager', delete: 'manager', updatePolicy: 'manager' });
      await store.createRoom(roomWrite('a-all', 'ctx', 1, { createdAt: T0 + 1, members: [carol], creator: 'carol', policy: policy('all') }));
      await store.createRoom(roomWrite('b-user', 'ctx', 1, { createdAt: T0 + 2, members: [alice, bob], policy: policy('user') }));
      await store.createRoom(roomWrite('c-manager', 'ctx', 1, { createdAt: T0 + 3, members: [alice, bob], policy: policy('manager') }));
      await store.createRoom(roomWrite('d-owner', 'ctx', 1, { createdAt: T0 + 4, members: [carol], creator: 'bob', policy: policy('owner') }));
      await store.createRoom(roomWrite('e-none', 'ctx', 1, { createdAt: T0 + 5, members: [bob], policy: policy('none') }));
      await store.createRoom(roomWrite('z-other', 'other', 1, { createdAt: T0, policy: policy('all') }));
      const ids = async (query: Partial<ListRoomsQuery>) => {
        const result = await list(store, query);
        return { total: result.total, ids: result.rooms.map((r) => r.id) };
      };
      expect(await ids({})).toEqual({ total: 5, ids: ['a-all', 'b-user', 'c-manager', 'd-owner', 'e-none'] });
      expect(await ids({ userId: 'bob' })).toEqual({ total: 3, ids: ['a-all', 'b-user', 'd-owner'] });
      expect(await ids({ userId: 'alice' })).toEqual({ total: 3, ids: ['a-all', 'b-user', 'c-manager'] });
      expect(await ids({ userId: 'dave' })).toEqual({ total: 1, ids: ['a-all'] });
      expect(await ids({ sortOrder: 'desc', limit: 2, skip: 1 })).toEqual({ total: 5, ids: ['d-owner', 'c-manager'] });
      expect(await ids({ lastId: 'b-user' })).toEqual({ total: 5, ids: ['c-manager', 'd-owner', 'e-none'] });
      expect(await ids({ lastId: 'b-user', sortOrder: 'desc' })).toEqual({ total: 5, ids: ['a-all'] });
      expect(await ids({ lastId: 'unknown' })).toEqual({ total: 5, ids: [] });
      await store.appendRoomVersion(
        roomWrite('a-all', 'ctx', 2, { createdAt: T0 + 1, updatedAt: T0 + 100, members: [carol], creator: 'carol', policy: policy('all') }),
        1,
      );
      expect((await ids({ sortBy: 'lastModificationDate', sortOrder: 'desc', limit: 2 })).ids).toEqual(['a-all', 'e-none']);
    });

    it('scans rooms in keyset order with their public meta', async () => {
      const { store } = await tenant();
      for (const [i, id] of ['r3', 'r1', 'r2', 'r4'].entries()) {
        await store.createRoom(roomWrite(id, 'ctx', 1, { createdAt: T0 + (i < 2 ? 0 : 1), publicMetaJson: i === 0 ? '{"n":3}' : null, members: [alice] }));
      }
      const scan = { contextId: 'ctx', userId: 'alice', sortOrder: 'asc' as const, sortBy: 'createDate' as const };
      const first = await store.scanRooms(scan, undefined, 3);
      expect(first).toEqual([
        { id: 'r1', sortKey: T0, publicMetaJson: null },
        { id: 'r3', sortKey: T0, publicMetaJson: '{"n":3}' },
        { id: 'r2', sortKey: T0 + 1, publicMetaJson: null },
      ]);
      expect((await store.scanRooms(scan, first[2], 3)).map((r) => r.id)).toEqual(['r4']);
      expect((await store.scanRooms({ ...scan, sortOrder: 'desc' }, { sortKey: T0 + 1, id: 'r2' }, 10)).map((r) => r.id)).toEqual(['r3', 'r1']);
      expect(await store.scanRooms({ ...scan, userId: 'bob' }, undefined, 10)).toEqual([]);
    });

    it('deletes a room with its chain, members and keys', async () => {
      const { store } = await tenant();
      await store.createRoom(roomWrite('r1', 'ctx', 1, { members: [alice, bob] }));
      expect(await store.deleteRoom('r1')).toBe(true);
      expect(await store.deleteRoom('r1')).toBe(false);
      expect(await store.getRoom('r1')).toBeUndefined();
      expect(await store.getRoomMembers('r1')).toEqual([]);
      expect(await store.getRoomVersions('r1', 0, 10)).toEqual([]);
      expect(await store.getRoomKeys('r1', 'alice', 10)).toEqual([]);
      expect(await store.createRoom(roomWrite('r1', 'ctx', 1))).toBe('created');
    });
  });

  describe(`store contract (${setup.name}): rooms under concurrent writers`, () => {
    it('of two stores updating one room version at once, exactly one wins each round; the chain stays whole', async () => {
      const { store, another } = await tenant();
      const other = await another();
      await store.createRoom(roomWrite('r1', 'ctx', 1));
      for (let v = 2; v <= 11; v++) {
        const a = roomWrite('r1', 'ctx', v, { members: [alice], record: `{"by":"a","v":${v}}` });
        const b = roomWrite('r1', 'ctx', v, { members: [alice, bob], record: `{"by":"b","v":${v}}` });
        const results = await Promise.all([store.appendRoomVersion(a, v - 1), other.appendRoomVersion(b, v - 1)]);
        expect([...results].sort()).toEqual(['conflict', 'ok']);
        const winner = results[0] === 'ok' ? a : b;
        expect((await other.getRoomVersion('r1', v))!.record).toBe(winner.version.record);
        expect(await store.getRoomMembers('r1')).toEqual(winner.members);
      }
      const chain = await other.getRoomVersions('r1', 0, 100);
      expect(chain.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect((await store.getRoom('r1'))!.version).toBe(11);
    });

    it('of many creates racing at a context quota, exactly the quota succeeds', async () => {
      const { store, another } = await tenant();
      const other = await another();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? store : other).createRoom(roomWrite(`q${i}`, 'ctx', 1), 3)));
      expect(results.filter((r) => r === 'created')).toHaveLength(3);
      expect(results.filter((r) => r === 'context_full')).toHaveLength(5);
      expect(await other.countRooms('ctx')).toBe(3);
      const same = await Promise.all([store.createRoom(roomWrite('dup', 'other', 1)), other.createRoom(roomWrite('dup', 'other', 1))]);
      expect([...same].sort()).toEqual(['created', 'exists']);
    });
  });
}
