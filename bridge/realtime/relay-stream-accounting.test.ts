/**
 * What the Bridge counts for a byte-stream receiver's socket (docs/protocol/byte-streams.md,
 * "Accounting" and "Cuts"): an ended stream's bytes count until they have left the Bridge, so
 * streams that end together behind a reader's backlog do not cut it; a reader that takes nothing is
 * still cut, with the Bridge's memory for it bounded; one that consumes another stream is starved, not
 * stalled, and gets three stuck timeouts instead of one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { bytes, createRoom, eventually, stats, TestClient } from './test-client.ts';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const WINDOW = 1 * MiB;
const READ_PAUSE = 1 * MiB;
const BUDGET = 4 * MiB;
const STREAMS = 12;
const STREAM_ID = 'c2VhbHJvb20tc3RyZWFtMQ==';
const USERS = ['alice', 'bob'];

let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];

beforeAll(async () => {
  t = await startBridge({
    realtime: {
      streamWindowBytes: WINDOW,
      readPauseBytes: READ_PAUSE,
      outboundBudgetBytes: BUDGET,
      maxOpenStreamsPerConnection: STREAMS,
      // Long: the cuts these tests look at are the socket rule's, not the stuck timer's.
      stuckReceiverTimeoutMs: 120_000,
    },
  });
  tenant = await setupTenant(t.bridge, USERS);
  for (const id of USERS) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t.close();
});

async function room(): Promise<{ roomId: string; alice: TestClient; bob: TestClient }> {
  const all = USERS.map((id) => tenant.users[id]!);
  const built = await createRoom(t.bridge, tenant, tokens.alice!, all[0]!, all, [all[0]!]);
  const [alice, bob] = await Promise.all(USERS.map((id) => TestClient.connect(t.bridge.url, tokens[id]!)));
  clients.push(alice!, bob!);
  for (const c of [alice!, bob!]) await c.request('join', { roomId: built.record.roomId });
  return { roomId: built.record.roomId, alice: alice!, bob: bob! };
}

const cuts = () => ({ ...(t.bridge.realtime.relay as unknown as { counters: { receiversCut: Record<string, number> } }).counters.receiversCut });
const serverSide = (c: TestClient) => t.bridge.realtime.connections.get(c.connectionId)!;
const heldFor = (c: TestClient) => t.bridge.realtime.relay.streamBytesInFlight(serverSide(c));
const buffered = (c: TestClient) => stats(t.bridge).connections.find((s) => s.connectionId === c.connectionId)!.bufferedBytes;

describe('relay: byte-stream bytes of ended streams', () => {
  it('streams that end together while the reader is behind: not cut, each arrives whole, and what was held is released once sent', async () => {
    const { roomId, alice, bob } = await room();
    const before = cuts();
    const streamNos: number[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const { streamNo } = await alice.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] });
      streamNos.push(streamNo);
    }
    await bob.until(() => bob.events('byteStreamOpened').length === STREAMS, 'every open at bob');
    bob.pause();
    // Every stream sends its window but its last chunk: all of it is in flight to bob at once.
    for (let at = 0; at < WINDOW - CHUNK; at += CHUNK) for (const n of streamNos) alice.sendChunk(n, false, bytes(CHUNK, n));
    await alice.request('ping', {});
    // The socket is behind: the Bridge holds far more than its fixed budget (the kernel took the rest).
    expect(buffered(bob)).toBeGreaterThan(READ_PAUSE + 2 * MiB);
    // Now they all end, one after the other, with nothing consumed: before the fix, each end stopped
    // counting a window that still sat in bob's lane, and the later ends were cut as too_slow.
    for (const n of streamNos) alice.sendChunk(n, true, bytes(CHUNK, n));
    await alice.request('ping', {});
    expect(alice.events('byteStreamReceiverDropped')).toEqual([]);
    expect(heldFor(bob)).toBeGreaterThanOrEqual(buffered(bob) - READ_PAUSE);

    bob.resume();
    await bob.until(() => streamNos.every((n) => bob.chunkFrames(n).at(-1)?.last === true), 'every last chunk', 20_000);
    for (const n of streamNos) {
      const frames = bob.chunkFrames(n);
      expect(frames.reduce((sum, f) => sum + f.payload.length, 0)).toBe(WINDOW);
      expect(frames.every((f) => f.payload.every((b) => b === (n & 0xff)))).toBe(true);
    }
    expect(bob.events('byteStreamAborted')).toEqual([]);
    expect(cuts()).toEqual(before);
    // Everything left the Bridge: the ended streams no longer count.
    await eventually(() => heldFor(bob) === 0, 'the ended streams released');
  });

  it('a reader that never reads, sent stream after ended stream: cut as too_slow before its budget, memory bounded', async () => {
    const { roomId, alice, bob } = await room();
    const before = cuts();
    bob.pause();
    // Each stream is one window and ends at once: credits never hold alice back, only the cut does.
    let streams = 0;
    while (alice.events('byteStreamReceiverDropped').length === 0) {
      if (streams === 200) throw new Error('200 windows to a paused reader and it was never cut');
      const { streamNo } = await alice.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] });
      streams++;
      for (let at = 0; at < WINDOW; at += CHUNK) alice.sendChunk(streamNo, at + CHUNK === WINDOW, bytes(CHUNK));
      await alice.request('ping', {});
    }
    expect(alice.events('byteStreamReceiverDropped')[0]).toMatchObject({ userId: 'bob', reason: 'too_slow' });
    // Cut by the socket rule, at its budget (its socket still took chunks now and then: the kernel's).
    const after = cuts();
    expect((after.too_slow_budget ?? 0) + (after.too_slow_socket ?? 0)).toBe((before.too_slow_budget ?? 0) + (before.too_slow_socket ?? 0) + 1);
    // What the Bridge holds for bob: its budget plus one window (the most in flight at once), plus the
    // chunks of the window in progress, not one stream's worth per stream sent.
    expect(buffered(bob)).toBeLessThanOrEqual(BUDGET + 2 * WINDOW);
    expect(streams).toBeGreaterThan(3);
    expect(serverSide(bob).closed).toBe(false); // cut from the streams, not closed with 4409
    bob.resume();
  });
});

describe('relay: the stuck timer for a reader that consumes other streams', () => {
  const STUCK_MS = 2000;
  let slow: TestBridge;
  let slowTokens: Record<string, string>;
  let slowTenant: Tenant;
  beforeAll(async () => {
    slow = await startBridge({ realtime: { streamWindowBytes: 64 * 1024, stuckReceiverTimeoutMs: STUCK_MS } });
    slowTenant = await setupTenant(slow.bridge, USERS);
    slowTokens = {};
    for (const id of USERS) slowTokens[id] = await login(slow.bridge.url, slowTenant.solutionId, slowTenant.users[id]!);
  });
  afterAll(() => slow.close());

  it('is cut from the stream it does not read after three timeouts, not one, while it reads another', async () => {
    const all = USERS.map((id) => slowTenant.users[id]!);
    const built = await createRoom(slow.bridge, slowTenant, slowTokens.alice!, all[0]!, all, [all[0]!]);
    const [alice, bob] = await Promise.all(USERS.map((id) => TestClient.connect(slow.bridge.url, slowTokens[id]!)));
    clients.push(alice!, bob!);
    for (const c of [alice!, bob!]) await c.request('join', { roomId: built.record.roomId });
    const open = async () =>
      (await alice!.request('byteStreamOpen', { roomId: built.record.roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] })).streamNo;
    const [ignored, read] = [await open(), await open()];
    bob!.creditAsRead(read);
    // The ignored stream's sender reaches its limit at once; the read one goes on, a chunk every 50 ms.
    for (let at = 0; at < 64 * 1024; at += 16 * 1024) alice!.sendChunk(ignored, false, bytes(16 * 1024));
    const started = performance.now();
    let cutAt = Number.POSITIVE_INFINITY;
    while (performance.now() - started < 5 * STUCK_MS && cutAt === Number.POSITIVE_INFINITY) {
      alice!.sendChunk(read, false, bytes(1024));
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (alice!.events('byteStreamReceiverDropped').length > 0) cutAt = performance.now() - started;
    }
    expect(alice!.events('byteStreamReceiverDropped')).toEqual([{ type: 'byteStreamReceiverDropped', streamNo: ignored, userId: 'bob', reason: 'too_slow' }]);
    expect(cutAt).toBeGreaterThanOrEqual(3 * STUCK_MS);
    expect(cutAt).toBeLessThan(5 * STUCK_MS);
    // Sent to bob when alice heard of the cut; on a busy machine it may still be on its way.
    await bob!.until(() => bob!.events('byteStreamAborted').length > 0, "bob's abort");
    expect(bob!.events('byteStreamAborted')).toEqual([{ type: 'byteStreamAborted', streamNo: ignored, reason: 'too_slow' }]);
  }, 30_000);
});
