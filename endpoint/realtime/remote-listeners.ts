/**
 * The app's listeners on remote streams (`addRemoteStreamListener`), and the mapping of PrivMX
 * subscriptions (`{streamId, streamTrackId?}`) onto the wire's `subscribeStreams` (`{streamId, trackId?}`).
 */
import type { StreamSubscriptionWire } from '../../protocol/ws.ts';
import { EndpointError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { checkRoomId, checkWireId } from './ids.ts';
import type { RemoteTrack } from './joined-rooms.ts';
import { MAX_SUBSCRIPTIONS_PER_CALL } from './limits.ts';
import type { MediaStreamTrackOf, RemoteStreamListener, StreamSubscription } from './types.ts';

export class RemoteListeners {
  /**
   * Replaced, never changed, when a listener is added or removed: a delivery calls those that were
   * there when it began, with no copy per message (as util/emitter.ts).
   */
  private listeners: readonly RemoteStreamListener[] = [];
  /** True when the media session announces this audio/video track itself, once it is playable. */
  mediaClaims: ((track: RemoteTrack) => boolean) | undefined;

  constructor(private readonly log: Logger) {}

  add(listener: RemoteStreamListener): () => void {
    if (typeof listener !== 'object' || listener === null) throw EndpointError.invalidArgument('"listener" expected an object');
    checkRoomId(listener.streamRoomId);
    if (listener.streamId !== undefined) checkWireId('streamId', listener.streamId);
    if (listener.onRemoteData !== undefined && typeof listener.onRemoteData !== 'function') {
      throw EndpointError.invalidArgument('"onRemoteData" expected a function');
    }
    for (const name of ['onRemoteStreamTrack', 'onRemoteStreamTrackEnded'] as const) {
      if (listener[name] !== undefined && typeof listener[name] !== 'function') throw EndpointError.invalidArgument(`"${name}" expected a function`);
    }
    // A copy: the app changing its object later does not change what this listener matches.
    const own: RemoteStreamListener = { ...listener };
    this.listeners = [...this.listeners, own];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== own);
    };
  }

  /** An authenticated message: to every matching listener, each with its own copy of the bytes and of the info. */
  data(track: RemoteTrack, data: Uint8Array, epoch: number): void {
    let first = true;
    for (const l of this.listeners) {
      if (l.onRemoteData === undefined || !matches(l, track)) continue;
      const bytes = first ? data : data.slice();
      first = false;
      try {
        l.onRemoteData(bytes, 0, { streamRoomId: track.roomId, streamId: track.streamId, streamTrackId: track.trackId, userId: track.userId, epoch });
      } catch (error) {
        this.log.error({ error: String(error) }, 'an onRemoteData listener threw');
      }
    }
  }

  /** A track of a remote stream became subscribed (or, for media, playable: `mediaTrack`). */
  track(track: RemoteTrack, mediaTrack?: MediaStreamTrackOf): void {
    if (mediaTrack === undefined && track.kind !== 'data' && this.mediaClaims?.(track) === true) return;
    this.emit('onRemoteStreamTrack', track, mediaTrack);
  }

  /** A media track announced with `mediaTrack` ended. */
  ended(track: RemoteTrack, mediaTrack: MediaStreamTrackOf): void {
    this.emit('onRemoteStreamTrackEnded', track, mediaTrack);
  }

  private emit(name: 'onRemoteStreamTrack' | 'onRemoteStreamTrackEnded', track: RemoteTrack, mediaTrack: MediaStreamTrackOf | undefined): void {
    for (const l of this.listeners) {
      const fn = l[name];
      if (fn === undefined || !matches(l, track)) continue;
      try {
        fn({
          streamRoomId: track.roomId,
          streamId: track.streamId,
          track: { trackId: track.trackId, kind: track.kind },
          userId: track.userId,
          ...(mediaTrack === undefined ? {} : { mediaTrack }),
        });
      } catch (error) {
        this.log.error({ error: String(error) }, `an ${name} listener threw`);
      }
    }
  }
}

function matches(l: RemoteStreamListener, track: RemoteTrack): boolean {
  return l.streamRoomId === track.roomId && (l.streamId === undefined || l.streamId === track.streamId);
}

/** Validates PrivMX subscriptions and maps `streamTrackId` onto the wire's `trackId`. */
export function toWireSubscriptions(name: string, subscriptions: unknown, allowEmpty: boolean): StreamSubscriptionWire[] {
  if (!Array.isArray(subscriptions)) throw EndpointError.invalidArgument(`"${name}" expected an array of { streamId, streamTrackId? }`);
  if (!allowEmpty && subscriptions.length === 0) throw EndpointError.invalidArgument(`"${name}" expected at least one subscription`);
  if (subscriptions.length > MAX_SUBSCRIPTIONS_PER_CALL) {
    throw EndpointError.invalidArgument(`"${name}" expected at most ${MAX_SUBSCRIPTIONS_PER_CALL} subscriptions, got ${subscriptions.length}`);
  }
  return subscriptions.map((s: StreamSubscription, i) => {
    if (typeof s !== 'object' || s === null) throw EndpointError.invalidArgument(`"${name}[${i}]" expected { streamId, streamTrackId? }`);
    checkWireId(`${name}[${i}].streamId`, s.streamId);
    if (s.streamTrackId === undefined) return { streamId: s.streamId };
    checkWireId(`${name}[${i}].streamTrackId`, s.streamTrackId);
    return { streamId: s.streamId, trackId: s.streamTrackId };
  });
}
