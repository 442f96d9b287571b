/**
 * What a connection holds is made on first use (docs/operations/memory.md): its held-message queue,
 * bulk lane, event subscriptions, data-track queue and byte-stream maps. A connection that idles after
 * joining and only then starts to work gets each of them, and the hub's shared timers (heartbeat,
 * session expiry) still reach it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSubscriptionQuery, CLOSE } from '../../protocol/ws.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { createRoom, eventually, numbered, seqOf, TestClient } from './test-client.ts';

const PING_INTERVAL_MS = 100;
const SESSION_TTL_SECONDS = 2;

let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  t = await startBridge({ realtime: { pingIntervalMs: PING_INTERVAL_MS } as never });
  tenant = await setupTenant(t.bridge, ['alice', 'bob']);
  for (const id of ['alice', 'bob']) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await t.close();
});

const u = (id: string) => tenant.users[id]!;
async function connect(id: string): Promise<TestClient> {
  const c = await TestClient.connect(t.bridge.url, tokens[id]!);
  clients.push(c);
  return c;
}

describe('a joined connection that idles, then works', () => {
  it('holds no queues while idle, survives heartbeats, then publishes, subscribes and gets every frame', async () => {
    const { record } = await createRoom(t.bridge, tenant, tokens.alice!, u('alice'), [u('alice'), u('bob')], [u('alice')]);
    const roomId = record.roomId;
    const [alice, bob] = [await connect('alice'), await connect('bob')];
    await alice.request('join', { roomId });
    await bob.request('join', { roomId });
    const server = t.bridge.realtime.connections.get(bob.connectionId)!;
    expect(server.subscriptions).toBeUndefined();
    // Several heartbeats: each ping is answered, so neither socket is taken for dead.
    await sleep(PING_INTERVAL_MS * 6);
    expect(server.closed).toBe(false);
    expect((await bob.request('ping', {})).now).toBeGreaterThan(0);

    const { stream } = await alice.request('publish', { roomId, streamId: 'cam', tracks: [{ trackId: 'd', kind: 'data' }] });
    const trackNo = stream.tracks[0]!.trackNo;
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'cam' }], remove: [] });
    for (let seq = 0; seq < 50; seq++) alice.sendData(trackNo, numbered(seq));
    await bob.until(() => bob.dataFrames(trackNo).length === 50, '50 data frames');
    expect(bob.dataFrames(trackNo).map((f) => seqOf(f.payload))).toEqual([...Array(50).keys()]);
  });

  it('event subscriptions: the map is made by the first and dropped with the last; both ways work again', async () => {
    const { record } = await createRoom(t.bridge, tenant, tokens.alice!, u('alice'), [u('alice'), u('bob')], [u('alice')]);
    const bob = await connect('bob');
    const server = t.bridge.realtime.connections.get(bob.connectionId)!;
    const query = buildSubscriptionQuery('streamRoomUpdated', 'streamRoomId', record.roomId);
    const first = await bob.request('subscribe', { queries: [query] });
    expect(server.subscriptions?.size).toBe(1);
    await bob.request('unsubscribe', { subscriptionIds: first.subscriptionIds });
    expect(server.subscriptions).toBeUndefined();
    expect(await bob.failure('unsubscribe', { subscriptionIds: first.subscriptionIds })).toBe('NOT_FOUND');
    const again = await bob.request('subscribe', { queries: [query, query] });
    expect(again.subscriptionIds).toHaveLength(2);
    expect(server.subscriptions?.size).toBe(2);
  });
});

describe("session expiry on the hub's one timer", () => {
  it('closes an idle socket with sessionEnded once its session expires, not before', async () => {
    const short = await startBridge({ sessionTtlSeconds: SESSION_TTL_SECONDS });
    try {
      const local = await setupTenant(short.bridge, ['carol']);
      const token = await login(short.bridge.url, local.solutionId, local.users.carol!);
      const carol = await TestClient.connect(short.bridge.url, token);
      const expiresAt = short.bridge.realtime.connections.get(carol.connectionId)!.session!.expiresAt;
      const { code } = await carol.closed;
      expect(code).toBe(CLOSE.sessionEnded);
      expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
      await eventually(() => short.bridge.realtime.connections.size === 0, 'the Bridge forgets the socket');
    } finally {
      await short.close();
    }
  });
});
