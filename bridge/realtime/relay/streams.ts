/**
 * Published streams and their tracks (PrivMX shape: publish, updateStream, unpublish, listStreams,
 * subscribeStreams), and the routing of DATA frames to the subscribers of a track.
 *
 * Each track gets a Bridge-wide trackNo; a DATA frame is accepted only on a trackNo the sending
 * connection published, so a receiver learns the sender from the Bridge, never from the sender
 * (docs/design.md, "Transport": the Bridge overwrites the sender identity; a sender never gets its own
 * stream back).
 */
import { CLOSE, toDownFrame, type ClientRequest, type ResultPayloads, type StreamInfo } from '../../../protocol/ws.ts';
import { BridgeError } from '../../errors.ts';
import type { RealtimeConnection } from '../connection.ts';
import { trackDelivery, trackInfo, type Participant, type PublishedStream, type RelayState, type RoomState, type Track } from './state.ts';

type Req<K extends ClientRequest['kind']> = Extract<ClientRequest, { kind: K }>;
type TrackDraft = Req<'publish'>['tracks'][number];

export class StreamsRelay {
  constructor(private readonly st: RelayState) {
    st.onReliableOverflow = (p, trackNo) => this.cutFromTrack(p, trackNo);
  }

  publish(conn: RealtimeConnection, req: Req<'publish'>): ResultPayloads['publish'] {
    const { p, room } = this.st.joined(conn, req.roomId);
    if (room.streams.has(req.streamId)) {
      throw BridgeError.conflict('STREAM_EXISTS', `expected a new streamId, got "${req.streamId}", which is already published in this room`);
    }
    const max = this.st.config.maxPublishedStreamsPerConnection;
    if (p.published >= max) {
      throw new BridgeError('TOO_MANY_STREAMS', `expected at most ${max} published streams per connection, this would be ${p.published + 1}`);
    }
    checkDrafts(req.tracks);
    const stream: PublishedStream = { room, streamId: req.streamId, owner: p, tracks: new Map(), subs: new Map() };
    for (const draft of req.tracks) stream.tracks.set(draft.trackId, this.newTrack(stream, draft));
    room.streams.set(stream.streamId, stream);
    p.published++;
    const info = this.st.streamInfo(stream);
    this.st.broadcast(room, { type: 'streamPublished', stream: info }, p);
    return { stream: info };
  }

  /**
   * Whether this `updateStream` would start a track: a new trackId, or a changed kind or delivery.
   * One that keeps or removes tracks only sheds work, and is admitted while the Bridge is overloaded
   * (docs/operations/limits.md, "Overload"). True when the stream is not this connection's to update:
   * the refusal stays as before.
   */
  updateAddsTracks(conn: RealtimeConnection, req: Req<'updateStream'>): boolean {
    const p = this.st.participants.get(conn.id);
    const stream = p?.rooms.get(req.roomId)?.streams.get(req.streamId);
    if (stream === undefined || stream.owner !== p) return true;
    return req.tracks.some((draft) => sameTrack(stream.tracks.get(draft.trackId), draft) === undefined);
  }

  /**
   * Whether this `updateStream` would change nothing: the same tracks, none of another kind or delivery.
   * Such an update is answered, but neither announced to the room nor made a media resync: each
   * announcement goes to every participant, so a member repeating no-op updates would otherwise send
   * the whole room a message per request.
   */
  updateChangesNothing(conn: RealtimeConnection, req: Req<'updateStream'>): boolean {
    const p = this.st.participants.get(conn.id);
    const stream = p?.rooms.get(req.roomId)?.streams.get(req.streamId);
    if (stream === undefined || stream.owner !== p || req.tracks.length !== stream.tracks.size) return false;
    return req.tracks.every((draft) => sameTrack(stream.tracks.get(draft.trackId), draft) !== undefined);
  }

  updateStream(conn: RealtimeConnection, req: Req<'updateStream'>): ResultPayloads['updateStream'] {
    const { p, room } = this.st.joined(conn, req.roomId);
    const stream = ownStream(p, room, req.streamId);
    checkDrafts(req.tracks);
    const next = new Map<string, Track>();
    const added: Track[] = [];
    for (const draft of req.tracks) {
      const old = sameTrack(stream.tracks.get(draft.trackId), draft);
      if (old !== undefined) next.set(draft.trackId, old);
      else {
        const track = this.newTrack(stream, draft);
        next.set(draft.trackId, track);
        added.push(track);
      }
    }
    const removed = [...stream.tracks.values()].filter((t) => next.get(t.trackId) !== t);
    for (const track of removed) this.retireTrack(track);
    stream.tracks = next;
    for (const [subscriber, mode] of [...stream.subs]) {
      if (mode === 'all') {
        // A subscription without trackId covers the stream's tracks, including ones added later.
        for (const track of added) track.subscribers.add(subscriber);
        if (added.length > 0) {
          subscriber.conn.event({ type: 'streamSubscribed', roomId: room.id, streamId: stream.streamId, trackIds: added.map((t) => t.trackId) });
        }
      } else if (![...next.values()].some((t) => t.subscribers.has(subscriber))) {
        stream.subs.delete(subscriber);
      }
    }
    const info = this.st.streamInfo(stream);
    const wire = trackInfo;
    // An update that changed nothing is not announced (updateChangesNothing).
    if (added.length > 0 || removed.length > 0) {
      this.st.broadcast(room, { type: 'streamUpdated', stream: info, tracksAdded: added.map(wire), tracksRemoved: removed.map(wire) }, p);
    }
    return { stream: info };
  }

  unpublish(conn: RealtimeConnection, req: Req<'unpublish'>): ResultPayloads['unpublish'] {
    const { p, room } = this.st.joined(conn, req.roomId);
    this.removeStream(ownStream(p, room, req.streamId), true);
    return {};
  }

  list(room: RoomState | undefined): StreamInfo[] {
    return room === undefined ? [] : [...room.streams.values()].map((s) => this.st.streamInfo(s));
  }

  subscribe(conn: RealtimeConnection, req: Req<'subscribeStreams'>): ResultPayloads['subscribeStreams'] {
    const { p, room } = this.st.joined(conn, req.roomId);
    // All or nothing: every addition is checked before anything changes.
    for (const a of req.add) {
      const stream = room.streams.get(a.streamId);
      if (stream === undefined) throw BridgeError.notFound('STREAM_NOT_FOUND', `expected a published streamId, got "${a.streamId}"`);
      if (stream.owner === p) throw BridgeError.forbidden(`stream "${a.streamId}" is this connection's own: a sender never gets its own stream back`);
      if (a.trackId !== undefined && !stream.tracks.has(a.trackId)) {
        throw BridgeError.notFound('TRACK_NOT_FOUND', `expected a track of stream "${a.streamId}", got "${a.trackId}"`);
      }
    }
    const before = this.subscribedTracks(p, room);
    // Removals first, so {add: [s], remove: [s]} re-subscribes to the whole of s.
    for (const r of req.remove) {
      const stream = room.streams.get(r.streamId);
      if (stream === undefined || !stream.subs.has(p)) continue;
      if (r.trackId === undefined) {
        for (const track of stream.tracks.values()) track.subscribers.delete(p);
        stream.subs.delete(p);
        continue;
      }
      stream.tracks.get(r.trackId)?.subscribers.delete(p);
      if ([...stream.tracks.values()].some((t) => t.subscribers.has(p))) stream.subs.set(p, 'some');
      else stream.subs.delete(p);
    }
    for (const a of req.add) {
      const stream = room.streams.get(a.streamId)!;
      if (a.trackId === undefined) {
        stream.subs.set(p, 'all');
        for (const track of stream.tracks.values()) track.subscribers.add(p);
      } else {
        if (stream.subs.get(p) !== 'all') stream.subs.set(p, 'some');
        stream.tracks.get(a.trackId)!.subscribers.add(p);
      }
    }
    const after = this.subscribedTracks(p, room);
    const gone = [...before].filter((t) => !after.has(t));
    p.data.purge(new Set(gone.map((t) => t.trackNo)));
    notifyByStream(p, room, 'streamUnsubscribed', gone);
    notifyByStream(
      p,
      room,
      'streamSubscribed',
      [...after].filter((t) => !before.has(t)),
    );
    return {
      tracks: [...after].map((t) => ({ streamId: t.stream.streamId, trackId: t.trackId, trackNo: t.trackNo, userId: t.stream.owner.userId })),
    };
  }

  /** A binary DATA frame: fan out to the track's subscribers, or refuse a trackNo that is not the sender's. */
  data(conn: RealtimeConnection, trackNo: number, payload: Uint8Array, received: Uint8Array): void {
    const p = this.st.participants.get(conn.id);
    const track = this.st.tracks.get(trackNo);
    if (track === undefined || track.stream.owner !== p) {
      // Frames already on the wire when the track ended (unpublish, removal) are not a fault.
      if (p?.retiredTracks.has(trackNo) === true) return;
      this.st.s.log.debug({ connectionId: conn.id, trackNo }, 'DATA frame on a track this connection does not publish');
      conn.close(CLOSE.protocolError, `DATA frame for trackNo ${trackNo}, which this connection does not publish`);
      return;
    }
    const counters = this.st.counters;
    counters.dataFrames++;
    counters.dataBytes += received.length;
    if (track.subscribers.size === 0) return this.st.onData?.(track, payload);
    counters.dataDeliveries += track.subscribers.size;
    // The received frame itself, its type byte turned: ws writes it without copying, and each queue
    // holds a reference.
    const frame = toDownFrame(received);
    for (const subscriber of track.subscribers) subscriber.data.push(trackNo, frame, track.delivery);
    this.st.onData?.(track, payload);
  }

  /**
   * The participant is leaving the room: its streams are unpublished (others told when `notify`), its
   * subscriptions dropped, and queued frames of the room's tracks to it forgotten, so that no data
   * frame of the room reaches it after its `streamRoomLeft`.
   */
  dropParticipant(room: RoomState, p: Participant, notify: boolean): void {
    for (const stream of [...room.streams.values()]) if (stream.owner === p) this.removeStream(stream, notify);
    const trackNos = new Set<number>();
    for (const stream of room.streams.values()) {
      stream.subs.delete(p);
      for (const track of stream.tracks.values()) {
        track.subscribers.delete(p);
        trackNos.add(track.trackNo);
      }
    }
    p.data.purge(trackNos);
  }

  private removeStream(stream: PublishedStream, notify: boolean): void {
    for (const track of stream.tracks.values()) this.retireTrack(track);
    stream.room.streams.delete(stream.streamId);
    stream.owner.published--;
    if (notify) {
      this.st.broadcast(
        stream.room,
        { type: 'streamUnpublished', roomId: stream.room.id, streamId: stream.streamId, userId: stream.owner.userId },
        stream.owner,
      );
    }
  }

  private newTrack(stream: PublishedStream, draft: TrackDraft): Track {
    const trackNo = this.st.trackNos.take((n) => this.st.tracks.has(n));
    const track: Track = { trackId: draft.trackId, kind: draft.kind, trackNo, stream, subscribers: new Set(), delivery: trackDelivery(draft) };
    this.st.tracks.set(trackNo, track);
    return track;
  }

  /** Ends a track: no more routing, queued frames to its subscribers forgotten, its number retired. */
  private retireTrack(track: Track): void {
    this.st.tracks.delete(track.trackNo);
    track.stream.owner.retiredTracks.add(track.trackNo);
    const gone = new Set([track.trackNo]);
    for (const subscriber of track.subscribers) subscriber.data.purge(gone);
    track.subscribers.clear();
  }

  /**
   * A subscriber could not keep up with a reliable data track (its backlog passed the bound): it is no
   * longer subscribed to the track and is told why; the other subscribers go on.
   */
  private cutFromTrack(p: Participant, trackNo: number): void {
    const track = this.st.tracks.get(trackNo);
    if (track === undefined || !track.subscribers.delete(p)) return;
    const stream = track.stream;
    if (![...stream.tracks.values()].some((t) => t.subscribers.has(p))) stream.subs.delete(p);
    else if (stream.subs.get(p) === 'all') stream.subs.set(p, 'some');
    p.data.purge(new Set([trackNo]));
    this.st.counters.dataTracksCut++;
    this.st.s.log.debug({ connectionId: p.conn.id, trackNo }, 'subscriber cut from a reliable data track it could not keep up with');
    p.conn.event({ type: 'dataTrackCut', roomId: stream.room.id, streamId: stream.streamId, trackId: track.trackId, trackNo, reason: 'too_slow' });
  }

  private subscribedTracks(p: Participant, room: RoomState): Set<Track> {
    const out = new Set<Track>();
    for (const stream of room.streams.values()) {
      if (!stream.subs.has(p)) continue;
      for (const track of stream.tracks.values()) if (track.subscribers.has(p)) out.add(track);
    }
    return out;
  }
}

function ownStream(p: Participant, room: RoomState, streamId: string): PublishedStream {
  const stream = room.streams.get(streamId);
  if (stream === undefined) throw BridgeError.notFound('STREAM_NOT_FOUND', `expected a published streamId, got "${streamId}"`);
  if (stream.owner !== p) throw BridgeError.forbidden(`stream "${streamId}" was published by another connection`);
  return stream;
}

/** Unique trackIds; a delivery mode only on data tracks, a deadline only on lossy ones. */
function checkDrafts(tracks: readonly TrackDraft[]): void {
  const seen = new Set<string>();
  for (const t of tracks) {
    if (seen.has(t.trackId)) throw BridgeError.invalid('VALIDATION_FAILED', `tracks: expected unique trackIds, got "${t.trackId}" twice`);
    seen.add(t.trackId);
    if (t.kind !== 'data' && (t.delivery !== undefined || t.deadlineMs !== undefined)) {
      throw BridgeError.invalid(
        'VALIDATION_FAILED',
        `tracks: "delivery" and "deadlineMs" apply to data tracks, got them on the ${t.kind} track "${t.trackId}"`,
      );
    }
    if (t.delivery === 'reliable' && t.deadlineMs !== undefined) {
      throw BridgeError.invalid('VALIDATION_FAILED', `tracks: "deadlineMs" applies to lossy data tracks, got it on the reliable track "${t.trackId}"`);
    }
  }
}

/** `old` when `draft` describes it again (same trackId, kind and delivery): the same track, keeping its trackNo and subscribers. */
function sameTrack(old: Track | undefined, draft: TrackDraft): Track | undefined {
  if (old === undefined || old.kind !== draft.kind) return undefined;
  const d = trackDelivery(draft);
  return old.delivery.reliable === d.reliable && old.delivery.deadlineMs === d.deadlineMs ? old : undefined;
}

function notifyByStream(p: Participant, room: RoomState, type: 'streamSubscribed' | 'streamUnsubscribed', tracks: Track[]): void {
  const byStream = new Map<string, string[]>();
  for (const t of tracks) {
    const ids = byStream.get(t.stream.streamId) ?? [];
    ids.push(t.trackId);
    byStream.set(t.stream.streamId, ids);
  }
  for (const [streamId, trackIds] of byStream) p.conn.event({ type, roomId: room.id, streamId, trackIds });
}
