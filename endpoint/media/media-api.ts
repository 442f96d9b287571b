/**
 * The Endpoint's audio and video (docs/media/endpoint-media.md): loaded as a lazy chunk by
 * RealtimeApi on first media use, in browsers only. It holds one media session per joined room
 * (room-media.ts), the frame encryption every sender and receiver goes through (e2ee.ts), and the
 * audio level meters. It never handles keys and never sends a frame the E2EE did not protect: a
 * publish fails when the frame encryption cannot start.
 */
import type { MediaEvent } from '../../protocol/ws.ts';
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import type { JoinedRooms } from '../realtime/joined-rooms.ts';
import type { KeyRefresher } from '../realtime/key-refresh.ts';
import type { HeadTracker } from '../rooms/head-tracker.ts';
import type { LocalStream, LocalStreams } from '../realtime/local-streams.ts';
import type { RemoteListeners } from '../realtime/remote-listeners.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import { AudioLevels } from './audio-levels.ts';
import { createMediaE2ee, type MediaE2eeHandle } from './e2ee.ts';
import { hasMedia, localMediaTracks, reportMedia } from './local-tracks.ts';
import type { ReceivedTrack } from './receive-peer.ts';
import { RoomMedia } from './room-media.ts';
import type { AudioLevelStatsListener, MediaHostOptions, MediaStats } from './types.ts';
import { connectionInternals } from '../internal.ts';
import type { RemoteTrack } from '../realtime/joined-rooms.ts';
import { DirectCall } from './direct-call.ts';

/** The parts of RealtimeApi the media chunk works with. */
export interface MediaHost {
  connection: Connection;
  rooms: RoomApi;
  keys: KeyRing;
  refresher: KeyRefresher;
  /** The split-view tracker: publishers' heads named in their media frames go there. */
  heads: HeadTracker;
  /** This connection's local streams: the published audio/video tracks, and where states go. */
  locals: LocalStreams;
  /** Where remote tracks are announced to the app. */
  listeners: RemoteListeners;
  joined: JoinedRooms;
  options: MediaHostOptions;
}

export class MediaApi {
  readonly #rooms = new Map<string, RoomMedia>();
  readonly #levels: AudioLevels;
  #e2ee: MediaE2eeHandle | undefined;
  /** Two-person calls that may go direct (`media.directCalls`, docs/media/direct-calls.md), by room. */
  readonly #calls = new Map<string, DirectCall>();
  /** The unit's tracks the app does not have now, because it has their direct ones. */
  readonly #withheld = new Set<ReceivedTrack>();

  constructor(private readonly host: MediaHost) {
    this.#levels = new AudioLevels(host.connection.log);
    const calls = host.options.calls;
    if (calls !== undefined) {
      calls.onCall((r) => {
        const call = this.#call(r.room);
        if (call === undefined) r.decline();
        else call.request(r);
      });
      // Participants, streams and subscriptions change a call; read them after the room state took the event.
      connectionInternals(host.connection).hooks.on('event', (event) => {
        const roomId = 'roomId' in event ? event.roomId : 'stream' in event ? event.stream.roomId : undefined;
        if (typeof roomId === 'string' && this.#calls.has(roomId)) setTimeout(() => this.#calls.get(roomId)?.update(), 0);
      });
    }
    // Final (disconnect(), or a session that cannot be restored): the worker and the meters stop.
    host.connection.on('disconnected', () => this.close());
  }

  /** Ends every media session and stops the frame worker and the audio meters. */
  close(): void {
    for (const roomId of [...this.#rooms.keys()]) this.roomLeft(roomId);
    this.#e2ee?.close();
    this.#e2ee = undefined;
    this.#levels.close();
  }

  /**
   * The frame encryption, for media on a direct peer connection (endpoint/peers/peer-media.ts): the
   * same SFrame transform, keys and counters as the forwarding unit's senders and receivers.
   */
  frameEncryption(): MediaE2eeHandle {
    return this.#frameEncryption();
  }

  /** Refuses what is not a live browser media track, before it is added to a stream. */
  checkTrack(track: unknown): void {
    if (typeof MediaStreamTrack === 'undefined' || !(track instanceof MediaStreamTrack)) {
      throw EndpointError.invalidArgument('"track" expected a MediaStreamTrack (getUserMedia, getDisplayMedia, captureStream)');
    }
    if (track.kind !== 'audio' && track.kind !== 'video')
      throw EndpointError.invalidArgument(`"track.kind" expected "audio" or "video", got "${String(track.kind).slice(0, 40)}"`);
    if (track.readyState === 'ended') throw EndpointError.invalidArgument('"track" has ended (stopped, or its device went away)');
  }

  /**
   * A local stream was published, updated, unpublished or taken back: a stream with audio or video
   * reports `connecting` while publishing, and the room's publish transport follows its tracks.
   */
  async streamChanged(stream: LocalStream): Promise<void> {
    const media = hasMedia(stream);
    if (!media && !this.#rooms.has(stream.roomId)) return;
    if (media && stream.state === 'publishing') this.host.locals.report(stream, 'connecting');
    try {
      await this.syncPublish(stream.roomId);
    } catch (error) {
      // The browser's WebRTC calls throw DOMExceptions: the app gets an EndpointError like everywhere else.
      if (error instanceof EndpointError) throw error;
      throw new EndpointError('Unsupported', `media negotiation failed in this browser: ${String((error as Error)?.message ?? error).slice(0, 200)}`, {
        cause: error,
      });
    }
  }

  /** Brings the room's publish transport to its published audio/video tracks. */
  syncPublish(roomId: string): Promise<void> {
    const existing = this.#rooms.get(roomId);
    if (this.host.joined.joined(roomId) === undefined) {
      return existing === undefined ? Promise.resolve() : Promise.reject(EndpointError.connectionLost(`room "${roomId}" was left`));
    }
    return this.#room(roomId).syncPublish();
  }

  /** The room has subscribed audio or video: open media there so the unit offers it. */
  ensureReceiving(roomId: string): void {
    if (this.host.joined.joined(roomId) === undefined) return;
    this.#room(roomId).ensureReceiving();
    this.#call(roomId)?.update();
  }

  event(event: MediaEvent): void {
    const room = this.#rooms.get(event.roomId);
    if (room === undefined) return;
    switch (event.type) {
      case 'mediaReceiveOffer':
        room.receiveOffer(event);
        return;
      case 'mediaClosed':
        room.unitClosed(event.transport, event.reason);
        return;
      default: {
        const never: never = event;
        this.host.connection.log.warn({ type: (never as { type: string }).type }, 'unknown media event');
      }
    }
  }

  /** The room was left (any reason): its media ends at once, and the E2EE forgets its senders and receivers. */
  roomLeft(roomId: string): void {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return;
    this.#calls.get(roomId)?.close();
    this.#calls.delete(roomId);
    this.#rooms.delete(roomId);
    room.close();
    this.#e2ee?.releaseRoom(roomId);
  }

  async stats(): Promise<MediaStats> {
    // The worker's counters right now (a round trip to it), else its last report.
    const e2ee = this.#e2ee;
    const e = e2ee === undefined ? undefined : await e2ee.refreshStats().catch(() => e2ee.stats());
    const stats: MediaStats = {
      framesEncrypted: e?.framesEncrypted ?? 0,
      framesDecrypted: e?.framesDecrypted ?? 0,
      framesDropped: { decrypt: e?.dropped.decrypt ?? 0, replay: e?.dropped.replay ?? 0, noKey: e?.dropped.noKey ?? 0, malformed: e?.dropped.malformed ?? 0 },
      framesNotSent: { noKey: e?.sendRefused.noKey ?? 0, codec: e?.sendRefused.codec ?? 0, malformed: e?.sendRefused.malformed ?? 0 },
      keyframesOnRotation: e?.keyframesOnRotation ?? 0,
      keyframeRequestsReceived: 0,
      keyframeRequestsSent: 0,
      transports: [],
    };
    for (const room of this.#rooms.values()) {
      for (const t of room.transports()) stats.transports.push({ streamRoomId: room.roomId, transport: t.transport, state: t.state, restarts: room.restarts });
      for (const peer of [room.publish, room.receive]) {
        if (peer === undefined || peer.closed) continue;
        const report = await peer.pc.getStats();
        report.forEach((s: { type: string; kind?: string; pliCount?: number; firCount?: number }) => {
          const requests = (s.pliCount ?? 0) + (s.firCount ?? 0);
          if (s.type === 'outbound-rtp') stats.keyframeRequestsReceived += requests;
          else if (s.type === 'inbound-rtp') stats.keyframeRequestsSent += requests;
        });
      }
    }
    return stats;
  }

  addAudioLevelListener(listener: AudioLevelStatsListener): () => void {
    return this.#levels.listen(listener);
  }

  #room(roomId: string): RoomMedia {
    let room = this.#rooms.get(roomId);
    if (room !== undefined) return room;
    const { host } = this;
    const userId = host.connection.userId;
    room = new RoomMedia({
      roomId,
      connection: host.connection,
      e2ee: () => this.#frameEncryption(),
      options: host.options,
      localTracks: () => localMediaTracks(host.locals, roomId),
      report: (state, error) => reportMedia(host.locals, roomId, state, error),
      localChanged: (tracks) =>
        this.#levels.setLocal(
          roomId,
          tracks.map((t) => ({ track: t.track as MediaStreamTrack, source: { streamRoomId: roomId, streamId: t.streamId, userId, local: true } })),
        ),
      remoteAdded: (t) => this.#remoteAdded(t),
      remoteEnded: (t) => this.#remoteEnded(t),
    });
    this.#rooms.set(roomId, room);
    return room;
  }

  /** The frame encryption, made on first need; if it cannot start, nothing is sent (the publish fails). */
  #frameEncryption(): MediaE2eeHandle {
    const { connection, rooms, keys, refresher, heads, options } = this.host;
    this.#e2ee ??= createMediaE2ee({ connection, rooms, keys, refresher, heads, ...(options.worker === undefined ? {} : { worker: options.worker }) });
    return this.#e2ee;
  }

  #remoteAdded(t: ReceivedTrack): void {
    if (this.#calls.get(t.info.roomId)?.isDirect(t.info.trackNo) === true) {
      this.#withheld.add(t);
      return;
    }
    const track = t.receiver.track;
    this.#levels.add(track, { streamRoomId: t.info.roomId, streamId: t.info.streamId, userId: t.info.userId, local: false });
    this.host.listeners.track(t.info, track);
  }

  #remoteEnded(t: ReceivedTrack): void {
    const track = t.receiver.track;
    this.#levels.remove(track);
    if (this.#withheld.delete(t)) return void track.stop();
    if (!t.announced) return;
    // A remote track ended by renegotiation fires no `ended` event on its own (it is only muted).
    track.stop();
    track.dispatchEvent(new Event('ended'));
    this.host.listeners.ended(t.info, track);
  }

  /** The room's call, made on first need when `media.directCalls` is on and the room is joined. */
  #call(roomId: string): DirectCall | undefined {
    const { host } = this;
    const calls = host.options.calls;
    if (calls === undefined || host.joined.joined(roomId) === undefined) return undefined;
    let call = this.#calls.get(roomId);
    if (call !== undefined) return call;
    const room = this.#room(roomId);
    const joined = () => host.joined.joined(roomId);
    call = new DirectCall({
      roomId,
      userId: host.connection.userId,
      calls,
      participants: () => joined()?.participants,
      publishesMedia: (connectionId) =>
        [...(joined()?.streams.values() ?? [])].some((s) => s.connectionId === connectionId && [...s.tracks.values()].some((t) => t.kind !== 'data')),
      receiving: () => room.receiving,
      subscribed: (streamId, trackId) =>
        joined()?.subscribed.get(streamId)?.has(trackId) === true ? joined()?.streams.get(streamId)?.tracks.get(trackId) : undefined,
      localTracks: () => localMediaTracks(host.locals, roomId),
      hold: (trackNos) => room.publish?.hold(trackNos),
      direct: (info, track) => this.#directAdded(info, track),
      back: (tracks) => this.#directEnded(roomId, tracks),
      log: host.connection.log,
    });
    this.#calls.set(roomId, call);
    return call;
  }

  /** The unit's tracks of a room, as received now. */
  #unitTracks(roomId: string): ReceivedTrack[] {
    return [...(this.#rooms.get(roomId)?.receive?.tracks.values() ?? [])];
  }

  /** A direct track replaces the unit's for the app: the unit's ends for it (it stays live, silent, for the way back). */
  #directAdded(info: RemoteTrack, track: MediaStreamTrack): void {
    for (const t of this.#unitTracks(info.roomId)) {
      if (t.info.trackNo !== info.trackNo || !t.announced || this.#withheld.has(t)) continue;
      this.#withheld.add(t);
      this.#levels.remove(t.receiver.track);
      this.host.listeners.ended(t.info, t.receiver.track);
    }
    this.#levels.add(track, { streamRoomId: info.roomId, streamId: info.streamId, userId: info.userId, local: false });
    this.host.listeners.track(info, track);
  }

  /** The call left the direct path: its tracks end for the app, and the unit's are announced again. */
  #directEnded(roomId: string, tracks: Array<{ info: RemoteTrack; track: MediaStreamTrack }>): void {
    for (const { info, track } of tracks) {
      this.#levels.remove(track);
      this.host.listeners.ended(info, track);
    }
    for (const t of this.#unitTracks(roomId)) {
      if (!this.#withheld.delete(t)) continue;
      this.#levels.add(t.receiver.track, { streamRoomId: roomId, streamId: t.info.streamId, userId: t.info.userId, local: false });
      this.host.listeners.track(t.info, t.receiver.track);
    }
  }
}
