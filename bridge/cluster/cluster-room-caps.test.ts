/**
 * The room caps across two Bridges on one real PostgreSQL and one real nats-server
 * (docs/operations/limits.md, "Across Bridges"; bridge/cluster/room-slots.ts): `maxParticipantsPerRoom`
 * and `maxConnectionsPerUserInRoom` count the connections joined on both Bridges, even a first join on
 * a Bridge that holds nothing of the room yet, and of two joins racing for the last slot on two
 * Bridges exactly one is refused; a leave frees the slot on the other Bridge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { startNats, type TestNats } from '../../test/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import { createRoom, TestClient } from '../realtime/test-client.ts';

const USERS = ['alice', 'bob', 'carol', 'dave'];
let pg: TestPostgres;
let nats: TestNats;
let a: TestBridge;
let b: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];

beforeAll(async () => {
  [pg, nats] = await Promise.all([startPostgres(), startNats()]);
  const store = await pg.createDatabase();
  const realtime = { maxParticipantsPerRoom: 2, maxConnectionsPerUserInRoom: 2 } as never;
  a = await startBridge({ store, nats: nats.url, realtime });
  b = await startBridge({ store, nats: nats.url, realtime, apiKey: a.bridge.initialApiKey! });
  tenant = await setupTenant(a.bridge, USERS);
  for (const id of USERS) tokens[id] = await login(a.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await b?.close();
  await a?.close();
  await Promise.all([nats?.destroy(), pg?.destroy()]);
});

async function room(): Promise<string> {
  const all = USERS.map((id) => tenant.users[id]!);
  return (await createRoom(a.bridge, tenant, tokens.alice!, all[0]!, all, [all[0]!])).record.roomId;
}

async function connect(t: TestBridge, id: string): Promise<TestClient> {
  const c = await TestClient.connect(t.bridge.url, tokens[id]!);
  clients.push(c);
  return c;
}

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'joined',
    (e: { code?: string }) => e.code ?? 'error',
  );

describe('room caps across two Bridges', () => {
  it("the first join on B counts A's members: ROOM_FULL; a leave on A frees the slot for B", async () => {
    const roomId = await room();
    const alice = await connect(a, 'alice');
    const bob = await connect(a, 'bob');
    for (const c of [alice, bob]) await c.request('join', { roomId });
    // B holds nothing of the room yet: only the shared slots know it is full.
    const carol = await connect(b, 'carol');
    expect(await carol.failure('join', { roomId })).toBe('ROOM_FULL');
    await bob.request('leave', { roomId });
    // The release is sent as bob's leave is answered; a join right after may still find it full.
    let result = '';
    for (let tries = 0; tries < 100 && result !== 'joined'; tries++) {
      result = await outcome(carol.request('join', { roomId }));
      if (result !== 'joined') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(result).toBe('joined');
  });

  it('two joins racing for the last slot on A and B: exactly one is refused, every round', async () => {
    for (let round = 0; round < 8; round++) {
      const roomId = await room();
      const alice = await connect(a, 'alice');
      await alice.request('join', { roomId });
      const [bob, carol] = await Promise.all([connect(a, 'bob'), connect(b, 'carol')]);
      const results = await Promise.all([outcome(bob.request('join', { roomId })), outcome(carol.request('join', { roomId }))]);
      expect(results.sort()).toEqual(['ROOM_FULL', 'joined']);
      for (const c of [alice, bob, carol]) void c.close();
    }
  });

  it("one user's connections in a room count on both Bridges", async () => {
    const roomId = await room();
    const [d1, d2, d3] = await Promise.all([connect(a, 'dave'), connect(a, 'dave'), connect(b, 'dave')]);
    for (const c of [d1!, d2!]) await c.request('join', { roomId });
    // dave's third connection, on B (which holds nothing of the room): past his 2 per room.
    expect(await d3!.failure('join', { roomId })).toBe('TOO_MANY_CONNECTIONS');
    await d1!.request('leave', { roomId });
    let result = '';
    for (let tries = 0; tries < 100 && result !== 'joined'; tries++) {
      result = await outcome(d3!.request('join', { roomId }));
      if (result !== 'joined') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(result).toBe('joined');
  });
});
