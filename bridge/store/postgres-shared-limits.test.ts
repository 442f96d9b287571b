/**
 * The PostgreSQL pieces that make limits hold across Bridges (docs/operations/limits.md, "Across
 * Bridges"), raced from two stores on one real database as two Bridges would: a fixed-window counter
 * counts every concurrent hit once, and room slot claims never let a room past its caps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import { PostgresStore } from './postgres.ts';

let server: TestPostgres;
let stores: PostgresStore[];

beforeAll(async () => {
  server = await startPostgres();
  const url = await server.createDatabase();
  stores = [await PostgresStore.open({ url }), await PostgresStore.open({ url })];
});
afterAll(async () => {
  for (const store of stores ?? []) await store.close();
  await server?.destroy();
});

describe('shared limits on PostgreSQL', () => {
  it('counts 100 concurrent hits of one key from two stores exactly once each', async () => {
    // A window of 2^40 ms (about 35 years): the run cannot straddle its end.
    const windowMs = 2 ** 40;
    const hits = await Promise.all(Array.from({ length: 100 }, (_, i) => stores[i % 2]!.rateWindows.hit(['race:key'], windowMs)));
    expect(hits.map(([w]) => w!.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const [key, other] = await stores[0]!.rateWindows.counts(['race:key', 'race:other'], windowMs);
    expect(key!.count).toBe(100);
    expect(other).toEqual({ count: 0, resetsInMs: 0 });
  });

  it('room slot claims raced from two stores never pass the caps', async () => {
    const caps = { maxParticipantsPerRoom: 5, maxConnectionsPerUserInRoom: 2 };
    // 20 users, each with two connections, racing for a room of 5 users.
    const claims = await Promise.all(
      Array.from({ length: 40 }, (_, i) => stores[i % 2]!.roomSlots.claim('room_race', `conn_${i}`, `user_${i % 20}`, `origin_${i % 2}`, caps)),
    );
    const ok = claims.map((c, i) => [c, `user_${i % 20}`] as const).filter(([c]) => c === 'ok');
    expect(new Set(ok.map(([, user]) => user)).size).toBe(5);
    expect(claims.filter((c) => c === 'ROOM_FULL').length).toBe(40 - ok.length);
    // A third connection of an admitted user is past its own cap.
    const admitted = ok[0]![1];
    const third = await stores[0]!.roomSlots.claim('room_race', 'conn_third', admitted, 'origin_0', caps);
    expect(third).toBe(ok.filter(([, user]) => user === admitted).length >= 2 ? 'TOO_MANY_CONNECTIONS' : 'ok');
    // A repeated claim changes nothing; a release frees the slot for another user.
    expect(await stores[1]!.roomSlots.claim('room_race', 'conn_0', 'user_0', 'origin_0', caps)).toBe(ok.some(([, u]) => u === 'user_0') ? 'ok' : 'ROOM_FULL');
    await stores[0]!.roomSlots.releaseOrigin('origin_0');
    await stores[1]!.roomSlots.releaseOrigin('origin_1');
    expect(await stores[1]!.roomSlots.claim('room_race', 'conn_new', 'user_new', 'origin_1', caps)).toBe('ok');
  });
});
