/**
 * Streams and participants of a room on other Bridges (docs/operations/cluster.md): the cluster
 * fan-out (bridge/cluster/fanout.ts) tells this Bridge what the others publish, and each remote
 * stream is mirrored here as a stream of a remote publisher. Its data tracks get trackNos of this
 * Bridge, so the local members list, subscribe to and receive them exactly as local ones; DATA frames
 * that arrive over NATS go to the mirror track's subscribers through their usual lossy queues.
 *
 * Only data tracks are mirrored: media goes through the forwarding unit of the publisher's Bridge and
 * does not cross (docs/operations/cluster.md, "What does not cross").
 *
 * Frames of one remote track carry a sequence number. A gap is frames lost between the Bridges (core
 * NATS delivers at most once): the subscribers get it in `dataDropped`, as for a slow reader. A frame
 * older than one already delivered is dropped too, so per-sender order holds.
 */
import { encodeDataFrame, FRAME_DATA_DOWN, type ServerEvent, type StreamInfo, type TrackInfo } from '../../../protocol/ws.ts';
import { DataQueue } from './data-queue.ts';
import { BoundedSet } from './numbers.ts';
import {
  trackDelivery,
  trackInfo,
  type Participant,
  type ParticipantConnection,
  type PublishedStream,
  type RelayState,
  type RoomState,
  type Track,
} from './state.ts';

/** Who is in a room on one Bridge, and what they publish (a sync's answer). */
export interface RoomPresence {
  participants: Array<{ userId: string; connectionId: string }>;
  streams: StreamInfo[];
}

/** Why a remote participant left, as its byte streams from here are told (`byteStreamReceiverDropped`). */
type LeftReason = 'left' | 'disconnected' | 'removed';

interface Route {
  track: Track;
  /** The sequence number the next frame should carry; undefined before the first. */
  expected: number | undefined;
}

/** Counters of the cross-Bridge data path, for /metrics and tests. */
export interface RemoteCounters {
  remoteFrames: number;
  /** Frames lost between Bridges (sequence gaps), and late ones dropped to keep order. */
  remoteLost: number;
  remoteLate: number;
}

export class RemoteStreams {
  readonly counters: RemoteCounters = { remoteFrames: 0, remoteLost: 0, remoteLate: 0 };
  /** `${origin} ${originTrackNo}` -> the mirror track. */
  private readonly routes = new Map<string, Route>();
  /** The publisher of each mirrored stream. */
  private readonly origins = new WeakMap<PublishedStream, { origin: string; originTrackNos: Map<string, number> }>();

  constructor(
    private readonly st: RelayState,
    /** A remote participant left the room: it stops receiving byte streams from here. */
    private readonly onLeft: (room: RoomState, connectionId: string, reason: LeftReason) => void,
  ) {}

  /**
   * `userId` publishes `streamId` (here, or on Bridge `origin`) while this Bridge still mirrors a stream
   * of that id by the same user from another Bridge: its publisher failed over from that Bridge before
   * it was taken as gone, and republishes under the same handle (docs/operations/failover.md). The
   * mirror ends (`streamUnpublished`) so that the new stream takes its place; a stream of another user
   * is never ended this way, nor a local one.
   */
  supersede(roomId: string, userId: string, streamId: string, origin?: string): void {
    const stream = this.st.rooms.get(roomId)?.streams.get(streamId);
    const meta = stream === undefined ? undefined : this.origins.get(stream);
    if (stream === undefined || meta === undefined || meta.origin === origin || stream.owner.userId !== userId) return;
    this.unpublished(roomId, meta.origin, streamId);
  }

  /** A remote stream was published (or is announced again by a sync): mirrored here. */
  published(roomId: string, origin: string, info: StreamInfo, silent = false): void {
    const room = this.st.rooms.get(roomId);
    if (room === undefined) return;
    const existing = room.streams.get(info.streamId);
    if (existing !== undefined) {
      // Announced again (a sync): the same tracks change nothing; other tracks are an update.
      if (this.origins.get(existing)?.origin === origin) this.updated(roomId, origin, info);
      return; // a local stream of the same id wins; the remote one is not listed here
    }
    const owner = remotePublisher(info.userId, info.connectionId);
    const stream: PublishedStream = { room, streamId: info.streamId, owner, tracks: new Map(), subs: new Map() };
    const meta = { origin, originTrackNos: new Map<string, number>() };
    this.origins.set(stream, meta);
    for (const t of dataTracks(info)) stream.tracks.set(t.trackId, this.newTrack(stream, origin, t, meta.originTrackNos));
    room.streams.set(stream.streamId, stream);
    if (!silent) this.deliver(room, { type: 'streamPublished', stream: this.st.streamInfo(stream) });
  }

  /** A remote stream's tracks changed. */
  updated(roomId: string, origin: string, info: StreamInfo): void {
    const room = this.st.rooms.get(roomId);
    const stream = room?.streams.get(info.streamId);
    const meta = stream === undefined ? undefined : this.origins.get(stream);
    if (room === undefined || stream === undefined || meta?.origin !== origin) {
      if (room !== undefined && stream === undefined) this.published(roomId, origin, info);
      return;
    }
    const next = new Map<string, Track>();
    const added: Track[] = [];
    for (const t of dataTracks(info)) {
      const old = stream.tracks.get(t.trackId);
      if (old !== undefined && meta.originTrackNos.get(t.trackId) === t.trackNo) next.set(t.trackId, old);
      else {
        if (old !== undefined) this.retire(old, origin, meta.originTrackNos.get(t.trackId));
        const track = this.newTrack(stream, origin, t, meta.originTrackNos);
        next.set(t.trackId, track);
        added.push(track);
      }
    }
    const removed = [...stream.tracks.values()].filter((t) => !next.has(t.trackId));
    for (const track of removed) this.retire(track, origin, meta.originTrackNos.get(track.trackId));
    for (const track of removed) meta.originTrackNos.delete(track.trackId);
    if (added.length === 0 && removed.length === 0) return;
    stream.tracks = next;
    for (const [subscriber, mode] of [...stream.subs]) {
      if (mode === 'all') {
        for (const track of added) track.subscribers.add(subscriber);
        if (added.length > 0) {
          subscriber.conn.event({ type: 'streamSubscribed', roomId: room.id, streamId: stream.streamId, trackIds: added.map((t) => t.trackId) });
        }
      } else if (![...next.values()].some((t) => t.subscribers.has(subscriber))) {
        stream.subs.delete(subscriber);
      }
    }
    const wire = trackInfo;
    this.deliver(room, { type: 'streamUpdated', stream: this.st.streamInfo(stream), tracksAdded: added.map(wire), tracksRemoved: removed.map(wire) });
  }

  /** A remote stream ended. */
  unpublished(roomId: string, origin: string, streamId: string): void {
    const room = this.st.rooms.get(roomId);
    const stream = room?.streams.get(streamId);
    if (room === undefined || stream === undefined || this.origins.get(stream)?.origin !== origin) return;
    this.remove(stream, origin);
    this.deliver(room, { type: 'streamUnpublished', roomId, streamId, userId: stream.owner.userId });
  }

  /** A participant on another Bridge joined or left (events of the room, and syncs). */
  joined(roomId: string, origin: string, userId: string, connectionId: string): boolean {
    if (!this.st.rooms.has(roomId)) return false;
    let remote = this.st.remoteParticipants.get(roomId);
    if (remote === undefined) this.st.remoteParticipants.set(roomId, (remote = new Map()));
    if (remote.has(connectionId)) return false;
    remote.set(connectionId, { userId, origin });
    return true;
  }

  left(roomId: string, connectionId: string, reason: LeftReason): void {
    const remote = this.st.remoteParticipants.get(roomId);
    remote?.delete(connectionId);
    if (remote?.size === 0) this.st.remoteParticipants.delete(roomId);
    const room = this.st.rooms.get(roomId);
    if (room !== undefined) this.onLeft(room, connectionId, reason);
  }

  /** A DATA frame of a remote track, with its sequence number on that track. */
  data(origin: string, originTrackNo: number, seq: number, payload: Uint8Array): void {
    const route = this.routes.get(`${origin} ${originTrackNo}`);
    if (route === undefined) return; // not mirrored here (no participants, or not yet announced)
    if (route.expected !== undefined && seq < route.expected) {
      this.counters.remoteLate++;
      return;
    }
    const lost = route.expected === undefined ? 0 : seq - route.expected;
    route.expected = seq + 1;
    const { track } = route;
    this.counters.remoteFrames++;
    if (lost > 0) {
      this.counters.remoteLost += lost;
      for (const subscriber of track.subscribers) subscriber.data.countLost(track.trackNo, lost);
    }
    if (track.subscribers.size === 0) return;
    this.st.counters.dataDeliveries += track.subscribers.size;
    const frame = encodeDataFrame(FRAME_DATA_DOWN, track.trackNo, payload);
    for (const subscriber of track.subscribers) subscriber.data.push(track.trackNo, frame, track.delivery);
  }

  /** A Bridge is gone (silent too long): its streams end and its participants leave, here. */
  forgetOrigin(origin: string): void {
    for (const room of this.st.rooms.values()) {
      for (const stream of [...room.streams.values()]) if (this.origins.get(stream)?.origin === origin) this.unpublished(room.id, origin, stream.streamId);
      for (const [connectionId, r] of this.st.remoteParticipants.get(room.id) ?? []) {
        if (r.origin !== origin) continue;
        this.left(room.id, connectionId, 'disconnected');
        this.deliver(room, { type: 'streamRoomLeft', roomId: room.id, userId: r.userId, connectionId, reason: 'disconnected' });
      }
    }
  }

  /** The room has no participants here any more: its mirrors and remote participants are dropped. */
  roomClosed(room: RoomState): void {
    for (const stream of [...room.streams.values()]) {
      const meta = this.origins.get(stream);
      if (meta !== undefined) this.remove(stream, meta.origin);
    }
    this.st.remoteParticipants.delete(room.id);
  }

  /** What this Bridge's own connections hold in the room: the answer to another Bridge's sync. */
  localState(roomId: string): RoomPresence {
    const room = this.st.rooms.get(roomId);
    if (room === undefined) return { participants: [], streams: [] };
    return {
      participants: [...room.participants.values()].map((p) => ({ userId: p.userId, connectionId: p.conn.id })),
      streams: [...room.streams.values()].filter((s) => !this.origins.has(s)).map((s) => this.st.streamInfo(s)),
    };
  }

  /**
   * Everything `origin` holds in the room, as it answered a sync: what is new here is announced, what
   * this Bridge still mirrors from it and it no longer has ends (an event missed while NATS was down).
   */
  present(roomId: string, origin: string, state: RoomPresence, silent = false): void {
    const room = this.st.rooms.get(roomId);
    if (room === undefined) return;
    const streamIds = new Set(state.streams.map((s) => s.streamId));
    for (const stream of [...room.streams.values()]) {
      if (this.origins.get(stream)?.origin === origin && !streamIds.has(stream.streamId)) this.unpublished(roomId, origin, stream.streamId);
    }
    const connectionIds = new Set(state.participants.map((p) => p.connectionId));
    for (const [connectionId, r] of this.st.remoteParticipants.get(roomId) ?? []) {
      if (r.origin !== origin || connectionIds.has(connectionId)) continue;
      this.left(roomId, connectionId, 'disconnected');
      this.deliver(room, { type: 'streamRoomLeft', roomId, userId: r.userId, connectionId, reason: 'disconnected' });
    }
    for (const p of state.participants) {
      if (this.joined(roomId, origin, p.userId, p.connectionId) && !silent) this.deliver(room, { type: 'streamRoomJoined', roomId, ...p });
    }
    for (const info of state.streams) this.published(roomId, origin, info, silent);
  }

  /** An event of the room broadcast on another Bridge: applied here, and told to the local participants. */
  event(roomId: string, origin: string, event: ServerEvent): void {
    const room = this.st.rooms.get(roomId);
    if (room === undefined) return;
    switch (event.type) {
      case 'streamRoomJoined':
        if (this.joined(roomId, origin, event.userId, event.connectionId)) this.deliver(room, event);
        return;
      case 'streamRoomLeft':
        this.left(roomId, event.connectionId, event.reason === 'room_deleted' ? 'removed' : event.reason);
        return this.deliver(room, event);
      case 'streamPublished':
        this.supersede(roomId, event.stream.userId, event.stream.streamId, origin);
        return this.published(roomId, origin, event.stream);
      case 'streamUpdated':
        return this.updated(roomId, origin, event.stream);
      case 'streamUnpublished':
        return this.unpublished(roomId, origin, event.streamId);
      default:
        return;
    }
  }

  private deliver(room: RoomState, event: ServerEvent): void {
    this.st.toParticipants(room, event);
  }

  private remove(stream: PublishedStream, origin: string): void {
    const meta = this.origins.get(stream)!;
    for (const track of stream.tracks.values()) this.retire(track, origin, meta.originTrackNos.get(track.trackId));
    stream.room.streams.delete(stream.streamId);
  }

  private newTrack(stream: PublishedStream, origin: string, info: TrackInfo, originTrackNos: Map<string, number>): Track {
    const trackNo = this.st.trackNos.take((n) => this.st.tracks.has(n));
    // The delivery mode travels in the origin's stream info; a lossy deadline counts from arrival here.
    const track: Track = { trackId: info.trackId, kind: info.kind, trackNo, stream, subscribers: new Set(), delivery: trackDelivery(info) };
    this.st.tracks.set(trackNo, track);
    originTrackNos.set(info.trackId, info.trackNo);
    this.routes.set(`${origin} ${info.trackNo}`, { track, expected: undefined });
    return track;
  }

  private retire(track: Track, origin: string, originTrackNo: number | undefined): void {
    if (originTrackNo !== undefined) this.routes.delete(`${origin} ${originTrackNo}`);
    this.st.tracks.delete(track.trackNo);
    const gone = new Set([track.trackNo]);
    for (const subscriber of track.subscribers) subscriber.data.purge(gone);
    track.subscribers.clear();
  }
}

function dataTracks(info: StreamInfo): TrackInfo[] {
  return info.tracks.filter((t) => t.kind === 'data');
}

/**
 * The publisher of a mirrored stream: a participant of another Bridge. It has no socket here (its
 * `conn` drops whatever is sent to it) and is in no room's participants, so nothing is ever
 * delivered to it.
 */
function remotePublisher(userId: string, connectionId: string): Participant {
  const sink = { closed: true, priorityBufferedAmount: 0, binary: () => undefined, event: () => undefined };
  const conn: ParticipantConnection = {
    id: connectionId,
    userId,
    bufferedAmount: 0,
    softCapBytes: Number.POSITIVE_INFINITY,
    outboundCapBytes: Number.POSITIVE_INFINITY,
    event: () => undefined,
    encodedEvent: () => undefined,
    binary: () => undefined,
    bulk: () => -1,
    dropBulk: () => undefined,
    afterBulk: (release: () => void) => release(),
    bulkWaiting: () => undefined,
    receiveWindowBytes: undefined,
  };
  return {
    conn,
    userId,
    rooms: new Map(),
    published: 0,
    data: new DataQueue(sink, { queueBytes: 0, highWaterBytes: 0, reportIntervalMs: 1000, reportHoldBytes: 0 }),
    sending: new Map(),
    receiving: new Map(),
    unconsumedBytes: 0,
    endedBytes: 0,
    peakBytes: 0,
    retiredTracks: new BoundedSet(16),
    retiredStreams: new BoundedSet(16),
  };
}
