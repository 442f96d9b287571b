/**
 * Many Endpoint connections in one process (real logins, real sockets): data-track subscribers and
 * the sender for the fan-out benchmark, the publisher for time-to-first-byte, idle connections for the
 * memory benchmark. Client 0 is the one that creates rooms and sends. Served by bench/procs/peers.ts
 * under the `sealroom.` prefix.
 */
import { Endpoint, MemoryTrustStore, type Connection, type EventApi, type StreamApi } from '../../endpoint/index.ts';
import { utf8 } from '../../crypto/bytes.ts';
import { sleep } from '../lib/clock.ts';
import { LatencyLog, makeMessage, sendPaced, stamp } from '../lib/pacing.ts';
import { forEachLimited, type BenchUser } from '../lib/tenant.ts';
import type { Handler } from '../lib/worker.ts';

interface Client {
  user: BenchUser;
  connection: Connection;
  eventApi: EventApi;
  streamApi: StreamApi;
}

type Member = { userId: string; pubKey: string };

/** Logins in flight per process (each is a challenge, a signature and a session). */
const CONNECT_CONCURRENCY = 8;

export function sealroomPeers(): Record<string, Handler> {
  const clients: Client[] = [];
  const latencies = new LatencyLog();
  let sendErrors = 0;
  let lastSendError = '';
  let background: { stop: boolean; done: Promise<unknown> } | undefined;
  let track: { roomId: string; streamId: string; trackId: string } | undefined;
  /** Clients subscribed so far (the first `subscribed` of `clients`). */
  let subscribed = 0;

  const first = (): Client => {
    const c = clients[0];
    if (c === undefined) throw new Error('no client connected');
    return c;
  };

  const sendOne = (trackId: string, message: Uint8Array, seq: number): void => {
    stamp(message, seq);
    first()
      .streamApi.sendData(trackId, message)
      .catch((error: Error) => {
        sendErrors++;
        lastSendError = error.message;
      });
  };

  return {
    /**
     * `memoryTrust`: each connection keeps its pins and trusted heads in memory, not in files (the
     * memory scenario, which measures the Bridge: the files' writes and locks were a quarter of these
     * processes' CPU per connection, 2,000 identities in four processes where a device has one).
     */
    async connect(p: { url: string; solutionId: string; users: BenchUser[]; memoryTrust?: boolean }) {
      await forEachLimited(p.users, CONNECT_CONCURRENCY, async (user) => {
        const connection = await Endpoint.connect(user.privateKey, p.solutionId, p.url, { reconnect: false });
        const eventApi = await Endpoint.createEventApi(connection);
        const streamApi = await Endpoint.createStreamApi(connection, eventApi, p.memoryTrust === true ? { trustStore: new MemoryTrustStore() } : undefined);
        clients.push({ user, connection, eventApi, streamApi });
      });
      return clients.length;
    },

    async createRoom(p: { contextId: string; users: Member[]; managers: Member[] }) {
      return first().streamApi.createStreamRoom(p.contextId, p.users, p.managers, utf8('{"bench":true}'), utf8('bench'));
    },

    async join(p: { roomId: string }) {
      await forEachLimited(clients, CONNECT_CONCURRENCY, (c) => c.streamApi.joinStreamRoom(p.roomId));
      return null;
    },

    /** One room per member list, each created by its first member (a client of this process), who manages it. */
    async createRooms(p: { contextId: string; rooms: Member[][] }) {
      const ids: string[] = [];
      for (const members of p.rooms) {
        const creator = clients.find((c) => c.user.userId === members[0]?.userId);
        if (creator === undefined) throw new Error(`the first member of a room is not a client of this process`);
        ids.push(await creator.streamApi.createStreamRoom(p.contextId, members, members.slice(0, 1), utf8('{"bench":true}'), utf8('bench')));
      }
      return ids;
    },

    /** Each client joins the room named for its user (the memory benchmark's rooms). */
    async joinRooms(p: { roomOfUser: Record<string, string> }) {
      await forEachLimited(clients, CONNECT_CONCURRENCY, async (c) => {
        const roomId = p.roomOfUser[c.user.userId];
        if (roomId !== undefined) await c.streamApi.joinStreamRoom(roomId);
      });
      return null;
    },

    /** Client 0 publishes a stream with one data track. */
    async publish(p: { roomId: string }) {
      const api = first().streamApi;
      const streamId = await api.createStream(p.roomId);
      const trackId = await api.addStreamTrack(streamId, { createDataChannel: true });
      await api.publishStream(streamId);
      track = { roomId: p.roomId, streamId, trackId };
      return track;
    },

    /**
     * The next `count` clients not yet subscribed (default: all the rest) listen to the stream's data
     * (recording latency) and subscribe to it: the fan-out benchmark grows 1 -> 20 into 1 -> 50.
     */
    async subscribe(p: { roomId: string; streamId: string; count?: number }) {
      const next = clients.slice(subscribed, p.count === undefined ? undefined : subscribed + p.count);
      subscribed += next.length;
      await forEachLimited(next, CONNECT_CONCURRENCY, async (c) => {
        c.streamApi.addRemoteStreamListener({ streamRoomId: p.roomId, streamId: p.streamId, onRemoteData: (data) => latencies.deliver(data) });
        await c.streamApi.subscribeToRemoteStreams(p.roomId, [{ streamId: p.streamId }]);
      });
      return null;
    },

    /** Client 0 sends stamped messages on its track at `rate` for `seconds`. */
    async stream(p: { rate: number; seconds: number; size: number }) {
      if (track === undefined) throw new Error('publish first');
      const message = makeMessage(p.size);
      const { trackId } = track;
      const before = sendErrors;
      const result = await sendPaced(p.rate, p.seconds, (seq) => sendOne(trackId, message, seq));
      const stats = first().streamApi.dataTrackStats();
      return { ...result, errors: sendErrors - before, lastError: lastSendError, sendDropped: stats.sendDropped };
    },

    /** Client 0 sends at `rate` until `stopStreaming` (the publisher that is already streaming). */
    startStreaming(p: { rate: number; size: number }) {
      if (track === undefined) throw new Error('publish first');
      if (background !== undefined) throw new Error('already streaming');
      const message = makeMessage(p.size);
      const { trackId } = track;
      const state = { stop: false, done: Promise.resolve() as Promise<unknown> };
      state.done = (async () => {
        let seq = 0;
        while (!state.stop) seq += (await sendPaced(p.rate, 0.5, (s) => sendOne(trackId, message, s), seq)).sent;
      })();
      background = state;
      return null;
    },

    async stopStreaming() {
      if (background === undefined) return null;
      background.stop = true;
      await background.done;
      background = undefined;
      return null;
    },

    /** Latencies recorded since the last take, and the summed data-track counters. */
    take() {
      const totals: Record<string, number> = {};
      for (const c of clients) {
        for (const [k, v] of Object.entries(c.streamApi.dataTrackStats())) totals[k] = (totals[k] ?? 0) + v;
      }
      return { latencies: latencies.take(), stats: totals, sendErrors, lastSendError };
    },

    /** Deliveries recorded since the last take. */
    received() {
      return latencies.size;
    },

    async disconnect() {
      await Promise.all(clients.map((c) => c.connection.disconnect()));
      clients.length = 0;
      subscribed = 0;
      return null;
    },

    count() {
      return clients.filter((c) => c.connection.state === 'connected').length;
    },

    /** Waits `ms` (lets queued deliveries land before a take). */
    async settle(p: { ms: number }) {
      await sleep(p.ms);
      return null;
    },
  };
}
