/**
 * End-to-end encryption of every encoded audio and video frame (docs/media/frame-encryption.md): SFrame
 * (RFC 9605) in a worker, installed on each RTCRtpSender and RTCRtpReceiver by the media session.
 *
 * This file is the seam between the media session (endpoint/media/, signalling and peer connections)
 * and the frame encryption: the session calls `protectSender` / `protectReceiver` and never handles keys.
 */
import type { Connection } from '../connection.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import type { KeyRefresher } from '../realtime/key-refresh.ts';
import { EndpointError } from '../errors.ts';

export interface LocalMediaTrack {
  roomId: string;
  streamId: string;
  trackId: string;
  kind: 'audio' | 'video';
}
export interface RemoteMediaTrack extends LocalMediaTrack {
  /** The publisher, as the Bridge's mediaReceiveOffer names it. */
  userId: string;
}
export type MediaDropReason = 'decrypt' | 'replay' | 'noKey' | 'malformed';
export interface MediaE2eeStats {
  framesEncrypted: number;
  framesDecrypted: number;
  dropped: Record<MediaDropReason, number>;
  /** Keyframes this client's encoders were asked for by a key change. */
  keyframesOnRotation: number;
}
export interface MediaE2ee {
  /** Installs the encrypting transform on a sender; call right after addTransceiver/addTrack, before setLocalDescription. */
  protectSender(sender: RTCRtpSender, track: LocalMediaTrack): void;
  /** Installs the decrypting transform on a receiver; call in `ontrack` (or right after the transceiver appears), before frames flow. */
  protectReceiver(receiver: RTCRtpReceiver, track: RemoteMediaTrack): void;
  /** Forget a room's senders/receivers (left, removed). */
  releaseRoom(roomId: string): void;
  stats(): MediaE2eeStats;
  close(): void;
}

/** Where the frame worker comes from (docs/media/frame-encryption.md "Loading the worker"). */
export type MediaWorkerSource =
  /** Default: the worker bundled into this module, started from a Blob URL (needs `worker-src blob:`). */
  | { kind: 'bundled' }
  /** A URL of `dist/endpoint/media/frame-worker.js` served by the app (strict CSP without `blob:`). */
  | { kind: 'url'; url: string | URL };

/** What the media E2EE needs; all of it is held by endpoint/realtime/realtime-api.ts. */
export interface MediaE2eeDeps {
  /** This client's user id (the sender id bound into its keys) and logger. */
  connection: Pick<Connection, 'userId' | 'log'>;
  rooms: RoomApi;
  keys: KeyRing;
  refresher: KeyRefresher;
  /** Default `{ kind: 'bundled' }`. */
  worker?: MediaWorkerSource;
}

export function createMediaE2ee(_deps: MediaE2eeDeps): MediaE2ee {
  throw new EndpointError('Unsupported', 'media E2EE: not built yet');
}
