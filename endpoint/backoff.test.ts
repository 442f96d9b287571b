/**
 * Reconnect backoff with full jitter: the delay function with an injected random source, and ten real
 * Endpoint connections to a real Bridge restarted on the same port, which must not all come back at
 * the same moment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, until, type Client } from '../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../test/harness.ts';
import { startTcpProxy } from '../test/tcp-proxy.ts';
import { DEFAULT_RECONNECT_BASE_DELAY_MS, DEFAULT_RECONNECT_MAX_DELAY_MS, reconnectDelayMs } from './backoff.ts';
import { generateKeyPair } from '../crypto/identity.ts';
import { Endpoint, type ConnectOptions } from './index.ts';

const backoff = { baseDelayMs: 250, maxDelayMs: 10_000 };

describe('reconnectDelayMs', () => {
  it('is a random point of [0, min(cap, base * 2^attempt))', () => {
    expect(reconnectDelayMs(0, backoff, () => 0)).toBe(0);
    expect(reconnectDelayMs(0, backoff, () => 0.5)).toBe(125);
    expect(reconnectDelayMs(0, backoff, () => 0.999_999)).toBe(249);
    expect(reconnectDelayMs(3, backoff, () => 0.5)).toBe(1000); // ceiling 250 * 8 = 2000
    expect(reconnectDelayMs(6, backoff, () => 0.5)).toBe(5000); // 250 * 64 = 16,000, capped at 10,000
    expect(reconnectDelayMs(10_000, backoff, () => 0.999_999)).toBe(9999); // 2^10000 overflows; still the cap
  });

  it('spreads the clients of one attempt over its whole window', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31; // deterministic
    const delays = Array.from({ length: 1000 }, () => reconnectDelayMs(2, backoff, random)); // window 1000 ms
    expect(Math.min(...delays)).toBeLessThan(50);
    expect(Math.max(...delays)).toBeGreaterThan(950);
    const buckets = new Set(delays.map((d) => Math.floor(d / 100)));
    expect(buckets.size).toBe(10); // every tenth of the window is used
  });

  it('has documented defaults: 250 ms base, 10 s cap', () => {
    expect(DEFAULT_RECONNECT_BASE_DELAY_MS).toBe(250);
    expect(DEFAULT_RECONNECT_MAX_DELAY_MS).toBe(10_000);
  });

  it('refuses a base or cap that is not a positive number of milliseconds, at connect', async () => {
    const { privateKey } = await generateKeyPair();
    const refused = (options: ConnectOptions) => Endpoint.connect(privateKey, 'solution', 'http://127.0.0.1:1', options).catch((e: unknown) => e);
    expect(await refused({ reconnectBaseDelayMs: 0 })).toMatchObject({
      reason: 'InvalidArgument',
      message: '"reconnectBaseDelayMs" expected a positive number of milliseconds, got 0',
    });
    expect(await refused({ reconnectMaxDelayMs: -1 })).toMatchObject({ reason: 'InvalidArgument', message: expect.stringContaining('"reconnectMaxDelayMs"') });
    expect(await refused({ reconnectBaseDelayMs: Number.NaN })).toMatchObject({ reason: 'InvalidArgument', message: expect.stringContaining('got NaN') });
    expect(await refused({ heartbeatIntervalMs: -1 })).toMatchObject({
      reason: 'InvalidArgument',
      message: '"heartbeatIntervalMs" expected a positive number of milliseconds or 0, got -1',
    });
    // 0 (no heartbeat) passes the check: the connection then fails only because nothing listens there.
    expect(await refused({ heartbeatIntervalMs: 0 })).toMatchObject({ reason: 'ConnectionLost' });
  });
});

describe('after a Bridge restart', () => {
  const CLIENTS = 10;
  let t: TestBridge;
  let tenant: Tenant;
  let clients: Client[] = [];

  beforeAll(async () => {
    t = await startBridge();
    const ids = Array.from({ length: CLIENTS }, (_, i) => `user${i}`);
    tenant = await setupTenant(t.bridge, ids);
    clients = await Promise.all(ids.map((id) => connectClient(t.bridge.url, tenant.solutionId, tenant.users[id]!)));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.connection.disconnect()));
    await t?.close();
  });

  it('the clients come back spread out, not all at once', async () => {
    const firstDelays: number[] = [];
    const backAt: number[] = [];
    for (const { connection } of clients) {
      let first = true;
      connection.on('reconnecting', ({ delayMs }) => {
        if (first) firstDelays.push(delayMs);
        first = false;
      });
      connection.on('reconnected', () => backAt.push(performance.now()));
    }
    const port = Number(new URL(t.bridge.url).port);
    await t.restart({ port });
    expect(t.bridge.url).toBe(clients[0]!.connection.bridgeUrl);
    await until(() => backAt.length === CLIENTS, 'every client reconnected', 30_000);

    expect(new Set(firstDelays).size).toBeGreaterThan(1);
    const spreadMs = Math.max(...backAt) - Math.min(...backAt);
    expect(spreadMs).toBeGreaterThan(50);
    // And they work again on the new Bridge.
    for (const { connection } of clients) expect(connection.state).toBe('connected');
    await clients[0]!.eventApi.subscribeFor([clients[0]!.eventApi.buildSubscriptionQuery('streamRoomCreated', 'contextId', tenant.contextId)]);
  });
});

describe('a reconnect attempt that fails after its socket opened', () => {
  it('stays one attempt of one loop: a hello refused for an expired session, then one login and one reconnect', async () => {
    let t!: TestBridge;
    let clockOffsetMs = 0;
    const proxy = await startTcpProxy(() => t.bridge.url);
    t = await startBridge({ loginUrls: [proxy.url], now: () => Date.now() + clockOffsetMs });
    try {
      const tenant = await setupTenant(t.bridge, ['alice']);
      const alice = await connectClient(proxy.url, tenant.solutionId, tenant.users.alice!, { connect: { reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 50 } });
      const log: string[] = [];
      for (const type of ['connectionLost', 'reconnecting', 'reconnected', 'disconnected'] as const) alice.connection.on(type, () => log.push(type));
      // The second attempt logs in again: by then the Bridge's clock is back, so the login's timestamp passes.
      alice.connection.on('reconnecting', ({ attempt }) => {
        if (attempt === 2) clockOffsetMs = 0;
      });
      clockOffsetMs = 25 * 3600 * 1000; // the session expired while the socket was away
      proxy.cutAll();
      await until(() => log.includes('reconnected'), 'reconnected', 5000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The first attempt's hello is refused, the second logs in first: no second loop, no second socket.
      expect(log).toEqual(['connectionLost', 'reconnecting', 'reconnecting', 'reconnected']);
      expect(t.bridge.realtime.connections.size).toBe(1);
      await alice.connection.disconnect();
    } finally {
      await t.close();
      await proxy.close();
    }
  });
});

describe('a Bridge that drops every socket right after it is up', () => {
  it('meets a growing backoff: each drop goes on from the attempt that brought the socket back, not from the first', async () => {
    let t!: TestBridge;
    const proxy = await startTcpProxy(() => t.bridge.url);
    t = await startBridge({ loginUrls: [proxy.url] });
    try {
      const tenant = await setupTenant(t.bridge, ['alice']);
      const alice = await connectClient(proxy.url, tenant.solutionId, tenant.users.alice!, {
        connect: { reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 5000 },
      });
      const attempts: Array<{ attempt: number; delayMs: number }> = [];
      alice.connection.on('reconnecting', ({ attempt, delayMs }) => attempts.push({ attempt, delayMs }));
      let flaps = 0;
      // Each time the socket is back (hello done, rooms restored), the path drops it again; five times.
      alice.connection.on('reconnected', () => {
        if (++flaps < 5) setTimeout(() => proxy.cutAll(), 10);
      });
      proxy.cutAll();
      await until(() => flaps === 5, 'five reconnects', 15_000);
      // One attempt per drop, every one counted on from the last: windows of 20, 40, 80, 160, 320 ms.
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5]);
      for (const { attempt, delayMs } of attempts) expect(delayMs).toBeLessThan(20 * 2 ** (attempt - 1));
      expect(alice.connection.state).toBe('connected');
      await alice.connection.disconnect();
    } finally {
      await t.close();
      await proxy.close();
    }
  });
});
