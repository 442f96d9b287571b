/**
 * Receive windows (docs/protocol/byte-streams.md, "Receive windows"): a connection that declares one
 * lets its senders run only that far ahead of what it consumed, from the open on; the others keep the
 * stream's window; a sender that speaks protocol 2 keeps the window for every receiver.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_RECEIVE_WINDOW_MIN_BYTES, STREAM_WINDOW_MAX_BYTES } from '../../protocol/ws.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { bytes, createRoom, stats, TestClient } from './test-client.ts';

const WINDOW_BYTES = 512 * 1024;
const LEAD = STREAM_RECEIVE_WINDOW_MIN_BYTES;
const KIB = 1024;
const CHUNK = 16 * KIB;
const STREAM_ID = 'c2VhbHJvb20tc3RyZWFtMQ==';
const USERS = ['alice', 'bob', 'carol'];

let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
/** A second Bridge whose stuck-receiver timeout is short. */
let quick: TestBridge;
let quickTenant: Tenant;
const quickTokens: Record<string, string> = {};
const clients: TestClient[] = [];
const STUCK_MS = 500;

beforeAll(async () => {
  t = await startBridge({ realtime: { streamWindowBytes: WINDOW_BYTES, stuckReceiverTimeoutMs: 120_000 } });
  tenant = await setupTenant(t.bridge, USERS);
  for (const id of USERS) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
  quick = await startBridge({ realtime: { streamWindowBytes: WINDOW_BYTES, stuckReceiverTimeoutMs: STUCK_MS } });
  quickTenant = await setupTenant(quick.bridge, USERS);
  for (const id of USERS) quickTokens[id] = await login(quick.bridge.url, quickTenant.solutionId, quickTenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([t.close(), quick.close()]);
});

async function connect(id: string, protocol: 2 | 3 = 3, on: 'main' | 'quick' = 'main'): Promise<TestClient> {
  const c = await TestClient.connect((on === 'main' ? t : quick).bridge.url, (on === 'main' ? tokens : quickTokens)[id]!, protocol);
  clients.push(c);
  return c;
}
async function room(on: 'main' | 'quick' = 'main'): Promise<string> {
  const [b, ten, tok] = on === 'main' ? [t, tenant, tokens] : [quick, quickTenant, quickTokens];
  const all = USERS.map((id) => ten.users[id]!);
  return (await createRoom(b.bridge, ten, tok.alice!, all[0]!, all, [all[0]!])).record.roomId;
}
const open = (c: TestClient, roomId: string) => c.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] });
const received = (c: TestClient, streamNo: number) => c.chunkFrames(streamNo).reduce((n, f) => n + f.payload.length, 0);
const connectionStats = (c: TestClient) => stats(t.bridge).connections.find((s) => s.connectionId === c.connectionId);
const sendUpTo = (c: TestClient, streamNo: number, from: number, to: number) => {
  for (let at = from; at < to; at += CHUNK) c.sendChunk(streamNo, false, bytes(Math.min(CHUNK, to - at)));
};

describe('receive windows', () => {
  it("bound what a sender may send ahead of the receiver that declared one, from the open on; credits move it by the receiver's lead", async () => {
    const roomId = await room();
    const [alice, bob, carol] = [await connect('alice'), await connect('bob'), await connect('carol')];
    // Declared before the join: the window belongs to the connection, not to a room.
    await bob.request('byteStreamReceiveWindow', { bytes: LEAD });
    for (const c of [alice, bob, carol]) await c.request('join', { roomId });
    expect(connectionStats(bob)?.receiveWindowBytes).toBe(LEAD);
    expect(connectionStats(carol)?.receiveWindowBytes).toBeUndefined();

    const opened = await open(alice, roomId);
    expect(opened).toMatchObject({ window: WINDOW_BYTES, allowed: LEAD, receivers: 2 });
    sendUpTo(alice, opened.streamNo, 0, LEAD);
    await bob.until(() => received(bob, opened.streamNo) === LEAD, 'the first lead');
    // Carol reads nothing and declared nothing: her window is the stream's, so bob's credits alone move the sender.
    bob.credit(opened.streamNo, 64 * 1024);
    expect((await alice.event('byteStreamAllowance')).allowed).toBe(64 * 1024 + LEAD);
    sendUpTo(alice, opened.streamNo, LEAD, 64 * 1024 + LEAD);
    alice.sendChunk(opened.streamNo, false, bytes(1)); // one byte past bob's lead
    expect(await alice.event('byteStreamAborted')).toEqual({ type: 'byteStreamAborted', streamNo: opened.streamNo, reason: 'limit' });
    expect(received(carol, opened.streamNo)).toBe(64 * 1024 + LEAD);
  });

  it("let the sender on at once when the receiver's window grows, and never take back what was allowed", async () => {
    const roomId = await room();
    const [alice, bob] = [await connect('alice'), await connect('bob')];
    for (const c of [alice, bob]) await c.request('join', { roomId });
    await bob.request('byteStreamReceiveWindow', { bytes: 2 * LEAD });
    const opened = await open(alice, roomId);
    expect(opened.allowed).toBe(2 * LEAD);
    // Smaller now: the allowance already given stands.
    await bob.request('byteStreamReceiveWindow', { bytes: LEAD });
    sendUpTo(alice, opened.streamNo, 0, 2 * LEAD);
    await bob.until(() => received(bob, opened.streamNo) === 2 * LEAD, 'what was allowed at the open');
    expect(alice.events('byteStreamAborted')).toEqual([]);
    // None declared: the stream's window, told to the sender without waiting for a credit.
    await bob.request('byteStreamReceiveWindow', { bytes: null });
    expect((await alice.event('byteStreamAllowance')).allowed).toBe(WINDOW_BYTES);
    sendUpTo(alice, opened.streamNo, 2 * LEAD, WINDOW_BYTES);
    alice.sendChunk(opened.streamNo, true, bytes(0));
    await bob.until(() => bob.chunkFrames(opened.streamNo).at(-1)?.last === true, 'the end');
    expect(received(bob, opened.streamNo)).toBe(WINDOW_BYTES);
  });

  it('flipped in a loop, hold what the last one said: the counts the growths asked for are joined, none lost', async () => {
    const roomId = await room();
    const [alice, bob] = [await connect('alice'), await connect('bob')];
    for (const c of [alice, bob]) await c.request('join', { roomId });
    await bob.request('byteStreamReceiveWindow', { bytes: LEAD });
    const opened = await open(alice, roomId);
    expect(opened.allowed).toBe(LEAD);
    // 101 declarations in a row, the last one none: the stream's window, told to the sender.
    await Promise.all(Array.from({ length: 101 }, (_, i) => bob.request('byteStreamReceiveWindow', { bytes: i % 2 === 0 ? null : LEAD })));
    expect(connectionStats(bob)?.receiveWindowBytes).toBeUndefined();
    await alice.until(() => alice.events('byteStreamAllowance').some((e) => e.allowed === WINDOW_BYTES), 'the window after the last word');
    sendUpTo(alice, opened.streamNo, 0, WINDOW_BYTES);
    await bob.until(() => received(bob, opened.streamNo) === WINDOW_BYTES, 'a whole window');
    expect(alice.events('byteStreamAborted')).toEqual([]);
  });

  it('do not hold a sender that speaks protocol 2: it starts from the window, as it always did', async () => {
    const roomId = await room();
    const [alice, bob] = [await connect('alice', 2), await connect('bob')];
    for (const c of [alice, bob]) await c.request('join', { roomId });
    await bob.request('byteStreamReceiveWindow', { bytes: LEAD });
    const opened = await open(alice, roomId);
    expect(opened.allowed).toBe(WINDOW_BYTES);
    sendUpTo(alice, opened.streamNo, 0, WINDOW_BYTES);
    await bob.until(() => received(bob, opened.streamNo) === WINDOW_BYTES, 'a whole window');
    bob.credit(opened.streamNo, 64 * 1024);
    expect((await alice.event('byteStreamAllowance')).allowed).toBe(64 * 1024 + WINDOW_BYTES);
    expect(alice.events('byteStreamAborted')).toEqual([]);
  });

  it('hold a stuck receiver to the stuck-receiver rule when its own window is what holds the sender, though another consumed less', async () => {
    const roomId = await room('quick');
    const [alice, bob, carol] = [await connect('alice', 3, 'quick'), await connect('bob', 3, 'quick'), await connect('carol', 3, 'quick')];
    await bob.request('byteStreamReceiveWindow', { bytes: LEAD });
    for (const c of [alice, bob, carol]) await c.request('join', { roomId });
    const opened = await open(alice, roomId);
    sendUpTo(alice, opened.streamNo, 0, LEAD);
    await bob.until(() => received(bob, opened.streamNo) === LEAD, 'the first lead at bob');
    // Bob consumes 64 KiB and stops; the sender may reach 64 KiB + his lead and no further.
    bob.credit(opened.streamNo, 64 * KIB);
    await alice.until(() => alice.events('byteStreamAllowance').some((e) => e.allowed === 64 * KIB + LEAD), "bob's allowance");
    sendUpTo(alice, opened.streamNo, LEAD, 64 * KIB + LEAD);
    // Carol consumed less than bob and keeps crediting a little, well within the stream's window: she
    // is not what holds the sender, bob is, and he is the one cut.
    let carolAt = 0;
    const trickle = setInterval(() => carol.credit(opened.streamNo, (carolAt = Math.min(48 * KIB, carolAt + 2 * KIB))), 100);
    try {
      expect(await alice.event('byteStreamReceiverDropped', () => true, 10 * STUCK_MS)).toEqual({
        type: 'byteStreamReceiverDropped',
        streamNo: opened.streamNo,
        userId: 'bob',
        reason: 'too_slow',
      });
    } finally {
      clearInterval(trickle);
    }
    expect(carol.events('byteStreamAborted')).toEqual([]);
  });

  it("do not widen the stream's window for a starved reader that its own receive window holds", async () => {
    const widened = () => (t.bridge.realtime.relay as unknown as { counters: { windowsWidened: number } }).counters.windowsWidened;
    const roomId = await room();
    const [alice, bob] = [await connect('alice'), await connect('bob')];
    for (const c of [alice, bob]) await c.request('join', { roomId });
    await bob.request('byteStreamReceiveWindow', { bytes: LEAD });
    const opened = await open(alice, roomId);
    const before = widened();
    sendUpTo(alice, opened.streamNo, 0, LEAD);
    await bob.until(() => received(bob, opened.streamNo) === LEAD, 'the lead at bob');
    // At its limit, and bob took everything: without his receive window this widens the window.
    bob.credit(opened.streamNo, LEAD, true);
    expect((await alice.event('byteStreamAllowance')).allowed).toBe(2 * LEAD);
    expect(widened()).toBe(before);
  });

  it('are refused below two chunks or above the largest window, with the socket kept', async () => {
    const bob = await connect('bob');
    expect(await bob.failure('byteStreamReceiveWindow', { bytes: LEAD - 1 })).toBe('VALIDATION_FAILED');
    expect(await bob.failure('byteStreamReceiveWindow', { bytes: STREAM_WINDOW_MAX_BYTES + 1 })).toBe('VALIDATION_FAILED');
    expect(await bob.failure('byteStreamReceiveWindow', { bytes: 1.5 * LEAD + 0.5 })).toBe('VALIDATION_FAILED');
    await bob.request('ping', {});
  });
});
