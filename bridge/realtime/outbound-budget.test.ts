/**
 * Resource limits on a socket (docs/operations/limits.md): a member whose socket stops reading while
 * it keeps asking for large answers must not grow the Bridge's memory, and must not slow anyone else.
 * The Bridge stops reading such a socket once its outbound buffer passes `readPauseBytes`, and closes
 * one that passes its whole budget with 4409 (outboundOverflow).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE } from '../../protocol/ws.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { createRoom, TestClient } from './test-client.ts';

const READ_PAUSE_BYTES = 256 * 1024;
const OUTBOUND_BUDGET_BYTES = 2 * 1024 * 1024;
let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];

beforeAll(async () => {
  // The room-change rate (room-change-rate.test.ts) would stop the publish loop below long before the
  // budget: it is lifted here, where the budget is what is tested.
  t = await startBridge({
    realtime: { readPauseBytes: READ_PAUSE_BYTES, outboundBudgetBytes: OUTBOUND_BUDGET_BYTES, roomChangesPerSecond: 1e6, roomChangesBurst: 1e6 } as never,
  });
  tenant = await setupTenant(t.bridge, ['mallory', 'alice']);
  for (const id of ['mallory', 'alice']) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
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

/** A room where mallory's other sockets published 16 streams x 32 tracks each, so `listStreams` answers big. */
async function bigRoom(publishers: number): Promise<string> {
  const u = (id: string) => tenant.users[id]!;
  const { record } = await createRoom(t.bridge, tenant, tokens.mallory!, u('mallory'), [u('mallory'), u('alice')], [u('mallory')]);
  for (let p = 0; p < publishers; p++) {
    const pub = await connect('mallory');
    await pub.request('join', { roomId: record.roomId });
    for (let s = 0; s < 16; s++) {
      const tracks = Array.from({ length: 32 }, (_, i) => ({ trackId: `t${i}-${'x'.repeat(56)}`, kind: 'data' as const }));
      await pub.request('publish', { roomId: record.roomId, streamId: `p${p}s${s}-${'y'.repeat(50)}`, tracks });
    }
  }
  return record.roomId;
}

const serverSide = (c: TestClient) => t.bridge.realtime.connections.get(c.connectionId);

describe('a socket that asks but does not read', () => {
  // Wall-clock and RSS bounds on a shared machine: retried, as the other latency-bound tests are.
  it('asking for large answers: closed with 4409 at its budget; memory bounded, others answered at once', { retry: 2, timeout: 30_000 }, async () => {
    const roomId = await bigRoom(4);
    const attacker = await connect('mallory');
    await attacker.request('join', { roomId });
    const answerBytes = JSON.stringify(await attacker.request('listStreams', { roomId })).length;
    expect(answerBytes).toBeGreaterThan(200_000);

    const honest = await connect('alice');
    const overflowsBefore = t.bridge.realtime.counters.outboundOverflows;
    const rssBefore = process.memoryUsage().rss;
    attacker.pause();
    // 2,000 requests of 60 bytes each ask for ~450 MB of answers.
    for (let i = 0; i < 2000; i++) attacker.ws.send(JSON.stringify({ kind: 'listStreams', id: 10_000 + i, roomId }));
    let worstPingMs = 0;
    let peakBuffered = 0;
    const deadline = performance.now() + 1500;
    while (performance.now() < deadline) {
      const started = performance.now();
      await honest.request('ping', {});
      worstPingMs = Math.max(worstPingMs, performance.now() - started);
      peakBuffered = Math.max(peakBuffered, serverSide(attacker)?.bufferedAmount ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const grownMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    // The answer that crosses the budget is the last one it gets.
    expect(peakBuffered).toBeLessThanOrEqual(OUTBOUND_BUDGET_BYTES + answerBytes);
    expect(grownMiB).toBeLessThan(100);
    // A ping may wait behind the answers in flight (32 at most, each ~230 KB of JSON to build).
    expect(worstPingMs).toBeLessThan(500);
    expect(t.bridge.realtime.counters.outboundOverflows).toBe(overflowsBefore + 1);
    attacker.resume();
    expect((await attacker.closed).code).toBe(CLOSE.outboundOverflow);
  });

  it('asking for small answers: reading stops, nothing is dropped, it is served once it reads', async () => {
    const attacker = await connect('mallory');
    attacker.pause();
    // 50,000 pings: ~4 MB of answers, more than the pause mark, less than the budget.
    const burst = Array.from({ length: 50_000 }, (_, i) => JSON.stringify({ kind: 'ping', id: 100_000 + i }))
      .join('\n')
      .split('\n');
    for (const message of burst) attacker.ws.send(message);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const server = serverSide(attacker)!;
    expect(server.socket.isPaused).toBe(true);
    expect(server.bufferedAmount).toBeLessThanOrEqual(OUTBOUND_BUDGET_BYTES);
    expect(server.closed).toBe(false);
    attacker.resume();
    // Its next request is answered after all of those: none was lost.
    await attacker.request('ping', {});
    expect(serverSide(attacker)!.closed).toBe(false);
  }, 30_000);

  it('flooding past what it may have held while paused: closed with 4429', async () => {
    const held = await startBridge({ realtime: { maxRequestsInFlight: 1, maxHeldMessages: 50 } as never });
    try {
      const own = await setupTenant(held.bridge, ['mallory']);
      const token = await login(held.bridge.url, own.solutionId, own.users.mallory!);
      const flooder = await TestClient.connect(held.bridge.url, token);
      // 2,000 pings sent at once arrive in a few reads: far more than one in flight and 50 held.
      for (let i = 0; i < 2000; i++) flooder.ws.send(JSON.stringify({ kind: 'ping', id: 10_000 + i }));
      expect((await flooder.closed).code).toBe(CLOSE.rateLimited);
    } finally {
      await held.close();
    }
  });

  it('not reading the events it is sent: closed with 4409 once they pass its budget', async () => {
    const roomId = await bigRoom(0);
    const victim = await connect('alice');
    await victim.request('join', { roomId });
    victim.pause();
    const pub = await connect('mallory');
    await pub.request('join', { roomId });
    const overflowsBefore = t.bridge.realtime.counters.outboundOverflows;
    const tracks = Array.from({ length: 32 }, (_, i) => ({ trackId: `t${i}-${'x'.repeat(56)}`, kind: 'data' as const }));
    // Every publish and unpublish is announced to the victim (~4 KB each); the kernel's socket buffers
    // take a few MB before the Bridge's own buffer grows.
    for (let round = 0; round < 20_000 && serverSide(victim) !== undefined && !serverSide(victim)!.closed; round++) {
      await pub.request('publish', { roomId, streamId: `burst${round % 16}`, tracks });
      await pub.request('unpublish', { roomId, streamId: `burst${round % 16}` });
    }
    expect(t.bridge.realtime.counters.outboundOverflows).toBe(overflowsBefore + 1);
    victim.resume();
    expect((await victim.closed).code).toBe(CLOSE.outboundOverflow);
  }, 60_000);
});
