/**
 * The published audio and video tracks of this connection, read from its local streams
 * (endpoint/realtime/local-streams.ts) by the media session, and the media states it reports to them.
 * Here rather than in LocalStreams so that the Endpoint's entry chunk carries none of it.
 */
import type { EndpointError } from '../errors.ts';
import type { LocalStream, LocalStreams } from '../realtime/local-streams.ts';
import type { MediaStreamTrackLike, PublishState } from '../realtime/types.ts';

/** A published audio or video track. */
export interface LocalMediaTrackRef {
  streamId: string;
  trackId: string;
  kind: 'audio' | 'video';
  trackNo: number;
  track: MediaStreamTrackLike;
}

/** The room's audio and video tracks that have a trackNo (published, or being published or updated). */
export function localMediaTracks(locals: LocalStreams, roomId: string): LocalMediaTrackRef[] {
  const refs: LocalMediaTrackRef[] = [];
  for (const stream of locals.streams.values()) {
    if (stream.roomId !== roomId || stream.state === 'unpublishing') continue;
    for (const t of stream.tracks.values()) {
      if (t.media !== undefined && !t.removed && t.trackNo !== undefined && t.kind !== 'data') {
        refs.push({ streamId: stream.streamId, trackId: t.trackId, kind: t.kind, trackNo: t.trackNo, track: t.media });
      }
    }
  }
  return refs;
}

/** Whether a stream has audio or video tracks. */
export function hasMedia(stream: LocalStream): boolean {
  return [...stream.tracks.values()].some((t) => t.media !== undefined);
}

/** A state of the room's media session (connecting after a failure, published again, failed) for its published media streams. */
export function reportMedia(locals: LocalStreams, roomId: string, state: PublishState, error?: EndpointError): void {
  for (const stream of locals.streams.values()) {
    if (stream.roomId === roomId && stream.state === 'published' && hasMedia(stream)) locals.report(stream, state, error);
  }
}
