/**
 * The room manager of the key-rotation benchmark: one Endpoint connection that creates rooms and
 * rotates their key with `updateStreamRoom(..., forceGenerateNewKey = true)`. Every REST call the
 * Endpoint makes during the update is timed on the client (by wrapping the connection's HTTP client),
 * so the client's own work is the call's time minus its round trips.
 */
import { createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Endpoint, type Connection, type StreamApi } from '../../endpoint/index.ts';
import { connectionInternals, streamApiInternals } from '../../endpoint/internal.ts';
import { utf8 } from '../../crypto/bytes.ts';
import { nowMs } from '../lib/clock.ts';
import type { BenchUser } from '../lib/tenant.ts';
import { serve } from '../lib/worker.ts';

export interface HttpCall {
  method: string;
  path: string;
  /** Shared monotonic clock, ms. */
  start: number;
  ms: number;
}

export interface UpdateTiming {
  /** When `updateStreamRoom` was called (shared clock). */
  t0: number;
  /** Its whole duration, ms. */
  total: number;
  http: HttpCall[];
  version: number;
  epoch: number;
}

let connection: Connection;
let streamApi: StreamApi;
let calls: HttpCall[] = [];
/** REST calls in flight, for the error report when an update does not finish. */
const inflight = new Set<{ method: string; path: string; start: number }>();

type Member = { userId: string; pubKey: string };

serve({
  async connect(p: { url: string; solutionId: string; user: BenchUser }) {
    connection = await Endpoint.connect(p.user.privateKey, p.solutionId, p.url, { reconnect: false, requestTimeoutMs: 300_000 });
    const eventApi = await Endpoint.createEventApi(connection);
    streamApi = await Endpoint.createStreamApi(connection, eventApi);
    const http = connectionInternals(connection).http;
    const request = http.request.bind(http);
    http.request = (async (...args: Parameters<typeof request>) => {
      const start = nowMs();
      const entry = { method: args[0], path: args[1].split('?')[0]!, start };
      inflight.add(entry);
      try {
        return await request(...args);
      } finally {
        inflight.delete(entry);
        calls.push({ ...entry, ms: nowMs() - start });
      }
    }) as typeof http.request;
    return null;
  },

  async createRoom(p: { contextId: string; users: Member[]; managers: Member[] }) {
    return streamApi.createStreamRoom(p.contextId, p.users, p.managers, utf8('{"bench":"rotation"}'), utf8('private meta'));
  },

  /** Reads and verifies the room (not timed): the manager trusts the head before it updates. */
  async read(p: { roomId: string }) {
    const room = await streamApi.getStreamRoom(p.roomId);
    return { version: room.version, epoch: room.epoch, members: room.users.length };
  },

  /** One update of the trusted head, timed: with `rotate`, a new epoch key for every member. */
  async update(p: { roomId: string; rotate: boolean }): Promise<UpdateTiming> {
    const head = await streamApiInternals(streamApi).rooms.trustedHead(p.roomId);
    if (head === undefined) throw new Error('read the room first');
    const r = head.record;
    const toMember = (m: { userId: string; publicKey: string }) => ({ userId: m.userId, pubKey: m.publicKey });
    calls = [];
    const t0 = nowMs();
    await streamApi.updateStreamRoom(
      p.roomId,
      r.users.map(toMember),
      r.managers.map(toMember),
      utf8('{"bench":"rotation"}'),
      utf8('private meta'),
      r.version,
      false,
      p.rotate,
    );
    const total = nowMs() - t0;
    const next = (await streamApiInternals(streamApi).rooms.trustedHead(p.roomId))!.record;
    return { t0, total, http: calls, version: next.version, epoch: next.epoch };
  },

  /** The REST calls in flight and how long they have been waiting (ms). */
  inflight() {
    return [...inflight].map((c) => ({ method: c.method, path: c.path, waitingMs: nowMs() - c.start }));
  },

  /**
   * The native floor of wrapping for `n` members: one ephemeral X25519 key pair and one X25519
   * agreement per member (what HPKE's DHKEM needs), with node:crypto, best of 3. Milliseconds.
   */
  x25519Floor(p: { n: number }) {
    const recipients: KeyObject[] = [];
    for (let i = 0; i < p.n; i++) recipients.push(createPublicKey(generateKeyPairSync('x25519').privateKey));
    let best = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 3; round++) {
      const start = nowMs();
      for (const publicKey of recipients) {
        const ephemeral = generateKeyPairSync('x25519');
        diffieHellman({ privateKey: ephemeral.privateKey, publicKey });
      }
      best = Math.min(best, nowMs() - start);
    }
    return best;
  },
});
