/**
 * The per-user and per-session socket caps across two Bridges on one real PostgreSQL and one real
 * nats-server (docs/operations/limits.md, "Across Bridges"; bridge/cluster/socket-caps.ts): a user's
 * sockets on both Bridges count toward one cap, and the oldest closes with 4410 wherever it is; cut off
 * from NATS, a Bridge counts its own sockets only (per-Bridge), and when it is back the caps hold again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE } from '../../protocol/ws.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { startNats, startNatsGate, type NatsGate, type TestNats } from '../../test/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import { eventually, TestClient } from '../realtime/test-client.ts';

const PER_USER = 3;
const PER_SESSION = 2;

let pg: TestPostgres;
let nats: TestNats;
let gate: NatsGate;
let a: TestBridge;
let b: TestBridge;
let tenant: Tenant;
const clients: TestClient[] = [];

beforeAll(async () => {
  [pg, nats] = await Promise.all([startPostgres(), startNats()]);
  const store = await pg.createDatabase();
  const realtime = { maxSocketsPerUser: PER_USER, maxSocketsPerSession: PER_SESSION } as never;
  a = await startBridge({ store, nats: nats.url, realtime });
  gate = await startNatsGate(nats);
  b = await startBridge({ store, nats: gate.url, realtime, apiKey: a.bridge.initialApiKey! });
  tenant = await setupTenant(a.bridge, ['alice', 'bob', 'carol']);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await b?.close();
  await a?.close();
  await gate?.close();
  await Promise.all([nats?.destroy(), pg?.destroy()]);
});

const token = (id: string) => login(a.bridge.url, tenant.solutionId, tenant.users[id]!);
const remote = (t: TestBridge) => t.bridge.cluster!.sockets.remoteSockets();

/** A socket through `t`, once the other Bridge knows it (so the next one is ranked after it). */
async function open(t: TestBridge, tok: string, other: TestBridge): Promise<TestClient> {
  const c = await TestClient.connect(t.bridge.url, tok);
  clients.push(c);
  await eventually(() => other.bridge.cluster!.sockets.knows(c.connectionId), 'the other Bridge to know the new socket');
  return c;
}

/** Whether the socket is still open a moment later (a close would have arrived by then). */
async function stillOpen(c: TestClient): Promise<boolean> {
  return Promise.race([c.closed.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 300))]);
}

describe('socket caps across two Bridges', () => {
  it("a user's sockets on A and B share one cap: the oldest closes with 4410 wherever it is", async () => {
    // Separate sessions: only the per-user cap applies.
    const tokens = await Promise.all(Array.from({ length: 5 }, () => token('alice')));
    const s1 = await open(a, tokens[0]!, b);
    const s2 = await open(b, tokens[1]!, a);
    const s3 = await open(a, tokens[2]!, b);
    const replacedAtA = a.bridge.realtime.counters.socketsReplaced;
    // The fourth, on B: A closes alice's oldest (s1), which B alone could not see past its cap.
    const s4 = await open(b, tokens[3]!, a);
    expect(await s1.closed).toMatchObject({ code: CLOSE.replaced, reason: `replaced: more than ${PER_USER} sockets for this user` });
    expect(a.bridge.realtime.counters.socketsReplaced).toBe(replacedAtA + 1);
    expect(a.bridge.cluster!.stats().socketsReplacedRemotely).toBeGreaterThanOrEqual(1);
    // The fifth, on A: now the oldest is s2, on B.
    const s5 = await open(a, tokens[4]!, b);
    expect((await s2.closed).code).toBe(CLOSE.replaced);
    for (const c of [s3, s4, s5]) expect(await stillOpen(c)).toBe(true);
    // Other users are not touched.
    const bob = await open(b, await token('bob'), a);
    expect(await stillOpen(bob)).toBe(true);
    expect(await stillOpen(s3)).toBe(true);
  });

  it('sockets opened at the same moment on A and B: exactly the cap stays open', async () => {
    const tokens = await Promise.all(Array.from({ length: PER_USER + 3 }, () => token('alice')));
    const opened = await Promise.all(tokens.map((tok, i) => TestClient.connect((i % 2 === 0 ? a : b).bridge.url, tok)));
    clients.push(...opened);
    const open = () => opened.filter((c) => !closedCodes.has(c));
    const closedCodes = new Map<TestClient, number>();
    for (const c of opened) void c.closed.then(({ code }) => closedCodes.set(c, code));
    await eventually(() => open().length === PER_USER, `${PER_USER} of alice's sockets left open`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(open()).toHaveLength(PER_USER);
    expect([...closedCodes.values()]).toEqual(Array(3).fill(CLOSE.replaced));
    await Promise.all(opened.map((c) => c.close()));
  });

  it("one session's sockets on A and B share its cap", async () => {
    const tok = await token('carol');
    const s1 = await open(a, tok, b);
    const s2 = await open(b, tok, a);
    const s3 = await open(b, tok, a);
    expect((await s1.closed).code).toBe(CLOSE.replaced);
    for (const c of [s2, s3]) expect(await stillOpen(c)).toBe(true);
    await Promise.all([s2, s3].map((c) => c.close()));
  });

  it('cut off from NATS, a Bridge counts its own sockets only; back, the caps hold across both again', async () => {
    const tokens = await Promise.all(Array.from({ length: 6 }, () => token('bob')));
    for (const c of clients) if (c !== undefined) void c.close();
    await eventually(() => remote(a) === 0 && remote(b) === 0, 'no sockets left on either Bridge');
    const atA = [];
    for (const tok of tokens.slice(0, PER_USER)) atA.push(await open(a, tok, b));
    gate.cut(3000);
    await eventually(() => !b.bridge.cluster!.available, 'B off NATS', 10_000);
    expect(remote(b)).toBe(0);
    // B alone: up to the cap of its own, though A holds the cap already (per-Bridge, not refused).
    const atB = [];
    for (const tok of tokens.slice(PER_USER)) {
      const c = await TestClient.connect(b.bridge.url, tok);
      clients.push(c);
      atB.push(c);
    }
    for (const c of [...atA, ...atB]) expect(await stillOpen(c)).toBe(true);
    // Back on NATS: both hear each other's sockets, and bob's oldest three (all on A) close.
    await eventually(() => b.bridge.cluster!.available, 'B back on NATS', 15_000);
    for (const c of atA) expect((await c.closed).code).toBe(CLOSE.replaced);
    for (const c of atB) expect(await stillOpen(c)).toBe(true);
    await eventually(() => remote(a) === PER_USER && remote(b) === 0, 'the Bridges agree on the sockets left');
  }, 30_000);
});
