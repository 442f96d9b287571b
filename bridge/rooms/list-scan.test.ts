/**
 * A listing with `queryAsJson` cannot freeze the Bridge (docs/operations/limits.md, "Listings with
 * queryAsJson"): the filter runs in slices of at most `SCAN_SLICE_MS` that take turns with every other
 * request, and its total work is bounded by `listScanBytes` (422 QUERY_TOO_COSTLY past it). The attack:
 * `$or` of 64 x `$in[64]` over rooms with 58 KB JSON public meta, which SQLite took 450 ms a room for.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, rest, setupTenant, slowestAnswer as probeSlowest, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { genesis } from '../../test/rooms.ts';

const LIST_SCAN_BYTES = 2 * 1024 * 1024;
let t: TestBridge;
/** 20 rooms of ~58 KB meta (1.2 MB in all): within the budget. */
let small: Tenant;
/** 48 rooms of ~58 KB meta (2.8 MB in all): past the budget. */
let large: Tenant;
const tokens: Record<string, string> = {};
// Latency bounds are wall-clock: on a loaded machine another process can hold the CPU past them, so the
// tests that assert them retry; a real regression (the attacks took seconds) fails every attempt.

/** ~58 KB of JSON: 1,000 short fields, a tag that the attack's filter looks for, and a number. */
function meta(i: number): object {
  const fields = Object.fromEntries(Array.from({ length: 1000 }, (_, f) => [`field${f}`, `value-${i}-${f}-${'v'.repeat(32)}`]));
  return { tag: `t${i % 4}`, n: i, ...fields };
}

async function fill(tenant: Tenant, user: string, rooms: number): Promise<void> {
  const author = tenant.users[user]!;
  for (let i = 0; i < rooms; i++) {
    const built = await genesis(tenant.contextId, author, { users: [author], managers: [author], publicMeta: meta(i) });
    expect((await rest(t.bridge.url, tokens[user]).post('/v1/rooms', built.request)).status).toBe(201);
  }
}

beforeAll(async () => {
  // Five of one user's listings at once, to see their slices take turns (the default allows two).
  t = await startBridge({ limits: { listScanBytes: LIST_SCAN_BYTES, filteredListingsPerUser: 5 } as never });
  small = await setupTenant(t.bridge, ['mallory', 'alice'], 'small');
  large = await setupTenant(t.bridge, ['oscar'], 'large');
  tokens.mallory = await login(t.bridge.url, small.solutionId, small.users.mallory!);
  tokens.alice = await login(t.bridge.url, small.solutionId, small.users.alice!);
  tokens.oscar = await login(t.bridge.url, large.solutionId, large.users.oscar!);
  await fill(small, 'mallory', 20);
  await fill(large, 'oscar', 48);
}, 60_000);
afterAll(() => t.close());

/**
 * `$or` of 64 clauses, each `$in` of 64 numbers (14 KB: it fits the URL). Clause 0 is over `n` and
 * holds 1, 5, 9, 13 and 17: those 5 rooms of the 20 match. The others are over string fields: no match.
 */
const attack = JSON.stringify({
  $or: Array.from({ length: 64 }, (_, c) =>
    c === 0
      ? { n: { $in: [1, 5, 9, 13, 17, ...Array.from({ length: 59 }, (_, v) => 100 + v)] } }
      : { [`field${c}`]: { $in: Array.from({ length: 64 }, (_, v) => v) } },
  ),
});

// encodeURI leaves `,:$` as they are, which keeps the request line under Node's 16 KiB header limit.
const listPath = (tenant: Tenant, query: string) => `/v1/contexts/${tenant.contextId}/rooms?limit=100&queryAsJson=${encodeURI(query)}`;

/** While `during` runs, alice asks `/healthz` and `/v1/me` every 10 ms; returns the slowest answer in ms. */
const slowestAnswer = (during: () => Promise<unknown>) => probeSlowest(t.bridge.url, tokens.alice!, during, 10);

describe('a costly queryAsJson listing', () => {
  it('gets a correct answer, in slices: the event loop and other users are never held up', { retry: 2 }, async () => {
    const delay = monitorEventLoopDelay({ resolution: 5 });
    let replies: Array<{ status: number; body: any }> = [];
    delay.enable();
    const worst = await slowestAnswer(async () => {
      // Five at once: their slices take turns, one per turn of the event loop.
      replies = await Promise.all(Array.from({ length: 5 }, () => rest(t.bridge.url, tokens.mallory).get(listPath(small, attack))));
    });
    delay.disable();
    for (const reply of replies) {
      expect(reply.status).toBe(200);
      expect(reply.body.totalAvailable).toBe(5);
      expect(reply.body.readItems).toHaveLength(5);
    }
    expect(worst).toBeLessThan(200);
    // A slice is SCAN_SLICE_MS (list-scan.ts) and a room; the longest stretch measured on an idle machine is ~40 ms
    // (first calls, GC). The bound leaves room for a loaded test machine; the SQL filter held it 5-9 s.
    expect(delay.max / 1e6).toBeLessThan(200);
  });

  it('past listScanBytes: 422 QUERY_TOO_COSTLY, counted, and others answered meanwhile', { retry: 2 }, async () => {
    const before = t.bridge.counters.rooms.listingsTooCostly;
    let replies: Array<{ status: number; body: any }> = [];
    const worst = await slowestAnswer(async () => {
      replies = await Promise.all(Array.from({ length: 5 }, () => rest(t.bridge.url, tokens.oscar).get(listPath(large, attack))));
    });
    for (const reply of replies) {
      expect(reply.status).toBe(422);
      expect(reply.body.error).toMatchObject({ code: 'QUERY_TOO_COSTLY', details: { limit: LIST_SCAN_BYTES } });
    }
    expect(t.bridge.counters.rooms.listingsTooCostly - before).toBe(5);
    expect(worst).toBeLessThan(200);
    // The same rooms without a filter list as before: the budget is the filter's.
    const plain = await rest(t.bridge.url, tokens.oscar).get(`/v1/contexts/${large.contextId}/rooms?limit=10`);
    expect(plain.status).toBe(200);
    expect(plain.body.totalAvailable).toBe(48);
  });

  it('refuses a user more than filteredListingsPerUser at once with RATE_LIMITED; another user is answered meanwhile', async () => {
    const before = t.bridge.counters.rooms.listingsRateLimited;
    // The listings wait at the store until the test lets them go, so five are in progress at once
    // however fast the machine answers.
    const store = t.bridge.store;
    const scan = store.scanRooms.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    store.scanRooms = async (...args) => {
      await gate;
      return scan(...args);
    };
    let answered = 0;
    try {
      const mine = Array.from({ length: 8 }, () =>
        rest(t.bridge.url, tokens.mallory)
          .get(listPath(small, attack))
          .finally(() => answered++),
      );
      const other = rest(t.bridge.url, tokens.alice).get(listPath(small, attack));
      for (const deadline = Date.now() + 5000; answered < 3 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
      release();
      const replies = await Promise.all(mine);
      expect(replies.filter((r) => r.status === 200)).toHaveLength(5);
      const refused = replies.filter((r) => r.status === 429);
      expect(refused).toHaveLength(3);
      for (const r of refused) expect(r.body.error).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringContaining('at most 5 filtered listings') });
      expect(t.bridge.counters.rooms.listingsRateLimited - before).toBe(3);
      expect((await other).status).toBe(200);
    } finally {
      release();
      store.scanRooms = scan;
    }
    // Slots are given back: the next one goes through.
    expect((await rest(t.bridge.url, tokens.mallory).get(listPath(small, attack))).status).toBe(200);
  });

  it('counts $contains over long arrays into the budget', async () => {
    const author = small.users.mallory!;
    // One room whose meta is an array of 30,000 numbers (~60 KB): 64 $contains read it 64 times.
    const built = await genesis(small.contextId, author, { users: [author], managers: [author], publicMeta: { list: Array(30_000).fill(0) } });
    expect((await rest(t.bridge.url, tokens.mallory).post('/v1/rooms', built.request)).status).toBe(201);
    const contains = JSON.stringify({ $or: Array.from({ length: 64 }, (_, i) => ({ list: { $contains: i + 1 } })) });
    const reply = await rest(t.bridge.url, tokens.mallory).get(listPath(small, contains));
    expect(reply.status).toBe(422);
    expect(reply.body.error.code).toBe('QUERY_TOO_COSTLY');
    // One $contains is cheap enough, and finds what it looks for.
    const one = await rest(t.bridge.url, tokens.mallory).get(listPath(small, JSON.stringify({ list: { $contains: 0 } })));
    expect(one.status).toBe(200);
    expect(one.body.readItems.map((r: { roomId: string }) => r.roomId)).toEqual([built.record.roomId]);
  });
});
