/**
 * Public types of the real-time plane (PrivMX StreamApi shape): local streams with tracks, remote
 * stream subscriptions, data tracks, and the room/stream events.
 */
import type { EndpointError } from '../errors.ts';

/** A local stream before and after publishing (from `createStream`). */
export type StreamHandle = string;

/** What `addStreamTrack` takes: a data channel, or a media track (its WebRTC path comes later). */
export type TrackOptions = { createDataChannel: true } | { track: MediaStreamTrackLike };

/** The part of a browser `MediaStreamTrack` the API reads. */
export interface MediaStreamTrackLike {
  kind: 'audio' | 'video' | string;
  id: string;
}

export type TrackKind = 'data' | 'audio' | 'video';

export interface StreamTrackInfo {
  trackId: string;
  kind: TrackKind;
}

export interface StreamInfo {
  streamRoomId: string;
  streamId: string;
  /** The publisher, as the Bridge knows it (never as the publisher claims). */
  userId: string;
  tracks: StreamTrackInfo[];
}

export type PublishState = 'publishing' | 'published' | 'updating' | 'unpublished' | 'failed';

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

export interface RemoteStreamListener {
  streamRoomId: string;
  /** Only this stream's data; all streams of the room when omitted. */
  streamId?: string;
  onRemoteStreamTrack?: (event: { streamRoomId: string; streamId: string; track: StreamTrackInfo; userId: string }) => void;
  onRemoteData?: (data: Uint8Array, statusCode: RemoteDataStatus, info: RemoteDataInfo) => void;
}

export interface DataTrackStats {
  /** Messages given to listeners. */
  delivered: number;
  /** Dropped: failed to decrypt or authenticate (tampered, wrong key). */
  undecryptable: number;
  /** Dropped: counter already seen or too old (replay window). */
  replayed: number;
  /** Dropped by the Bridge because this client read too slowly (oldest first). */
  droppedBySlowness: number;
  /** Dropped: no key for the message's epoch (for example after this user was removed). */
  noKey: number;
}

// ---- events (delivered through EventApi.on)

export interface StreamRoomJoinedEvent {
  type: 'streamRoomJoined';
  streamRoomId: string;
  userId: string;
  connectionId: string;
}

export interface StreamRoomLeftEvent {
  type: 'streamRoomLeft';
  streamRoomId: string;
  userId: string;
  connectionId: string;
  reason: 'left' | 'disconnected' | 'removed' | 'room_deleted';
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
}

export type RealtimeEvent =
  | StreamRoomJoinedEvent
  | StreamRoomLeftEvent
  | StreamPublishedEvent
  | StreamUpdatedEvent
  | StreamUnpublishedEvent
  | StreamSubscribedEvent
  | StreamUnsubscribedEvent;

export type PublishStateListener = (state: PublishState, error?: EndpointError) => void;
