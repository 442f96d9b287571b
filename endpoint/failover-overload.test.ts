/**
 * Failover past a saturated Bridge (docs/operations/failover.md, docs/operations/limits.md "Overload"),
 * on real Bridges of one cluster (a real PostgreSQL and nats-server) in this process. A and C refuse
 * new work from their first window on: their `overload` options make every window saturated (lag
 * over 0.1 µs; the monitor's smallest sample is 1 µs) and none calm again, so they stay refusing for
 * certain. D turns saturated when the test blocks this process's loop (its Bridge's) past D's 2 s
 * threshold. B's gate is off. M is a man in the middle in front of A that turns A's OVERLOADED error
 * into noise, so that only the close 1013 reaches the client.
 *
 * `connect` given [A, B] lands on B; given only refusing Bridges it fails with `RateLimited` and the
 * shortest wait. The reconnect loop leaves a Bridge that turned saturated for the next one at once, and
 * does not ask a refusing Bridge again before its wait is out while another is free.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../test/harness.ts';
import { startNats, type TestNats } from '../test/nats.ts';
import { startPostgres, type TestPostgres } from '../test/postgres.ts';
import { startTcpProxy, type TcpProxy } from '../test/tcp-proxy.ts';
import { startWsMitm, type WsMitm } from '../test/procs/ws-mitm.ts';
import type { Connection, ConnectionEvents } from './connection.ts';
import { Endpoint } from './endpoint.ts';
import { refusal, startKit, until, type Kit } from './realtime/test-kit.ts';

/** Saturated from the first window on, for good; `retryAfterSeconds` as given. */
const stuck = (retryAfterSeconds: number) => ({
  enterLagMs: 0.0001,
  exitLagMs: 0.0001,
  windowMs: 50,
  enterWindows: 1,
  exitWindows: 1,
  minCpuShare: 0,
  admitGraceMs: 0,
  retryAfterSeconds,
});
/** D's threshold: over any lag this process shows by itself (tens of ms, a few hundred at worst). */
const D_ENTER_LAG_MS = 2000;

let pgServer: TestPostgres;
let nats: TestNats;
let store: string;
/** B, with alice and bob; its gate is off. */
let kit: Kit;
let a: TestBridge;
let c: TestBridge;
let d: TestBridge;
/** In front of B; closed in the last test. */
let toB: TcpProxy;
/** In front of D; its connections are cut. */
let toD: TcpProxy;
/** In front of A: A's OVERLOADED error does not get through, its close 1013 does. */
let mitmA: WsMitm;
/** A URL nothing listens on. */
let deadUrl: string;
const connections: Connection[] = [];

beforeAll(async () => {
  [pgServer, nats] = await Promise.all([startPostgres(), startNats()]);
  store = await pgServer.createDatabase();
  // The proxies exist before their Bridges, whose `loginUrls` name them (a login signs the URL used).
  toB = await startTcpProxy(() => kit.t.bridge.url);
  toD = await startTcpProxy(() => d.bridge.url);
  mitmA = await startWsMitm(
    () => a.bridge.url,
    () => 'pass',
    { downText: (text) => (text.includes('"OVERLOADED"') ? '{}' : text) },
  );
  const dead = await startTcpProxy('http://127.0.0.1:9');
  deadUrl = dead.url;
  await dead.close();
  kit = await startKit(['alice', 'bob', 'carol'], { store, nats: nats.url, loginUrls: [toB.url] });
  const shared = { store, nats: nats.url, apiKey: kit.t.bridge.initialApiKey! };
  a = await startBridge({ ...shared, overload: stuck(3), loginUrls: [mitmA.url] });
  c = await startBridge({ ...shared, overload: stuck(1) });
  d = await startBridge({ ...shared, overload: { ...stuck(30), enterLagMs: D_ENTER_LAG_MS }, loginUrls: [toD.url] });
  await until(() => a.bridge.overload.overloaded && c.bridge.overload.overloaded, 'A and C to refuse new work');
}, 30_000);
afterAll(async () => {
  await Promise.all(connections.map((x) => x.disconnect()));
  await kit?.close();
  await Promise.all([a?.close(), c?.close(), d?.close(), toB?.close(), toD?.close(), mitmA?.close()]);
  await Promise.all([nats?.destroy(), pgServer?.destroy()]);
});

/** The sessions the shared store holds for a key (each login makes one). */
async function sessionsOf(publicKey: string): Promise<number> {
  const db = new pg.Client({ connectionString: store });
  await db.connect();
  try {
    const { rows } = await db.query<{ n: string }>('SELECT COUNT(*) AS n FROM sessions WHERE public_key = $1', [publicKey]);
    return Number(rows[0]!.n);
  } finally {
    await db.end();
  }
}

async function connect(user: string, urls: string[], options = {}): Promise<Connection> {
  const connection = await Endpoint.connect(kit.tenant.users[user]!.privateKey, kit.tenant.solutionId, urls, options);
  connections.push(connection);
  return connection;
}

/** `reconnecting` events with the time each was announced. */
function attempts(connection: Connection): Array<ConnectionEvents['reconnecting'] & { at: number }> {
  const log: Array<ConnectionEvents['reconnecting'] & { at: number }> = [];
  connection.on('reconnecting', (event) => log.push({ ...event, at: Date.now() }));
  return log;
}

const helloRefusals = (t: TestBridge) => t.bridge.overload.counters.refused.hello ?? 0;

describe('connect with several Bridges', () => {
  it('passes over a saturated Bridge (OVERLOADED, or only a close 1013) and logs in afresh at the next', { timeout: 30_000 }, async () => {
    const alice = kit.tenant.users.alice!;
    const refusedBefore = helloRefusals(a);
    const sessionsBefore = await sessionsOf(alice.publicKey);
    const connection = await connect('alice', [a.bridge.url, kit.t.bridge.url]);
    expect(connection.bridgeUrl).toBe(kit.t.bridge.url);
    expect(connection.state).toBe('connected');
    expect(helloRefusals(a)).toBe(refusedBefore + 1);
    // A login at A, then one of its own at B: A's token went nowhere else.
    expect(await sessionsOf(alice.publicKey)).toBe(sessionsBefore + 2);

    const behindMitm = await connect('bob', [mitmA.url, kit.t.bridge.url]);
    expect(behindMitm.bridgeUrl).toBe(kit.t.bridge.url);
    expect(helloRefusals(a)).toBe(refusedBefore + 2);
  });

  it('fails with RateLimited and the shortest wait only when every Bridge refused', { timeout: 30_000 }, async () => {
    const carol = kit.tenant.users.carol!;
    const attempt = (urls: string[]) => refusal(Endpoint.connect(carol.privateKey, kit.tenant.solutionId, urls));
    const shown = (e: { reason: string; bridgeCode: string | undefined; retryAfterMs: number | undefined }) => ({
      reason: e.reason,
      bridgeCode: e.bridgeCode,
      retryAfterMs: e.retryAfterMs,
    });
    const overloaded = (retryAfterMs: number | undefined) => ({ reason: 'RateLimited', bridgeCode: 'OVERLOADED', retryAfterMs });
    // A asks for 3 s, C for 1 s: the shortest, wherever it stands in the list.
    expect(shown(await attempt([a.bridge.url, c.bridge.url]))).toEqual(overloaded(1000));
    expect(shown(await attempt([c.bridge.url, a.bridge.url]))).toEqual(overloaded(1000));
    // A Bridge that cannot be reached does not hide a saturated one's answer.
    expect(shown(await attempt([a.bridge.url, deadUrl]))).toEqual(overloaded(3000));
    expect((await attempt([deadUrl])).reason).toBe('ConnectionLost');
    // Only a close 1013 (no wait named): still OVERLOADED; a named wait is preferred to none.
    const closeOnly = await attempt([mitmA.url]);
    expect(shown(closeOnly)).toEqual(overloaded(undefined));
    expect(closeOnly.message).toContain('1013');
    expect(shown(await attempt([mitmA.url, a.bridge.url]))).toEqual(overloaded(3000));
  });
});

describe('the reconnect loop', () => {
  it('goes on to the next Bridge when its own turned saturated, without waiting out its retryAfter', { timeout: 30_000 }, async () => {
    const connection = await connect('bob', [toD.url, kit.t.bridge.url], { reconnectBaseDelayMs: 50 });
    expect(connection.bridgeUrl).toBe(toD.url);
    const log = attempts(connection);
    const changed: Array<ConnectionEvents['bridgeChanged']> = [];
    connection.on('bridgeChanged', (event) => changed.push(event));
    // Saturates D for certain: its monitor's timer cannot run while this loop is busy.
    const busyUntil = performance.now() + D_ENTER_LAG_MS + 300;
    while (performance.now() < busyUntil) {
      // busy
    }
    await until(() => d.bridge.overload.overloaded, 'D to refuse new work');
    const refusedBefore = helloRefusals(d);
    toD.cutAll();
    await until(() => changed.length === 1, 'the failover to B', 10_000);
    expect(changed).toEqual([{ bridgeUrl: kit.t.bridge.url, previousBridgeUrl: toD.url }]);
    // Back to D first (the Bridge it was on), refused; then B at once: the backoff only (under 2 x 50 ms), not D's 10 s.
    expect(log.map((e) => e.bridgeUrl)).toEqual([toD.url, kit.t.bridge.url]);
    expect(log[1]!.delayMs).toBeLessThan(100);
    expect(helloRefusals(d)).toBe(refusedBefore + 1);
  });

  it('does not ask a refusing Bridge again before its wait is out while another one is free', { timeout: 30_000 }, async () => {
    const connection = await connect('carol', [toB.url, a.bridge.url], { reconnectBaseDelayMs: 50, reconnectMaxDelayMs: 10_000 });
    expect(connection.bridgeUrl).toBe(toB.url);
    const log = attempts(connection);
    // B's proxy gone: attempts there fail at once (ConnectionLost); A refuses with a 3 s wait.
    await toB.close();
    await until(() => log.length >= 6, 'six reconnect attempts', 20_000);
    await connection.disconnect();
    expect(log[0]!.bridgeUrl).toBe(toB.url);
    expect(log[1]!.bridgeUrl).toBe(a.bridge.url);
    // A's refusal came after its attempt started: its wait runs until 3 s after that at the earliest.
    // Every attempt chosen before then goes to B, and none may start at A before then (15 ms for timers).
    const waitOut = log[1]!.at + log[1]!.delayMs + 3000 - 15;
    for (const later of log.slice(2)) {
      if (later.at < waitOut) expect(later.bridgeUrl).toBe(toB.url);
      if (later.bridgeUrl === a.bridge.url) expect(later.at + later.delayMs).toBeGreaterThanOrEqual(waitOut);
    }
  });
});
