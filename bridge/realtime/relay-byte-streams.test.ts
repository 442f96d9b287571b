import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE } from '../../protocol/ws.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { UNLIMITED_ALLOWANCE_BYTES } from './relay/byte-streams.ts';
import { bytes, createRoom, eventually, numbered, seqOf, stats, TestClient } from './test-client.ts';

const WINDOW_BYTES = 64 * 1024;
const MAX_MESSAGE_BYTES = 160 * 1024;
/** The receiver's socket may hold this much beyond its byte-stream bytes in flight before it is cut. */
const READ_PAUSE_BYTES = 256 * 1024;
const STREAM_ID = 'c2VhbHJvb20tc3RyZWFtMQ=='; // 16 bytes of base64
const USERS = ['alice', 'bob', 'carol', 'dave'];

interface Setup {
  t: TestBridge;
  tenant: Tenant;
  tokens: Record<string, string>;
}
const clients: TestClient[] = [];
let main: Setup;
let stuck: Setup;

async function setup(realtime: Record<string, number>): Promise<Setup> {
  const t = await startBridge({ realtime });
  const tenant = await setupTenant(t.bridge, USERS);
  const tokens: Record<string, string> = {};
  for (const id of USERS) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
  return { t, tenant, tokens };
}

beforeAll(async () => {
  // A receiver that never credits must hold the sender for the whole test, not be cut as stuck.
  main = await setup({
    streamWindowBytes: WINDOW_BYTES,
    stuckReceiverTimeoutMs: 120_000,
    maxOpenStreamsPerConnection: 4,
    maxMessageBytes: MAX_MESSAGE_BYTES,
    dataHighWaterBytes: 16 * 1024,
    readPauseBytes: READ_PAUSE_BYTES,
  });
  stuck = await setup({ streamWindowBytes: 32 * 1024, stuckReceiverTimeoutMs: 500 });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([main.t.close(), stuck.t.close()]);
});

async function connect(s: Setup, id: string): Promise<TestClient> {
  const c = await TestClient.connect(s.t.bridge.url, s.tokens[id]!);
  clients.push(c);
  return c;
}
/** A room of all four users (alice manages) with the given connections joined, in order. */
async function joinedRoom<const N extends readonly string[]>(s: Setup, ...ids: N): Promise<{ roomId: string; cs: { [K in keyof N]: TestClient } }> {
  const all = USERS.map((id) => s.tenant.users[id]!);
  const built = await createRoom(s.t.bridge, s.tenant, s.tokens.alice!, all[0]!, all, [all[0]!]);
  const cs: TestClient[] = [];
  for (const id of ids) {
    const c = await connect(s, id);
    await c.request('join', { roomId: built.record.roomId });
    cs.push(c);
  }
  return { roomId: built.record.roomId, cs: cs as { [K in keyof N]: TestClient } };
}
const open = (c: TestClient, roomId: string, destinationIdentities: string[] = []) =>
  c.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities });
const received = (c: TestClient, streamNo: number) => c.chunkFrames(streamNo).reduce((n, f) => n + f.payload.length, 0);
const streamStats = (s: Setup, streamNo: number) => stats(s.t.bridge).byteStreams.find((b) => b.streamNo === streamNo);
/** What the sender may reach: the window, or the last allowance it was sent. */
const allowance = (c: TestClient, streamNo: number, window: number) =>
  Math.max(
    window,
    ...c
      .events('byteStreamAllowance')
      .filter((e) => e.streamNo === streamNo)
      .map((e) => e.allowed),
  );

describe('relay: byte-stream routing', () => {
  it('opens to the destination users (or everyone) at open time, forwards in order, never echoes', async () => {
    const {
      roomId,
      cs: [alice, alice2, bob1, bob2, carol],
    } = await joinedRoom(main, 'alice', 'alice', 'bob', 'bob', 'carol');
    const toBob = await open(alice, roomId, ['bob']);
    expect(toBob).toEqual({ streamNo: toBob.streamNo, window: WINDOW_BYTES, allowed: WINDOW_BYTES, receivers: 2, receiverIds: ['bob', 'bob'] });
    const toAll = await open(alice, roomId);
    expect(toAll.receivers).toBe(4); // alice's other connection too, but not the sending one
    expect([...toAll.receiverIds].sort()).toEqual(['alice', 'bob', 'bob', 'carol']);
    const late = await connect(main, 'dave');
    await late.request('join', { roomId });

    for (const b of [bob1, bob2]) {
      expect(await b.event('byteStreamOpened', (e) => e.streamNo === toBob.streamNo)).toEqual({
        type: 'byteStreamOpened',
        roomId,
        streamNo: toBob.streamNo,
        streamId: STREAM_ID,
        epoch: 1,
        senderId: 'alice',
        senderConnectionId: alice.connectionId,
        window: WINDOW_BYTES,
      });
    }
    for (const c of [alice2, carol]) await c.event('byteStreamOpened', (e) => e.streamNo === toAll.streamNo);
    expect(alice2.events('byteStreamOpened').map((e) => e.streamNo)).toEqual([toAll.streamNo]);
    expect(carol.events('byteStreamOpened').map((e) => e.streamNo)).toEqual([toAll.streamNo]);

    for (let i = 0; i < 5; i++) {
      alice.sendChunk(toBob.streamNo, i === 4, numbered(i, 1000));
      alice.sendChunk(toAll.streamNo, i === 4, numbered(100 + i, 1000));
    }
    for (const c of [bob1, bob2, alice2, carol]) {
      await c.until(() => c.chunkFrames(toAll.streamNo).length === 5, 'the whole stream');
      expect(c.chunkFrames(toAll.streamNo).map((f) => [seqOf(f.payload), f.last])).toEqual([
        [100, false],
        [101, false],
        [102, false],
        [103, false],
        [104, true],
      ]);
    }
    for (const b of [bob1, bob2]) {
      await b.until(() => b.chunkFrames(toBob.streamNo).length === 5, 'the bob stream');
      expect(b.chunkFrames(toBob.streamNo).map((f) => seqOf(f.payload))).toEqual([0, 1, 2, 3, 4]);
    }
    expect(carol.chunkFrames(toBob.streamNo)).toEqual([]);
    expect(alice2.chunkFrames(toBob.streamNo)).toEqual([]);
    await alice.request('ping', {});
    expect(alice.chunkFrames()).toEqual([]);
    await late.request('ping', {});
    expect(late.events('byteStreamOpened')).toEqual([]);
    expect(late.chunkFrames()).toEqual([]);

    // Ended streams are freed; a chunk that was on the wire after the end is dropped quietly.
    expect(streamStats(main, toBob.streamNo)).toBeUndefined();
    expect(stats(main.t.bridge).connections.find((c) => c.connectionId === alice.connectionId)!.sending).toEqual([]);
    alice.sendChunk(toBob.streamNo, false, bytes(10));
    await alice.request('ping', {});
  });

  it('closes the socket of a client that sends on a stream it does not own', async () => {
    const {
      roomId,
      cs: [alice, bob],
    } = await joinedRoom(main, 'alice', 'bob');
    const { streamNo } = await open(alice, roomId);
    bob.sendChunk(streamNo, true, bytes(10));
    expect((await bob.closed).code).toBe(CLOSE.protocolError);
  });

  it('gives a stream without receivers an unlimited allowance, after the open result', async () => {
    const {
      roomId,
      cs: [alice],
    } = await joinedRoom(main, 'alice');
    const { streamNo, receivers } = await open(alice, roomId);
    expect(receivers).toBe(0);
    expect((await alice.event('byteStreamAllowance')).allowed).toBe(UNLIMITED_ALLOWANCE_BYTES);
    alice.sendChunk(streamNo, false, bytes(2 * WINDOW_BYTES));
    alice.sendChunk(streamNo, true, bytes(10));
    await eventually(() => streamStats(main, streamNo) === undefined, 'the stream to end');
    expect(alice.events('byteStreamAborted')).toEqual([]);
  });

  it('bounds open streams per sender', async () => {
    const {
      roomId,
      cs: [alice],
    } = await joinedRoom(main, 'alice', 'bob');
    const opened = [];
    for (let i = 0; i < 4; i++) opened.push(await open(alice, roomId));
    expect(await alice.failure('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] })).toBe('TOO_MANY_STREAMS');
    alice.sendChunk(opened[0]!.streamNo, true, bytes(1));
    await open(alice, roomId);
  });
});

describe('relay: byte-stream flow control', () => {
  it('holds the sender at one window, moves the allowance with credits, and cuts a sender that overruns', async () => {
    const {
      roomId,
      cs: [alice, bob],
    } = await joinedRoom(main, 'alice', 'bob');
    const { streamNo, window } = await open(alice, roomId);
    const chunk = 4 * 1024;
    for (let i = 0; i < window / chunk; i++) alice.sendChunk(streamNo, false, bytes(chunk));
    await bob.until(() => received(bob, streamNo) === window, 'one window');
    expect(streamStats(main, streamNo)).toMatchObject({ sent: window, allowed: window, minConsumed: 0 });
    expect(alice.events('byteStreamAllowance')).toEqual([]);

    bob.credit(streamNo, 16 * 1024);
    expect((await alice.event('byteStreamAllowance')).allowed).toBe(window + 16 * 1024);
    bob.credit(streamNo, 8 * 1024); // a decrease is ignored
    // A receiver cannot claim more than it was sent: the claim is clamped to what was forwarded.
    bob.credit(streamNo, 10 * window);
    await alice.until(() => allowance(alice, streamNo, window) === 2 * window, 'the clamped allowance');
    expect(alice.events('byteStreamAllowance').map((e) => e.allowed)).toEqual([window + 16 * 1024, 2 * window]);
    expect(streamStats(main, streamNo)!.minConsumed).toBe(window);

    for (let i = 0; i < window / chunk; i++) alice.sendChunk(streamNo, false, bytes(chunk));
    alice.sendChunk(streamNo, false, numbered(999, 1)); // one byte past the allowance
    expect(await alice.event('byteStreamAborted')).toEqual({ type: 'byteStreamAborted', streamNo, reason: 'limit' });
    expect(await bob.event('byteStreamAborted')).toEqual({ type: 'byteStreamAborted', streamNo, reason: 'limit' });
    expect(received(bob, streamNo)).toBe(2 * window); // the overrun chunk was not forwarded
    expect(streamStats(main, streamNo)).toBeUndefined();
  });

  it('cuts a stuck receiver after the timeout while another receiver finishes the stream', async () => {
    const {
      roomId,
      cs: [alice, bob, carol],
    } = await joinedRoom(stuck, 'alice', 'bob', 'carol');
    const { streamNo, window } = await open(alice, roomId);
    bob.creditAsRead(streamNo); // bob keeps up; carol reads nothing
    const total = 8 * window;
    const chunk = 4 * 1024;
    let sent = 0;
    while (sent < total) {
      await alice.until(() => allowance(alice, streamNo, window) >= sent + chunk, `allowance past ${sent + chunk}`);
      sent += chunk;
      alice.sendChunk(streamNo, sent === total, numbered(sent, chunk));
    }
    await bob.until(() => bob.chunkFrames(streamNo).at(-1)?.last === true, 'the last chunk');
    expect(received(bob, streamNo)).toBe(total);
    expect(await carol.event('byteStreamAborted')).toEqual({ type: 'byteStreamAborted', streamNo, reason: 'too_slow' });
    expect(await alice.event('byteStreamReceiverDropped')).toEqual({ type: 'byteStreamReceiverDropped', streamNo, userId: 'carol', reason: 'too_slow' });
    expect(received(carol, streamNo)).toBeLessThanOrEqual(window);
    expect(alice.events('byteStreamAborted')).toEqual([]);
    expect(bob.events('byteStreamAborted')).toEqual([]);
  });

  it('detaches a receiver that rejects the stream; the others go on', async () => {
    const {
      roomId,
      cs: [alice, bob, carol],
    } = await joinedRoom(main, 'alice', 'bob', 'carol');
    const { streamNo, window } = await open(alice, roomId);
    await carol.event('byteStreamOpened');
    carol.reject(streamNo);
    expect(await alice.event('byteStreamReceiverDropped')).toEqual({ type: 'byteStreamReceiverDropped', streamNo, userId: 'carol', reason: 'rejected' });
    bob.creditAsRead(streamNo);
    for (let i = 0; i < 2; i++) alice.sendChunk(streamNo, false, bytes(window / 2));
    // Only bob's credits count now: carol's silence does not hold the sender.
    await alice.until(() => allowance(alice, streamNo, window) >= 1.5 * window, 'allowance from bob alone');
    alice.sendChunk(streamNo, false, bytes(window / 2));
    await bob.until(() => received(bob, streamNo) === 1.5 * window, 'three half windows');
    alice.sendChunk(streamNo, true, bytes(1));
    await bob.until(() => bob.chunkFrames(streamNo).at(-1)?.last === true, 'the end');
    expect(carol.chunkFrames(streamNo)).toEqual([]);
    expect(carol.events('byteStreamAborted')).toEqual([]);
  });
});

describe('relay: byte streams to a receiver that stops reading', () => {
  it('cuts it once its socket holds more than its budget, so even short streams cannot pile up', async () => {
    const {
      roomId,
      cs: [alice, bob],
    } = await joinedRoom(main, 'alice', 'bob');
    // Streams end at once. Their bytes count until they have left the Bridge, never above the most in
    // flight at once (one window here); a socket that still took chunks lately (the kernel's buffers
    // filling) is cut before its outbound budget, one that took none past the soft cap
    // (docs/protocol/byte-streams.md, "Cuts"). The budget is the default.
    const capBytes = 8 * 1024 * 1024 + WINDOW_BYTES;
    bob.pause();
    // Each stream is one window long and ends at once: credits alone would never hold alice back.
    const opened: number[] = [];
    while (alice.events('byteStreamReceiverDropped').length < 3) {
      if (opened.length === 600) throw new Error('600 windows to a paused reader and it was never cut');
      const { streamNo } = await open(alice, roomId);
      opened.push(streamNo);
      alice.sendChunk(streamNo, true, bytes(WINDOW_BYTES));
    }
    await alice.request('ping', {});
    const bobStats = stats(main.t.bridge).connections.find((c) => c.connectionId === bob.connectionId)!;
    // The cap, plus the one chunk forwarded just under it, plus a few small control events.
    expect(bobStats.bufferedBytes).toBeLessThanOrEqual(capBytes + WINDOW_BYTES + 16 * 1024);
    expect(alice.events('byteStreamReceiverDropped').every((e) => e.userId === 'bob' && e.reason === 'too_slow')).toBe(true);

    bob.resume();
    // Each stream reached bob whole or was aborted with an explicit reason, never cut short silently.
    const outcome = (streamNo: number) => {
      const aborted = bob.events('byteStreamAborted').some((e) => e.streamNo === streamNo && e.reason === 'too_slow');
      const whole = bob.chunkFrames(streamNo).length === 1 && bob.chunkFrames(streamNo)[0]!.last;
      return aborted ? (whole ? 'both' : 'aborted') : whole ? 'whole' : 'pending';
    };
    await bob.until(() => opened.every((n) => outcome(n) !== 'pending'), 'every stream settled', 15_000);
    const outcomes = opened.map(outcome);
    expect(outcomes).not.toContain('both');
    expect(outcomes.filter((o) => o === 'aborted')).toHaveLength(alice.events('byteStreamReceiverDropped').length);
    expect(outcomes[0]).toBe('whole');
  });
});

describe('relay: byte streams when someone goes', () => {
  it('aborts with sender_disconnected when the sender disconnects mid-stream', async () => {
    const {
      roomId,
      cs: [alice, bob, carol],
    } = await joinedRoom(main, 'alice', 'bob', 'carol');
    const { streamNo } = await open(alice, roomId);
    alice.sendChunk(streamNo, false, bytes(100));
    await bob.until(() => received(bob, streamNo) === 100, 'the first chunk');
    await alice.close();
    for (const c of [bob, carol]) expect(await c.event('byteStreamAborted')).toEqual({ type: 'byteStreamAborted', streamNo, reason: 'sender_disconnected' });
    expect(streamStats(main, streamNo)).toBeUndefined();
  });

  it('aborts with sender_left when the sender leaves, and tells the sender which receivers left or disconnected', async () => {
    const {
      roomId,
      cs: [alice, bob, carol, dave],
    } = await joinedRoom(main, 'alice', 'bob', 'carol', 'dave');
    const { streamNo } = await open(alice, roomId);
    await bob.request('leave', { roomId });
    expect(await alice.event('byteStreamReceiverDropped')).toMatchObject({ userId: 'bob', reason: 'left' });
    await carol.close();
    expect(await alice.event('byteStreamReceiverDropped', (e) => e.userId === 'carol')).toMatchObject({ reason: 'disconnected' });
    await alice.request('leave', { roomId });
    expect(await dave.event('byteStreamAborted')).toEqual({ type: 'byteStreamAborted', streamNo, reason: 'sender_left' });
    expect(alice.events('byteStreamAborted')).toEqual([{ type: 'byteStreamAborted', streamNo, reason: 'sender_left' }]);
    expect(bob.events('byteStreamAborted')).toEqual([]);
    // Order for those who stay: the abort, then the departure.
    const order = dave.log.flatMap((r) => (r.kind === 'event' && r.event.type !== 'byteStreamOpened' ? [r.event.type] : []));
    expect(order.slice(-2)).toEqual(['byteStreamAborted', 'streamRoomLeft']);
  });
});
