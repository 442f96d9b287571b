import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { newRoomId } from '../../test/rooms.ts';
import { createRoom, stats, TestClient } from './test-client.ts';

let t: TestBridge;
let tenant: Tenant;
let other: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol', 'dave']);
  other = await setupTenant(t.bridge, ['eve'], 'other');
  for (const id of ['alice', 'bob', 'carol', 'dave']) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
  tokens.eve = await login(t.bridge.url, other.solutionId, other.users.eve!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t.close();
});

const u = (id: string) => tenant.users[id]!;
async function connect(id: string, bridge = t.bridge, token = tokens[id]!): Promise<TestClient> {
  const c = await TestClient.connect(bridge.url, token);
  clients.push(c);
  return c;
}
/** alice manages; bob and carol are users; dave is in the context but not the room. */
async function room(): Promise<string> {
  const built = await createRoom(t.bridge, tenant, tokens.alice!, u('alice'), [u('alice'), u('bob'), u('carol')], [u('alice')]);
  return built.record.roomId;
}

describe('relay: join permissions', () => {
  it('lets members join and refuses non-members (403) and rooms outside the solution (404)', async () => {
    const roomId = await room();
    const [alice, bob, dave, eve] = await Promise.all([connect('alice'), connect('bob'), connect('dave'), connect('eve')]);
    expect(await alice.request('join', { roomId })).toEqual({ participants: [], streams: [] });
    // bob is a plain user, not a manager: users join too.
    expect((await bob.request('join', { roomId })).participants).toEqual([{ userId: 'alice', connectionId: alice.connectionId }]);

    expect(await dave.failure('join', { roomId })).toBe('FORBIDDEN');
    expect(await dave.failure('listStreams', { roomId })).toBe('FORBIDDEN');
    expect(await eve.failure('join', { roomId })).toBe('ROOM_NOT_FOUND');
    expect(await eve.failure('listStreams', { roomId })).toBe('ROOM_NOT_FOUND');
    expect(await alice.failure('join', { roomId: newRoomId() })).toBe('ROOM_NOT_FOUND');

    // Refused joiners are not in the room: they cannot publish or open streams, and nobody heard of them.
    expect(await dave.failure('publish', { roomId, streamId: 's', tracks: [{ trackId: 't', kind: 'data' }] })).toBe('NOT_JOINED');
    expect(await eve.failure('byteStreamOpen', { roomId, streamId: `${'A'.repeat(22)}==`, epoch: 1, destinationIdentities: [] })).toBe('NOT_JOINED');
    expect(alice.events('streamRoomJoined').map((e) => e.userId)).toEqual(['bob']);
    expect(
      stats(t.bridge)
        .connections.filter((c) => c.rooms.includes(roomId))
        .map((c) => c.userId)
        .sort(),
    ).toEqual(['alice', 'bob']);
  });

  it('lets a member list streams without joining', async () => {
    const roomId = await room();
    const [alice, carol] = await Promise.all([connect('alice'), connect('carol')]);
    await alice.request('join', { roomId });
    const { stream } = await alice.request('publish', { roomId, streamId: 'cam', tracks: [{ trackId: 'd', kind: 'data' }] });
    expect(await carol.request('listStreams', { roomId })).toEqual({ streams: [stream] });
    expect(stream).toMatchObject({ roomId, streamId: 'cam', userId: 'alice', connectionId: alice.connectionId });
  });
});

describe('relay: participants', () => {
  it('tells joined connections about others joining, leaving and disconnecting', async () => {
    const roomId = await room();
    const [alice, bob, carol] = await Promise.all([connect('alice'), connect('bob'), connect('carol')]);
    await alice.request('join', { roomId });
    await bob.request('join', { roomId });
    const joined = await carol.request('join', { roomId });
    expect(joined.participants).toEqual([
      { userId: 'alice', connectionId: alice.connectionId },
      { userId: 'bob', connectionId: bob.connectionId },
    ]);
    await alice.event('streamRoomJoined', (e) => e.userId === 'carol');
    expect(alice.events('streamRoomJoined')).toEqual([
      { type: 'streamRoomJoined', roomId, userId: 'bob', connectionId: bob.connectionId },
      { type: 'streamRoomJoined', roomId, userId: 'carol', connectionId: carol.connectionId },
    ]);

    // Joining again changes nothing and tells nobody.
    await carol.request('join', { roomId });
    await bob.request('leave', { roomId });
    const left = await alice.event('streamRoomLeft');
    expect(left).toEqual({ type: 'streamRoomLeft', roomId, userId: 'bob', connectionId: bob.connectionId, reason: 'left' });
    await carol.event('streamRoomLeft', (e) => e.userId === 'bob');
    expect(bob.events('streamRoomLeft')).toEqual([]);
    expect(await bob.failure('leave', { roomId })).toBe('NOT_JOINED');

    await carol.close();
    const gone = await alice.event('streamRoomLeft', (e) => e.userId === 'carol');
    expect(gone.reason).toBe('disconnected');
    expect(alice.events('streamRoomJoined')).toHaveLength(2);
    expect(stats(t.bridge).connections.find((c) => c.connectionId === carol.connectionId)).toBeUndefined();
  });

  it('bounds joined rooms per connection and connections per room', async () => {
    const small = await startBridge({ realtime: { maxJoinedRoomsPerConnection: 1, maxParticipantsPerRoom: 2 } });
    try {
      const ten = await setupTenant(small.bridge, ['ann', 'ben', 'cid']);
      const tok = (id: string) => login(small.bridge.url, ten.solutionId, ten.users[id]!);
      const [annTok, benTok, cidTok] = await Promise.all([tok('ann'), tok('ben'), tok('cid')]);
      const members = [ten.users.ann!, ten.users.ben!, ten.users.cid!];
      const r1 = (await createRoom(small.bridge, ten, annTok, ten.users.ann!, members, [ten.users.ann!])).record.roomId;
      const r2 = (await createRoom(small.bridge, ten, annTok, ten.users.ann!, members, [ten.users.ann!])).record.roomId;
      const ann = await connect('ann', small.bridge, annTok);
      const ben = await connect('ben', small.bridge, benTok);
      const cid = await connect('cid', small.bridge, cidTok);
      await ann.request('join', { roomId: r1 });
      expect(await ann.failure('join', { roomId: r2 })).toBe('TOO_MANY_ROOMS');
      await ben.request('join', { roomId: r1 });
      expect(await cid.failure('join', { roomId: r1 })).toBe('ROOM_FULL');
      expect(ann.events('streamRoomJoined').map((e) => e.userId)).toEqual(['ben']);
      await ben.request('leave', { roomId: r1 });
      await cid.request('join', { roomId: r1 });
      await Promise.all([ann.close(), ben.close(), cid.close()]);
    } finally {
      await small.close();
    }
  });
});
