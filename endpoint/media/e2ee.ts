/**
 * End-to-end encryption of every encoded audio and video frame (docs/media/frame-encryption.md): SFrame
 * (RFC 9605) in a worker, installed on each RTCRtpSender and RTCRtpReceiver by the media session.
 *
 * This file is the seam between the media session (endpoint/media/, signalling and peer connections)
 * and the frame encryption: the session calls `protectSender` / `protectReceiver` and never handles keys.
 * Import it with `import()` on first use: it carries the bundled frame worker (about 64 KB), which must
 * stay out of the Endpoint's entry chunk.
 */
import type { Connection } from '../connection.ts';
import type { KeyRefresher } from '../realtime/key-refresh.ts';
import type { HeadTracker } from '../rooms/head-tracker.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import type { MediaSendRefusal } from './frame-cryptor.ts';
import { FrameEncryption, type MediaTransformApi } from './frame-encryption.ts';
import { MediaKeyFollower } from './key-follower.ts';

export { detectTransformApi, FrameEncryption, mediaE2eePeerConnectionConfig, type FrameEncryptionOptions, type MediaTransformApi } from './frame-encryption.ts';
export { MEDIA_E2EE_CODECS } from './frame-layout.ts';
export type { MediaSendRefusal, RoomMediaKeys } from './frame-cryptor.ts';

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
  /** This client's own frames dropped rather than sent: no key yet, a codec it cannot protect, malformed. */
  sendRefused: Record<MediaSendRefusal, number>;
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
  /** A URL of `endpoint/media/sealroom-media-worker.js` of the published package, served by the app (strict CSP without `blob:`). */
  | { kind: 'url'; url: string | URL };

/** What the media E2EE needs; all of it is held by endpoint/realtime/realtime-api.ts. */
export interface MediaE2eeDeps {
  /** This client's user id (the sender id bound into its keys) and logger. */
  connection: Pick<Connection, 'userId' | 'log'>;
  rooms: RoomApi;
  keys: KeyRing;
  refresher: KeyRefresher;
  /** Where publishers' room heads named in their frames go (split views); none in tests without one. */
  heads?: Pick<HeadTracker, 'observeHead'>;
  /** Default `{ kind: 'bundled' }`. */
  worker?: MediaWorkerSource;
  /** Default: `RTCRtpScriptTransform` where the browser has it, else encoded streams. */
  api?: MediaTransformApi;
}

/** A MediaE2ee that can also read the worker's counters right now (a round trip to it). */
export interface MediaE2eeHandle extends MediaE2ee {
  refreshStats(): Promise<MediaE2eeStats>;
}

/**
 * Frame encryption wired to the connection's keys: each room with a protected track is followed
 * (key-follower.ts), so a new epoch switches its senders at once (with a keyframe) and old epochs
 * stay for receivers until the KeyRing's grace ends. Throws `Unsupported` without encoded transforms.
 * @example
 * const { createMediaE2ee, mediaE2eePeerConnectionConfig } = await import('./e2ee.ts');
 * const e2ee = createMediaE2ee({ connection, rooms, keys, refresher });
 * const pc = new RTCPeerConnection({ ...mediaE2eePeerConnectionConfig(), iceServers });
 * e2ee.protectSender(pc.addTrack(track), { roomId, streamId, trackId, kind: 'video' });
 */
export function createMediaE2ee(deps: MediaE2eeDeps): MediaE2eeHandle {
  const frames = new FrameEncryption({ worker: deps.worker, log: deps.connection.log, api: deps.api });
  const follower = new MediaKeyFollower({
    connection: deps.connection,
    rooms: deps.rooms,
    keys: deps.keys,
    refresher: deps.refresher,
    sink: (roomId, keys) => frames.setRoomKeys(roomId, keys),
  });
  frames.onNewerEpoch((roomId) => follower.refresh(roomId));
  frames.onHead((roomId, userId, version, hash) => deps.heads?.observeHead(roomId, userId, version, hash));
  return {
    protectSender(sender, track) {
      frames.protectSender(sender, track);
      follower.follow(track.roomId);
    },
    protectReceiver(receiver, track) {
      frames.protectReceiver(receiver, track);
      follower.follow(track.roomId);
    },
    releaseRoom(roomId) {
      follower.unfollow(roomId);
      frames.releaseRoom(roomId);
    },
    stats: () => frames.stats(),
    refreshStats: () => frames.refreshStats(),
    close() {
      follower.close();
      frames.close();
    },
  };
}
