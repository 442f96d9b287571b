/**
 * Room members for the key-rotation benchmark: many identities in one process, each a real Endpoint
 * connection subscribed to `streamRoomUpdated` for the context. When a rotation is announced, each
 * member's StreamApi fetches the new version, verifies it (chain link, signature, author's rights),
 * checks its wrapped key's Merkle proof, HPKE-unwraps it and opens the private meta, then emits the
 * event: that moment is the member's "has the new key". The raw event's arrival is recorded too
 * (the notification alone, the baseline).
 *
 * Members are Endpoint connections rather than bare REST calls so that the figure is what real
 * members pay, including the event path.
 */
import { Endpoint, EndpointError, type Connection, type EventApi, type StreamApi } from '../../endpoint/index.ts';
import { connectionInternals } from '../../endpoint/internal.ts';
import { nowMs } from '../lib/clock.ts';
import { forEachLimited, type BenchUser } from '../lib/tenant.ts';
import { describeError, serve } from '../lib/worker.ts';

interface Member {
  user: BenchUser;
  connection: Connection;
  eventApi: EventApi;
  streamApi: StreamApi;
  /** `${roomId}/${epoch}` -> when the raw event arrived / when the verified event (with the key) did. */
  notified: Map<string, number>;
  verified: Map<string, number>;
}

const CONNECT_CONCURRENCY = 8;
const READ_ATTEMPTS = 3;
const members: Member[] = [];
const errors: string[] = [];

serve({
  async connect(p: { url: string; solutionId: string; contextId: string; users: BenchUser[] }) {
    await forEachLimited(p.users, CONNECT_CONCURRENCY, async (user) => {
      const connection = await Endpoint.connect(user.privateKey, p.solutionId, p.url, { reconnect: false, requestTimeoutMs: 300_000 });
      const eventApi = await Endpoint.createEventApi(connection);
      const streamApi = await Endpoint.createStreamApi(connection, eventApi);
      const m: Member = { user, connection, eventApi, streamApi, notified: new Map(), verified: new Map() };
      connectionInternals(connection).hooks.on('event', (event) => {
        if (event.type === 'streamRoomUpdated') m.notified.set(`${event.roomId}/${event.epoch}`, nowMs());
      });
      eventApi.on('streamRoomUpdated', (event) => {
        if (event.error !== undefined) errors.push(`${user.userId}: ${describeError(event.error)}`);
        else if (event.room !== undefined) m.verified.set(`${event.room.streamRoomId}/${event.room.epoch}`, nowMs());
      });
      await eventApi.subscribeFor([eventApi.buildSubscriptionQuery('streamRoomUpdated', 'contextId', p.contextId)]);
      members.push(m);
    });
    return members.length;
  },

  /**
   * Every member reads (and so verifies and trusts) the room once, as a member who joined would. A
   * read that fails with ConnectionLost is retried (at most READ_ATTEMPTS times) and counted: under
   * this much CPU load undici may reuse a keep-alive socket the Bridge has just closed ("other side
   * closed"), which the Endpoint does not retry (see the rotation notes).
   */
  async read(p: { roomId: string }) {
    let retries = 0;
    await forEachLimited(members, CONNECT_CONCURRENCY, async (m) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await m.streamApi.getStreamRoom(p.roomId);
          return;
        } catch (error) {
          if (!(error instanceof EndpointError) || error.reason !== 'ConnectionLost' || attempt >= READ_ATTEMPTS) throw error;
          retries++;
        }
      }
    });
    return { retries };
  },

  /**
   * Resolves when every member has the room's key for `epoch` (or after `timeoutMs`): the latest
   * notification and verification times, and how many members got there.
   */
  async expect(p: { roomId: string; epoch: number; timeoutMs: number }) {
    const key = `${p.roomId}/${p.epoch}`;
    const deadline = nowMs() + p.timeoutMs;
    while (members.some((m) => !m.verified.has(key)) && nowMs() < deadline && errors.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (errors.length > 0) throw new Error(`a member failed to verify the rotation: ${errors[0]}`);
    const done = members.filter((m) => m.verified.has(key));
    return {
      members: members.length,
      done: done.length,
      lastVerified: Math.max(...done.map((m) => m.verified.get(key)!)),
      lastNotified: Math.max(...members.map((m) => m.notified.get(key) ?? Number.NaN)),
    };
  },

  async disconnect() {
    await Promise.all(members.map((m) => m.connection.disconnect()));
    members.length = 0;
    return null;
  },
});
