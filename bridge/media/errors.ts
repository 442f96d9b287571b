/**
 * Errors of the media forwarding unit. The socket layer sends `code` as is in the request's `error`
 * answer (bridge/realtime/hub.ts catches every SealroomError); clients and tests match on it.
 */
import { SealroomError } from '../../protocol/errors.ts';

export type MediaErrorCode =
  /** The Bridge runs without a forwarding unit (config `media.enabled: false`). */
  | 'MEDIA_DISABLED'
  /** The connection has not joined the room (or was removed from it). */
  | 'NOT_JOINED'
  /** A media request before `mediaJoin`, or for a transport that does not exist (yet). */
  | 'MEDIA_NOT_STARTED'
  /** A track named in an offer is not an audio or video track this connection publishes in the room. */
  | 'TRACK_NOT_FOUND'
  /** Over `maxPublishedTracksPerConnection`, or an offer with more m-lines than that. */
  | 'TOO_MANY_TRACKS'
  /** Over `maxSessionsPerConnection`. */
  | 'TOO_MANY_MEDIA_SESSIONS'
  /** An SDP the unit cannot use: no m-line for a mapped mid, a data channel, a kind mismatch. */
  | 'BAD_SDP'
  /** An answer to a receive offer that is not the current one (a newer offer was sent since). */
  | 'STALE_ANSWER'
  /** werift refused the description (the message says why). */
  | 'NEGOTIATION_FAILED'
  /** No UDP port left in `media.portRange`, or the unit is shutting down. */
  | 'MEDIA_UNAVAILABLE';

export class MediaError extends SealroomError {
  override readonly code: MediaErrorCode;

  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.code = code;
  }

  static notJoined(roomId: string): MediaError {
    return new MediaError('NOT_JOINED', `expected a joined room, got "${roomId}", which this connection has not joined`);
  }

  static notStarted(roomId: string, what: string): MediaError {
    return new MediaError('MEDIA_NOT_STARTED', `expected ${what} in room "${roomId}", got none (send mediaJoin first)`);
  }

  static badSdp(message: string): MediaError {
    return new MediaError('BAD_SDP', message);
  }
}
