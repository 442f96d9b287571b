/**
 * Delivery receipts across two Bridges on one real PostgreSQL and one real nats-server
 * (docs/operations/cluster.md, docs/protocol/receipts.md): a reader on B receipts a stream sent
 * through A, and the refusals a reader on one Bridge would get (`NOT_A_RECEIVER`, `RECEIPT_EXISTS`)
 * are answered on B too, instead of being dropped on A.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { startNats, type TestNats } from '../../test/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import type { SealroomRelay } from '../realtime/relay.ts';
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
  a = await startBridge({ store, nats: nats.url });
  b = await startBridge({ store, nats: nats.url, apiKey: a.bridge.initialApiKey! });
  tenant = await setupTenant(a.bridge, USERS);
  for (const id of USERS) tokens[id] = await login(a.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await b?.close();
  await a?.close();
  await Promise.all([nats?.destroy(), pg?.destroy()]);
});

const b64 = (n: number) => randomBytes(n).toString('base64');
const refusals = (t: TestBridge) => (t.bridge.realtime.relay as SealroomRelay).counters.receipts.refused;

async function connect(t: TestBridge, id: string, roomId: string): Promise<TestClient> {
  const c = await TestClient.connect(t.bridge.url, tokens[id]!);
  clients.push(c);
  await c.request('join', { roomId });
  return c;
}

describe('receipts across two Bridges', () => {
  it('a reader on B receipts a stream from A once; refusals are answered on B with their codes', async () => {
    const all = USERS.map((id) => tenant.users[id]!);
    const roomId = (await createRoom(a.bridge, tenant, tokens.alice!, all[0]!, all, [all[0]!])).record.roomId;
    const alice = await connect(a, 'alice', roomId);
    const bob = await connect(b, 'bob', roomId);
    const carol = await connect(b, 'carol', roomId);
    await alice.until(() => alice.events('streamRoomJoined').length >= 2, 'bob and carol known on A');

    const streamId = b64(16);
    const { streamNo } = await alice.request('byteStreamOpen', { roomId, streamId, epoch: 1, destinationIdentities: ['bob', 'carol'] });
    alice.sendChunk(streamNo, true, new Uint8Array(100));
    const atBob = await bob.event('byteStreamOpened');
    const atCarol = await carol.event('byteStreamOpened');
    await bob.until(() => bob.chunkFrames(atBob.streamNo).some((f) => f.last), 'the end at bob');
    await carol.until(() => carol.chunkFrames(atCarol.streamNo).some((f) => f.last), 'the end at carol');
    // dave joins after the end: never a receiver.
    const dave = await connect(b, 'dave', roomId);

    const receipt = (n: number, id = streamId) => ({ streamNo: n, streamId: id, at: Date.now(), signature: b64(64) });
    const before = { ...refusals(b) };
    const sent = receipt(atBob.streamNo);
    expect(await bob.request('byteStreamReceipt', sent)).toEqual({});
    expect(await alice.event('byteStreamReceipt')).toEqual({
      type: 'byteStreamReceipt',
      streamNo,
      streamId,
      userId: 'bob',
      at: sent.at,
      signature: sent.signature,
    });
    // A second one from bob, and receipts from connections that did not read this stream: refused on B.
    expect(await bob.failure('byteStreamReceipt', receipt(atBob.streamNo))).toBe('RECEIPT_EXISTS');
    expect(await dave.failure('byteStreamReceipt', receipt(atBob.streamNo))).toBe('NOT_A_RECEIVER');
    expect(await carol.failure('byteStreamReceipt', receipt(atBob.streamNo))).toBe('NOT_A_RECEIVER');
    expect(await carol.failure('byteStreamReceipt', receipt(atCarol.streamNo, b64(16)))).toBe('NOT_A_RECEIVER');
    expect(refusals(b)).toMatchObject({
      RECEIPT_EXISTS: (before.RECEIPT_EXISTS ?? 0) + 1,
      NOT_A_RECEIVER: (before.NOT_A_RECEIVER ?? 0) + 3,
    });
    // carol's own, for her stream number, still goes through.
    expect(await carol.request('byteStreamReceipt', receipt(atCarol.streamNo))).toEqual({});
    await alice.until(() => alice.events('byteStreamReceipt').length === 2, "carol's receipt at alice");
    expect(alice.events('byteStreamReceipt').map((e) => e.userId)).toEqual(['bob', 'carol']);
  });
});
