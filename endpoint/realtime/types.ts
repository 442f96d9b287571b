/**
 * Public types of the real-time plane (PrivMX StreamApi shape): local streams with tracks, remote
 * stream subscriptions, data tracks, and the room/stream events.
 */
import type { EndpointError } from '../errors.ts';

/** A local stream before and after publishing (from `createStream`). */
export type StreamHandle = string;

/**
 * What `addStreamTrack` takes: a data channel, or a browser `MediaStreamTrack` (camera, microphone,
 * or a `getDisplayMedia` screen share), sent end-to-end encrypted through the Bridge's forwarding
 * unit (docs/media/endpoint-media.md).
 */
/**
 * A data track's delivery (docs/protocol/data-tracks.md): `lossy` (the default) drops a message older
 * than `deadlineMs` (default 500, from 10 to 60,000) at the sender and at the Bridge, and the oldest for a
 * subscriber that reads too slowly, all counted in `dataTrackStats()`; `reliable` never drops, keeps
 * order, and the Bridge cuts a subscriber that cannot keep up from the track (`streamUnsubscribed`
 * with reason `too_slow`).
 */
export type DataTrackDelivery = 'lossy' | 'reliable';

export type TrackOptions = { createDataChannel: true; delivery?: DataTrackDelivery; deadlineMs?: number } | { track: MediaStreamTrackLike };

/** The part of a browser `MediaStreamTrack` the API reads. */
export interface MediaStreamTrackLike {
  kind: 'audio' | 'video' | string;
  id: string;
}

/** The DOM's `MediaStreamTrack` where the app's TypeScript has the DOM library, else `MediaStreamTrackLike`. */
export type MediaStreamTrackOf = typeof globalThis extends { MediaStreamTrack: { prototype: infer T } } ? T : MediaStreamTrackLike;

export type TrackKind = 'data' | 'audio' | 'video';

export interface StreamTrackInfo {
  trackId: string;
  kind: TrackKind;
  /** Data tracks: how the Bridge delivers them, and a lossy track's deadline in ms. */
  delivery?: DataTrackDelivery;
  deadlineMs?: number;
}

export interface StreamInfo {
  streamRoomId: string;
  streamId: string;
  /** The publisher, as the Bridge knows it (never as the publisher claims). */
  userId: string;
  tracks: StreamTrackInfo[];
}

/**
 * States a local stream reports to its `onState` listener: `publishing` -> `published` | `failed` on
 * `publishStream` (with `connecting` between them while audio/video tracks connect to the forwarding
 * unit, and again while the media session restarts after a failure); `updating` -> `published` | `failed` on `updateStream` (after a failed update the
 * stream stays published with its previous tracks); `unpublished` after `unpublishStream` or when its
 * room is left for any reason.
 */
/**
 * `suspended`: the connection dropped while the stream was published; it is republished (`publishing`,
 * then `published`, or `failed`) when the connection is back.
 */
export type PublishState = 'publishing' | 'connecting' | 'published' | 'updating' | 'unpublished' | 'failed' | 'suspended';

export interface StreamPublishResult {
  published: boolean;
  streamId: string;
  tracks: StreamTrackInfo[];
}

/** `{ streamId }` for every track of a stream, or `{ streamId, streamTrackId }` for one. */
export interface StreamSubscription {
  streamId: string;
  streamTrackId?: string;
}

/**
 * Status of a data message given to `onRemoteData`: 0 for a message that decrypted and authenticated.
 * Messages that fail are dropped and counted (see `dataTrackStats`), never passed on.
 */
export type RemoteDataStatus = 0;

export interface RemoteDataInfo {
  streamRoomId: string;
  streamId: string;
  streamTrackId: string;
  /** The sender, as the Bridge knows it. */
  userId: string;
  /** The key epoch the message was encrypted under. */
  epoch: number;
}

export interface RemoteStreamTrackEvent {
  streamRoomId: string;
  streamId: string;
  track: StreamTrackInfo;
  /** The publisher, as the Bridge knows it. */
  userId: string;
  /** Audio and video, in a browser: the playable track. */
  mediaTrack?: MediaStreamTrackOf;
}

export interface RemoteStreamListener {
  streamRoomId: string;
  /** Only this stream's data; all streams of the room when omitted. */
  streamId?: string;
  /**
   * A track of a matching stream became subscribed on this connection (`streamSubscribed`). In a
   * browser an audio or video track is announced once it is playable, with `mediaTrack` (decrypted
   * frames; put it in a `MediaStream` on a `<video>` or `<audio>`); where there is no WebRTC it is
   * announced on subscription, without `mediaTrack`.
   */
  onRemoteStreamTrack?: (event: RemoteStreamTrackEvent) => void;
  /**
   * A media track announced with `mediaTrack` ended: unsubscribed, unpublished or removed by its
   * publisher, this connection left the room or was removed, or the media session restarts (a new
   * `onRemoteStreamTrack` follows). The `mediaTrack` is stopped and gets an `ended` event too.
   */
  onRemoteStreamTrackEnded?: (event: RemoteStreamTrackEvent) => void;
  /**
   * A data-track message that decrypted and authenticated, in the order the Bridge relayed it. The
   * bytes are the listener's own (each listener gets a separate copy).
   */
  onRemoteData?: (data: Uint8Array, statusCode: RemoteDataStatus, info: RemoteDataInfo) => void;
}

/**
 * Counters of data-track messages on this connection, since it was created. Every message that is not
 * delivered is counted under exactly one cause; nothing is passed on undecrypted.
 */
export interface DataTrackStats {
  /** Received messages that decrypted and authenticated, handed to the matching listeners. */
  delivered: number;
  /** Dropped: failed to decrypt or authenticate (tampered, wrong key, wrong sender, malformed header). */
  undecryptable: number;
  /** Dropped: counter already seen or too old (replay window). */
  replayed: number;
  /** Dropped by the Bridge because this client read too slowly (oldest first; from `dataDropped`). */
  droppedBySlowness: number;
  /** Dropped by the Bridge: lossy messages older than their track's `deadlineMs` when their turn came. */
  droppedByDeadline: number;
  /**
   * Dropped here: lossy messages that reached this client later than their track's `deadlineMs` (the
   * delay accrued after the Bridge: socket buffers, a busy event loop; docs/protocol/data-tracks.md).
   */
  droppedLate: number;
  /** Lost between two Bridges of a cluster before they reached this client's Bridge (counted there). */
  droppedInCluster: number;
  /** Reliable tracks the Bridge cut this client from because it could not keep up (`streamUnsubscribed` with `too_slow`). */
  reliableCuts: number;
  /** Dropped: no key for the message's epoch (past its grace period, or after this user was removed). */
  noKey: number;
  /**
   * Dropped: authenticated but stale. Stamped outside the freshness window (`dataTrackMaxAgeMs`) or not
   * after what this receiver already forgot of its sender, or from a session of an epoch that was
   * superseded before the session was seen (or after its sender moved to a newer epoch).
   */
  stale: number;
  /** Dropped: a frame on a track this client does not know (it ended while the frame was on the wire). */
  unroutable: number;
  /** Dropped: more received frames were waiting for decryption than the local bound allows. */
  receiveOverflow: number;
  /** Messages `sendData` encrypted and handed to the socket. */
  sent: number;
  /** Messages `sendData` dropped because the socket stayed far behind (lossy pacing, see `sendData`). */
  sendDropped: number;
  /** Of `sendDropped`: lossy messages that waited for the socket longer than their track's `deadlineMs`. */
  sendDeadlineDropped: number;
}

// ---- events (delivered through EventApi.on)

export interface StreamRoomJoinedEvent {
  type: 'streamRoomJoined';
  streamRoomId: string;
  userId: string;
  connectionId: string;
}

/**
 * Why a connection left a room: `left` (it asked), `disconnected` (its socket dropped), `removed` (its
 * user was removed from the room), `room_deleted`.
 */
export type RoomLeftReason = 'left' | 'disconnected' | 'removed' | 'room_deleted';

export interface StreamRoomLeftEvent {
  type: 'streamRoomLeft';
  streamRoomId: string;
  userId: string;
  connectionId: string;
  reason: RoomLeftReason;
}

export interface StreamPublishedEvent {
  type: 'streamPublished';
  streamRoomId: string;
  stream: StreamInfo;
  userId: string;
}

export interface StreamUpdatedEvent {
  type: 'streamUpdated';
  streamRoomId: string;
  stream: StreamInfo;
  tracksAdded: StreamTrackInfo[];
  tracksRemoved: StreamTrackInfo[];
  tracksModified: StreamTrackInfo[];
}

export interface StreamUnpublishedEvent {
  type: 'streamUnpublished';
  streamRoomId: string;
  streamId: string;
  userId: string;
}

export interface StreamSubscribedEvent {
  type: 'streamSubscribed';
  streamRoomId: string;
  streamId: string;
  trackIds: string[];
}

export interface StreamUnsubscribedEvent {
  type: 'streamUnsubscribed';
  streamRoomId: string;
  streamId: string;
  trackIds: string[];
  /**
   * Set when the Bridge ended the subscription itself: `too_slow`, this client could not keep up with
   * a `reliable` data track (its queue at the Bridge passed its bound; docs/protocol/data-tracks.md).
   */
  reason?: 'too_slow';
}

/**
 * A member of a joined room is on another room head than this client, for longer than
 * `staleViewAfterMs` (or on a different record of the same version: at once). Every data-track frame
 * carries, authenticated, its sender's room version and head hash; a member that names a newer head
 * makes this client fetch and verify the room first. A view that stays split means the Bridge shows
 * members different rooms, for example hiding a removal from some of them so that they keep sending
 * under a key the removed user holds (docs/security/bridge-adversary.md). Raised once per split; it
 * may also come from a member that misbehaves, and names it. Apps should warn the user and may stop
 * sending in the room.
 *
 * - `behind`: the member is on an older version than this client;
 * - `ahead`: the member names a newer version that this client cannot get from the Bridge;
 * - `fork`: the same version with a different record hash.
 */
export interface StaleViewEvent {
  type: 'staleView';
  streamRoomId: string;
  /** The member whose head differs, as the Bridge names the sender. */
  userId: string;
  reason: 'behind' | 'ahead' | 'fork';
  theirVersion: number;
  /** base64 */
  theirHeadHash: string;
  ourVersion: number;
  /** base64 */
  ourHeadHash: string;
  /** How long the heads have differed, in ms. */
  sinceMs: number;
}

/**
 * After a reconnect, the Endpoint rejoins each room this connection had joined, republishes its
 * streams there under the same handles and track ids, and subscribes again to what it had subscribed
 * to; this event says, per room, what was restored and what could not be (it was removed meanwhile,
 * say). Byte streams in flight when the connection dropped are not resumed: they failed with
 * `ConnectionLost`.
 */
export interface StreamRoomResumedEvent {
  type: 'streamRoomResumed';
  streamRoomId: string;
  status: 'restored' | 'failed';
  /** Why the room could not be rejoined (`status: 'failed'`). */
  error?: EndpointError;
  streams: Array<{ streamId: string; status: 'republished' | 'failed'; error?: EndpointError }>;
  /**
   * `pending`: the stream is not published yet (its publisher is reconnecting too); the subscription is
   * made when it is, for as long as this connection stays in the room.
   */
  subscriptions: Array<{ streamId: string; trackIds?: string[]; status: 'restored' | 'pending' | 'failed' }>;
}

export type RealtimeEvent =
  | StaleViewEvent
  | StreamRoomResumedEvent
  | StreamRoomJoinedEvent
  | StreamRoomLeftEvent
  | StreamPublishedEvent
  | StreamUpdatedEvent
  | StreamUnpublishedEvent
  | StreamSubscribedEvent
  | StreamUnsubscribedEvent;

export type PublishStateListener = (state: PublishState, error?: EndpointError) => void;
