/**
 * A REST load client for room CRUD: one Endpoint connection, closed loops of `concurrency` calls in
 * flight for a fixed time.
 *
 * - `create`: `createStreamRoom` with the creator and 3 members: a fresh epoch key wrapped (HPKE) for
 *   4 members, private meta sealed, record signed; the Bridge checks it and writes it to SQLite.
 * - `get`: `getStreamRoom` of a room this client already trusts (its own): the records since the
 *   trusted head (none), its wrapped key, the private meta opened and authenticated. What a client
 *   pays for every read of a known room.
 * - `getCold`: `getStreamRoom` by a RoomApi that has never seen the room: the whole chain verified
 *   (signature, author against the context directory, which it also fetches), the key's Merkle proof
 *   checked and HPKE-unwrapped, the private meta opened.
 * - `me`: `GET /v1/me` through the same HTTP client: the round trip with no room work (the baseline).
 */
import { Endpoint, MemoryTrustStore, type Connection, type StreamApi } from '../../endpoint/index.ts';
import { connectionInternals } from '../../endpoint/internal.ts';
import { RoomApi } from '../../endpoint/rooms/room-api.ts';
import { KeyRing } from '../../endpoint/rooms/keyring.ts';
import { meResponseSchema } from '../../protocol/api.ts';
import { utf8 } from '../../crypto/bytes.ts';
import { nowMs } from '../lib/clock.ts';
import type { BenchUser } from '../lib/tenant.ts';
import { serve } from '../lib/worker.ts';

type Op = 'create' | 'get' | 'getCold' | 'me';
type Member = { userId: string; pubKey: string };

let connection: Connection;
let streamApi: StreamApi;
let contextId = '';
let members: Member[] = [];
const rooms: string[] = [];
const publicMeta = utf8('{"name":"bench room","tags":["a","b"]}');
const privateMeta = utf8('the agenda of a benchmark room, sealed under its epoch key');

function opFor(op: Op): (i: number) => Promise<unknown> {
  switch (op) {
    case 'create':
      return async () => {
        const me = { userId: connection.userId, pubKey: connection.publicKey };
        rooms.push(await streamApi.createStreamRoom(contextId, [me, ...members], [me], publicMeta, privateMeta));
      };
    case 'get':
      return (i) => streamApi.getStreamRoom(rooms[i % rooms.length]!);
    case 'getCold':
      return (i) => new RoomApi(connection, new MemoryTrustStore(), new KeyRing()).getStreamRoom(rooms[i % rooms.length]!);
    case 'me':
      return () => connectionInternals(connection).http.request('GET', '/v1/me', meResponseSchema);
    default: {
      const never: never = op;
      throw new Error(`unknown op ${String(never)}`);
    }
  }
}

serve({
  async connect(p: { url: string; solutionId: string; user: BenchUser; contextId: string; members: Member[] }) {
    connection = await Endpoint.connect(p.user.privateKey, p.solutionId, p.url, { reconnect: false });
    const eventApi = await Endpoint.createEventApi(connection);
    streamApi = await Endpoint.createStreamApi(connection, eventApi);
    contextId = p.contextId;
    members = p.members;
    return null;
  },

  /** Runs `op` in `concurrency` closed loops until `seconds` have passed (from `startAt` on the shared clock). */
  async loop(p: { op: Op; seconds: number; concurrency: number; startAt: number }) {
    const fn = opFor(p.op);
    if ((p.op === 'get' || p.op === 'getCold') && rooms.length === 0) throw new Error('no rooms to get: run create first');
    while (nowMs() < p.startAt) await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(5, p.startAt - nowMs()))));
    const end = p.startAt + p.seconds * 1000;
    let ops = 0;
    let next = 0;
    const lane = async (): Promise<void> => {
      while (nowMs() < end) {
        await fn(next++);
        ops++;
      }
    };
    const start = nowMs();
    await Promise.all(Array.from({ length: p.concurrency }, lane));
    return { ops, elapsedMs: nowMs() - start };
  },

  roomCount() {
    return rooms.length;
  },
});
