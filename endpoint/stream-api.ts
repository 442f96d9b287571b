/**
 * StreamApi (PrivMX shape): Stream Room management with end-to-end encrypted keys, the real-time
 * plane of joined rooms, streams, tracks, data tracks and media, LiveKit-style byte and text streams,
 * Web Streams transfers and direct peers. This class is the documented facade; the work happens in RoomApi,
 * RealtimeApi and DataStreamsApi, built and wired together in stream-api-parts.ts.
 */
import type { Connection } from './connection.ts';
import type { DataStreamsApi } from './data-streams/data-streams-api.ts';
import type {
  ByteStreamHandler,
  ByteStreamWriter,
  DataStreamStats,
  DeliveryReport,
  SendFileOptions,
  SendTextOptions,
  StreamBytesOptions,
  StreamTextOptions,
  TextStreamHandler,
  TextStreamWriter,
} from './data-streams/types.ts';
import type { BroadcastEventMap, BroadcastOptions, BroadcastStreamComplete, SendData, SendOptions, Transfer } from './data-streams/web-streams/types.ts';
import { EndpointError } from './errors.ts';
import type { EventApi } from './event-api.ts';
import { registerStreamApi } from './internal.ts';
import type { AudioLevelStatsListener, MediaStats } from './media/types.ts';
import type { StreamApiOptions } from './stream-api-options.ts';
import { buildStreamApiParts } from './stream-api-parts.ts';
import type { RealtimeApi } from './realtime/realtime-api.ts';
import type {
  DataTrackStats,
  PublishStateListener,
  RemoteStreamListener,
  StreamHandle,
  StreamInfo,
  StreamPublishResult,
  StreamSubscription,
  TrackOptions,
} from './realtime/types.ts';
import type { PeerRefusals, RemotePeerListener } from './peers/peers-api.ts';
import { lazyTransfer } from './data-streams/web-streams/lazy.ts';
import { mayGoDirect, type PeersLoader } from './peers/loader.ts';
import type { RemotePeer } from './peers/remote-peer.ts';
import type { ConnectPeerOptions, PathChoice } from './peers/types.ts';
import type { KeyTrust } from './rooms/key-trust.ts';
import type { RoomApi } from './rooms/room-api.ts';
import type { RequestOptions } from './transport/http.ts';
import type { PagingList, PagingQuery, RoomPolicy, StreamRoom, UserWithPubKey } from './types.ts';

export type { StreamApiOptions } from './stream-api-options.ts';

export class StreamApi {
  readonly connection: Connection;
  readonly eventApi: EventApi;
  readonly #rooms: RoomApi;
  readonly #keyTrust: KeyTrust;
  readonly #realtime: RealtimeApi;
  readonly #dataStreams: DataStreamsApi;
  readonly #peers: PeersLoader;

  /** Use `Endpoint.createStreamApi`. */
  constructor(connection: Connection, eventApi: EventApi, options: StreamApiOptions = {}) {
    this.connection = connection;
    this.eventApi = eventApi;
    const { rooms, keyTrust, keys, realtime, dataStreams, peers } = buildStreamApiParts(connection, eventApi, options);
    this.#rooms = rooms;
    this.#keyTrust = keyTrust;
    this.#realtime = realtime;
    this.#dataStreams = dataStreams;
    this.#peers = peers;
    registerStreamApi(this, { rooms, keys, realtime, dataStreams });
  }

  // ---- rooms

  /**
   * Creates a room: a new epoch-1 key wrapped (HPKE) for every user and manager, the private meta
   * sealed under it, and version 1 signed by this user. Returns the room id.
   * @example
   * const me = { userId: connection.userId, pubKey: myPublicKey };
   * const roomId = await streamApi.createStreamRoom(contextId, [me, bob], [me], utf8('{"name":"standup"}'), utf8('secret agenda'));
   */
  createStreamRoom(
    contextId: string,
    users: UserWithPubKey[],
    managers: UserWithPubKey[],
    publicMeta: Uint8Array,
    privateMeta: Uint8Array,
    policy?: Partial<RoomPolicy>,
    options?: RequestOptions,
  ): Promise<string> {
    return this.#rooms.createStreamRoom(contextId, users, managers, publicMeta, privateMeta, policy, options);
  }

  /**
   * Reads a room and verifies it: the record chain from the last version this client trusts, the
   * authors' signatures and rights, the wrapped key's proof, and the private meta's integrity.
   * Throws `RoomTampered`, `Rollback` or `KeyUnavailable` instead of returning unverified data.
   * @example const room = await streamApi.getStreamRoom(roomId); render(room.version, room.privateMeta);
   */
  getStreamRoom(streamRoomId: string, options?: RequestOptions): Promise<StreamRoom> {
    return this.#rooms.getStreamRoom(streamRoomId, options);
  }

  /**
   * Lists rooms of a context, each verified like `getStreamRoom`. An item that fails verification has
   * a non-zero `statusCode` and carries no data.
   * @example const { totalAvailable, readItems } = await streamApi.listStreamRooms(contextId, { skip: 0, limit: 20, sortOrder: 'desc' });
   */
  listStreamRooms(contextId: string, query: PagingQuery, options?: RequestOptions): Promise<PagingList<StreamRoom>> {
    return this.#rooms.listStreamRooms(contextId, query, options);
  }

  /**
   * Replaces the room's definition with a new signed version based on `version`. Rotates to a new key
   * epoch when `forceGenerateNewKey` is set and whenever a user is removed; added users get the current
   * key. A stale `version` fails with `VersionConflict` unless `force`.
   * @example await streamApi.updateStreamRoom(id, users, managers, room.publicMeta, newMeta, room.version, false, true);
   */
  updateStreamRoom(
    streamRoomId: string,
    users: UserWithPubKey[],
    managers: UserWithPubKey[],
    publicMeta: Uint8Array,
    privateMeta: Uint8Array,
    version: number,
    force: boolean,
    forceGenerateNewKey: boolean,
    policy?: Partial<RoomPolicy>,
    options?: RequestOptions,
  ): Promise<void> {
    return this.#rooms.updateStreamRoom(streamRoomId, users, managers, publicMeta, privateMeta, version, force, forceGenerateNewKey, policy, options);
  }

  /** Deletes a room (policy `delete`, managers by default) and forgets its keys. */
  deleteStreamRoom(streamRoomId: string, options?: RequestOptions): Promise<void> {
    return this.#rooms.deleteStreamRoom(streamRoomId, options);
  }

  // ---- whose keys to trust (docs/security/key-trust.md)

  /**
   * The safety number of this user and `userId` in a context: 60 digits, the same on both users'
   * devices when each holds the other's real key. Compare it out of band (in person, by voice), then
   * call `verifyUser`. It covers the key the directory lists now, which may be a changed key that is
   * not trusted yet.
   * @example const digits = await streamApi.safetyNumber(contextId, 'bob'); show(digits.match(/\d{5}/g)!.join(' '));
   */
  safetyNumber(contextId: string, userId: string, options?: RequestOptions): Promise<string> {
    return this.#keyTrust.safetyNumber(contextId, userId, options);
  }

  /**
   * Marks `userId` verified once its safety number was compared: pins the key the number covers. A
   * later change of a verified user's key is refused (`KeyChanged`) until it is verified again;
   * `acceptKeyChange` does not lift it. A number that does not match fails with `KeyRejected`.
   * @example if (await userConfirmsDigitsMatch()) await streamApi.verifyUser(contextId, 'bob', digits);
   */
  verifyUser(contextId: string, userId: string, safetyNumber: string, options?: RequestOptions): Promise<void> {
    return this.#keyTrust.verifyUser(contextId, userId, safetyNumber, options);
  }

  /**
   * After a `keyChanged` event for a user who was not verified: trusts the key the directory lists now
   * (the old one stays valid for versions signed before it was removed). Fails with `KeyChanged` for a
   * verified user (use `verifyUser`) and `KeyRejected` when `verifyUsers` refuses.
   * @example eventApi.on('keyChanged', async (e) => { if (await askUser(e)) await streamApi.acceptKeyChange(e.contextId, e.userId); });
   */
  acceptKeyChange(contextId: string, userId: string, options?: RequestOptions): Promise<void> {
    return this.#keyTrust.acceptKeyChange(contextId, userId, options);
  }

  // ---- real-time: rooms, streams, tracks, data tracks

  /**
   * Joins a room's real-time plane. The room is read and verified first (its key in place); members
   * only, others get `AccessDenied`. While joined, keys follow rotations without app subscriptions.
   * The app gets `streamRoomJoined` for its own join too.
   * @example await streamApi.joinStreamRoom(roomId);
   */
  joinStreamRoom(streamRoomId: string, options?: RequestOptions): Promise<void> {
    return this.#realtime.joinStreamRoom(streamRoomId, options);
  }

  /** Leaves a room: unpublishes this connection's streams and ends its byte streams there. */
  leaveStreamRoom(streamRoomId: string, options?: RequestOptions): Promise<void> {
    return this.#realtime.leaveStreamRoom(streamRoomId, options);
  }

  /** A local stream to add tracks to and publish. */
  createStream(streamRoomId: string): Promise<StreamHandle> {
    return this.#realtime.createStream(streamRoomId);
  }

  /**
   * Adds a data track (`{createDataChannel: true}`) or, in a browser, a `MediaStreamTrack` (camera,
   * microphone, `getDisplayMedia` screen share) to a local stream; returns its id. Media frames are
   * end-to-end encrypted (SFrame) and go through the Bridge's forwarding unit once published; without
   * WebRTC (Node) a media track fails with `Unsupported`.
   * @example
   * const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
   * for (const track of media.getTracks()) await streamApi.addStreamTrack(handle, { track });
   * await streamApi.publishStream(handle, (state, error) => show(state, error?.reason));
   */
  addStreamTrack(handle: StreamHandle, track: TrackOptions): Promise<string> {
    return this.#realtime.addStreamTrack(handle, track);
  }

  removeStreamTrack(handle: StreamHandle, streamTrackId: string): Promise<void> {
    return this.#realtime.removeStreamTrack(handle, streamTrackId);
  }

  /**
   * Publishes a local stream with its tracks.
   * @example
   * const handle = await streamApi.createStream(roomId);
   * const trackId = await streamApi.addStreamTrack(handle, { createDataChannel: true });
   * await streamApi.publishStream(handle);
   * await streamApi.sendData(trackId, utf8('hello'));
   */
  publishStream(handle: StreamHandle, onState?: PublishStateListener): Promise<StreamPublishResult> {
    return this.#realtime.publishStream(handle, onState);
  }

  /** Applies tracks added or removed since publishing (media tracks go live or end at once). */
  updateStream(handle: StreamHandle): Promise<StreamPublishResult> {
    return this.#realtime.updateStream(handle);
  }

  unpublishStream(handle: StreamHandle): Promise<void> {
    return this.#realtime.unpublishStream(handle);
  }

  /** Streams published in a room (members). */
  listStreams(streamRoomId: string, options?: RequestOptions): Promise<StreamInfo[]> {
    return this.#realtime.listStreams(streamRoomId, options);
  }

  subscribeToRemoteStreams(streamRoomId: string, subscriptions: StreamSubscription[]): Promise<void> {
    return this.#realtime.subscribeToRemoteStreams(streamRoomId, subscriptions);
  }

  modifyRemoteStreamsSubscriptions(streamRoomId: string, add: StreamSubscription[], remove: StreamSubscription[]): Promise<void> {
    return this.#realtime.modifyRemoteStreamsSubscriptions(streamRoomId, add, remove);
  }

  unsubscribeFromRemoteStreams(streamRoomId: string, subscriptions: StreamSubscription[]): Promise<void> {
    return this.#realtime.unsubscribeFromRemoteStreams(streamRoomId, subscriptions);
  }

  /**
   * Listens to subscribed remote streams: decrypted data-track messages (`onRemoteData`) and tracks
   * (`onRemoteStreamTrack`, with a playable `mediaTrack` for audio and video in a browser, and
   * `onRemoteStreamTrackEnded`). Returns the function that removes the listener.
   * @example
   * streamApi.addRemoteStreamListener({
   *   streamRoomId,
   *   onRemoteStreamTrack: ({ mediaTrack, userId }) => { if (mediaTrack) video(userId).srcObject = new MediaStream([mediaTrack]); },
   *   onRemoteData: (data, status, info) => show(info.userId, data),
   * });
   */
  addRemoteStreamListener(listener: RemoteStreamListener): () => void {
    return this.#realtime.addRemoteStreamListener(listener);
  }

  /**
   * Sends a message (at most 64 KiB) on a published data track, SFrame-encrypted (RFC 9605) under the
   * room's newest key with this sender's own key and counter. Data tracks are lossy: when the socket is
   * far behind, a message is dropped and counted (`sendDropped`) and the promise still resolves.
   */
  sendData(streamTrackId: string, data: Uint8Array): Promise<void> {
    return this.#realtime.sendData(streamTrackId, data);
  }

  /**
   * Counters of data-track messages: `sent`, `sendDropped`, `delivered`, and received messages dropped
   * by cause (`undecryptable`, `replayed`, `noKey`, `stale`, `droppedBySlowness`, `unroutable`, `receiveOverflow`).
   */
  dataTrackStats(): DataTrackStats {
    return this.#realtime.stats();
  }

  /**
   * Media counters (browsers): frames encrypted, decrypted and dropped by cause (never decoded),
   * keyframe requests, and each media transport's state. Without WebRTC: `Unsupported`.
   * @example const { framesDecrypted, framesDropped } = await streamApi.mediaStats();
   */
  async mediaStats(): Promise<MediaStats> {
    return (await this.#realtime.mediaApi()).stats();
  }

  /**
   * Audio levels of this client's published audio and of decrypted remote audio, computed here with
   * WebAudio about 10 times a second (the Bridge never sees levels). Resolves with the remover.
   * @example const stop = await streamApi.addAudioLevelStatsListener(({ levels }) => levels.forEach((l) => speaking(l.streamId, l.active)));
   */
  async addAudioLevelStatsListener(listener: AudioLevelStatsListener): Promise<() => void> {
    if (typeof listener !== 'function') throw EndpointError.invalidArgument('"listener" expected a function');
    return (await this.#realtime.mediaApi()).addAudioLevelListener(listener);
  }

  // ---- byte and text streams

  /**
   * What byte and text streams hold, and the incoming streams dropped before any handler saw them, by
   * reason (each is also logged).
   * @example const { droppedBeforeHandler } = streamApi.dataStreamStats();
   */
  dataStreamStats(): DataStreamStats {
    return this.#dataStreams.stats();
  }

  /**
   * Sends a file (a path in Node, a Blob/File, bytes or a ReadableStream) as a byte stream. Receivers
   * send signed delivery receipts unless `receipts: false`; `delivery` settles with who proved delivery.
   * To exactly one member it goes direct when it can (`path`, default `auto`; README "Direct connections").
   * @example
   * const { id, delivery } = await streamApi.sendFile('./report.pdf', { roomId, topic: 'files', onProgress: (p) => bar(p) });
   * const { delivered, failed } = await delivery!;
   */
  sendFile(
    file: string | Blob | Uint8Array | ReadableStream<Uint8Array>,
    options: SendFileOptions,
  ): Promise<{ id: string; delivery?: Promise<DeliveryReport> }> {
    if (!mayGoDirect(options)) return this.#dataStreams.sendFile(file, options);
    return this.#peers.load().then((peers) => peers.paths.sendFile(file, options, () => this.#dataStreams.sendFile(file, options)));
  }

  /**
   * Opens a byte stream writer; `write()` waits while the slowest receiver is a window behind.
   * @example
   * const writer = await streamApi.streamBytes({ roomId, topic: 'camera', name: 'frames.bin' });
   * for await (const chunk of source) await writer.write(chunk);
   * await writer.close();
   */
  streamBytes(options: StreamBytesOptions): Promise<ByteStreamWriter> {
    if (!mayGoDirect(options)) return this.#dataStreams.streamBytes(options);
    return this.#peers.load().then((peers) => peers.paths.streamBytes(options, () => this.#dataStreams.streamBytes(options)));
  }

  /**
   * Sends a text as a text stream (split on UTF-8 boundaries, never inside a character).
   * @example await streamApi.sendText('hello 👋', { roomId, topic: 'chat' });
   */
  sendText(text: string, options: SendTextOptions): Promise<{ id: string }> {
    return this.#dataStreams.sendText(text, options);
  }

  /**
   * Opens a text stream writer, for text produced over time (a transcript, an LLM's tokens).
   * @example
   * const writer = await streamApi.streamText({ roomId, topic: 'transcript' });
   * for await (const token of tokens) await writer.write(token);
   * await writer.close();
   */
  streamText(options: StreamTextOptions): Promise<TextStreamWriter> {
    return this.#dataStreams.streamText(options);
  }

  /**
   * Handles incoming byte streams on a topic (one handler per topic; registering twice throws).
   * @example
   * streamApi.registerByteStreamHandler('files', async (reader, { identity }) => {
   *   const path = await reader.writeToFile('./downloads');
   * });
   */
  registerByteStreamHandler(topic: string, handler: ByteStreamHandler): void {
    this.#dataStreams.registerByteStreamHandler(topic, handler);
  }

  /** Stops handling a topic; streams on it are then refused at once, so their senders do not wait. */
  unregisterByteStreamHandler(topic: string): void {
    this.#dataStreams.unregisterByteStreamHandler(topic);
  }

  /**
   * Handles incoming text streams on a topic (one handler per topic; registering twice throws).
   * @example streamApi.registerTextStreamHandler('chat', async (reader, { identity }) => show(identity, await reader.readAll()));
   */
  registerTextStreamHandler(topic: string, handler: TextStreamHandler): void {
    this.#dataStreams.registerTextStreamHandler(topic, handler);
  }

  /** Stops handling a text topic. */
  unregisterTextStreamHandler(topic: string): void {
    this.#dataStreams.unregisterTextStreamHandler(topic);
  }

  // ---- Web Streams shapes and delivery receipts (docs/data-streams/web-streams.md, docs/protocol/receipts.md)

  /**
   * A `WritableStream` that sends one byte stream to the room (or `destinationIdentities`): `desiredSize`
   * and `ready` follow the slowest receiver, `abort(reason)` reaches every receiver with the reason.
   * `broadcastStreamComplete` reports who proved delivery with a signed receipt.
   * @example await fileStream.pipeTo(streamApi.createBroadcastStream(roomId, { topic: 'files', name: 'talk.webm' }));
   */
  createBroadcastStream(roomId: string, options: BroadcastOptions): WritableStream<Uint8Array> {
    return this.#dataStreams.createBroadcastStream(roomId, options);
  }

  /**
   * Broadcasts a `ReadableStream` (in Node, `Readable.toWeb(nodeStream)`); resolves after the receipts.
   * @example const { delivered, failed } = await streamApi.broadcastStream(response.body!, { roomId, topic: 'files', name: 'a.zip' });
   */
  broadcastStream(readable: ReadableStream<Uint8Array>, options: BroadcastOptions & { roomId: string }): Promise<BroadcastStreamComplete> {
    return this.#dataStreams.broadcastStream(readable, options);
  }

  /** @example await streamApi.broadcastFile(input.files[0], { roomId, topic: 'files' }); // or a path in Node */
  broadcastFile(file: string | Blob | Uint8Array, options: BroadcastOptions & { roomId: string }): Promise<BroadcastStreamComplete> {
    return this.#dataStreams.broadcastFile(file, options);
  }

  /** @example await streamApi.broadcastBlob(new Blob([text], { type: 'text/plain' }), { roomId, topic: 'notes', name: 'note.txt' }); */
  broadcastBlob(blob: Blob, options: BroadcastOptions & { roomId: string }): Promise<BroadcastStreamComplete> {
    return this.#dataStreams.broadcastFile(blob, options);
  }

  /**
   * Streams on `topic` go to `streamReceived` listeners (`onBroadcastEvent`) as a pull-based
   * `ReadableStream`, then `streamCompleted`. It is the topic's byte-stream handler.
   * @example streamApi.receiveBroadcasts('files'); streamApi.onBroadcastEvent('streamReceived', (e) => void e.stream.pipeTo(sink(e.metadata.name)));
   */
  receiveBroadcasts(topic: string): void {
    this.#dataStreams.receiveBroadcasts(topic);
  }

  /**
   * Listens to PeerPigeon's events: `streamReceived`, `streamCompleted` (receiving, on topics opened
   * with `receiveBroadcasts`), `broadcastStreamComplete` and `broadcastStreamAborted` (sending). Returns
   * the function that removes the listener.
   * @example streamApi.onBroadcastEvent('broadcastStreamComplete', (e) => showDelivery(e.delivered, e.failed));
   */
  onBroadcastEvent<K extends keyof BroadcastEventMap & string>(type: K, listener: (event: BroadcastEventMap[K]) => void): () => void {
    return this.#dataStreams.broadcastEvents.on(type, listener);
  }

  /**
   * Sends data as one byte stream (Peerix's shape): the Transfer is a `ReadableStream` of progress
   * `{id, label, current, total, done}` and, awaited, `{id, delivered, failed}` after the receipts.
   * The `signal` aborts at once, mid-block; receivers get `AbnormalEnd` with its reason.
   * @example
   * const transfer = streamApi.send(file, { roomId, topic: 'files', info: { album: 'trip' }, signal: AbortSignal.timeout(60_000) });
   * for await (const { current, total } of transfer) bar(current / (total ?? current));
   * const { delivered, failed } = await transfer;
   */
  send(data: SendData, options: SendOptions): Transfer {
    if (!mayGoDirect(options)) return this.#dataStreams.send(data, options);
    // To one member, `auto` or `direct` (docs/protocol/peer-signalling.md): decided before the first byte.
    return lazyTransfer(this.#peers.load().then((peers) => peers.paths.send(data, options, () => this.#dataStreams.send(data, options))));
  }

  // ---- direct connections (docs/protocol/peer-signalling.md)

  /**
   * Connects directly to another member of a joined room (WebRTC; werift in Node). The offer is signed
   * with this user's key, the answer checked against the other's key in the verified room, and the
   * DTLS certificate met against the signed fingerprint. Rejects with a `PeerError`.
   * @example
   * const peer = await streamApi.connectPeer(roomId, 'bob', { metadata: { why: 'photos' } });
   * await peer.send(file, { label: 'files' });
   */
  async connectPeer(roomId: string, userId: string, options?: ConnectPeerOptions): Promise<RemotePeer> {
    return (await this.#peers.load()).connectPeer(roomId, userId, options);
  }

  /**
   * Hears direct connection requests (the `remotePeer` event): `accept()` or `decline()` each. Without
   * a listener every request is declined. Returns the function that removes the listener.
   * @example streamApi.addRemotePeerListener(async (request) => { const peer = await request.accept(); peer.on('stream', read); });
   */
  addRemotePeerListener(listener: RemotePeerListener): () => void {
    return this.#peers.addRemotePeerListener(listener);
  }

  /**
   * Incoming peer signals refused, by reason (a bad signature, a replay, a rewritten fingerprint...), and
   * the path streams to exactly one member took: counts, and the newest 100 streams by id.
   */
  peerStats(): { refused: PeerRefusals; paths: { direct: number; relay: number }; streams: PathChoice[] } {
    return { refused: this.#peers.refusals(), paths: this.#peers.paths(), streams: this.#peers.choices() };
  }
}
