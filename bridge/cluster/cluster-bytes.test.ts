/**
 * Byte streams across Bridges over a real nats-server (test/nats.ts) on one real PostgreSQL
 * (test/postgres.ts), with end-to-end credits: a stream from A to a reader on B arrives
 * byte-identical at a slow reader's pace; a reader on B that does not credit holds the sender on A at one window; a removal
 * through A ends the stream for the reader on B; chunks lost between Bridges are counted and the
 * reader gets the chunk after the gap (its STREAM AEAD fails there: docs/operations/cluster.md).
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { startNats, startNatsGate, type NatsGate, type TestNats } from '../../test/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import { successor, verifiedHead } from '../../test/rooms.ts';
import { createRoom, eventually, stats, TestClient } from '../realtime/test-client.ts';

const WINDOW = 1024 * 1024;
const CHUNK = 64 * 1024;
const STREAM_ID = 'Y2x1c3Rlci1zdHJlYW0tMQ==';

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
const IDS = ['alice', 'bob', 'carol'] as const;

beforeAll(async () => {
  [pg, nats] = await Promise.all([startPostgres(), startNats()]);
  gate = await startNatsGate(nats);
  const store = await pg.createDatabase();
  const options = { store, nats: nats.url, realtime: { streamWindowBytes: WINDOW } as never, limits: { writesPerUserPerMinute: 1000 } as never };
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

const u = (id: string) => tenant.users[id]!;
async function joined(t: TestBridge, id: string, roomId: string): Promise<TestClient> {
  const client = await TestClient.connect(t.bridge.url, tokens[id]!);
  clients.push(client);
  await client.request('join', { roomId });
  return client;
}
const newRoom = () => createRoom(a.bridge, tenant, tokens.alice!, u('alice'), IDS.map(u), [u('alice')]);
/** The highest allowance the sender was told for the stream (the open result implies one window). */
const allowance = (sender: TestClient, streamNo: number) =>
  Math.max(
    WINDOW,
    ...sender
      .events('byteStreamAllowance')
      .filter((e) => e.streamNo === streamNo)
      .map((e) => e.allowed),
  );
const received = (reader: TestClient, streamNo: number) => reader.chunkFrames(streamNo).reduce((n, f) => n + f.payload.length, 0);

/** Sends `data` in CHUNK-sized chunks, never past the allowance. */
async function send(sender: TestClient, streamNo: number, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length; at += CHUNK) {
    const end = Math.min(at + CHUNK, data.length);
    if (end > allowance(sender, streamNo)) await sender.until(() => end <= allowance(sender, streamNo), `allowance past ${end}`, 20_000);
    sender.sendChunk(streamNo, end === data.length, data.subarray(at, end));
  }
}

describe('byte streams across Bridges', () => {
  it("50 MiB from A reach a slow reader on B byte-identical (sha256); the reader's credits, crossing back, pace the sender", async () => {
    const roomId = (await newRoom()).record.roomId;
    const alice = await joined(a, 'alice', roomId);
    const bob = await joined(b, 'bob', roomId);
    await alice.event('streamRoomJoined', (e) => e.userId === 'bob');
    const opened = await alice.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: ['bob'] });
    expect(opened).toMatchObject({ receivers: 1, receiverIds: ['bob'], window: WINDOW });
    const announced = await bob.event('byteStreamOpened', (e) => e.roomId === roomId);
    expect(announced).toMatchObject({ streamId: STREAM_ID, senderId: 'alice', senderConnectionId: alice.connectionId, window: WINDOW });

    // The reader takes at most 256 KiB every 10 ms (at most 25 MiB/s): the sender on A may never be
    // allowed more than one window past what it has read.
    const data = randomBytes(50 * 1024 * 1024);
    let credited = 0;
    let mostAhead = 0;
    const reader = (async () => {
      while (credited < data.length) {
        await new Promise((r) => setTimeout(r, 10));
        const next = Math.min(received(bob, announced.streamNo), credited + 256 * 1024);
        if (next > credited) bob.credit(announced.streamNo, (credited = next));
        mostAhead = Math.max(mostAhead, allowance(alice, opened.streamNo) - credited);
      }
    })();
    const started = performance.now();
    await send(alice, opened.streamNo, data);
    await reader;
    const ms = performance.now() - started;
    expect(mostAhead).toBeLessThanOrEqual(WINDOW);
    expect(allowance(alice, opened.streamNo)).toBeGreaterThanOrEqual(data.length);
    const hash = createHash('sha256');
    for (const f of bob.chunkFrames(announced.streamNo)) hash.update(f.payload);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(bob.chunkFrames(announced.streamNo).at(-1)!.last).toBe(true);
    expect(b.bridge.cluster!.stats().remoteChunkGaps).toBe(0);
    console.log(
      `50 MiB A -> slow reader on B over NATS: ${ms.toFixed(0)} ms (${(data.length / 1024 / 1024 / (ms / 1000)).toFixed(1)} MiB/s), window ${WINDOW / 1024} KiB`,
    );
  }, 180_000);

  it('a reader on B that does not credit holds the sender on A at one window; its credits release it', async () => {
    const roomId = (await newRoom()).record.roomId;
    const alice = await joined(a, 'alice', roomId);
    const bob = await joined(b, 'bob', roomId);
    await alice.event('streamRoomJoined', (e) => e.userId === 'bob');
    const { streamNo } = await alice.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] });
    const local = (await bob.event('byteStreamOpened', (e) => e.roomId === roomId)).streamNo;
    for (let at = 0; at < WINDOW; at += CHUNK) alice.sendChunk(streamNo, false, randomBytes(CHUNK));
    await bob.until(() => received(bob, local) === WINDOW, 'one window on B');
    await new Promise((r) => setTimeout(r, 300));
    expect(allowance(alice, streamNo)).toBe(WINDOW);
    expect(stats(a.bridge).byteStreams.find((s) => s.streamNo === streamNo)).toMatchObject({ sent: WINDOW, allowed: WINDOW, minConsumed: 0, receivers: 1 });
    // One chunk past the allowance would abort the stream ('limit'): the sender waits. bob reads half.
    bob.credit(local, WINDOW / 2);
    await alice.until(() => allowance(alice, streamNo) === WINDOW + WINDOW / 2, 'the allowance moved by what B read');
    expect(stats(a.bridge).byteStreams.find((s) => s.streamNo === streamNo)).toMatchObject({ minConsumed: WINDOW / 2 });
  });

  it('a removal through A ends the stream for the reader on B and tells the sender', async () => {
    const built = await newRoom();
    const roomId = built.record.roomId;
    const alice = await joined(a, 'alice', roomId);
    const bob = await joined(b, 'bob', roomId);
    await alice.event('streamRoomJoined', (e) => e.userId === 'bob');
    const { streamNo } = await alice.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: ['bob'] });
    const local = (await bob.event('byteStreamOpened', (e) => e.roomId === roomId)).streamNo;
    alice.sendChunk(streamNo, false, randomBytes(CHUNK));
    await bob.until(() => received(bob, local) === CHUNK, 'the first chunk on B');
    const head = await verifiedHead(a.bridge.url, tokens.alice!, roomId);
    const next = await successor(head, built.epochKey, u('alice'), { users: [u('alice'), u('carol')], managers: [u('alice')] });
    expect((await rest(a.bridge.url, tokens.alice).put(`/v1/rooms/${roomId}`, { ...next.request, version: 1 })).status).toBe(200);
    expect(await bob.event('byteStreamAborted', (e) => e.streamNo === local)).toMatchObject({ reason: 'removed' });
    expect(await alice.event('byteStreamReceiverDropped', (e) => e.streamNo === streamNo)).toMatchObject({ userId: 'bob', reason: 'removed' });
    expect(stats(a.bridge).byteStreams.find((s) => s.streamNo === streamNo)).toMatchObject({ receivers: 0 });
  });

  it('chunks lost between Bridges are counted, and the reader gets the chunk after the gap (no silent end)', async () => {
    const roomId = (await newRoom()).record.roomId;
    const alice = await joined(a, 'alice', roomId);
    const carol = await joined(c, 'carol', roomId);
    await alice.event('streamRoomJoined', (e) => e.userId === 'carol');
    const { streamNo } = await alice.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: ['carol'] });
    const local = (await carol.event('byteStreamOpened', (e) => e.roomId === roomId)).streamNo;
    carol.creditAsRead(local);
    const small = 1024;
    let sent = 0;
    const chunk = () => {
      alice.sendChunk(streamNo, false, randomBytes(small));
      sent++;
    };
    for (let i = 0; i < 10; i++) chunk();
    await carol.until(() => carol.chunkFrames(local).length === 10, 'chunks before the cut');
    gate.cut(1000);
    await eventually(() => !c.bridge.cluster!.available, 'C sees NATS gone');
    // A keeps forwarding to carol's Bridge while it is away: those chunks are lost for C.
    for (let i = 0; i < 20; i++) chunk();
    await eventually(() => c.bridge.cluster!.available, 'C back on NATS', 10_000);
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 5; i++) chunk();
    await carol.until(() => c.bridge.cluster!.stats().remoteChunkGaps > 0, 'a counted gap');
    const got = carol.chunkFrames(local).length;
    expect(got).toBeLessThan(sent);
    expect(got).toBeGreaterThan(10);
    console.log(`lost chunks: ${sent} sent, ${got} reached the reader on C, ${c.bridge.cluster!.stats().remoteChunkGaps} gap(s) counted`);
  }, 30_000);
});
