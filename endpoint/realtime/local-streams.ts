/**
 * This connection's own streams (PrivMX `createStream`, `addStreamTrack`, `removeStreamTrack`,
 * `publishStream`, `updateStream`, `unpublishStream`). Track changes after publishing are staged and
 * applied by `updateStream`, which sends the whole new track list (the Bridge keeps the trackNo of a
 * track whose id and kind stay the same).
 */
import { DATA_DEADLINE_DEFAULT_MS, DATA_DEADLINE_MAX_MS, DATA_DEADLINE_MIN_MS } from '../../protocol/ws.ts';
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import { checkWireId, endedError, randomWireId, rememberBounded } from './ids.ts';
import { MAX_ENDED_REMEMBERED, MAX_LOCAL_STREAMS, MAX_TRACKS_PER_STREAM } from './limits.ts';
import type {
  DataTrackDelivery,
  MediaStreamTrackLike,
  PublishState,
  PublishStateListener,
  RoomLeftReason,
  StreamPublishResult,
  StreamTrackInfo,
  TrackKind,
  TrackOptions,
} from './types.ts';

export interface LocalTrack {
  trackId: string;
  kind: TrackKind;
  /** The Bridge's number once published; undefined while only staged. */
  trackNo: number | undefined;
  /** Staged for removal by the next `updateStream`. */
  removed: boolean;
  /** An audio or video track's MediaStreamTrack, sent through the unit (endpoint/media/). */
  media?: MediaStreamTrackLike;
  /** Data tracks: their delivery mode and, when lossy, the deadline in ms (docs/protocol/data-tracks.md). */
  delivery?: DataTrackDelivery;
  deadlineMs?: number;
}

/** `suspended`: published when the socket dropped; republished under the same handle on reconnect. */
export type LocalState = 'created' | 'publishing' | 'published' | 'updating' | 'unpublishing' | 'suspended';

export interface LocalStream {
  streamId: string;
  roomId: string;
  tracks: Map<string, LocalTrack>;
  state: LocalState;
  onState: PublishStateListener | undefined;
}

/** Where `sendData` sends a track's frames. */
export interface SendTarget {
  roomId: string;
  streamId: string;
  trackId: string;
  trackNo: number;
  /** True for a `reliable` track: its messages are never dropped. */
  reliable: boolean;
  /** A lossy track's deadline: a message still unsent after this long is dropped. Milliseconds. */
  deadlineMs: number;
}

export class LocalStreams {
  /** By handle; the media session (endpoint/media/) reads the published media tracks here. */
  readonly streams = new Map<string, LocalStream>();
  private readonly byTrack = new Map<string, LocalStream>();
  /** Streams and tracks whose room was left: id -> (room, reason), for errors that say why. */
  private readonly ended = new Map<string, { roomId: string; reason: RoomLeftReason }>();

  constructor(
    private readonly connection: Connection,
    private readonly isJoined: (roomId: string) => boolean,
    /** Brings the room's media session to its published audio/video tracks after a change of `stream` (endpoint/media/). */
    private readonly syncMedia: (stream: LocalStream) => Promise<void>,
  ) {}

  create(roomId: string): string {
    if (this.streams.size >= MAX_LOCAL_STREAMS) {
      throw EndpointError.invalidArgument(`expected at most ${MAX_LOCAL_STREAMS} local streams per connection; unpublish or leave rooms first`);
    }
    const streamId = randomWireId();
    this.streams.set(streamId, { streamId, roomId, tracks: new Map(), state: 'created', onState: undefined });
    return streamId;
  }

  addTrack(handle: string, options: TrackOptions): string {
    const stream = this.stream(handle);
    const kind = trackKind(options);
    const delivery = kind === 'data' ? dataDelivery(options as { delivery?: unknown; deadlineMs?: unknown }) : {};
    const live = [...stream.tracks.values()].filter((t) => !t.removed).length;
    if (live >= MAX_TRACKS_PER_STREAM) throw EndpointError.invalidArgument(`expected at most ${MAX_TRACKS_PER_STREAM} tracks per stream`);
    const trackId = randomWireId();
    stream.tracks.set(trackId, {
      trackId,
      kind,
      trackNo: undefined,
      removed: false,
      ...(kind === 'data' ? delivery : { media: (options as { track: MediaStreamTrackLike }).track }),
    });
    this.byTrack.set(trackId, stream);
    return trackId;
  }

  removeTrack(handle: string, trackId: string): void {
    const stream = this.stream(handle);
    checkWireId('streamTrackId', trackId);
    const track = stream.tracks.get(trackId);
    if (track === undefined || track.removed) {
      throw EndpointError.invalidArgument(`"streamTrackId" expected a track of stream "${handle}", got "${trackId}"`);
    }
    if (track.trackNo === undefined) {
      stream.tracks.delete(trackId);
      this.byTrack.delete(trackId);
    } else {
      track.removed = true;
    }
  }

  async publish(handle: string, onState: PublishStateListener | undefined): Promise<StreamPublishResult> {
    const stream = this.stream(handle);
    if (onState !== undefined && typeof onState !== 'function') throw EndpointError.invalidArgument('"onState" expected a function');
    if (stream.state !== 'created') throw EndpointError.invalidArgument(`stream "${handle}" is already ${stream.state}`);
    const tracks = this.live(stream);
    if (tracks.length === 0) throw EndpointError.invalidArgument(`stream "${handle}" has no tracks: addStreamTrack first`);
    if (!this.isJoined(stream.roomId)) throw EndpointError.invalidArgument(`room "${stream.roomId}" is not joined: joinStreamRoom first`);
    stream.onState = onState;
    stream.state = 'publishing';
    this.report(stream, 'publishing');
    try {
      const { stream: info } = await this.connection.request('publish', { roomId: stream.roomId, streamId: stream.streamId, tracks: tracks.map(draft) });
      this.stillOurs(stream);
      this.applyTrackNos(stream, info.tracks);
      await this.connectMedia(stream);
    } catch (error) {
      if (this.streams.get(handle) === stream && stream.state === 'publishing') this.takeBack(stream);
      this.report(stream, 'failed', error);
      throw error;
    }
    stream.state = 'published';
    this.report(stream, 'published');
    return this.result(stream);
  }

  async update(handle: string): Promise<StreamPublishResult> {
    const stream = this.stream(handle);
    if (stream.state !== 'published') {
      throw EndpointError.invalidArgument(`stream "${handle}" is ${stream.state === 'created' ? 'not published: publishStream first' : stream.state}`);
    }
    const tracks = this.live(stream);
    if (tracks.length === 0) throw EndpointError.invalidArgument(`stream "${handle}" would have no tracks left: unpublishStream instead`);
    stream.state = 'updating';
    this.report(stream, 'updating');
    try {
      const { stream: info } = await this.connection.request('updateStream', { roomId: stream.roomId, streamId: stream.streamId, tracks: tracks.map(draft) });
      this.stillOurs(stream);
      for (const track of [...stream.tracks.values()]) {
        if (!track.removed) continue;
        stream.tracks.delete(track.trackId);
        this.byTrack.delete(track.trackId);
      }
      this.applyTrackNos(stream, info.tracks);
      await this.syncMedia(stream);
    } catch (error) {
      // The Bridge kept the stream as it was: still published, with the previous tracks. If its room was
      // left meanwhile, the stream already reported `unpublished`.
      if (this.streams.get(handle) === stream && stream.state === 'updating') {
        stream.state = 'published';
        this.report(stream, 'failed', error);
      }
      throw error;
    }
    stream.state = 'published';
    this.report(stream, 'published');
    return this.result(stream);
  }

  async unpublish(handle: string): Promise<void> {
    const stream = this.stream(handle);
    if (stream.state === 'suspended') {
      // Not on the Bridge while the socket is down: it is simply not republished.
      this.unpublished(stream);
      return;
    }
    if (stream.state !== 'published') {
      throw EndpointError.invalidArgument(`stream "${handle}" is ${stream.state === 'created' ? 'not published' : stream.state}`);
    }
    stream.state = 'unpublishing';
    try {
      await this.connection.request('unpublish', { roomId: stream.roomId, streamId: stream.streamId });
      this.stillOurs(stream);
    } catch (error) {
      if (this.streams.get(handle) === stream) stream.state = 'published';
      throw error;
    }
    this.unpublished(stream);
  }

  private unpublished(stream: LocalStream): void {
    for (const track of [...stream.tracks.values()]) {
      if (track.removed) {
        stream.tracks.delete(track.trackId);
        this.byTrack.delete(track.trackId);
      } else {
        track.trackNo = undefined;
      }
    }
    stream.state = 'created';
    this.report(stream, 'unpublished');
    this.syncMedia(stream).catch(() => undefined);
  }

  /**
   * The socket dropped: the room's published streams are suspended (their handles and track ids stay
   * valid; `sendData` fails with ConnectionLost meanwhile) and republished by `republish` on reconnect.
   * A stream being unpublished ends. Returns the suspended handles.
   */
  suspendRoom(roomId: string): string[] {
    const suspended: string[] = [];
    for (const stream of this.streams.values()) {
      if (stream.roomId !== roomId) continue;
      if (stream.state === 'unpublishing') {
        this.unpublished(stream);
        continue;
      }
      if (stream.state !== 'published' && stream.state !== 'updating') continue;
      stream.state = 'suspended';
      for (const track of stream.tracks.values()) track.trackNo = undefined;
      this.report(stream, 'suspended');
      suspended.push(stream.streamId);
    }
    return suspended;
  }

  /**
   * Publishes a suspended stream again, under the same handle and track ids (resume after a
   * reconnect). It stays `suspended` until the Bridge answers, so `sendData` keeps saying why.
   */
  async republish(handle: string): Promise<void> {
    const stream = this.streams.get(handle);
    if (stream === undefined || stream.state !== 'suspended') return; // unpublished or ended meanwhile
    for (const track of [...stream.tracks.values()]) {
      if (!track.removed) continue;
      stream.tracks.delete(track.trackId);
      this.byTrack.delete(track.trackId);
    }
    this.report(stream, 'publishing');
    let info: { tracks: ReadonlyArray<{ trackId: string; trackNo: number }> };
    try {
      ({ stream: info } = await this.connection.request('publish', { roomId: stream.roomId, streamId: stream.streamId, tracks: this.live(stream).map(draft) }));
      this.stillOurs(stream);
    } catch (error) {
      if (this.streams.get(handle) === stream && stream.state === 'suspended') stream.state = 'created';
      this.report(stream, 'failed', error);
      throw error;
    }
    if (stream.state !== 'suspended') {
      // The app unpublished it while the request was out: take it off the Bridge again.
      this.connection.request('unpublish', { roomId: stream.roomId, streamId: stream.streamId }).catch(() => undefined);
      return;
    }
    this.applyTrackNos(stream, info.tracks);
    stream.state = 'publishing';
    try {
      await this.connectMedia(stream);
    } catch (error) {
      if (this.streams.get(handle) === stream && stream.state === 'publishing') this.takeBack(stream);
      this.report(stream, 'failed', error);
      throw error;
    }
    stream.state = 'published';
    this.report(stream, 'published');
  }

  /** A stream with audio or video reports `connecting` until its media reaches the unit (endpoint/media/). */
  private async connectMedia(stream: LocalStream): Promise<void> {
    await this.syncMedia(stream);
    this.stillOurs(stream);
  }

  /** Announced, but its media could not connect: the stream goes off the Bridge again, and its tracks off the unit. */
  private takeBack(stream: LocalStream): void {
    stream.state = 'created';
    if (![...stream.tracks.values()].some((t) => t.trackNo !== undefined)) return;
    for (const t of stream.tracks.values()) t.trackNo = undefined;
    this.syncMedia(stream).catch(() => undefined);
    this.connection.request('unpublish', { roomId: stream.roomId, streamId: stream.streamId }).catch(() => undefined);
  }

  /** Where a data track's frames go; throws a clear error if it cannot send now. */
  sendTarget(trackId: string): SendTarget {
    const stream = this.byTrack.get(trackId);
    if (stream === undefined) {
      const ended = typeof trackId === 'string' ? this.ended.get(trackId) : undefined;
      if (ended !== undefined) throw endedError(`track "${trackId}"`, ended.roomId, ended.reason);
      throw EndpointError.invalidArgument(`"streamTrackId" expected a track from addStreamTrack, got "${String(trackId).slice(0, 80)}"`);
    }
    const track = stream.tracks.get(trackId)!;
    if (track.kind !== 'data') throw EndpointError.invalidArgument(`track "${trackId}" is an ${track.kind} track: sendData needs a data track`);
    if (track.removed) throw EndpointError.invalidArgument(`track "${trackId}" was removed from its stream`);
    if (stream.state === 'suspended') {
      throw EndpointError.connectionLost(`track "${trackId}": the connection to the Bridge dropped; the stream is republished when it is back`);
    }
    if (track.trackNo === undefined || (stream.state !== 'published' && stream.state !== 'updating')) {
      throw EndpointError.invalidArgument(`track "${trackId}" is not published: publishStream or updateStream first`);
    }
    const reliable = track.delivery === 'reliable';
    return {
      roomId: stream.roomId,
      streamId: stream.streamId,
      trackId,
      trackNo: track.trackNo,
      reliable,
      deadlineMs: track.deadlineMs ?? DATA_DEADLINE_DEFAULT_MS,
    };
  }

  /** The room was left: its streams end (published ones report `unpublished`). */
  endRoom(roomId: string, reason: RoomLeftReason): void {
    for (const stream of [...this.streams.values()]) {
      if (stream.roomId !== roomId) continue;
      this.streams.delete(stream.streamId);
      rememberBounded(this.ended, stream.streamId, { roomId, reason }, MAX_ENDED_REMEMBERED);
      for (const trackId of stream.tracks.keys()) {
        this.byTrack.delete(trackId);
        rememberBounded(this.ended, trackId, { roomId, reason }, MAX_ENDED_REMEMBERED);
      }
      // A publish in flight reports `failed` when its request fails; anything published reports this.
      if (stream.state !== 'created' && stream.state !== 'publishing') this.report(stream, 'unpublished');
    }
  }

  private stream(handle: string): LocalStream {
    const stream = typeof handle === 'string' ? this.streams.get(handle) : undefined;
    if (stream !== undefined) return stream;
    const ended = typeof handle === 'string' ? this.ended.get(handle) : undefined;
    if (ended !== undefined) throw endedError(`stream "${handle}"`, ended.roomId, ended.reason);
    throw EndpointError.invalidArgument(`"handle" expected a stream from createStream, got "${String(handle).slice(0, 80)}"`);
  }

  /** After an await: the room may have been left meanwhile, which ended the stream. */
  private stillOurs(stream: LocalStream): void {
    if (this.streams.get(stream.streamId) === stream) return;
    const ended = this.ended.get(stream.streamId);
    throw ended === undefined
      ? EndpointError.invalidArgument(`stream "${stream.streamId}" ended`)
      : endedError(`stream "${stream.streamId}"`, ended.roomId, ended.reason);
  }

  private live(stream: LocalStream): LocalTrack[] {
    return [...stream.tracks.values()].filter((t) => !t.removed);
  }

  private applyTrackNos(stream: LocalStream, tracks: ReadonlyArray<{ trackId: string; trackNo: number }>): void {
    for (const t of tracks) {
      const track = stream.tracks.get(t.trackId);
      if (track !== undefined) track.trackNo = t.trackNo;
    }
  }

  private result(stream: LocalStream): StreamPublishResult {
    const tracks: StreamTrackInfo[] = this.live(stream).map((t) => ({ trackId: t.trackId, kind: t.kind }));
    return { published: true, streamId: stream.streamId, tracks };
  }

  report(stream: LocalStream, state: PublishState, error?: unknown): void {
    if (stream.onState === undefined) return;
    try {
      if (error === undefined) stream.onState(state);
      else stream.onState(state, error instanceof EndpointError ? error : new EndpointError('BridgeRefused', (error as Error).message, { cause: error }));
    } catch (listenerError) {
      this.connection.log.error({ state, error: String(listenerError) }, 'a publish state listener threw');
    }
  }
}

function draft(t: LocalTrack): { trackId: string; kind: TrackKind; delivery?: DataTrackDelivery; deadlineMs?: number } {
  if (t.delivery === undefined) return { trackId: t.trackId, kind: t.kind };
  return t.deadlineMs === undefined
    ? { trackId: t.trackId, kind: t.kind, delivery: t.delivery }
    : { trackId: t.trackId, kind: t.kind, delivery: t.delivery, deadlineMs: t.deadlineMs };
}

/** A data track's `delivery` and `deadlineMs` options, checked (docs/protocol/data-tracks.md). */
function dataDelivery(options: { delivery?: unknown; deadlineMs?: unknown }): { delivery: DataTrackDelivery; deadlineMs?: number } {
  const { delivery = 'lossy', deadlineMs } = options;
  if (delivery !== 'lossy' && delivery !== 'reliable') {
    throw EndpointError.invalidArgument(`"delivery" expected "lossy" or "reliable", got ${JSON.stringify(delivery)?.slice(0, 40)}`);
  }
  if (deadlineMs === undefined) return { delivery };
  if (delivery === 'reliable') throw EndpointError.invalidArgument('"deadlineMs" applies to lossy data tracks; a reliable track never drops');
  if (typeof deadlineMs !== 'number' || !Number.isInteger(deadlineMs) || deadlineMs < DATA_DEADLINE_MIN_MS || deadlineMs > DATA_DEADLINE_MAX_MS) {
    throw EndpointError.invalidArgument(
      `"deadlineMs" expected an integer from ${DATA_DEADLINE_MIN_MS} to ${DATA_DEADLINE_MAX_MS} (milliseconds), got ${String(deadlineMs).slice(0, 40)}`,
    );
  }
  return { delivery, deadlineMs };
}

function trackKind(options: TrackOptions): TrackKind {
  if (typeof options !== 'object' || options === null) throw EndpointError.invalidArgument('"track" expected { createDataChannel: true } or { track }');
  if ('createDataChannel' in options && options.createDataChannel === true) {
    if ('track' in options && (options as { track?: unknown }).track !== undefined) {
      throw EndpointError.invalidArgument('"track" expected either createDataChannel or a media track, not both');
    }
    return 'data';
  }
  if ('track' in options) {
    const kind = (options.track as { kind?: unknown } | null)?.kind;
    if (kind === 'audio' || kind === 'video') return kind;
    throw EndpointError.invalidArgument(`"track.kind" expected "audio" or "video", got "${String(kind).slice(0, 40)}"`);
  }
  throw EndpointError.invalidArgument('"track" expected { createDataChannel: true } or { track }');
}
