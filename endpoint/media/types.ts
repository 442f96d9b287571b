/**
 * Public types of the Endpoint's media (docs/media/endpoint-media.md): options, statistics and audio
 * levels. Types only, so the entry chunk carries none of the media code (it loads on first use).
 */
import type { RemotePeer } from '../peers/remote-peer.ts';
import type { RemotePeerRequest } from '../peers/peers-api.ts';
import type { MediaWorkerSource } from './e2ee.ts';

/** The `media` part of StreamApiOptions. */
export interface MediaOptions {
  /**
   * Which of this client's ICE candidates are offered to the forwarding unit, by address (an IPv4 or
   * IPv6 literal, or an mDNS name). Default: all. Tests pass loopback only (`(a) => a.startsWith('127.')`).
   */
  allowCandidate?: (address: string) => boolean;
  /** Where the frame-encryption worker comes from (docs/media/frame-encryption.md); default bundled. */
  worker?: MediaWorkerSource;
  /** How long a publish may take to connect to the unit before it fails with `Timeout`, in ms. Default 15,000. */
  connectTimeoutMs?: number;
  /**
   * Opt-in (default off): while a room has exactly two participants (this connection and one other
   * member's), their audio and video go over a direct peer connection instead of the forwarding unit,
   * and back through the unit when a third joins (docs/media/direct-calls.md). The app is told by a
   * new `onRemoteStreamTrack` for the same stream and track, with the other path's `mediaTrack`.
   */
  directCalls?: boolean;
}

/** What StreamApi hands the media chunk for direct calls (internal: not an app option). */
export interface CallPeers {
  connectPeer(roomId: string, userId: string, metadata: unknown): Promise<RemotePeer>;
  /** Calls arriving (a `remotePeer` request tagged as a call) go to `handler` instead of the app. */
  onCall(handler: (request: RemotePeerRequest) => void): void;
}

/** MediaOptions as the media chunk receives them. */
export interface MediaHostOptions extends MediaOptions {
  calls?: CallPeers;
}

/** One media transport of this connection in a room, as its RTCPeerConnection reports it. */
export interface MediaTransportStats {
  streamRoomId: string;
  transport: 'publish' | 'receive';
  /** `RTCPeerConnection.connectionState`, or `closed` when there is none. */
  state: 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';
  /** Times this room's media was restarted after a failure (re-join with backoff). */
  restarts: number;
}

/**
 * Media counters of this connection since it was created (`StreamApi.mediaStats()`). Frame counts come
 * from the frame encryption (docs/media/frame-encryption.md): a frame that does not decrypt is
 * dropped and counted by cause, never given to the decoder.
 */
export interface MediaStats {
  framesEncrypted: number;
  framesDecrypted: number;
  /** Received frames dropped, by cause: failed to decrypt or authenticate, replayed, no key for the epoch, malformed. */
  framesDropped: { decrypt: number; replay: number; noKey: number; malformed: number };
  /**
   * This client's own frames dropped rather than sent unencrypted, by cause: no key for the room yet,
   * a codec the frame encryption does not know, a frame it could not parse.
   */
  framesNotSent: { noKey: number; codec: number; malformed: number };
  /** Keyframes this client's encoders were asked for by a key change. */
  keyframesOnRotation: number;
  /** Keyframe requests (PLI + FIR) this client's video senders received from the unit. */
  keyframeRequestsReceived: number;
  /** Keyframe requests (PLI + FIR) this client's video receivers sent to the unit. */
  keyframeRequestsSent: number;
  transports: MediaTransportStats[];
}

/**
 * The audio level of one stream (PrivMX `addAudioLevelStatsListener` shape), computed by this client
 * with WebAudio from the local microphone or the decrypted remote audio: the unit never sees levels.
 */
export interface StreamAudioLevel {
  streamRoomId: string;
  streamId: string;
  /** The publisher (this user for a local stream). */
  userId: string;
  local: boolean;
  /** Exponential moving average of the RMS of the samples, 0..1. */
  emaRms: number;
  /** A slowly adapting estimate of the background level, 0..1. */
  noiseFloor: number;
  /** Someone is speaking: `emaRms` clearly above the noise floor (with a short hangover). */
  active: boolean;
  /** Since when `active` has been true (ms since the Unix epoch); undefined while not active. */
  activeSince: number | undefined;
  /** The last time the level was above the threshold (ms since the Unix epoch); undefined if never. */
  lastAboveThresholdTs: number | undefined;
}

export interface AudioLevelStats {
  /** Every audio-carrying stream this client meters now, local and remote. */
  levels: StreamAudioLevel[];
}

export type AudioLevelStatsListener = (stats: AudioLevelStats) => void;
