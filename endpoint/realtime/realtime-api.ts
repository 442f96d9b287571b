/**
 * The real-time plane of the Endpoint: rooms joined over the socket, local streams with
 * tracks, subscriptions to remote streams, and SFrame-encrypted data tracks. `StreamApi` is the
 * documented facade; this class composes the parts in this folder:
 *
 * - joined-rooms.ts: what the Bridge says about each joined room, and the trackNo -> sender index;
 * - realtime-events.ts: the Bridge's events, applied to that state and emitted to the app;
 * - local-streams.ts: this connection's streams and tracks;
 * - remote-listeners.ts: `addRemoteStreamListener` and the subscription mapping;
 * - data-track-sender.ts / data-track-receiver.ts / data-track-crypto.ts: SFrame (RFC 9605);
 * - key-refresh.ts: following key rotations while joined;
 * - room-membership.ts: joining and leaving a room, and what a leave does, in order;
 * - ../rooms/head-tracker.ts: which room head each member stamps into its frames (split views raise
 *   `staleView`).
 */
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import type { EventApi } from '../event-api.ts';
import { connectionInternals, eventApiInternals, type EventApiInternals } from '../internal.ts';
import { DEFAULT_STALE_VIEW_AFTER_MS, HeadTracker } from '../rooms/head-tracker.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { MediaApi } from '../media/media-api.ts';
import type { MediaOptions } from '../media/types.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import type { RequestOptions } from '../transport/http.ts';
import { DataTrackReceiver } from './data-track-receiver.ts';
import { DataTrackSender } from './data-track-sender.ts';
import { checkRoomId } from './ids.ts';
import { JoinedRooms, publicStream } from './joined-rooms.ts';
import { KeyRefresher } from './key-refresh.ts';
import { DEFAULT_DATA_TRACK_MAX_AGE_MS, MAX_DATA_MESSAGE_BYTES } from './limits.ts';
import { LocalStreams } from './local-streams.ts';
import { RealtimeEvents } from './realtime-events.ts';
import { RemoteListeners, toWireSubscriptions } from './remote-listeners.ts';
import { Resumer } from './resume.ts';
import { type RoomLeftListener, RoomMembership } from './room-membership.ts';
import type {
  DataTrackStats,
  PublishStateListener,
  RemoteStreamListener,
  StreamHandle,
  StreamInfo,
  StreamPublishResult,
  StreamSubscription,
  TrackOptions,
} from './types.ts';

/** StreamApiOptions that the real-time plane reads (documented there). */
export interface RealtimeOptions {
  dataTrackMaxAgeMs?: number;
  staleViewAfterMs?: number;
  media?: MediaOptions;
}

function positiveMs(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw EndpointError.invalidArgument(`"${name}" expected a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

export class RealtimeApi {
  private readonly counters: DataTrackStats = {
    delivered: 0,
    undecryptable: 0,
    replayed: 0,
    droppedBySlowness: 0,
    droppedByDeadline: 0,
    droppedLate: 0,
    droppedInCluster: 0,
    reliableCuts: 0,
    noKey: 0,
    stale: 0,
    unroutable: 0,
    receiveOverflow: 0,
    sent: 0,
    sendDropped: 0,
    sendDeadlineDropped: 0,
  };
  private readonly joined: JoinedRooms;
  private readonly locals: LocalStreams;
  private readonly listeners: RemoteListeners;
  private readonly refresher: KeyRefresher;
  private readonly sender: DataTrackSender;
  private readonly receiver: DataTrackReceiver;
  private readonly events: RealtimeEvents;
  private readonly resumer: Resumer;
  private readonly membership: RoomMembership;
  private readonly heads: HeadTracker;
  /** Where the app's real-time events are emitted (the EventApi's internal side). */
  private readonly appEvents: EventApiInternals;
  /** Audio and video (endpoint/media/), a lazy chunk loaded on first use, in browsers only. */
  private media: Promise<MediaApi> | undefined;
  private loadedMedia: MediaApi | undefined;
  private readonly mediaOptions: MediaOptions;

  constructor(
    readonly connection: Connection,
    readonly eventApi: EventApi,
    readonly rooms: RoomApi,
    readonly keys: KeyRing,
    options: RealtimeOptions = {},
  ) {
    const log = connection.log;
    const maxAgeMs = positiveMs('dataTrackMaxAgeMs', options.dataTrackMaxAgeMs, DEFAULT_DATA_TRACK_MAX_AGE_MS);
    const staleAfterMs = positiveMs('staleViewAfterMs', options.staleViewAfterMs, DEFAULT_STALE_VIEW_AFTER_MS);
    this.appEvents = eventApiInternals(eventApi);
    this.joined = new JoinedRooms(log);
    this.mediaOptions = options.media ?? {};
    this.locals = new LocalStreams(
      connection,
      (roomId) => this.joined.joined(roomId) !== undefined,
      async (stream) => (await this.media)?.streamChanged(stream),
    );
    this.listeners = new RemoteListeners(log);
    this.listeners.mediaClaims = (track) => {
      if (typeof RTCPeerConnection === 'undefined') return false;
      this.mediaApi().then(
        (media) => media.ensureReceiving(track.roomId),
        (error: unknown) => log.warn({ error: String(error) }, 'media could not start'),
      );
      return true;
    };
    this.refresher = new KeyRefresher(rooms, keys, log);
    this.heads = new HeadTracker({
      staleAfterMs,
      fetch: (roomId) => void this.refresher.refresh(roomId),
      onStale: (view) => {
        log.warn(
          { roomId: view.roomId, userId: view.userId, reason: view.reason, theirVersion: view.theirVersion, ourVersion: view.ourVersion },
          'a member is on another room head',
        );
        const { roomId, ...rest } = view;
        this.appEvents.emit('staleView', { type: 'staleView', streamRoomId: roomId, ...rest });
      },
    });
    // Only joined rooms are followed (the room is in `joined` from the start of its join).
    rooms.onTrustedHead((roomId, head) => {
      if (this.joined.get(roomId) !== undefined) this.heads.setOwn(roomId, head.record.version, head.hash);
    });
    this.sender = new DataTrackSender({
      connection,
      rooms,
      keys,
      refresher: this.refresher,
      heads: this.heads,
      counters: this.counters,
      target: (id) => this.locals.sendTarget(id),
    });
    this.receiver = new DataTrackReceiver({
      keys,
      refresher: this.refresher,
      heads: this.heads,
      maxAgeMs,
      counters: this.counters,
      log,
      route: (trackNo) => this.joined.track(trackNo),
      deliver: (track, data, epoch) => {
        if (this.joined.track(track.trackNo) !== track) return false;
        this.listeners.data(track, data, epoch);
        return true;
      },
    });
    this.resumer = new Resumer({
      log,
      join: (roomId) => this.joinStreamRoom(roomId),
      republish: (handle) => this.locals.republish(handle),
      endRoom: (roomId, error) =>
        this.locals.endRoom(roomId, error.reason === 'AccessDenied' ? 'removed' : error.reason === 'NotFound' ? 'room_deleted' : 'disconnected'),
      subscribe: (roomId, add) => this.subscribeWire(roomId, add, []),
      isJoined: (roomId) => this.joined.joined(roomId) !== undefined,
      emit: (event) => this.appEvents.emit('streamRoomResumed', event),
    });
    this.membership = new RoomMembership({
      connection,
      rooms,
      joined: this.joined,
      heads: this.heads,
      locals: this.locals,
      resumer: this.resumer,
      sender: this.sender,
      receiver: this.receiver,
      media: () => this.loadedMedia,
      appEvents: this.appEvents,
      flush: (room) => this.events.flush(room),
    });
    this.events = new RealtimeEvents({
      rooms: this.joined,
      eventApi: this.appEvents,
      listeners: this.listeners,
      refresher: this.refresher,
      keys,
      counters: this.counters,
      log,
      selfLeft: (room, reason) => this.membership.leftLocally(room, reason),
      resumer: this.resumer,
    });
    connection.on('reconnected', () => this.resumer.resume());
    const { hooks } = connectionInternals(connection);
    hooks.on('event', (event) => this.events.handle(event));
    hooks.on('frame', (frame) => {
      if (frame.type === 'data') this.receiver.onFrame(frame.trackNo, frame.payload);
    });
    hooks.on('socketClosed', () => this.membership.socketClosed());
    hooks.on('media', (event) => this.loadedMedia?.event(event));
  }

  /** Loads the media chunk once (browsers; elsewhere `Unsupported`). */
  mediaApi(): Promise<MediaApi> {
    if (typeof RTCPeerConnection === 'undefined') {
      return Promise.reject(new EndpointError('Unsupported', 'media needs WebRTC (RTCPeerConnection): a browser'));
    }
    this.media ??= import('../media/media-api.ts').then(
      (m) =>
        (this.loadedMedia = new m.MediaApi({
          connection: this.connection,
          rooms: this.rooms,
          keys: this.keys,
          refresher: this.refresher,
          heads: this.heads,
          locals: this.locals,
          listeners: this.listeners,
          joined: this.joined,
          options: this.mediaOptions,
        })),
      (error: unknown) => {
        this.media = undefined;
        throw new EndpointError('Unsupported', 'media: loading failed', { cause: error });
      },
    );
    return this.media;
  }

  /** The joined room's participants as the Bridge reported them (connectionId -> userId); undefined if not joined. */
  participants(roomId: string): ReadonlyMap<string, string> | undefined {
    return this.joined.joined(roomId)?.participants;
  }

  /**
   * Called with every room this connection leaves, for any reason, before the app's `streamRoomLeft`
   * event. Returns the function that removes the listener.
   * @example realtime.onRoomLeft((roomId, reason) => endByteStreams(roomId, reason));
   */
  onRoomLeft(listener: RoomLeftListener): () => void {
    return this.membership.onRoomLeft(listener);
  }

  /**
   * An authenticated claim of a member about its room head (a byte-stream header): followed like the
   * heads data-track frames carry (../rooms/head-tracker.ts).
   */
  observeHead(roomId: string, senderId: string, version: number, headHash: Uint8Array): void {
    this.heads.observeHead(roomId, senderId, version, headHash);
  }

  /**
   * Joins a room's real-time plane. First subscribes to the room's `streamRoomUpdated` events for
   * itself (before reading the room, so no rotation falls between the read and the subscription), then
   * reads and verifies the room (`getStreamRoom`: a non-member gets `AccessDenied`, and the keys are in
   * place), then joins on the socket. Joining a room already joined does nothing.
   * @example await realtime.joinStreamRoom(roomId);
   */
  joinStreamRoom(roomId: string, options: RequestOptions = {}): Promise<void> {
    return this.membership.join(roomId, options);
  }

  /**
   * Leaves a room: the Bridge unpublishes this connection's streams there and ends its byte streams.
   * The room is left locally whatever the Bridge answers; an error means the Bridge may not have heard.
   * @example await realtime.leaveStreamRoom(roomId);
   */
  leaveStreamRoom(roomId: string, options: RequestOptions = {}): Promise<void> {
    return this.membership.leave(roomId, options);
  }

  /**
   * A local stream in a joined room; the handle is also the stream's id on the Bridge.
   * @example const handle = await realtime.createStream(roomId);
   */
  async createStream(roomId: string): Promise<StreamHandle> {
    checkRoomId(roomId);
    if (this.joined.joined(roomId) === undefined) throw EndpointError.invalidArgument(`room "${roomId}" is not joined: joinStreamRoom first`);
    return this.locals.create(roomId);
  }

  /**
   * Adds a track to a local stream and returns its id: a data track (`{createDataChannel: true}`), or a
   * browser `MediaStreamTrack` (`{track}`: camera, microphone, screen share), whose frames are
   * SFrame-encrypted in an encoded transform and sent through the Bridge's forwarding unit once the
   * stream is published (docs/media/endpoint-media.md). Without WebRTC (Node) a media track fails
   * with `Unsupported`. Added after publishing, a track goes live with `updateStream`.
   * @example const trackId = await realtime.addStreamTrack(handle, { createDataChannel: true });
   */
  async addStreamTrack(handle: StreamHandle, track: TrackOptions): Promise<string> {
    if (typeof track === 'object' && track !== null && 'track' in track) (await this.mediaApi()).checkTrack(track.track);
    return this.locals.addTrack(handle, track);
  }

  /**
   * Removes a track; on a published stream the removal is applied by `updateStream`.
   * @example await realtime.removeStreamTrack(handle, trackId); await realtime.updateStream(handle);
   */
  async removeStreamTrack(handle: StreamHandle, trackId: string): Promise<void> {
    this.locals.removeTrack(handle, trackId);
  }

  /**
   * Publishes a local stream; `onState` hears `publishing`, then `published` or `failed`, and later
   * `updating` and `unpublished`.
   * @example await realtime.publishStream(handle, (state, error) => showState(state, error));
   */
  publishStream(handle: StreamHandle, onState?: PublishStateListener): Promise<StreamPublishResult> {
    return this.locals.publish(handle, onState);
  }

  /**
   * Applies the tracks added or removed since publishing (kept tracks keep their number and subscribers).
   * @example await realtime.addStreamTrack(handle, { createDataChannel: true }); await realtime.updateStream(handle);
   */
  updateStream(handle: StreamHandle): Promise<StreamPublishResult> {
    return this.locals.update(handle);
  }

  /**
   * Unpublishes a stream; the handle stays and may be published again.
   * @example await realtime.unpublishStream(handle);
   */
  unpublishStream(handle: StreamHandle): Promise<void> {
    return this.locals.unpublish(handle);
  }

  /**
   * The streams published in a room (members may list without joining).
   * @example const streams = await realtime.listStreams(roomId);
   */
  async listStreams(roomId: string, options: RequestOptions = {}): Promise<StreamInfo[]> {
    checkRoomId(roomId);
    const { streams } = await this.connection.request('listStreams', { roomId }, options);
    return streams.map(publicStream);
  }

  /**
   * Subscribes to remote streams: `{streamId}` for all its tracks (also ones added later), or
   * `{streamId, streamTrackId}` for one.
   * @example await realtime.subscribeToRemoteStreams(roomId, [{ streamId }]);
   */
  async subscribeToRemoteStreams(roomId: string, subscriptions: StreamSubscription[]): Promise<void> {
    return this.subscribeStreams(roomId, toWireSubscriptions('subscriptions', subscriptions, false), []);
  }

  /**
   * Adds and removes subscriptions in one step (removals first, all or nothing).
   * @example await realtime.modifyRemoteStreamsSubscriptions(roomId, [{ streamId: b }], [{ streamId: a }]);
   */
  async modifyRemoteStreamsSubscriptions(roomId: string, add: StreamSubscription[], remove: StreamSubscription[]): Promise<void> {
    return this.subscribeStreams(roomId, toWireSubscriptions('add', add, true), toWireSubscriptions('remove', remove, true));
  }

  /**
   * Removes subscriptions.
   * @example await realtime.unsubscribeFromRemoteStreams(roomId, [{ streamId }]);
   */
  async unsubscribeFromRemoteStreams(roomId: string, subscriptions: StreamSubscription[]): Promise<void> {
    return this.subscribeStreams(roomId, [], toWireSubscriptions('subscriptions', subscriptions, false));
  }

  private async subscribeStreams(roomId: string, add: ReturnType<typeof toWireSubscriptions>, remove: ReturnType<typeof toWireSubscriptions>): Promise<void> {
    checkRoomId(roomId);
    return this.subscribeWire(roomId, add, remove);
  }

  private async subscribeWire(roomId: string, add: ReturnType<typeof toWireSubscriptions>, remove: ReturnType<typeof toWireSubscriptions>): Promise<void> {
    const room = this.joined.joined(roomId);
    if (room === undefined) throw EndpointError.invalidArgument(`room "${roomId}" is not joined: joinStreamRoom first`);
    const { tracks } = await this.connection.request('subscribeStreams', { roomId, add, remove });
    if (this.joined.get(roomId) === room) this.joined.applySubscribed(room, tracks);
  }

  /**
   * Listens to subscribed remote streams of a room (one stream with `streamId`); returns the remover.
   * @example const stop = realtime.addRemoteStreamListener({ streamRoomId, onRemoteData: (data, _s, info) => show(info.userId, data) });
   */
  addRemoteStreamListener(listener: RemoteStreamListener): () => void {
    return this.listeners.add(listener);
  }

  /**
   * Sends one message (at most `MAX_DATA_MESSAGE_BYTES`, 64 KiB) on a published data track, SFrame-
   * encrypted under the room's newest epoch key. Resolves once the message is on the socket, or once
   * lossy pacing dropped it because the socket stayed far behind (counted in `stats().sendDropped`;
   * data tracks are lossy, byte streams are the reliable path).
   * @example await realtime.sendData(trackId, new TextEncoder().encode('hello'));
   */
  sendData(trackId: string, data: Uint8Array): Promise<void> {
    // Not an async function: a message sent in the call (data-track-sender.ts) resolves with the
    // sender's own settled promise, without another promise and its resolution jobs per message.
    try {
      if (!(data instanceof Uint8Array)) throw EndpointError.invalidArgument('"data" expected a Uint8Array');
      if (data.length > MAX_DATA_MESSAGE_BYTES) {
        throw EndpointError.invalidArgument(`"data" expected at most ${MAX_DATA_MESSAGE_BYTES} bytes, got ${data.length} (use a byte stream for more)`);
      }
      return this.sender.send(trackId, data);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Counters of data-track messages, sent and received, delivered and dropped by cause.
   * @example const { delivered, undecryptable, replayed } = realtime.stats();
   */
  stats(): DataTrackStats {
    return { ...this.counters };
  }
}
