/**
 * Priorities on a connection and the delivery modes of data tracks (docs/operations/realtime-priorities.md,
 * docs/protocol/data-tracks.md): a data frame overtakes the byte-stream chunks the Bridge holds for a
 * socket; a lossy frame older than its deadline is dropped and counted; a reliable track never drops
 * and cuts the subscriber that cannot keep up; a saturating sender does not stop REST.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { LAG_PROBE_INTERVAL_MS } from './receiver-lag.ts';
import { createRoom, eventually, numbered, seqOf, stats, TestClient } from './test-client.ts';

const CHUNK_BYTES = 64 * 1024;
const STREAM_BYTES = 32 * 1024 * 1024;
/** The window lets the sender put half the stream in flight before bob reads anything. */
const WINDOW_BYTES = STREAM_BYTES / 2;
const STREAM_ID = 'c2VhbHJvb20tc3RyZWFtMQ=='; // 16 bytes of base64
const USERS = ['alice', 'bob', 'carol'];

let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];

beforeAll(async () => {
  t = await startBridge({
    realtime: {
      streamWindowBytes: WINDOW_BYTES,
      stuckReceiverTimeoutMs: 120_000,
      maxMessageBytes: 160 * 1024,
      dataHighWaterBytes: 16 * 1024,
      dataQueueBytes: 16 * 1024 * 1024,
      dataDroppedReportIntervalMs: 20,
      outboundBudgetBytes: 64 * 1024 * 1024,
      readPauseBytes: 32 * 1024 * 1024,
    } as never,
  });
  tenant = await setupTenant(t.bridge, USERS);
  for (const id of USERS) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await t.close();
});

async function connect(id: string): Promise<TestClient> {
  const c = await TestClient.connect(t.bridge.url, tokens[id]!);
  clients.push(c);
  return c;
}

/** A room of all three users with alice, bob and carol joined. */
async function room(): Promise<{ roomId: string; alice: TestClient; bob: TestClient; carol: TestClient }> {
  const all = USERS.map((id) => tenant.users[id]!);
  const built = await createRoom(t.bridge, tenant, tokens.alice!, all[0]!, all, [all[0]!]);
  const roomId = built.record.roomId;
  const [alice, bob, carol] = [await connect('alice'), await connect('bob'), await connect('carol')];
  for (const c of [alice, bob, carol]) await c.request('join', { roomId });
  return { roomId, alice, bob, carol };
}

/** `publisher` publishes one data track with these options; `subscriber` subscribes. Returns its trackNo. */
async function dataTrack(
  roomId: string,
  publisher: TestClient,
  subscriber: TestClient,
  streamId: string,
  options: { delivery?: 'lossy' | 'reliable'; deadlineMs?: number } = {},
) {
  const { stream } = await publisher.request('publish', { roomId, streamId, tracks: [{ trackId: 'd', kind: 'data', ...options }] });
  await subscriber.request('subscribeStreams', { roomId, add: [{ streamId }], remove: [] });
  return stream.tracks[0]!.trackNo;
}

/** Index in `c.log` of the first received frame matching `match`. */
const indexOf = (c: TestClient, match: (r: TestClient['log'][number]) => boolean) => c.log.findIndex(match);

/** A sample of /metrics: `sealroom_drops_total` by cause, or the whole series name. */
async function metric(cause: string, series = `sealroom_drops_total{cause="${cause}"}`): Promise<number> {
  const response = await fetch(`${t.bridge.url}/metrics`, { headers: { authorization: `Bearer ${t.bridge.initialApiKey}` } });
  const text = await response.text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('priorities on a connection', () => {
  it('a data frame sent while a 32 MiB byte stream fills the receiver socket arrives before the chunks held for it', { timeout: 60_000 }, async () => {
    const { roomId, alice, bob, carol } = await room();
    const trackNo = await dataTrack(roomId, carol, bob, 'carol-data');
    const { streamNo } = await alice.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: ['bob'] });
    await bob.event('byteStreamOpened', (e) => e.streamNo === streamNo);
    bob.pause();
    // Half the stream (its window) goes out while bob reads nothing: the Bridge holds what the kernel does not take.
    const before = WINDOW_BYTES / CHUNK_BYTES;
    for (let i = 0; i < before; i++) alice.sendChunk(streamNo, false, numbered(i, CHUNK_BYTES));
    await eventually(() => stats(t.bridge).byteStreams.find((b) => b.streamNo === streamNo)?.sent === WINDOW_BYTES, 'the first half relayed');
    const held = t.bridge.realtime.connections.get(bob.connectionId)!.bufferedAmount;
    carol.sendData(trackNo, numbered(7, 100));
    await eventually(() => stats(t.bridge).connections.find((c) => c.connectionId === bob.connectionId)!.deliveredData === 1, 'the data frame handed on');
    bob.resume();
    bob.creditAsRead(streamNo);
    const allowed = () =>
      Math.max(
        WINDOW_BYTES,
        ...alice
          .events('byteStreamAllowance')
          .filter((e) => e.streamNo === streamNo)
          .map((e) => e.allowed),
      );
    for (let i = before; i < STREAM_BYTES / CHUNK_BYTES; i++) {
      await alice.until(() => allowed() >= (i + 1) * CHUNK_BYTES, 'allowance', 30_000);
      alice.sendChunk(streamNo, i === STREAM_BYTES / CHUNK_BYTES - 1, numbered(i, CHUNK_BYTES));
    }
    await bob.until(() => bob.chunkFrames(streamNo).length === STREAM_BYTES / CHUNK_BYTES, 'the whole stream', 30_000);
    const dataAt = indexOf(bob, (r) => r.kind === 'frame' && r.frame.type === 'data');
    const chunksBefore = bob.log.slice(0, dataAt).filter((r) => r.kind === 'frame' && r.frame.type === 'chunk').length;
    // What the Bridge still held for bob when the data frame came (beyond the kernel's buffers) was overtaken.
    expect(held).toBeGreaterThan(4 * CHUNK_BYTES);
    // Ahead of it: what the kernel held, plus the bulk share in the socket (a chunk or two) and a chunk of slack.
    expect(chunksBefore).toBeLessThanOrEqual(before - Math.floor(held / CHUNK_BYTES) + 3);
    // The stream itself is whole and in order.
    expect(bob.chunkFrames(streamNo).map((f) => seqOf(f.payload))).toEqual(Array.from({ length: STREAM_BYTES / CHUNK_BYTES }, (_, i) => i));
  });
});

describe('data-track delivery modes', () => {
  it('lossy: a frame older than its deadline is dropped at the Bridge and counted for the subscriber and in /metrics', { timeout: 30_000 }, async () => {
    const { roomId, bob, carol } = await room();
    const trackNo = await dataTrack(roomId, carol, bob, 'lossy', { delivery: 'lossy', deadlineMs: 50 });
    const metricBefore = await metric('data_deadline');
    bob.pause();
    // Enough to fill the kernel's buffers and the socket's, so the rest waits in bob's data queue; and
    // no more than that queue holds (16 MiB), so none is pushed out as 'slow' before its deadline passes
    // (400 frames did that when the kernel took under 8 MB).
    const sent = 260;
    for (let i = 0; i < sent; i++) carol.sendData(trackNo, numbered(i, 60 * 1024));
    await carol.request('ping', {});
    await eventually(() => (stats(t.bridge).connections.find((c) => c.connectionId === bob.connectionId)?.queuedDataFrames ?? 0) > 0, 'frames queued for bob');
    await new Promise((r) => setTimeout(r, 120)); // past the deadline
    bob.resume();
    const dropped = () => bob.events('dataDropped').reduce((n, e) => n + e.count, 0);
    await bob.until(() => bob.dataFrames(trackNo).length + dropped() === sent, 'every frame delivered or counted', 20_000);
    const causes = new Set(bob.events('dataDropped').map((e) => e.cause));
    expect(causes).toEqual(new Set(['deadline']));
    expect(dropped()).toBeGreaterThan(0);
    // The ones delivered are in order; a fresh frame after the backlog goes through.
    const seqs = bob.dataFrames(trackNo).map((f) => seqOf(f.payload));
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    carol.sendData(trackNo, numbered(sent, 100));
    await bob.until(() => bob.dataFrames(trackNo).some((f) => seqOf(f.payload) === sent), 'a fresh frame');
    expect((await metric('data_deadline')) - metricBefore).toBe(dropped());
  });

  it("lossy: what the kernel would hold for a reader that is behind is dropped at the Bridge, by the reader's lag, and counted", {
    timeout: 30_000,
  }, async () => {
    const { roomId, bob, carol } = await room();
    const trackNo = await dataTrack(roomId, carol, bob, 'behind', { delivery: 'lossy', deadlineMs: 100 });
    // Frames while bob reads: the Bridge's first probe is answered, so it knows bob's round trip.
    for (let i = 0; i < 5; i++) carol.sendData(trackNo, numbered(i, 200));
    await bob.until(() => bob.dataFrames(trackNo).length === 5, 'frames while reading');
    await new Promise((r) => setTimeout(r, LAG_PROBE_INTERVAL_MS));
    bob.pause();
    // Small frames for a second, 5 ms apart: 40 KB, all of which the kernel would take. Its buffers hold
    // them for bob, so the Bridge's own queue never sees them age; the probe it sends with them, which
    // bob does not answer while it does not read, does.
    const sent = 200;
    for (let i = 5; i < sent; i++) {
      carol.sendData(trackNo, numbered(i, 200));
      await new Promise((r) => setTimeout(r, 5));
    }
    await carol.request('ping', {});
    bob.resume();
    const dropped = () => bob.events('dataDropped').reduce((n, e) => n + e.count, 0);
    await bob.until(() => bob.dataFrames(trackNo).length + dropped() === sent, 'every frame delivered or counted', 20_000);
    expect(new Set(bob.events('dataDropped').map((e) => e.cause))).toEqual(new Set(['deadline']));
    // Once bob was 100 ms behind, the rest of the second was dropped at the Bridge, not sent to wait.
    expect(dropped()).toBeGreaterThan(100);
    const seqs = bob.dataFrames(trackNo).map((f) => seqOf(f.payload));
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    // Caught up, bob answers the probe: a fresh frame goes through.
    carol.sendData(trackNo, numbered(sent, 200));
    await bob.until(() => bob.dataFrames(trackNo).some((f) => seqOf(f.payload) === sent), 'a fresh frame');
  });

  it('reliable: never drops; a subscriber that stalls past its queue is cut from the track with too_slow', { timeout: 30_000 }, async () => {
    const { roomId, bob, carol } = await room();
    const trackNo = await dataTrack(roomId, carol, bob, 'reliable', { delivery: 'reliable' });
    const cutBefore = await metric('data_reliable_cut');
    bob.pause();
    // The queue holds 16 MiB: 500 x 60 KiB is past it, whatever the kernel took.
    const sent = 500;
    for (let i = 0; i < sent; i++) carol.sendData(trackNo, numbered(i, 60 * 1024));
    await carol.request('ping', {});
    for (let tries = 0; (await metric('data_reliable_cut')) === cutBefore; tries++) {
      if (tries > 200) throw new Error('bob was not cut from the reliable track');
      await new Promise((r) => setTimeout(r, 50));
    }
    bob.resume();
    const cut = await bob.event('dataTrackCut', undefined, 20_000);
    expect(cut).toEqual({ type: 'dataTrackCut', roomId, streamId: 'reliable', trackId: 'd', trackNo, reason: 'too_slow' });
    await bob.request('ping', {});
    // Nothing dropped: what bob got before the cut is a gapless prefix, and nothing comes after it.
    expect(bob.events('dataDropped')).toEqual([]);
    const seqs = bob.dataFrames(trackNo).map((f) => seqOf(f.payload));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
    expect(seqs.length).toBeLessThan(sent);
    carol.sendData(trackNo, numbered(9999, 100));
    await carol.request('ping', {});
    await bob.request('ping', {});
    expect(bob.dataFrames(trackNo).length).toBe(seqs.length);
    expect((await metric('data_reliable_cut')) - cutBefore).toBe(1);
    // Its subscriptions say so: bob may subscribe again.
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'reliable' }], remove: [] });
    carol.sendData(trackNo, numbered(10_000, 100));
    await bob.until(() => bob.dataFrames(trackNo).some((f) => seqOf(f.payload) === 10_000), 'data after subscribing again');
  });

  it('refuses a delivery mode on a media track and a deadline on a reliable one, with VALIDATION_FAILED', async () => {
    const { roomId, carol } = await room();
    expect(await carol.failure('publish', { roomId, streamId: 'm', tracks: [{ trackId: 'a', kind: 'audio', delivery: 'lossy' }] })).toBe('VALIDATION_FAILED');
    expect(await carol.failure('publish', { roomId, streamId: 'r', tracks: [{ trackId: 'd', kind: 'data', delivery: 'reliable', deadlineMs: 100 }] })).toBe(
      'VALIDATION_FAILED',
    );
    expect(await carol.failure('publish', { roomId, streamId: 'l', tracks: [{ trackId: 'd', kind: 'data', deadlineMs: 5 }] })).toBe('VALIDATION_FAILED');
  });
});

describe('a saturating sender', () => {
  it('/healthz and a room read still answer while a member floods data and a byte stream', { timeout: 60_000 }, async () => {
    const { roomId, alice, bob, carol } = await room();
    const trackNo = await dataTrack(roomId, carol, bob, 'flood');
    const { streamNo } = await alice.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: ['bob'] });
    bob.creditAsRead(streamNo);
    let running = true;
    const flood = (async () => {
      let i = 0;
      while (running) {
        for (let k = 0; k < 200; k++) carol.sendData(trackNo, numbered(i++, 4096));
        for (let k = 0; k < 4 && i * 64 < WINDOW_BYTES; k++) alice.sendChunk(streamNo, false, numbered(i, CHUNK_BYTES));
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      for (let k = 0; k < 10; k++) {
        const health = await rest(t.bridge.url).get('/healthz');
        expect(health.status).toBe(200);
        const read = await rest(t.bridge.url, tokens.bob!).get(`/v1/rooms/${roomId}`);
        expect(read.status).toBe(200);
      }
    } finally {
      running = false;
      await flood;
    }
    // The flood was real: frames were relayed and bob got data and chunks while REST answered.
    expect(await metric('', 'sealroom_relayed_frames_total{kind="data"}')).toBeGreaterThan(1000);
    expect(bob.dataFrames(trackNo).length).toBeGreaterThan(0);
    expect(bob.chunkFrames(streamNo).length).toBeGreaterThan(0);
  });
});
