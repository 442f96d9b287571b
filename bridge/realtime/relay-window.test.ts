/**
 * The adaptive byte-stream window (docs/protocol/byte-streams.md, "Window"): a stream's window doubles,
 * up to `streamWindowMaxBytes`, when its sender waits at its limit while the slowest reader says it has
 * consumed everything it was given (CREDIT's STARVED flag); never for a reader that is behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { bytes, createRoom, TestClient } from './test-client.ts';

const KiB = 1024;
const WINDOW = 64 * KiB;
const MAX = 256 * KiB;
const CHUNK = 16 * KiB;
const STREAM_ID = 'c2VhbHJvb20tc3RyZWFtMQ==';
const USERS = ['alice', 'bob', 'carol'];

let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];

beforeAll(async () => {
  t = await startBridge({ realtime: { streamWindowBytes: WINDOW, streamWindowMaxBytes: MAX, stuckReceiverTimeoutMs: 120_000 } });
  tenant = await setupTenant(t.bridge, USERS);
  for (const id of USERS) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t.close();
});

async function room(...ids: string[]): Promise<{ roomId: string; cs: TestClient[] }> {
  const all = USERS.map((id) => tenant.users[id]!);
  const built = await createRoom(t.bridge, tenant, tokens.alice!, all[0]!, all, [all[0]!]);
  const cs: TestClient[] = [];
  for (const id of ids) {
    const c = await TestClient.connect(t.bridge.url, tokens[id]!);
    clients.push(c);
    await c.request('join', { roomId: built.record.roomId });
    cs.push(c);
  }
  return { roomId: built.record.roomId, cs };
}

/** Sends chunks until the sender has sent `upTo` payload bytes. */
function sendTo(sender: TestClient, streamNo: number, from: number, upTo: number): number {
  for (let at = from; at < upTo; at += CHUNK) sender.sendChunk(streamNo, false, bytes(CHUNK, at / CHUNK));
  return upTo;
}

/** The next allowance the sender gets after `after` (its last one). */
async function nextAllowance(sender: TestClient, streamNo: number, after: number): Promise<number> {
  const e = await sender.event('byteStreamAllowance', (a) => a.streamNo === streamNo && a.allowed > after);
  return e.allowed;
}

const widened = () => (t.bridge.realtime.relay as unknown as { counters: { windowsWidened: number } }).counters.windowsWidened;

describe('relay: adaptive byte-stream window', () => {
  it('doubles while a starved reader holds the sender at its limit, up to the maximum; not for a plain credit', async () => {
    const {
      roomId,
      cs: [alice, bob],
    } = await room('alice', 'bob');
    const { streamNo, window } = await alice!.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] });
    expect(window).toBe(WINDOW);
    const before = widened();
    let sent = sendTo(alice!, streamNo, 0, WINDOW);
    await bob!.until(() => bob!.chunkFrames(streamNo).length === WINDOW / CHUNK, 'the first window at bob');
    // At its limit; bob took everything: the window is what holds the pipe. 64 -> 128 KiB.
    bob!.credit(streamNo, sent, true);
    let allowed = await nextAllowance(alice!, streamNo, WINDOW);
    expect(allowed).toBe(sent + 2 * WINDOW);
    // A credit without the flag (bob is behind its app, or does not say): the window stays.
    sent = sendTo(alice!, streamNo, sent, allowed);
    await bob!.until(() => bob!.chunkFrames(streamNo).length === sent / CHUNK, 'the second window at bob');
    bob!.credit(streamNo, sent, false);
    allowed = await nextAllowance(alice!, streamNo, allowed);
    expect(allowed).toBe(sent + 2 * WINDOW);
    // Starved twice more: 256 KiB, the maximum, and no further.
    for (const expected of [MAX, MAX]) {
      sent = sendTo(alice!, streamNo, sent, allowed);
      await bob!.until(() => bob!.chunkFrames(streamNo).length === sent / CHUNK, 'a window at bob');
      bob!.credit(streamNo, sent, true);
      allowed = await nextAllowance(alice!, streamNo, allowed);
      expect(allowed).toBe(sent + expected);
    }
    expect(widened() - before).toBe(2);
  });

  it('does not widen for a starved reader while another reader is behind (the window holds for that one)', async () => {
    const {
      roomId,
      cs: [alice, bob, carol],
    } = await room('alice', 'bob', 'carol');
    const { streamNo } = await alice!.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] });
    const before = widened();
    const sent = sendTo(alice!, streamNo, 0, WINDOW);
    await bob!.until(() => bob!.chunkFrames(streamNo).length === WINDOW / CHUNK, 'the window at bob');
    carol!.credit(streamNo, CHUNK);
    bob!.credit(streamNo, sent, true);
    // Allowance follows carol, the slowest, at the first window size.
    expect(await nextAllowance(alice!, streamNo, WINDOW)).toBe(CHUNK + WINDOW);
    expect(widened()).toBe(before);
  });
});
