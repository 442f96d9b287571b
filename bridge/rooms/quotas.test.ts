/**
 * Quotas on what one user can make the Bridge store (docs/operations/limits.md, "Quotas"): rooms per
 * context (409 CONTEXT_ROOM_QUOTA), versions per room (409 ROOM_VERSION_QUOTA, never compaction) and
 * room writes per user per minute (429 RATE_LIMITED with Retry-After).
 */
import { statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../store/sqlite.ts';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { genesis, successor, verifiedHead } from '../../test/rooms.ts';
import type { TestUser } from '../../test/identities.ts';
import { verifyGenesis } from '../../protocol/room-chain.ts';

const ROOMS_PER_CONTEXT = 6;
const VERSIONS_PER_ROOM = 4;
const WRITES_PER_MINUTE = 20;
let clock = Date.now();
let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
// Latency bounds are wall-clock: on a loaded machine another process can hold the CPU past them, so the
// tests that assert them retry; a real regression (the attacks took seconds) fails every attempt.

beforeAll(async () => {
  t = await startBridge({
    now: () => clock,
    limits: { roomsPerContext: ROOMS_PER_CONTEXT, versionsPerRoom: VERSIONS_PER_ROOM, writesPerUserPerMinute: WRITES_PER_MINUTE } as never,
  });
  tenant = await setupTenant(t.bridge, ['mallory', 'alice']);
  for (const id of ['mallory', 'alice']) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(() => t.close());

const user = (id: string): TestUser => tenant.users[id]!;
/** Every test starts in a fresh rate-limit window. */
const nextMinute = () => (clock += 61_000);
const solo = (u: TestUser, publicMeta?: Uint8Array) => ({ users: [u], managers: [u], ...(publicMeta === undefined ? {} : { publicMeta }) });

async function create(id: string, publicMeta?: Uint8Array) {
  const built = await genesis(tenant.contextId, user(id), solo(user(id), publicMeta));
  return { built, reply: await rest(t.bridge.url, tokens[id]).post('/v1/rooms', built.request) };
}

/** A raw HTTP/1.1 request on its own connection, as a flooding client sends it: status and Retry-After. */
function rawPost(path: string, token: string, body: string): Promise<{ status: number; retryAfter: string | undefined; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(t.bridge.url).port) }, () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`,
      );
      socket.write(body);
    });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    // The Bridge may close before it has read the whole body: that is the point of refusing early.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const status = Number(text.slice(9, 12));
      if (!Number.isInteger(status) || status === 0) return reject(new Error(`no answer: ${JSON.stringify(text.slice(0, 80))}`));
      resolve({ status, retryAfter: /\r\nretry-after: (\d+)/i.exec(text)?.[1], code: /"code":"([A-Z_]+)"/.exec(text)?.[1] });
    });
  });
}

const databaseBytes = () =>
  ['', '-wal'].reduce((n, suffix) => {
    try {
      return n + statSync(join(t.dataDir, DATABASE_FILE) + suffix).size;
    } catch {
      return n;
    }
  }, 0);

describe('quotas', () => {
  it('rooms per context: past the quota a create is refused with 409 CONTEXT_ROOM_QUOTA, even when racing', async () => {
    nextMinute();
    const before = t.bridge.counters.rooms.contextRoomQuotaRefusals;
    const made: string[] = [];
    for (let i = 0; i < ROOMS_PER_CONTEXT - 2; i++) {
      const { built, reply } = await create('mallory');
      expect(reply.status).toBe(201);
      made.push(built.record.roomId);
    }
    // Three creates at once for the last two places: two win, one is refused.
    const racing = await Promise.all([create('mallory'), create('mallory'), create('alice')]);
    expect(racing.map((r) => r.reply.status).sort()).toEqual([201, 201, 409]);
    const refused = racing.find((r) => r.reply.status === 409)!.reply;
    expect(refused.body.error).toMatchObject({ code: 'CONTEXT_ROOM_QUOTA', details: { limit: ROOMS_PER_CONTEXT } });
    expect((await create('alice')).reply.body.error.code).toBe('CONTEXT_ROOM_QUOTA');
    expect(t.bridge.counters.rooms.contextRoomQuotaRefusals - before).toBe(2);
    // Deleting a room frees its place.
    expect((await rest(t.bridge.url, tokens.mallory).del(`/v1/rooms/${made[0]}`)).status).toBe(204);
    expect((await create('alice')).reply.status).toBe(201);
    // Leave room for the next tests.
    for (const id of made.slice(1)) expect((await rest(t.bridge.url, tokens.mallory).del(`/v1/rooms/${id}`)).status).toBe(204);
  });

  it('versions per room: past the quota an update is refused with 409 ROOM_VERSION_QUOTA; the chain stays whole', async () => {
    nextMinute();
    const before = t.bridge.counters.rooms.roomVersionQuotaRefusals;
    const { built, reply } = await create('mallory');
    expect(reply.status).toBe(201);
    const roomId = built.record.roomId;
    let head = await verifyGenesis(built.request);
    for (let v = 2; v <= VERSIONS_PER_ROOM; v++) {
      const next = await successor(head, built.epochKey, user('mallory'), solo(user('mallory')));
      expect((await rest(t.bridge.url, tokens.mallory).put(`/v1/rooms/${roomId}`, { ...next.request, version: v - 1 })).status).toBe(200);
      head = await verifiedHead(t.bridge.url, tokens.mallory!, roomId);
    }
    const over = await successor(head, built.epochKey, user('mallory'), solo(user('mallory')));
    const refused = await rest(t.bridge.url, tokens.mallory).put(`/v1/rooms/${roomId}`, { ...over.request, version: VERSIONS_PER_ROOM });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'ROOM_VERSION_QUOTA', details: { limit: VERSIONS_PER_ROOM } });
    expect(t.bridge.counters.rooms.roomVersionQuotaRefusals - before).toBe(1);
    // Nothing was dropped to make room: the chain still verifies from version 1.
    expect((await verifiedHead(t.bridge.url, tokens.mallory!, roomId)).record.version).toBe(VERSIONS_PER_ROOM);
    expect((await rest(t.bridge.url, tokens.mallory).del(`/v1/rooms/${roomId}`)).status).toBe(204);
  });

  it('writes per user: of a flood of 200 creates 20 are handled, 180 refused with 429 and Retry-After; others unaffected', { retry: 2 }, async () => {
    nextMinute();
    const before = t.bridge.counters.rooms.writesRateLimited;
    const bytesBefore = databaseBytes();
    // 200 creates of 48 KiB of meta each, 8 at a time: ~13 MB of records asked for.
    const meta = new Uint8Array(48 * 1024).fill(7);
    const requests = await Promise.all(Array.from({ length: 200 }, () => genesis(tenant.contextId, user('mallory'), solo(user('mallory'), meta))));
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    let worst = 0;
    let running = true;
    const probe = (async () => {
      while (running) {
        for (const [path, token] of [
          ['/v1/me', tokens.alice],
          ['/healthz', undefined],
        ] as const) {
          const started = performance.now();
          expect((await rest(t.bridge.url, token).get(path)).status).toBe(200);
          worst = Math.max(worst, performance.now() - started);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    for (let i = 0; i < requests.length; i += 8) {
      const replies = await Promise.all(requests.slice(i, i + 8).map((built) => rawPost('/v1/rooms', tokens.mallory!, JSON.stringify(built.request))));
      for (const r of replies) {
        statuses.push(r.status);
        if (r.status === 429) {
          retryAfter = r.retryAfter;
          expect(r.code).toBe('RATE_LIMITED');
        }
      }
    }
    running = false;
    await probe;
    // The quota allows 6 rooms in the context, so past those the creates are refused for room quota first.
    const created = statuses.filter((s) => s === 201).length;
    expect(created).toBeLessThanOrEqual(ROOMS_PER_CONTEXT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(200 - WRITES_PER_MINUTE);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    expect(t.bridge.counters.rooms.writesRateLimited - before).toBe(200 - WRITES_PER_MINUTE);
    // Stored: at most `created` records of ~66 KB and their rows.
    expect(databaseBytes() - bytesBefore).toBeLessThan(created * 200 * 1024 + 1024 * 1024);
    expect(worst).toBeLessThan(200);
    // Another user writes at once: the limit is per user.
    expect((await rest(t.bridge.url, tokens.alice).get(`/v1/contexts/${tenant.contextId}/rooms?limit=1`)).status).toBe(200);
    const ids = (await rest(t.bridge.url, tokens.mallory).get(`/v1/contexts/${tenant.contextId}/rooms?limit=100`)).body.readItems.map(
      (r: { roomId: string }) => r.roomId,
    ) as string[];
    nextMinute();
    for (const id of ids) await rest(t.bridge.url, tokens.mallory).del(`/v1/rooms/${id}`);
    expect((await create('alice')).reply.status).toBe(201);
    // A new window: mallory writes again.
    expect((await create('mallory')).reply.status).toBe(201);
  });
});
