/**
 * The parts a StreamApi (stream-api.ts) delegates to, built once and wired together: the key ring,
 * whose keys to trust, RoomApi, the real-time plane, byte and text streams, and the loader of direct
 * peers (a lazy chunk). Each part hears from the others here (rooms left, heads seen, socket events).
 */
import { openTrustKv } from '#endpoint-trust-kv';
import type { Connection } from './connection.ts';
import { DataStreamsApi } from './data-streams/data-streams-api.ts';
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

/** Builds the parts of one StreamApi; a second StreamApi on the same EventApi fails here. */
export function buildStreamApiParts(connection: Connection, eventApi: EventApi, options: StreamApiOptions): StreamApiParts {
  // First, so that a second StreamApi on this EventApi fails before it listens to anything.
  eventApiInternals(eventApi).setRoomEventTransformer((event, ids) => verifiedRoomEvent(rooms, keys, event, ids));
  const keys = new KeyRing(options.epochGraceMs ?? DEFAULT_EPOCH_GRACE_MS);
  const namespace = trustNamespace(connection.solutionId, connection.publicKey);
  const trustStore =
    options.trustStore ?? new PersistentTrustStore(openTrustKv({ namespace, ...(options.trustDir === undefined ? {} : { directory: options.trustDir }) }));
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
