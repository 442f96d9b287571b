/**
 * Rate limits across two Bridges on one real PostgreSQL and one real nats-server
 * (docs/operations/limits.md, "Across Bridges"): a user who spreads room writes, or an address that
 * spreads failed logins, over both Bridges gets what one Bridge allows; when the shared counters fail,
 * each Bridge falls back to its own window (a per-Bridge limit) instead of refusing everybody.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, rest, setupTenant, signedLogin, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { startNats, type TestNats } from '../../test/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';

const WRITES = 6;
const FAILURES = 4;

let pgServer: TestPostgres;
let nats: TestNats;
let store: string;
let a: TestBridge;
let b: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  [pgServer, nats] = await Promise.all([startPostgres(), startNats()]);
  store = await pgServer.createDatabase();
  const limits = { writesPerUserPerMinute: WRITES, loginFailuresPerKey: FAILURES, loginFailuresPerAddress: 1000, loginWindowSeconds: 60 };
  a = await startBridge({ store, nats: nats.url, limits: limits as never });
  b = await startBridge({ store, nats: nats.url, limits: limits as never, apiKey: a.bridge.initialApiKey! });
  tenant = await setupTenant(a.bridge, ['alice', 'bob', 'carol', 'dave', 'erin']);
  for (const id of ['alice', 'dave']) tokens[id] = await login(a.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await b?.close();
  await a?.close();
  await Promise.all([nats?.destroy(), pgServer?.destroy()]);
});

async function sql(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: store });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * Waits, when needed, until at least `needMs` are left in the database's current window of `windowMs`,
 * so a run never straddles a window's end (which would reset the counts halfway).
 */
async function roomInWindow(windowMs: number, needMs: number): Promise<void> {
  const { rows } = await sql('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms');
  const left = windowMs - (Number(rows[0].ms) % windowMs);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 100));
}

/** A room write through `t` (a delete of a room that does not exist: it counts before anything is read). */
async function write(t: TestBridge, token: string): Promise<number> {
  return (await rest(t.bridge.url, token).del('/v1/rooms/room_doesnotexist_0000')).status;
}

describe('limits across two Bridges', () => {
  it('room writes spread over A and B are refused past what one Bridge allows', async () => {
    await roomInWindow(60_000, 20_000);
    const statuses: number[] = [];
    for (let i = 0; i < 2 * WRITES; i++) statuses.push(await write(i % 2 === 0 ? a : b, tokens.alice!));
    // Each Bridge saw only WRITES / 2 of them: the refusals come from the shared count.
    expect(statuses.slice(0, WRITES).filter((s) => s === 429)).toEqual([]);
    expect(statuses.slice(WRITES)).toEqual(Array(WRITES).fill(429));
    const refused = await rest(b.bridge.url, tokens.alice).del('/v1/rooms/room_doesnotexist_0000');
    expect(refused.body).toMatchObject({ error: { code: 'RATE_LIMITED', details: { limit: WRITES } } });
    const { retryAfter } = (refused.body as { error: { retryAfter: number } }).error;
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(a.bridge.counters.rooms.writesRateLimited).toBeGreaterThan(0);
    expect(b.bridge.counters.rooms.writesRateLimited).toBeGreaterThan(0);
  });

  it('failed logins of one key from one address, spread over A and B, lock it out on both', async () => {
    await roomInWindow(60_000, 20_000);
    const carol = tenant.users.carol!;
    const statuses: number[] = [];
    for (let i = 0; i < 2 * FAILURES; i++) {
      const t = i % 2 === 0 ? a : b;
      // A signature over a timestamp hours off: AUTH_FAILED, a counted failure.
      const attempt = await signedLogin(t.bridge.url, tenant.solutionId, carol, { timestamp: Date.now() - 36_000_000 });
      statuses.push((await rest(t.bridge.url).post('/v1/auth/session', attempt)).status);
    }
    expect(statuses.slice(0, FAILURES)).toEqual(Array(FAILURES).fill(401));
    expect(statuses.slice(FAILURES)).toEqual(Array(FAILURES).fill(429));
    // A correct signature from the same address is refused too, on both, until the window ends.
    for (const t of [a, b]) {
      const reply = await rest(t.bridge.url).post('/v1/auth/session', await signedLogin(t.bridge.url, tenant.solutionId, carol));
      expect(reply.status).toBe(429);
    }
    // Another key from the same address is not affected.
    expect(await login(b.bridge.url, tenant.solutionId, tenant.users.bob!)).toEqual(expect.any(String));
  });

  it("a login on B clears the key's failures counted on A and B", async () => {
    await roomInWindow(60_000, 20_000);
    const dave = tenant.users.dave!;
    const fail = async (t: TestBridge) => {
      const attempt = await signedLogin(t.bridge.url, tenant.solutionId, dave, { timestamp: Date.now() - 36_000_000 });
      return (await rest(t.bridge.url).post('/v1/auth/session', attempt)).status;
    };
    const statuses: number[] = [];
    for (let i = 0; i < FAILURES - 1; i++) statuses.push(await fail(i % 2 === 0 ? a : b));
    expect(await login(b.bridge.url, tenant.solutionId, dave)).toEqual(expect.any(String));
    // Counted from zero again: FAILURES - 1 more are failures, not refusals.
    for (let i = 0; i < FAILURES - 1; i++) statuses.push(await fail(i % 2 === 0 ? a : b));
    expect(statuses).toEqual(Array(2 * (FAILURES - 1)).fill(401));
    expect(await fail(a)).toBe(401);
    expect(await fail(b)).toBe(429);
  });

  it('shared counters failing: each Bridge falls back to its own window, nobody is refused for it', async () => {
    await roomInWindow(60_000, 20_000);
    const before = [a.bridge.counters.rooms.writeLimitFallbacks, b.bridge.counters.rooms.writeLimitFallbacks];
    // The shared counters break (their table is gone); the rest of the store works.
    await sql('ALTER TABLE rate_windows RENAME TO rate_windows_away');
    try {
      const atA: number[] = [];
      for (let i = 0; i <= WRITES; i++) atA.push(await write(a, tokens.dave!));
      const atB: number[] = [];
      for (let i = 0; i <= WRITES; i++) atB.push(await write(b, tokens.dave!));
      // Per Bridge: WRITES each, then refused; twice the rate over the two (the sharing is what holds it).
      for (const statuses of [atA, atB]) {
        expect(statuses.slice(0, WRITES)).toEqual(Array(WRITES).fill(404));
        expect(statuses[WRITES]).toBe(429);
      }
      expect(a.bridge.counters.rooms.writeLimitFallbacks).toBeGreaterThan(before[0]!);
      expect(b.bridge.counters.rooms.writeLimitFallbacks).toBeGreaterThan(before[1]!);
      // Failed logins too: FAILURES on each Bridge before its own window refuses the key.
      for (const t of [a, b]) {
        const statuses: number[] = [];
        for (let i = 0; i <= FAILURES; i++) {
          const attempt = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.erin!, { timestamp: Date.now() - 36_000_000 });
          statuses.push((await rest(t.bridge.url).post('/v1/auth/session', attempt)).status);
        }
        expect(statuses).toEqual([...Array(FAILURES).fill(401), 429]);
      }
    } finally {
      await sql('ALTER TABLE rate_windows_away RENAME TO rate_windows');
    }
  });
});
