/**
 * The parts a StreamApi (stream-api.ts) delegates to, built once and wired together: the key ring,
 * whose keys to trust, RoomApi, the real-time plane, byte and text streams, and the loader of direct
 * peers (a lazy chunk). Each part hears from the others here (rooms left, heads seen, socket events).
 */
import { openTrustKv } from '#endpoint-trust-kv';
import type { Connection } from './connection.ts';
import { DataStreamsApi } from './data-streams/data-streams-api.ts';
import { EndpointError } from './errors.ts';
import type { EventApi } from './event-api.ts';
import { connectionInternals, eventApiInternals } from './internal.ts';
import type { CallPeers, MediaHostOptions, MediaOptions } from './media/types.ts';
import { PeersLoader } from './peers/loader.ts';
import { RealtimeApi } from './realtime/realtime-api.ts';
import { DEFAULT_EPOCH_GRACE_MS, KeyRing } from './rooms/keyring.ts';
import { KeyTrust } from './rooms/key-trust.ts';
import { PersistentTrustStore, trustNamespace } from './rooms/persistent-trust-store.ts';
import { RoomApi } from './rooms/room-api.ts';
import { verifiedRoomEvent } from './rooms/room-events.ts';
import type { StreamApiOptions } from './stream-api-options.ts';

export interface StreamApiParts {
  rooms: RoomApi;
  keyTrust: KeyTrust;
  keys: KeyRing;
  realtime: RealtimeApi;
  dataStreams: DataStreamsApi;
  peers: PeersLoader;
}

/** A default trust store open in this process, and how many connections use it. */
interface OpenStore {
  store: PersistentTrustStore;
  users: number;
  ready: Promise<void>;
}

/** Module state: the default stores open in this process, by what they store in (TrustKv.id). */
const openStores = new Map<string, OpenStore>();
/** Stores being closed, so that one opened again after waits until the hold is released. */
const closingStores = new Map<string, Promise<void>>();

export interface HeldTrustStore {
  store: PersistentTrustStore;
  /** Lets go of it (idempotent); the last user's release closes the store. */
  release(): void;
}

/**
 * The default trust store of a connection's identity. Connections of one identity in this process share
 * one store (its cache, its writes, its turns); the process holds it against every other instance of the
 * identity (another process, tab or window: `TrustStoreBusy`) until the last of them is disconnected.
 */
export async function openTrustStore(connection: Connection, trustDir: string | undefined): Promise<HeldTrustStore> {
  const namespace = trustNamespace(connection.solutionId, connection.publicKey);
  const kv = openTrustKv({ namespace, ...(trustDir === undefined ? {} : { directory: trustDir }) });
  let open = openStores.get(kv.id);
  if (open === undefined) {
    const store = new PersistentTrustStore(kv);
    const entry: OpenStore = { store, users: 0, ready: (closingStores.get(kv.id) ?? Promise.resolve()).then(() => store.open()) };
    entry.ready.catch(() => openStores.get(kv.id) === entry && openStores.delete(kv.id));
    openStores.set(kv.id, (open = entry));
  }
  const entry = open;
  entry.users++;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    off();
    if (--entry.users > 0 || openStores.get(kv.id) !== entry) return;
    openStores.delete(kv.id);
    const closed = entry.store.close();
    closingStores.set(kv.id, closed);
    void closed.finally(() => closingStores.get(kv.id) === closed && closingStores.delete(kv.id));
  };
  const off = connection.on('disconnected', release);
  try {
    await entry.ready;
  } catch (error) {
    release();
    throw error;
  }
  if (connection.state === 'disconnected') {
    release();
    throw EndpointError.connectionLost('disconnected: no StreamApi for a closed connection');
  }
  return { store: entry.store, release };
}

/**
 * Builds the parts of one StreamApi; a second StreamApi on the same EventApi fails here. The trust
 * store is given: `Endpoint.createStreamApi` opens the default one (openTrustStore above).
 */
export function buildStreamApiParts(connection: Connection, eventApi: EventApi, options: StreamApiOptions): StreamApiParts {
  const trustStore = options.trustStore;
  if (trustStore === undefined) throw EndpointError.invalidArgument('a StreamApi is made by Endpoint.createStreamApi, or given a "trustStore"');
  // First, so that a second StreamApi on this EventApi fails before it listens to anything.
  eventApiInternals(eventApi).setRoomEventTransformer((event, ids) => verifiedRoomEvent(rooms, keys, event, ids));
  const keys = new KeyRing(options.epochGraceMs ?? DEFAULT_EPOCH_GRACE_MS);
  const emit = eventApiInternals(eventApi).emit;
  const keyTrust = new KeyTrust(connection, trustStore, {
    ...(options.verifyUsers === undefined ? {} : { verifyUsers: options.verifyUsers }),
    ...(options.verifyUsersTimeoutMs === undefined ? {} : { verifierTimeoutMs: options.verifyUsersTimeoutMs }),
    onKeyChanged: (event) => emit('keyChanged', event),
  });
  const rooms = new RoomApi(connection, trustStore, keys, keyTrust);
  const realtime: RealtimeApi = new RealtimeApi(connection, eventApi, rooms, keys, {
    ...(options.dataTrackMaxAgeMs === undefined ? {} : { dataTrackMaxAgeMs: options.dataTrackMaxAgeMs }),
    ...(options.staleViewAfterMs === undefined ? {} : { staleViewAfterMs: options.staleViewAfterMs }),
    ...(options.media === undefined ? {} : { media: options.media.directCalls === true ? withCalls(options.media, (): PeersLoader => peers) : options.media }),
  });
  const dataStreams = new DataStreamsApi(connection, eventApi, rooms, keys, options.streamIdleTimeoutMs);
  realtime.onRoomLeft((roomId, reason) => dataStreams.roomLeft(roomId, reason));
  dataStreams.observeHeads((roomId, senderId, version, headHash) => realtime.observeHead(roomId, senderId, version, headHash));
  const peerOptions = options.peers ?? {};
  const peers: PeersLoader = new PeersLoader(() => ({
    connection,
    rooms,
    keys,
    participants: (roomId) => realtime.participants(roomId),
    options: peerOptions,
    app: { handler: (kind, topic, view) => dataStreams.directHandler(kind, topic, view), log: connection.log },
    mediaE2ee: async () => (await realtime.mediaApi()).frameEncryption(),
  }));
  realtime.onRoomLeft((roomId, reason) => peers.roomLeft(roomId, reason));
  connectionInternals(connection).hooks.on('event', (event) => peers.event(event));
  connectionInternals(connection).hooks.on('socketClosed', () => peers.socketClosed());
  connection.on('disconnected', () => peers.disconnected());
  return { rooms, keyTrust, keys, realtime, dataStreams, peers };
}

/** The media options with direct calls' peers for the media chunk (`media.directCalls`, docs/media/direct-calls.md). */
function withCalls(media: MediaOptions, peers: () => PeersLoader): MediaHostOptions {
  const calls: CallPeers = {
    connectPeer: async (roomId, userId, metadata) => (await peers().load()).connectPeer(roomId, userId, { metadata }),
    onCall: (handler) => {
      void peers()
        .load()
        .then((loaded) => loaded.onCall(handler));
    },
  };
  return { ...media, calls };
}
