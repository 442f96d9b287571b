/**
 * Streams and data tracks across Bridges over a real nats-server (test/nats.ts) on one real
 * PostgreSQL (test/postgres.ts): a stream published on A is listed and subscribed on B with B's own
 * trackNos, its frames arrive in order; a member joining later learns it by sync; frames lost between
 * Bridges (a Bridge's NATS connection cut by a gate, test/nats.ts) reach the subscriber as a counted
 * `dataDropped`, never a silent gap (docs/operations/cluster.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../protocol/ws.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { startNats, startNatsGate, type NatsGate, type TestNats } from '../../test/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import { createRoom, eventually, numbered, seqOf, TestClient } from '../realtime/test-client.ts';

let pg: TestPostgres;
let nats: TestNats;
let gate: NatsGate;
let a: TestBridge;
let b: TestBridge;
/** C reaches NATS through a gate the test can cut. */
let c: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];
const IDS = ['alice', 'bob', 'carol', 'dave'] as const;
const data = [{ trackId: 'chat', kind: 'data' as const }];

beforeAll(async () => {
  [pg, nats] = await Promise.all([startPostgres(), startNats()]);
  gate = await startNatsGate(nats);
  const store = await pg.createDatabase();
  const options = { store, nats: nats.url, limits: { writesPerUserPerMinute: 1000 } as never };
  a = await startBridge(options);
  b = await startBridge({ ...options, apiKey: a.bridge.initialApiKey! });
  c = await startBridge({ ...options, nats: gate.url, apiKey: a.bridge.initialApiKey! });
  tenant = await setupTenant(a.bridge, [...IDS]);
  for (const id of IDS) tokens[id] = await login(a.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((x) => x.close()));
  for (const t of [c, b, a]) await t?.close();
  await gate?.close();
  await Promise.all([nats?.destroy(), pg?.destroy()]);
});

async function connect(t: TestBridge, id: string, roomId: string): Promise<TestClient> {
  const client = await TestClient.connect(t.bridge.url, tokens[id]!);
  clients.push(client);
  await client.request('join', { roomId });
  return client;
}
const room = async () =>
  (
    await createRoom(
      a.bridge,
      tenant,
      tokens.alice!,
      tenant.users.alice!,
      IDS.map((id) => tenant.users[id]!),
      [tenant.users.alice!],
    )
  ).record.roomId;
const droppedOn = (client: TestClient, trackNo: number) =>
  client.events('dataDropped').reduce((sum, e: Extract<ServerEvent, { type: 'dataDropped' }>) => sum + (e.trackNo === trackNo ? e.count : 0), 0);

describe('data tracks across Bridges', () => {
  it('a subscriber on B gets the frames of a track published on A, in order; a member joining later on B finds the stream', async () => {
    const roomId = await room();
    const alice = await connect(a, 'alice', roomId);
    const bob = await connect(b, 'bob', roomId);
    await alice.event('streamRoomJoined', (e) => e.userId === 'bob');
    const published = await alice.request('publish', { roomId, streamId: 's', tracks: data });
    const announced = await bob.event('streamPublished', (e) => e.stream.streamId === 's');
    expect(announced.stream).toMatchObject({ roomId, streamId: 's', userId: 'alice', connectionId: alice.connectionId });
    const trackNo = announced.stream.tracks[0]!.trackNo;
    const subscribed = await bob.request('subscribeStreams', { roomId, add: [{ streamId: 's' }], remove: [] });
    expect(subscribed.tracks).toEqual([{ streamId: 's', trackId: 'chat', trackNo, userId: 'alice' }]);

    const N = 500;
    for (let i = 0; i < N; i++) alice.sendData(published.stream.tracks[0]!.trackNo, numbered(i, 64));
    await bob.until(() => bob.dataFrames(trackNo).length === N, `${N} frames on B`);
    expect(bob.dataFrames(trackNo).map((f) => seqOf(f.payload))).toEqual([...Array(N).keys()]);
    expect(droppedOn(bob, trackNo)).toBe(0);

    // carol joins on B afterwards: the stream is in her join snapshot, and alice is among the participants.
    const carolClient = await TestClient.connect(b.bridge.url, tokens.carol!);
    clients.push(carolClient);
    const snapshot = await carolClient.request('join', { roomId });
    expect(snapshot.streams.map((s) => s.streamId)).toEqual(['s']);
    expect(snapshot.participants.map((p) => p.userId).sort()).toEqual(['alice', 'bob']);

    // alice unpublishes: bob hears it, and the track is gone on B.
    await alice.request('unpublish', { roomId, streamId: 's' });
    await bob.event('streamUnpublished', (e) => e.streamId === 's');
    expect(await bob.failure('subscribeStreams', { roomId, add: [{ streamId: 's' }], remove: [] })).toBe('STREAM_NOT_FOUND');
  });

  it('frames go to NATS only while another Bridge holds members of the room', async () => {
    const roomId = await room();
    const alice = await connect(a, 'alice', roomId);
    const own = (await alice.request('publish', { roomId, streamId: 'alone', tracks: data })).stream.tracks[0]!.trackNo;
    const published = () => a.bridge.cluster!.stats().dataFramesPublished;
    const before = published();
    for (let i = 0; i < 100; i++) alice.sendData(own, numbered(i, 64));
    await alice.request('ping', {});
    expect(published()).toBe(before);
    // bob joins on B: from then on the frames cross, and he gets every one sent after his subscription.
    const bob = await connect(b, 'bob', roomId);
    const trackNo = (await bob.request('listStreams', { roomId })).streams[0]!.tracks[0]!.trackNo;
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'alone' }], remove: [] });
    for (let i = 100; i < 150; i++) alice.sendData(own, numbered(i, 64));
    await bob.until(() => bob.dataFrames(trackNo).length === 50, '50 frames on B');
    expect(bob.dataFrames(trackNo).map((f) => seqOf(f.payload))).toEqual([...Array(50).keys()].map((i) => i + 100));
    expect(published()).toBe(before + 50);
    expect(droppedOn(bob, trackNo)).toBe(0);
    // bob leaves: A stops sending again.
    await bob.request('leave', { roomId });
    await alice.event('streamRoomLeft', (e) => e.userId === 'bob');
    for (let i = 0; i < 20; i++) alice.sendData(own, numbered(i, 64));
    await alice.request('ping', {});
    expect(published()).toBe(before + 50);
  });

  it('the delivery mode crosses Bridges: B shows it and cuts its own stalled subscriber from a reliable track', async () => {
    const roomId = await room();
    const alice = await connect(a, 'alice', roomId);
    const bob = await connect(b, 'bob', roomId);
    await alice.event('streamRoomJoined', (e) => e.userId === 'bob');
    const tracks = [
      { trackId: 'r', kind: 'data' as const, delivery: 'reliable' as const },
      { trackId: 'l', kind: 'data' as const, deadlineMs: 200 },
    ];
    const published = await alice.request('publish', { roomId, streamId: 'modes', tracks });
    const announced = await bob.event('streamPublished', (e) => e.stream.streamId === 'modes');
    expect(announced.stream.tracks.map((t) => [t.trackId, t.delivery, t.deadlineMs])).toEqual([
      ['r', 'reliable', undefined],
      ['l', 'lossy', 200],
    ]);
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'modes', trackId: 'r' }], remove: [] });
    const trackNo = announced.stream.tracks[0]!.trackNo;
    // bob stops reading: more than his kernel buffers and B's reliable bound (1 MiB) goes to him.
    bob.pause();
    for (let i = 0; i < 300; i++) alice.sendData(published.stream.tracks[0]!.trackNo, numbered(i, 60 * 1024));
    await alice.request('ping', {});
    await new Promise((r) => setTimeout(r, 500));
    bob.resume();
    expect(await bob.event('dataTrackCut', undefined, 20_000)).toEqual({
      type: 'dataTrackCut',
      roomId,
      streamId: 'modes',
      trackId: 'r',
      trackNo,
      reason: 'too_slow',
    });
    // Never dropped on B: a prefix in order, and only NATS losses (counted `lost`) could leave a gap.
    const causes = new Set(bob.events('dataDropped').map((e) => e.cause));
    expect([...causes].every((c) => c === 'lost')).toBe(true);
    const seqs = bob.dataFrames(trackNo).map((f) => seqOf(f.payload));
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    if (causes.size === 0) expect(seqs).toEqual([...Array(seqs.length).keys()]);
  });

  it('the first member on a Bridge finds in its join snapshot who is on the others and what they publish (sync)', async () => {
    const roomId = await room();
    const alice = await connect(a, 'alice', roomId);
    await alice.request('publish', { roomId, streamId: 'early', tracks: data });
    // dave is the first member of the room on B: his join waits for A's answer, and lists what is there.
    const dave = await TestClient.connect(b.bridge.url, tokens.dave!);
    clients.push(dave);
    // Before joining, a member may list the streams: B holds nothing of the room and asks A.
    const listed = await dave.request('listStreams', { roomId });
    expect(listed.streams).toMatchObject([
      { roomId, streamId: 'early', userId: 'alice', connectionId: alice.connectionId, tracks: [{ trackId: 'chat', kind: 'data' }] },
    ]);
    const snapshot = await dave.request('join', { roomId });
    expect(snapshot.participants).toEqual([{ userId: 'alice', connectionId: alice.connectionId }]);
    expect(snapshot.streams).toMatchObject([
      { streamId: 'early', userId: 'alice', connectionId: alice.connectionId, tracks: [{ trackId: 'chat', kind: 'data' }] },
    ]);
    // In the snapshot, not repeated as events.
    expect(dave.events('streamPublished')).toEqual([]);
    const trackNo = snapshot.streams[0]!.tracks[0]!.trackNo;
    await dave.request('subscribeStreams', { roomId, add: [{ streamId: 'early' }], remove: [] });
    alice.sendData((await alice.request('listStreams', { roomId })).streams[0]!.tracks[0]!.trackNo, numbered(7));
    await dave.until(() => dave.dataFrames(trackNo).length === 1, 'the frame on B');
    // alice's socket closes: dave hears her streams end and her leave.
    await alice.close();
    await dave.event('streamUnpublished', (e) => e.streamId === 'early');
    expect(await dave.event('streamRoomLeft', (e) => e.userId === 'alice')).toMatchObject({ reason: 'disconnected' });
  });

  it('frames lost between Bridges reach the subscriber as a counted dataDropped, never a silent gap', async () => {
    const roomId = await room();
    const alice = await connect(c, 'alice', roomId);
    const bob = await connect(b, 'bob', roomId);
    await alice.event('streamRoomJoined', (e) => e.userId === 'bob');
    const own = (await alice.request('publish', { roomId, streamId: 'lossy', tracks: data })).stream.tracks[0]!.trackNo;
    const trackNo = (await bob.event('streamPublished', (e) => e.stream.streamId === 'lossy')).stream.tracks[0]!.trackNo;
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'lossy' }], remove: [] });

    let sent = 0;
    const send = () => alice.sendData(own, numbered(sent++, 64));
    for (let i = 0; i < 50; i++) send();
    await bob.until(() => bob.dataFrames(trackNo).length === 50, 'frames before the cut');
    // C's NATS connection is cut; alice goes on sending while C is away and after it is back.
    gate.cut(1000);
    await eventually(() => !c.bridge.cluster!.available, 'C sees NATS gone');
    const ticker = setInterval(send, 2);
    try {
      await eventually(() => c.bridge.cluster!.available, 'C back on NATS', 10_000);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      clearInterval(ticker);
    }
    for (let i = 0; i < 20; i++) send();
    const last = sent - 1;
    await bob.until(() => bob.dataFrames(trackNo).some((f) => seqOf(f.payload) === last), 'the last frame after the cut');
    await bob.until(() => droppedOn(bob, trackNo) > 0, 'a dataDropped report');
    const got = bob.dataFrames(trackNo).map((f) => seqOf(f.payload));
    // In order, every frame either delivered or counted.
    for (let i = 1; i < got.length; i++) expect(got[i]).toBeGreaterThan(got[i - 1]!);
    expect(got.length + droppedOn(bob, trackNo)).toBe(sent);
    const stats = c.bridge.cluster!.stats();
    console.log(
      `cut: ${sent} frames sent, ${got.length} delivered on B, ${droppedOn(bob, trackNo)} reported dropped; C did not send ${stats.dataFramesNotSent} while down`,
    );
    expect(b.bridge.cluster!.stats().remoteLost).toBe(droppedOn(bob, trackNo));
  }, 30_000);

  it('a Bridge silent for 7 s is gone on the others: its members leave, their streams end; back, it is announced again', async () => {
    const roomId = await room();
    const alice = await connect(c, 'alice', roomId);
    const bob = await connect(b, 'bob', roomId);
    await alice.event('streamRoomJoined', (e) => e.userId === 'bob');
    await alice.request('publish', { roomId, streamId: 'from-c', tracks: data });
    await bob.event('streamPublished', (e) => e.stream.streamId === 'from-c');
    const { streamNo } = await alice.request('byteStreamOpen', { roomId, streamId: 'Y2x1c3Rlci1zdHJlYW0tMg==', epoch: 1, destinationIdentities: ['bob'] });
    const local = (await bob.event('byteStreamOpened', (e) => e.roomId === roomId)).streamNo;
    expect(streamNo).toBeGreaterThan(0);
    const mark = bob.log.length;
    gate.cut(10_000);
    const left = await bob.event('streamRoomLeft', (e) => e.userId === 'alice', 12_000);
    expect(left).toMatchObject({ connectionId: alice.connectionId, reason: 'disconnected' });
    const since = bob.log.slice(mark).flatMap((r) => (r.kind === 'event' ? [r.event] : []));
    expect(since).toContainEqual({ type: 'byteStreamAborted', streamNo: local, reason: 'sender_disconnected' });
    expect(since).toContainEqual({ type: 'streamUnpublished', roomId, streamId: 'from-c', userId: 'alice' });
    expect(b.bridge.cluster!.stats().nodesGone).toBeGreaterThanOrEqual(1);
    // C comes back: its sync brings alice and her stream back to bob.
    await eventually(() => c.bridge.cluster!.available, 'C back on NATS', 10_000);
    expect(await bob.event('streamRoomJoined', (e) => e.userId === 'alice', 5000)).toMatchObject({ connectionId: alice.connectionId });
    // Announced once when published, and again now.
    await bob.until(() => bob.events('streamPublished').filter((e) => e.stream.streamId === 'from-c').length === 2, 'the stream announced again');
  }, 40_000);
});
