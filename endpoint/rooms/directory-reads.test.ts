/**
 * A client reads only the directory entries it needs (docs/security/key-trust.md, "Reading the
 * directory"): the members of the room it reads, at most `DIRECTORY_READ_MAX_USERS` a request, never
 * the whole directory of a large context; and what it pinned it does not read again.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import { DIRECTORY_READ_MAX_USERS } from '../../protocol/api.ts';
import { connectClient, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { directoryReads, MAX_FORMER_KEYS } from './key-trust.ts';
import { makeUser } from '../../test/identities.ts';

const CONTEXT_USERS = 260;
const ROOM_MEMBERS = 150;

let t: TestBridge;
let tenant: Tenant;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(
    t.bridge,
    Array.from({ length: CONTEXT_USERS }, (_, i) => `user${i}`),
  );
});
afterEach(() => restore());
afterAll(async () => {
  await Promise.all(clients.map((c) => c.connection.disconnect()));
  await t.close();
});

/**
 * The directory reads the Bridge answers from now on: the users each asked about, or `all` for a page
 * of the whole directory. Recorded where the Bridge's routes reach its store (the real methods run).
 */
function watchDirectoryReads(): Array<string[] | 'all'> {
  const reads: Array<string[] | 'all'> = [];
  const store = t.bridge.store;
  const among = store.formerContextUsersAmong.bind(store);
  const page = store.contextUserIdsPage.bind(store);
  store.formerContextUsersAmong = (contextId, userIds) => {
    reads.push([...userIds]);
    return among(contextId, userIds);
  };
  store.contextUserIdsPage = (...args) => {
    reads.push('all');
    return page(...args);
  };
  restore = () => {
    store.formerContextUsersAmong = among;
    store.contextUserIdsPage = page;
  };
  return reads;
}
let restore = () => {};

describe('directory reads', () => {
  it(`a reader of a room of ${ROOM_MEMBERS} in a context of ${CONTEXT_USERS} asks for the members only, ${DIRECTORY_READ_MAX_USERS} at most a read`, async () => {
    const members = Array.from({ length: ROOM_MEMBERS }, (_, i) => tenant.users[`user${i}`]!);
    const author = await connectClient(t.bridge.url, tenant.solutionId, members[0]!);
    const reader = await connectClient(t.bridge.url, tenant.solutionId, members[1]!);
    clients.push(author, reader);
    const roomId = await author.streamApi.createStreamRoom(tenant.contextId, members.map(pub), [pub(members[0]!)], utf8('{}'), utf8('meta'));

    const reads = watchDirectoryReads();
    await reader.streamApi.getStreamRoom(roomId);
    const memberIds = new Set(members.map((m) => m.userId));
    expect(reads.length).toBeGreaterThan(0);
    expect(reads).not.toContain('all');
    const asked = (reads as string[][]).flat();
    for (const ids of reads) {
      expect(ids.length).toBeGreaterThan(0);
      expect(ids.length).toBeLessThanOrEqual(DIRECTORY_READ_MAX_USERS);
    }
    expect(asked.every((id) => memberIds.has(id))).toBe(true);
    expect(new Set(asked).size).toBe(asked.length);
    // Every member whose key the record names was asked about (the reader checks each against its pin).
    expect(asked.length).toBeGreaterThanOrEqual(ROOM_MEMBERS - 1);

    // Pinned now: reading the room again reads no directory entry.
    reads.length = 0;
    await reader.streamApi.getStreamRoom(roomId);
    expect(reads).toEqual([]);
  });

  it('ignores a user the Bridge lists without being asked: a key slipped in for another user is never pinned', async () => {
    const [alice, bob, zed] = ['user0', 'user201', 'user202'].map((id) => tenant.users[id]!);
    const mallory = await makeUser('mallory');
    const author = await connectClient(t.bridge.url, tenant.solutionId, alice!);
    const reader = await connectClient(t.bridge.url, tenant.solutionId, bob!);
    clients.push(author, reader);
    const first = await author.streamApi.createStreamRoom(tenant.contextId, [pub(alice!), pub(bob!)], [pub(alice!)], utf8('{}'), utf8('one'));
    const second = await author.streamApi.createStreamRoom(tenant.contextId, [pub(alice!), pub(bob!), pub(zed!)], [pub(alice!)], utf8('{}'), utf8('two'));

    // While bob reads the first room, the Bridge adds zed, under its own key, to every directory answer.
    const store = t.bridge.store;
    const real = store.contextUsersAmong.bind(store);
    store.contextUsersAmong = async (contextId, userIds) => {
      const rows = await real(contextId, userIds);
      return userIds.includes(zed!.userId) ? rows : [...rows, { ...rows[0]!, userId: zed!.userId, publicKey: mallory.publicKey }];
    };
    try {
      await reader.streamApi.getStreamRoom(first);
    } finally {
      store.contextUsersAmong = real;
    }
    // zed's key was never asked for, so bob reads it now: the real one, and the second room reads.
    expect(fromUtf8((await reader.streamApi.getStreamRoom(second)).privateMeta)).toBe('two');
  });

  it(`takes at most ${MAX_FORMER_KEYS} former keys of a user from the directory: more is RoomTampered, before any is pinned or asked about`, async () => {
    const [alice, bob] = ['user3', 'user203'].map((id) => tenant.users[id]!);
    const author = await connectClient(t.bridge.url, tenant.solutionId, alice!);
    const asked: string[] = [];
    const reader = await connectClient(t.bridge.url, tenant.solutionId, bob!, {
      streamApi: {
        verifyUsers: async (users) => {
          asked.push(...users.map((u) => u.pubKey));
          return users.map(() => true);
        },
      },
    });
    clients.push(author, reader);
    const room = await author.streamApi.createStreamRoom(tenant.contextId, [pub(alice!), pub(bob!)], [pub(alice!)], utf8('{}'), utf8('r'));
    const keys = await Promise.all(Array.from({ length: MAX_FORMER_KEYS + 1 }, (_, i) => makeUser(`old${i}`)));
    const store = t.bridge.store;
    const real = store.formerContextUsersAmong.bind(store);
    let listed = keys.length;
    store.formerContextUsersAmong = async (contextId, userIds) => [
      ...(await real(contextId, userIds)),
      ...(userIds.includes(alice!.userId)
        ? keys.slice(0, listed).map((k, i) => ({ userId: alice!.userId, publicKey: k.publicKey, addedAt: i, removedAt: i + 1 }))
        : []),
    ];
    try {
      const error = await reader.streamApi.getStreamRoom(room).catch((e: unknown) => e);
      expect(error).toMatchObject({ reason: 'RoomTampered' });
      expect((error as Error).message).toContain(`more than ${MAX_FORMER_KEYS} former keys of "${alice!.userId}"`);
      expect(asked).toEqual([]);
      // As many as the bound are taken (and offered to the verifier with the current key).
      listed = MAX_FORMER_KEYS;
      expect(fromUtf8((await reader.streamApi.getStreamRoom(room)).privateMeta)).toBe('r');
      expect(asked).toHaveLength(MAX_FORMER_KEYS + 1);
    } finally {
      store.formerContextUsersAmong = real;
    }
  });

  it('splits reads by encoded length too: 50 members whose ids are mostly "+" (three characters each once encoded)', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `${'+'.repeat(124)}${String(i).padStart(4, '0')}`);
    const plus = await setupTenant(t.bridge, ids, 'plus');
    const members = ids.map((id) => plus.users[id]!);
    const author = await connectClient(t.bridge.url, plus.solutionId, members[0]!);
    const reader = await connectClient(t.bridge.url, plus.solutionId, members[1]!);
    clients.push(author, reader);
    const roomId = await author.streamApi.createStreamRoom(plus.contextId, members.map(pub), [pub(members[0]!)], utf8('{}'), utf8('plus'));
    const reads = watchDirectoryReads();
    // As one read, these ids would be some 19,000 characters of URL: over Node's 16 KiB header limit.
    expect(fromUtf8((await reader.streamApi.getStreamRoom(roomId)).privateMeta)).toBe('plus');
    expect(reads.length).toBeGreaterThan(1);
    for (const asked of reads as string[][]) expect(asked.map(encodeURIComponent).join(',').length).toBeLessThanOrEqual(8192);
  });
});

describe('directoryReads', () => {
  it(`groups ids by ${DIRECTORY_READ_MAX_USERS} at most and by 8,192 encoded characters at most, in order`, () => {
    const short = Array.from({ length: 2 * DIRECTORY_READ_MAX_USERS + 1 }, (_, i) => `u${i}`);
    expect(directoryReads(short).map((r) => r.length)).toEqual([DIRECTORY_READ_MAX_USERS, DIRECTORY_READ_MAX_USERS, 1]);
    expect(directoryReads(short).flat()).toEqual(short);
    const long = Array.from({ length: 30 }, (_, i) => `${'@'.repeat(125)}${String(i).padStart(3, '0')}`); // 378 encoded each
    expect(directoryReads(long).map((r) => r.length)).toEqual([21, 9]);
    expect(directoryReads([])).toEqual([]);
  });
});
