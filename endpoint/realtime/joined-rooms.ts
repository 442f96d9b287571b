/**
 * Rooms this connection joined for real-time traffic, as the Bridge described them: participants, the
 * remote streams with their tracks, what this connection subscribed to, and the index from the
 * Bridge's trackNo to (room, stream, track, publisher). That index is how a received DATA frame finds
 * its sender: the publisher's user id comes from the Bridge (join result, stream events, subscribe
 * result), never from the frame (docs/design.md "Transport").
 */
import { DATA_DEADLINE_DEFAULT_MS, type ResultPayloads, type ServerEvent, type StreamInfo as WireStreamInfo } from '../../protocol/ws.ts';
import type { Logger } from '../logger.ts';
import { type RealtimeHolder, realtimeMayHaveChanged, registerRealtimeHolder } from '../util/realtime-presence.ts';
import { MAX_PARTICIPANTS_PER_ROOM, MAX_PENDING_TRACK_ANNOUNCEMENTS, MAX_REMOTE_STREAMS_PER_ROOM } from './limits.ts';
import type { DataTrackDelivery, StreamInfo, StreamTrackInfo, TrackKind } from './types.ts';

/** One track of a remote stream, with everything a received frame needs. */
export interface RemoteTrack {
  roomId: string;
  streamId: string;
  trackId: string;
  kind: TrackKind;
  trackNo: number;
  /** The publisher, as the Bridge knows it. */
  userId: string;
  /**
   * A lossy data track's deadline (its `deadlineMs`, as the Bridge describes the track): a frame
   * arriving later than this is dropped here too (data-track-receiver.ts, step 5). Undefined for a
   * reliable track, or one known only from a subscribe result.
   */
  lateAfterMs?: number;
}

export interface RemoteStream {
  streamId: string;
  userId: string;
  connectionId: string;
  /** By trackId, in the publisher's order. */
  tracks: Map<string, RemoteTrack>;
}

/** Events about one room (the ones this file keeps state for). */
export type RoomScopedEvent = Extract<
  ServerEvent,
  {
    type:
      | 'streamRoomJoined'
      | 'streamRoomLeft'
      | 'streamPublished'
      | 'streamUpdated'
      | 'streamUnpublished'
      | 'streamSubscribed'
      | 'streamUnsubscribed'
      | 'dataTrackCut';
  }
>;

export class JoinedRoom {
  /** `joining` until the Bridge answered `join`; events meanwhile wait in `buffered`. */
  status: 'joining' | 'joined' = 'joining';
  /** Other connections in the room: connectionId -> userId. */
  readonly participants = new Map<string, string>();
  readonly streams = new Map<string, RemoteStream>();
  /** What this connection is subscribed to: streamId -> trackIds. */
  subscribed = new Map<string, Set<string>>();
  /** Subscribed tracks the Bridge announced before the stream update that describes them. */
  readonly pendingAnnouncements = new Set<string>();
  readonly buffered: RoomScopedEvent[] = [];
  /** The Bridge's id of this room's internal `streamRoomUpdated` subscription. */
  subscriptionId: string | undefined;
  /** Settles when the join finished (or failed). */
  ready: Promise<void> = Promise.resolve();

  constructor(
    readonly roomId: string,
    /** This connection's id on the Bridge when it joined (the socket's, until it drops). */
    readonly connectionId: string,
  ) {}
}

export class JoinedRooms implements RealtimeHolder {
  private readonly rooms = new Map<string, JoinedRoom>();
  private readonly byTrackNo = new Map<number, RemoteTrack>();

  constructor(private readonly log: Logger) {
    registerRealtimeHolder(this);
  }

  /** Remote tracks are routed here: byte streams starting now use the bulk thread (util/realtime-presence.ts). */
  get carriesRealtime(): boolean {
    return this.byTrackNo.size > 0;
  }

  get(roomId: string): JoinedRoom | undefined {
    return this.rooms.get(roomId);
  }

  /** The room if its join completed. */
  joined(roomId: string): JoinedRoom | undefined {
    const room = this.rooms.get(roomId);
    return room?.status === 'joined' ? room : undefined;
  }

  all(): JoinedRoom[] {
    return [...this.rooms.values()];
  }

  add(room: JoinedRoom): void {
    this.rooms.set(room.roomId, room);
  }

  /** Forgets the room and the trackNos of its streams. */
  remove(room: JoinedRoom): void {
    if (this.rooms.get(room.roomId) !== room) return;
    this.rooms.delete(room.roomId);
    for (const stream of room.streams.values()) this.dropTracks(stream.tracks.values());
  }

  /** The remote track behind a trackNo, if it belongs to a joined room. */
  track(trackNo: number): RemoteTrack | undefined {
    const track = this.byTrackNo.get(trackNo);
    return track !== undefined && this.rooms.get(track.roomId)?.status === 'joined' ? track : undefined;
  }

  /** The state the join result describes: who is there and what they publish. */
  applySnapshot(room: JoinedRoom, result: ResultPayloads['join']): void {
    for (const p of result.participants) this.addParticipant(room, p.connectionId, p.userId);
    for (const stream of result.streams) this.putStream(room, stream);
  }

  addParticipant(room: JoinedRoom, connectionId: string, userId: string): void {
    if (connectionId === room.connectionId) return;
    if (!room.participants.has(connectionId) && room.participants.size >= MAX_PARTICIPANTS_PER_ROOM) {
      this.log.warn({ roomId: room.roomId }, 'too many participants to track in a room; ignoring one');
      return;
    }
    room.participants.set(connectionId, userId);
  }

  /**
   * Adds or replaces a remote stream as the Bridge describes it. Returns the tracks that appeared and
   * the ones that went, or undefined if the stream was not taken (this connection's own, or over the
   * bound).
   */
  putStream(room: JoinedRoom, info: WireStreamInfo): { added: RemoteTrack[]; removed: RemoteTrack[] } | undefined {
    if (info.roomId !== room.roomId || info.connectionId === room.connectionId) return undefined;
    const old = room.streams.get(info.streamId);
    if (old === undefined && room.streams.size >= MAX_REMOTE_STREAMS_PER_ROOM) {
      this.log.warn({ roomId: room.roomId }, 'too many remote streams to track in a room; ignoring one');
      return undefined;
    }
    const tracks = new Map<string, RemoteTrack>();
    for (const t of info.tracks) {
      const lateAfterMs = t.kind === 'data' && (t.delivery ?? 'lossy') === 'lossy' ? (t.deadlineMs ?? DATA_DEADLINE_DEFAULT_MS) : undefined;
      // Under the same trackNo it is the same track: it keeps its object, which the trackNo index (and
      // so every frame's route) holds, and takes this description (one from a subscribe result had none).
      const known = old?.tracks.get(t.trackId);
      const track: RemoteTrack =
        known !== undefined && known.trackNo === t.trackNo
          ? Object.assign(known, { kind: t.kind, userId: info.userId })
          : { roomId: room.roomId, streamId: info.streamId, trackId: t.trackId, kind: t.kind, trackNo: t.trackNo, userId: info.userId };
      if (lateAfterMs === undefined) delete track.lateAfterMs;
      else track.lateAfterMs = lateAfterMs;
      tracks.set(t.trackId, track);
    }
    const removed = old === undefined ? [] : [...old.tracks.values()].filter((t) => tracks.get(t.trackId)?.trackNo !== t.trackNo);
    const added = [...tracks.values()].filter((t) => old?.tracks.get(t.trackId)?.trackNo !== t.trackNo);
    this.dropTracks(removed);
    const before = this.byTrackNo.size;
    for (const t of added) this.byTrackNo.set(t.trackNo, t);
    this.indexed(before);
    room.streams.set(info.streamId, { streamId: info.streamId, userId: info.userId, connectionId: info.connectionId, tracks });
    const subscribed = room.subscribed.get(info.streamId);
    for (const t of removed) if (!tracks.has(t.trackId)) subscribed?.delete(t.trackId);
    return { added, removed };
  }

  removeStream(room: JoinedRoom, streamId: string): RemoteStream | undefined {
    const stream = room.streams.get(streamId);
    if (stream === undefined) return undefined;
    room.streams.delete(streamId);
    room.subscribed.delete(streamId);
    this.dropTracks(stream.tracks.values());
    for (const key of [...room.pendingAnnouncements]) if (key.startsWith(`${streamId}/`)) room.pendingAnnouncements.delete(key);
    return stream;
  }

  /**
   * The full subscribed set from a `subscribeStreams` result. A track of a stream this client has not
   * heard of is indexed from the result alone (only data tracks carry DATA frames, so it is `data`).
   */
  applySubscribed(room: JoinedRoom, tracks: ResultPayloads['subscribeStreams']['tracks']): void {
    const before = this.byTrackNo.size;
    const subscribed = new Map<string, Set<string>>();
    for (const t of tracks) {
      let set = subscribed.get(t.streamId);
      if (set === undefined) subscribed.set(t.streamId, (set = new Set()));
      set.add(t.trackId);
      let stream = room.streams.get(t.streamId);
      if (stream === undefined) {
        if (room.streams.size >= MAX_REMOTE_STREAMS_PER_ROOM) continue;
        stream = { streamId: t.streamId, userId: t.userId, connectionId: '', tracks: new Map() };
        room.streams.set(t.streamId, stream);
      }
      if (stream.tracks.get(t.trackId)?.trackNo !== t.trackNo) {
        const track: RemoteTrack = { roomId: room.roomId, streamId: t.streamId, trackId: t.trackId, kind: 'data', trackNo: t.trackNo, userId: t.userId };
        stream.tracks.set(t.trackId, track);
        this.byTrackNo.set(t.trackNo, track);
      }
    }
    room.subscribed = subscribed;
    this.indexed(before);
  }

  /** Marks tracks subscribed; returns the ones already described, and holds back the others. */
  subscribe(room: JoinedRoom, streamId: string, trackIds: readonly string[]): RemoteTrack[] {
    let set = room.subscribed.get(streamId);
    if (set === undefined) room.subscribed.set(streamId, (set = new Set()));
    const known: RemoteTrack[] = [];
    for (const trackId of trackIds) {
      set.add(trackId);
      const track = room.streams.get(streamId)?.tracks.get(trackId);
      if (track !== undefined) known.push(track);
      else if (room.pendingAnnouncements.size < MAX_PENDING_TRACK_ANNOUNCEMENTS) room.pendingAnnouncements.add(`${streamId}/${trackId}`);
    }
    return known;
  }

  unsubscribe(room: JoinedRoom, streamId: string, trackIds: readonly string[]): void {
    const set = room.subscribed.get(streamId);
    for (const trackId of trackIds) {
      set?.delete(trackId);
      room.pendingAnnouncements.delete(`${streamId}/${trackId}`);
    }
    if (set?.size === 0) room.subscribed.delete(streamId);
  }

  /** Tracks that were announced as subscribed before they were described, and now are. */
  takeAnnounced(room: JoinedRoom, tracks: readonly RemoteTrack[]): RemoteTrack[] {
    return tracks.filter((t) => room.pendingAnnouncements.delete(`${t.streamId}/${t.trackId}`));
  }

  private dropTracks(tracks: Iterable<RemoteTrack>): void {
    const before = this.byTrackNo.size;
    for (const t of tracks) if (this.byTrackNo.get(t.trackNo) === t) this.byTrackNo.delete(t.trackNo);
    this.indexed(before);
  }

  /** The track index changed from `before` entries: whether this connection carries real time may have turned. */
  private indexed(before: number): void {
    if ((before === 0) !== (this.byTrackNo.size === 0)) realtimeMayHaveChanged();
  }
}

/** The public form of a stream the Bridge describes. */
export function publicStream(info: WireStreamInfo): StreamInfo {
  return { streamRoomId: info.roomId, streamId: info.streamId, userId: info.userId, tracks: info.tracks.map(publicTrack) };
}

export function publicTrack(t: { trackId: string; kind: TrackKind; delivery?: DataTrackDelivery; deadlineMs?: number }): StreamTrackInfo {
  if (t.delivery === undefined) return { trackId: t.trackId, kind: t.kind };
  return t.deadlineMs === undefined
    ? { trackId: t.trackId, kind: t.kind, delivery: t.delivery }
    : { trackId: t.trackId, kind: t.kind, delivery: t.delivery, deadlineMs: t.deadlineMs };
}
