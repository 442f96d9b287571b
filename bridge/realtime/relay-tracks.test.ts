import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE } from '../../protocol/ws.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { createRoom, eventually, numbered, seqOf, stats, TestClient } from './test-client.ts';

let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];
const DATA_QUEUE_BYTES = 256 * 1024;

beforeAll(async () => {
  // A small data queue, so that a paused subscriber overflows it quickly.
  // Ten connections each of bob and carol share one room here, past the default per-user cap of 8.
  t = await startBridge({ realtime: { dataQueueBytes: DATA_QUEUE_BYTES, dataHighWaterBytes: 16 * 1024, maxConnectionsPerUserInRoom: 16 } as never });
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol']);
  for (const id of ['alice', 'bob', 'carol']) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t.close();
});

const u = (id: string) => tenant.users[id]!;
async function connect(id: string): Promise<TestClient> {
  const c = await TestClient.connect(t.bridge.url, tokens[id]!);
  clients.push(c);
  return c;
}
async function joinedRoom<const N extends readonly string[]>(...ids: N): Promise<{ roomId: string; cs: { [K in keyof N]: TestClient } }> {
  const built = await createRoom(t.bridge, tenant, tokens.alice!, u('alice'), [u('alice'), u('bob'), u('carol')], [u('alice')]);
  const roomId = built.record.roomId;
  const cs = await Promise.all(ids.map(connect));
  for (const c of cs) await c.request('join', { roomId });
  return { roomId, cs: cs as { [K in keyof N]: TestClient } };
}
const ping = (c: TestClient) => c.request('ping', {});

describe('relay: streams and tracks', () => {
  it('publishes, subscribes, updates and unpublishes with the right events and trackNos', async () => {
    const {
      roomId,
      cs: [alice, bob],
    } = await joinedRoom('alice', 'bob');
    const draft = [
      { trackId: 'd1', kind: 'data' as const },
      { trackId: 'd2', kind: 'data' as const },
    ];
    const { stream } = await alice.request('publish', { roomId, streamId: 'cam', tracks: draft });
    const [d1, d2] = stream.tracks.map((x) => x.trackNo);
    expect(d1).not.toBe(d2);
    expect((await bob.event('streamPublished')).stream).toEqual(stream);
    expect(alice.events('streamPublished')).toEqual([]);
    expect(await alice.failure('publish', { roomId, streamId: 'cam', tracks: draft })).toBe('STREAM_EXISTS');
    expect(await alice.failure('publish', { roomId, streamId: 'x', tracks: [draft[0]!, draft[0]!] })).toBe('VALIDATION_FAILED');

    expect(await alice.failure('subscribeStreams', { roomId, add: [{ streamId: 'cam' }], remove: [] })).toBe('FORBIDDEN');
    expect(await bob.failure('subscribeStreams', { roomId, add: [{ streamId: 'nope' }], remove: [] })).toBe('STREAM_NOT_FOUND');
    expect(await bob.failure('subscribeStreams', { roomId, add: [{ streamId: 'cam', trackId: 'zz' }], remove: [] })).toBe('TRACK_NOT_FOUND');
    const sub = await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'cam' }], remove: [] });
    expect(sub.tracks).toEqual([
      { streamId: 'cam', trackId: 'd1', trackNo: d1, userId: 'alice' },
      { streamId: 'cam', trackId: 'd2', trackNo: d2, userId: 'alice' },
    ]);
    expect(bob.events('streamSubscribed')).toEqual([{ type: 'streamSubscribed', roomId, streamId: 'cam', trackIds: ['d1', 'd2'] }]);

    // d2 is kept (same trackNo), d1 goes, d3 comes; bob's whole-stream subscription covers d3.
    const updated = await alice.request('updateStream', { roomId, streamId: 'cam', tracks: [draft[1]!, { trackId: 'd3', kind: 'data' }] });
    const d3 = updated.stream.tracks[1]!.trackNo;
    expect(updated.stream.tracks.map((x) => [x.trackId, x.trackNo])).toEqual([
      ['d2', d2],
      ['d3', d3],
    ]);
    const upd = await bob.event('streamUpdated');
    expect(upd.tracksAdded).toEqual([{ trackId: 'd3', kind: 'data', trackNo: d3 }]);
    expect(upd.tracksRemoved).toEqual([{ trackId: 'd1', kind: 'data', trackNo: d1 }]);
    await bob.event('streamSubscribed', (e) => e.trackIds.includes('d3'));
    expect(await bob.failure('updateStream', { roomId, streamId: 'cam', tracks: draft })).toBe('FORBIDDEN');

    // A frame on the retired d1 is dropped quietly (it may have been on the wire); d2 and d3 flow.
    alice.sendData(d1!, numbered(1));
    alice.sendData(d2!, numbered(2));
    alice.sendData(d3, numbered(3));
    await bob.until(() => bob.dataFrames().length === 2, 'two data frames');
    expect(bob.dataFrames().map((f) => [f.trackNo, seqOf(f.payload)])).toEqual([
      [d2, 2],
      [d3, 3],
    ]);

    const unsub = await bob.request('subscribeStreams', { roomId, add: [], remove: [{ streamId: 'cam', trackId: 'd2' }] });
    expect(unsub.tracks.map((x) => x.trackId)).toEqual(['d3']);
    expect(bob.events('streamUnsubscribed')).toEqual([{ type: 'streamUnsubscribed', roomId, streamId: 'cam', trackIds: ['d2'] }]);
    alice.sendData(d2!, numbered(4));
    alice.sendData(d3, numbered(5));
    await bob.until(() => bob.dataFrames().length === 3, 'the d3 frame');
    expect(bob.dataFrames().map((f) => seqOf(f.payload))).toEqual([2, 3, 5]);

    await alice.request('unpublish', { roomId, streamId: 'cam' });
    expect(await bob.event('streamUnpublished')).toEqual({ type: 'streamUnpublished', roomId, streamId: 'cam', userId: 'alice' });
    expect(await bob.request('listStreams', { roomId })).toEqual({ streams: [] });
    expect(await alice.failure('unpublish', { roomId, streamId: 'cam' })).toBe('STREAM_NOT_FOUND');
    alice.sendData(d3, numbered(6));
    await ping(alice); // still connected: a retired trackNo is not a protocol error
  });

  it('answers an updateStream that changes nothing without announcing it to the room', async () => {
    const {
      roomId,
      cs: [alice, bob],
    } = await joinedRoom('alice', 'bob');
    const tracks = [{ trackId: 'd1', kind: 'data' as const }];
    await alice.request('publish', { roomId, streamId: 'same', tracks });
    await bob.event('streamPublished');
    for (let i = 0; i < 20; i++) {
      const { stream } = await alice.request('updateStream', { roomId, streamId: 'same', tracks });
      expect(stream.tracks.map((x) => x.trackId)).toEqual(['d1']);
    }
    // A real change after them is announced, once: the twenty before it sent the room nothing.
    await alice.request('updateStream', { roomId, streamId: 'same', tracks: [...tracks, { trackId: 'd2', kind: 'data' }] });
    await bob.event('streamUpdated');
    await ping(bob);
    expect(bob.events('streamUpdated')).toHaveLength(1);
    expect(bob.events('streamUpdated')[0]!.tracksAdded.map((x) => x.trackId)).toEqual(['d2']);
  });

  it('bounds published streams per connection', async () => {
    const {
      roomId,
      cs: [alice],
    } = await joinedRoom('alice');
    const max = t.bridge.config.realtime.maxPublishedStreamsPerConnection;
    for (let i = 0; i < max; i++) await alice.request('publish', { roomId, streamId: `s${i}`, tracks: [{ trackId: 't', kind: 'data' }] });
    expect(await alice.failure('publish', { roomId, streamId: 'one-more', tracks: [{ trackId: 't', kind: 'data' }] })).toBe('TOO_MANY_STREAMS');
    await alice.request('unpublish', { roomId, streamId: 's0' });
    await alice.request('publish', { roomId, streamId: 'one-more', tracks: [{ trackId: 't', kind: 'data' }] });
  });
});

describe('relay: data tracks', () => {
  it('fans out to 20 subscribers in order, with the publisher known from the Bridge, and no echo', async () => {
    const {
      roomId,
      cs: [alice],
    } = await joinedRoom('alice');
    const subscribers = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(i % 2 === 0 ? 'bob' : 'carol')));
    for (const s of subscribers) await s.request('join', { roomId });
    const { stream } = await alice.request('publish', { roomId, streamId: 'telemetry', tracks: [{ trackId: 'data', kind: 'data' }] });
    const trackNo = stream.tracks[0]!.trackNo;
    for (const s of subscribers) {
      const { tracks } = await s.request('subscribeStreams', { roomId, add: [{ streamId: 'telemetry' }], remove: [] });
      expect(tracks).toEqual([{ streamId: 'telemetry', trackId: 'data', trackNo, userId: 'alice' }]);
    }
    const count = 200;
    for (let i = 0; i < count; i++) alice.sendData(trackNo, numbered(i, 64));
    for (const s of subscribers) {
      await s.until(() => s.dataFrames(trackNo).length === count, `${count} frames`);
      expect(s.dataFrames(trackNo).map((f) => seqOf(f.payload))).toEqual(Array.from({ length: count }, (_, i) => i));
      expect(s.events('dataDropped')).toEqual([]);
    }
    await ping(alice);
    expect(alice.dataFrames()).toEqual([]);
  });

  it('closes the socket of a client that sends on a trackNo it did not publish, and forwards nothing', async () => {
    const {
      roomId,
      cs: [alice, bob, carol],
    } = await joinedRoom('alice', 'bob', 'carol');
    const { stream } = await alice.request('publish', { roomId, streamId: 'a', tracks: [{ trackId: 'd', kind: 'data' }] });
    await bob.request('publish', { roomId, streamId: 'b', tracks: [{ trackId: 'd', kind: 'data' }] });
    const trackNo = stream.tracks[0]!.trackNo;
    await carol.request('subscribeStreams', { roomId, add: [{ streamId: 'a' }], remove: [] });
    bob.sendData(trackNo, numbered(666));
    expect((await bob.closed).code).toBe(CLOSE.protocolError);
    alice.sendData(trackNo, numbered(1));
    await carol.until(() => carol.dataFrames().length === 1, 'alice frame');
    expect(carol.dataFrames().map((f) => seqOf(f.payload))).toEqual([1]);
    // bob is gone from the room: his stream went with him.
    await carol.event('streamUnpublished', (e) => e.streamId === 'b');

    // A connection that never joined anything has no trackNo at all.
    const stranger = await connect('carol');
    stranger.sendData(trackNo, numbered(2));
    expect((await stranger.closed).code).toBe(CLOSE.protocolError);
  });

  it('drops the oldest messages for a slow subscriber, counts them, and keeps its queue bounded', async () => {
    const {
      roomId,
      cs: [alice, slow, fast],
    } = await joinedRoom('alice', 'bob', 'carol');
    const { stream } = await alice.request('publish', { roomId, streamId: 'flood', tracks: [{ trackId: 'd', kind: 'data' }] });
    const trackNo = stream.tracks[0]!.trackNo;
    for (const s of [slow, fast]) await s.request('subscribeStreams', { roomId, add: [{ streamId: 'flood' }], remove: [] });
    slow.pause();
    // 32 MiB: far more than the queue plus what the kernel's socket buffers can hold for the paused reader.
    const total = 4096;
    const size = 8 * 1024;
    const batch = 16; // paced by the fast subscriber, so only the slow one falls behind
    for (let i = 0; i < total; i += batch) {
      for (let j = i; j < i + batch; j++) alice.sendData(trackNo, numbered(j, size));
      await fast.until(() => fast.dataFrames(trackNo).length >= i + batch, `fast subscriber at ${i + batch}`);
    }
    const slowStats = () => stats(t.bridge).connections.find((c) => c.connectionId === slow.connectionId)!;
    await eventually(() => slowStats().deliveredData + slowStats().droppedData + slowStats().queuedDataFrames === total, 'every frame handled');
    const during = slowStats();
    expect(during.droppedData).toBeGreaterThan(0);
    expect(during.peakQueuedDataBytes).toBeLessThanOrEqual(DATA_QUEUE_BYTES);
    expect(during.queuedDataBytes).toBeLessThanOrEqual(DATA_QUEUE_BYTES);

    slow.resume();
    const reported = () => slow.events('dataDropped').reduce((n, e) => n + e.count, 0);
    await slow.until(() => slow.dataFrames(trackNo).length + reported() === total, 'every frame delivered or reported dropped', 15_000);
    const seqs = slow.dataFrames(trackNo).map((f) => seqOf(f.payload));
    expect(seqs.at(-1)).toBe(total - 1); // the newest arrived: it is the oldest that go
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true); // never reordered
    expect(slow.events('dataDropped').every((e) => e.trackNo === trackNo)).toBe(true);
    expect(reported()).toBe(slowStats().droppedData);
    expect(fast.dataFrames(trackNo)).toHaveLength(total);
    expect(fast.events('dataDropped')).toEqual([]);
  });
});
