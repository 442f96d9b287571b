/**
 * Room slots and sockets are counted per user (docs/operations/limits.md): one user's sockets cannot
 * fill a room against others, and one session or user cannot hold unbounded sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE } from '../../protocol/ws.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { createRoom, TestClient } from './test-client.ts';

let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];

beforeAll(async () => {
  t = await startBridge({ realtime: { maxParticipantsPerRoom: 2, maxConnectionsPerUserInRoom: 3, maxSocketsPerSession: 5, maxSocketsPerUser: 7 } as never });
  tenant = await setupTenant(t.bridge, ['mallory', 'alice', 'carol']);
  for (const id of ['mallory', 'alice', 'carol']) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await t.close();
});

async function connect(id: string, token = tokens[id]!): Promise<TestClient> {
  const c = await TestClient.connect(t.bridge.url, token);
  clients.push(c);
  return c;
}
const u = (id: string) => tenant.users[id]!;

describe('per-user limits on the relay', () => {
  it("one user's sockets cannot fill a room: slots are per user, with a few connections each", async () => {
    const { record } = await createRoom(t.bridge, tenant, tokens.mallory!, u('mallory'), [u('mallory'), u('alice'), u('carol')], [u('mallory')]);
    const roomId = record.roomId;
    const mallory = await Promise.all([1, 2, 3, 4].map(() => connect('mallory')));
    for (const c of mallory.slice(0, 3)) await c.request('join', { roomId });
    expect(await mallory[3]!.failure('join', { roomId })).toBe('TOO_MANY_CONNECTIONS');
    // The room holds two users: alice still gets in, carol is the third user.
    const alice = await connect('alice');
    await alice.request('join', { roomId });
    const carol = await connect('carol');
    expect(await carol.failure('join', { roomId })).toBe('ROOM_FULL');
  });

  it('a session past its socket cap loses its oldest socket (4410), the newest gets in', async () => {
    const first = await connect('carol');
    const closed = first.closed;
    for (let i = 0; i < 5; i++) await connect('carol');
    expect((await closed).code).toBe(CLOSE.replaced);
    expect(t.bridge.realtime.counters.socketsReplaced).toBeGreaterThanOrEqual(1);
    const sessions = [...t.bridge.realtime.connections.values()].filter((c) => c.session?.userId === 'carol' && !c.closed);
    expect(sessions.length).toBe(5);
  });

  it('a user past its socket cap over several sessions loses its oldest socket', async () => {
    const second = await login(t.bridge.url, tenant.solutionId, u('alice'));
    const before = [...t.bridge.realtime.connections.values()].filter((c) => c.session?.userId === 'alice' && !c.closed).length;
    const replacedBefore = t.bridge.realtime.counters.socketsReplaced;
    const opened: TestClient[] = [];
    for (let i = 0; i < 4; i++) opened.push(await connect('alice'));
    for (let i = 0; i < 4; i++) opened.push(await connect('alice', second));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const open = [...t.bridge.realtime.connections.values()].filter((c) => c.session?.userId === 'alice' && !c.closed).length;
    expect(open).toBe(7);
    // Every socket past the cap of 7 replaced an older one of alice's, over both her sessions.
    expect(t.bridge.realtime.counters.socketsReplaced - replacedBefore).toBe(before + 8 - 7);
  });
});
