/**
 * Two Bridges on one real PostgreSQL (test/postgres.ts) and one real nats-server (test/nats.ts):
 * room events, join and leave, removals and ended sessions cross from one Bridge to the other; NATS
 * lost makes both unhealthy and refuses what needs the other Bridge; back, they recover and resync
 * what they missed (docs/operations/cluster.md).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSubscriptionQuery, CLOSE } from '../../protocol/ws.ts';
import { runCli } from '../../test/cli.ts';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { startNats, type TestNats } from '../../test/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import { successor, verifiedHead } from '../../test/rooms.ts';
import { createRoom, eventually, stats, TestClient } from '../realtime/test-client.ts';

let pg: TestPostgres;
let nats: TestNats;
let store: string;
let a: TestBridge;
let b: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];
const IDS = ['alice', 'bob', 'carol', 'dave'] as const;

beforeAll(async () => {
  [pg, nats] = await Promise.all([startPostgres(), startNats()]);
  store = await pg.createDatabase();
  const options = { store, nats: nats.url, limits: { writesPerUserPerMinute: 1000 } as never };
  a = await startBridge(options);
  b = await startBridge({ ...options, apiKey: a.bridge.initialApiKey! });
  tenant = await setupTenant(a.bridge, [...IDS]);
  for (const id of IDS) tokens[id] = await login(a.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await b?.close();
  await a?.close();
  await Promise.all([nats?.destroy(), pg?.destroy()]);
});

const u = (id: string) => tenant.users[id]!;
async function connect(t: TestBridge, id: string): Promise<TestClient> {
  const c = await TestClient.connect(t.bridge.url, tokens[id]!);
  clients.push(c);
  return c;
}
/** A room of alice (manager), bob, carol and dave, created through A. */
async function room() {
  return createRoom(a.bridge, tenant, tokens.alice!, u('alice'), IDS.map(u), [u('alice')]);
}
/** A PUT of the next version through `t`, with `keep` as its members. */
async function update(t: TestBridge, built: Awaited<ReturnType<typeof room>>, keep: string[]) {
  const roomId = built.record.roomId;
  const head = await verifiedHead(t.bridge.url, tokens.alice!, roomId);
  const next = await successor(head, built.epochKey, u('alice'), { users: keep.map(u), managers: [u('alice')] });
  return rest(t.bridge.url, tokens.alice).put(`/v1/rooms/${roomId}`, { ...next.request, version: head.record.version });
}
const health = async (t: TestBridge) => {
  const reply = await fetch(`${t.bridge.url}/healthz`);
  return { status: reply.status, body: (await reply.json()) as Record<string, string> };
};

describe('two Bridges over NATS', () => {
  it('room events cross: a subscriber on B hears rooms created and updated through A', async () => {
    const bob = await connect(b, 'bob');
    await bob.request('subscribe', { queries: [buildSubscriptionQuery('streamRoomCreated', 'contextId', tenant.contextId)] });
    const built = await room();
    const roomId = built.record.roomId;
    const created = await bob.event('streamRoomCreated', (e) => e.roomId === roomId);
    expect(created).toMatchObject({ roomId, contextId: tenant.contextId, version: 1 });
    await bob.request('subscribe', { queries: [buildSubscriptionQuery('streamRoomUpdated', 'streamRoomId', roomId)] });
    expect((await update(a, built, [...IDS])).status).toBe(200);
    expect(await bob.event('streamRoomUpdated', (e) => e.roomId === roomId)).toMatchObject({ roomId, version: 2 });
  });

  it('join and leave cross: members on A hear who joins and leaves on B, and the other way', async () => {
    const roomId = (await room()).record.roomId;
    const alice = await connect(a, 'alice');
    await alice.request('join', { roomId });
    const bob = await connect(b, 'bob');
    await bob.request('join', { roomId });
    expect(await alice.event('streamRoomJoined', (e) => e.roomId === roomId)).toEqual({
      type: 'streamRoomJoined',
      roomId,
      userId: 'bob',
      connectionId: bob.connectionId,
    });
    const carol = await connect(a, 'carol');
    await carol.request('join', { roomId });
    expect(await bob.event('streamRoomJoined', (e) => e.userId === 'carol')).toMatchObject({ roomId, connectionId: carol.connectionId });
    await bob.request('leave', { roomId });
    expect(await alice.event('streamRoomLeft', (e) => e.userId === 'bob')).toEqual({
      type: 'streamRoomLeft',
      roomId,
      userId: 'bob',
      connectionId: bob.connectionId,
      reason: 'left',
    });
    // Each event once: the Bridge that published it does not get it back.
    expect(alice.events('streamRoomJoined').filter((e) => e.userId === 'bob')).toHaveLength(1);
  });

  it('a removal committed through A cuts the member on B when it commits, and ends its open streams', async () => {
    const built = await room();
    const roomId = built.record.roomId;
    const bob = await connect(b, 'bob');
    const carol = await connect(b, 'carol');
    const alice = await connect(a, 'alice');
    for (const c of [bob, carol, alice]) await c.request('join', { roomId });
    // bob sends carol a byte stream on B: her reader is open when she is removed.
    const streamNo = (await bob.request('byteStreamOpen', { roomId, streamId: 'cmVtb3ZhbC1zdHJlYW0tMQ==', epoch: 1, destinationIdentities: ['carol'] }))
      .streamNo;
    await carol.event('byteStreamOpened', (e) => e.streamNo === streamNo);

    const sent = performance.now();
    expect((await update(a, built, ['alice', 'bob', 'dave'])).status).toBe(200);
    const replied = performance.now();
    await carol.event('streamRoomLeft', (e) => e.userId === 'carol' && e.reason === 'removed');
    const cutAfterReplyMs = performance.now() - replied;
    expect(carol.events('byteStreamAborted')).toEqual([{ type: 'byteStreamAborted', streamNo, reason: 'removed' }]);
    expect(stats(b.bridge).connections.find((c) => c.connectionId === carol.connectionId)).toMatchObject({ rooms: [], receiving: [] });
    // The sender on B and the member on A hear it too.
    expect(await bob.event('byteStreamReceiverDropped', (e) => e.streamNo === streamNo)).toMatchObject({ userId: 'carol', reason: 'removed' });
    expect(await alice.event('streamRoomLeft', (e) => e.userId === 'carol')).toMatchObject({ reason: 'removed', connectionId: carol.connectionId });
    // She cannot come back on either Bridge.
    expect(await carol.failure('join', { roomId })).toBe('FORBIDDEN');
    console.log(`removal through A: REST reply after ${Math.round(replied - sent)} ms, member on B cut ${cutAfterReplyMs.toFixed(1)} ms after the reply`);
    expect(cutAfterReplyMs).toBeLessThan(1000);
  });

  it("a logout at A closes the same session's socket on B", async () => {
    const token = await login(a.bridge.url, tenant.solutionId, u('dave'));
    const dave = await TestClient.connect(b.bridge.url, token);
    clients.push(dave);
    expect((await rest(a.bridge.url, token).post('/v1/auth/logout', {})).status).toBe(204);
    expect((await dave.closed).code).toBe(CLOSE.sessionEnded);
  });

  it('NATS lost: both Bridges unhealthy, what needs the other refused with CLUSTER_UNAVAILABLE; back: healthy, and what was missed is read from the store', async () => {
    const built = await room();
    const roomId = built.record.roomId;
    const dave = await connect(b, 'dave');
    await dave.request('join', { roomId });
    // A third Bridge on the same store without NATS: its commits are never published, like a lost message.
    const deaf = await startBridge({ store, apiKey: a.bridge.initialApiKey! });
    try {
      expect((await update(deaf, built, ['alice', 'bob', 'carol'])).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      expect(stats(b.bridge).connections.find((c) => c.connectionId === dave.connectionId)?.rooms).toEqual([roomId]);
    } finally {
      await deaf.close();
    }

    // carol is joined on B too; she is removed while NATS is down.
    const carol = await connect(b, 'carol');
    await carol.request('join', { roomId });
    await nats.stop();
    await eventually(() => !a.bridge.cluster!.available && !b.bridge.cluster!.available, 'both Bridges see NATS gone');
    // Cut off, B reads its members from the store every 2 s: a removal committed meanwhile (by a Bridge
    // without NATS) cuts her there before NATS is back.
    const deafAgain = await startBridge({ store, apiKey: a.bridge.initialApiKey! });
    try {
      const head = await verifiedHead(deafAgain.bridge.url, tokens.alice!, roomId);
      const next = await successor(head, undefined, u('alice'), { users: [u('alice'), u('bob')], managers: [u('alice')] });
      expect((await rest(deafAgain.bridge.url, tokens.alice).put(`/v1/rooms/${roomId}`, { ...next.request, version: head.record.version })).status).toBe(200);
    } finally {
      await deafAgain.close();
    }
    expect(await carol.event('streamRoomLeft', (e) => e.userId === 'carol', 4000)).toMatchObject({ reason: 'removed' });
    expect(b.bridge.cluster!.available).toBe(false);
    for (const t of [a, b]) expect(await health(t)).toEqual({ status: 503, body: { status: 'unavailable', nats: 'unreachable' } });
    const bob = await connect(b, 'bob');
    expect(await bob.failure('join', { roomId })).toBe('CLUSTER_UNAVAILABLE');
    const refused = await update(a, built, ['alice', 'bob']);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('CLUSTER_UNAVAILABLE');

    await nats.start();
    await eventually(() => a.bridge.cluster!.available && b.bridge.cluster!.available, 'both Bridges back on NATS', 15_000);
    for (const t of [a, b]) expect(await health(t)).toEqual({ status: 200, body: { status: 'ok' } });
    // B's resync found dave removed while nobody told it.
    expect(await dave.event('streamRoomLeft', (e) => e.userId === 'dave', 5000)).toMatchObject({ reason: 'removed' });
    expect(b.bridge.cluster!.counters.resyncRemoved).toBeGreaterThanOrEqual(1);
    await bob.request('join', { roomId });
    // And events cross again.
    const alice = await connect(a, 'alice');
    await alice.request('join', { roomId });
    await bob.event('streamRoomJoined', (e) => e.connectionId === alice.connectionId);
  }, 40_000);

  it('does not start when NATS cannot be reached: createBridge, sealroom start --nats, SEALROOM_NATS and a config file give ERR_CLUSTER_UNAVAILABLE', async () => {
    const dead = 'nats://127.0.0.1:1';
    await expect(startBridge({ store, nats: dead, apiKey: a.bridge.initialApiKey! })).rejects.toMatchObject({ code: 'ERR_CLUSTER_UNAVAILABLE' });
    await expect(startBridge({ store, nats: 'http://x' })).rejects.toThrow(/option "nats": expected a nats:\/\/ URL/);
    await expect(startBridge({ nats: nats.url })).rejects.toThrow(/option "nats".*expected "store"/);
    const cli = await runCli(['start', '--store', store, '--nats', 'nats://user:secret@127.0.0.1:1', '--port', '0', '--no-app']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/error: ERR_CLUSTER_UNAVAILABLE: NATS at nats:\/\/user:\*\*\*@127\.0\.0\.1:1 cannot be reached/);
    expect(cli.stderr).not.toContain('secret');
    const env = await runCli(['start', '--store', store, '--port', '0', '--no-app'], { SEALROOM_NATS: dead });
    expect(env.stderr).toMatch(/ERR_CLUSTER_UNAVAILABLE/);
    const dir = mkdtempSync(join(tmpdir(), 'sealroom-cluster-config-'));
    try {
      const file = join(dir, 'bridge.json');
      writeFileSync(file, JSON.stringify({ store, nats: dead, port: 0 }));
      const fromFile = await runCli(['start', '--config', file, '--no-app']);
      expect(fromFile.code).toBe(1);
      expect(fromFile.stderr).toMatch(/ERR_CLUSTER_UNAVAILABLE: NATS at nats:\/\/127\.0\.0\.1:1 cannot be reached/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('room caps count the members joined on the other Bridges', async () => {
    const roomId = (await room()).record.roomId;
    const small = await startBridge({ store, nats: nats.url, apiKey: a.bridge.initialApiKey!, realtime: { maxParticipantsPerRoom: 2 } as never });
    try {
      const alice = await connect(a, 'alice');
      await alice.request('join', { roomId });
      const bob = await TestClient.connect(small.bridge.url, tokens.bob!);
      clients.push(bob);
      await bob.request('join', { roomId });
      const carol = await TestClient.connect(small.bridge.url, tokens.carol!);
      clients.push(carol);
      // alice on A and bob here are two users: the room is full on this Bridge.
      expect(await carol.failure('join', { roomId })).toBe('ROOM_FULL');
    } finally {
      await small.close();
    }
  });
});
