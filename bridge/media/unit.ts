/**
 * The boundary of the media forwarding unit (docs/media/forwarding-unit.md). The socket hub hands
 * media requests to a `MediaUnit`; the unit reads who joined what, who publishes which track and who
 * subscribes to it from a `MediaDirectory` (the relay), and pushes events to clients through
 * `MediaClient`. Nothing else crosses: an external unit (a Janus or LiveKit server behind an adapter)
 * can implement the same interface.
 *
 * The unit forwards RTP only; it never holds a key. What it sees is SFrame ciphertext in RTP packets
 * (docs/design.md, "Media frames").
 */
import type { IceCandidateWire, MediaBinding, MediaEvent, MediaTransport, ResultPayloads } from '../../protocol/ws.ts';

/** An audio or video track announced on the relay (`publish` / `updateStream`). */
export interface MediaTrackInfo {
  readonly trackNo: number;
  readonly kind: 'audio' | 'video';
  readonly roomId: string;
  readonly streamId: string;
  readonly trackId: string;
  /** The publisher, from its session. */
  readonly userId: string;
  readonly connectionId: string;
}

/** What the unit reads about rooms, tracks and subscriptions. Implemented by the relay. */
export interface MediaDirectory {
  /** Whether the connection is joined to the room now. */
  joined(connectionId: string, roomId: string): boolean;
  /** An audio or video track by its number; undefined for data tracks and ended tracks. */
  track(trackNo: number): MediaTrackInfo | undefined;
  /** The audio and video tracks the connection subscribes to in the room, in a stable order. */
  subscribedTracks(connectionId: string, roomId: string): number[];
}

/** A client connection as the unit sees it. */
export interface MediaClient {
  readonly id: string;
  readonly userId: string;
  /** Sends a `media` message to the client. */
  media(event: MediaEvent): void;
}

/** Unit-wide totals since start, only ever incremented (for /metrics: `sealroom_media_total{name}`). */
export interface MediaCounters {
  packetsIn: number;
  packetsOut: number;
  packetsOverBitrate: number;
  keyframeRequestsReceived: number;
  keyframeRequestsForwarded: number;
  keyframeRequestsSuppressed: number;
  candidatesRefused: number;
  transportsFailed: number;
  negotiationTimeouts: number;
  /** Sequence numbers subscribers' NACKs asked for that were not resent (nack-guard.ts). */
  nacksRefused: number;
  /** SRTCP datagrams dropped unread: too large, over a transport's rate, or malformed (rtcp-guard.ts). */
  rtcpRefused: number;
  /** STUN requests dropped unanswered: from outside the allowed networks or without the transport's integrity (ice-guard.ts). */
  stunRefused: number;
  /** DTLS, RTP and RTCP datagrams from an address that is none of the transport's remote candidates (ice-guard.ts). */
  foreignDatagrams: number;
}

/** Every total at zero: what a new unit starts from. */
export function zeroMediaCounters(): MediaCounters {
  return {
    packetsIn: 0,
    packetsOut: 0,
    packetsOverBitrate: 0,
    keyframeRequestsReceived: 0,
    keyframeRequestsForwarded: 0,
    keyframeRequestsSuppressed: 0,
    candidatesRefused: 0,
    transportsFailed: 0,
    negotiationTimeouts: 0,
    nacksRefused: 0,
    rtcpRefused: 0,
    stunRefused: 0,
    foreignDatagrams: 0,
  };
}

export interface MediaUnitStats {
  sessions: number;
  publishTransports: number;
  receiveTransports: number;
  /** Published tracks the unit forwards, by trackNo. */
  tracks: MediaTrackStats[];
  /** Remote candidates dropped because their address was outside the allowed networks. */
  candidatesRefused: number;
}

export interface MediaTrackStats {
  trackNo: number;
  kind: 'audio' | 'video';
  subscribers: number;
  packetsIn: number;
  bytesIn: number;
  /** Packets handed to subscribers' senders (one per subscriber). */
  packetsOut: number;
  /** Packets dropped for going over the track's bitrate limit. */
  packetsOverBitrate: number;
  keyframeRequests: { received: number; forwarded: number; suppressed: number };
}

export interface MediaUnit {
  /** Opens media for the connection in a joined room (the first call may wait for the unit to load). */
  join(client: MediaClient, roomId: string): ResultPayloads['mediaJoin'] | Promise<ResultPayloads['mediaJoin']>;
  /** Closes the connection's media in the room (both transports); done when it returns or its promise settles. */
  leave(client: MediaClient, roomId: string): void | Promise<void>;
  /** The publish transport's offer; returns the unit's answer. */
  offer(client: MediaClient, roomId: string, sdp: string, tracks: MediaBinding[]): Promise<ResultPayloads['mediaOffer']>;
  /** The client's answer to receive offer `revision`. */
  answer(client: MediaClient, roomId: string, revision: number, sdp: string): Promise<void>;
  candidate(client: MediaClient, roomId: string, transport: MediaTransport, candidate: IceCandidateWire | null): Promise<ResultPayloads['mediaCandidate']>;
  /**
   * Something in the room changed on the relay (a join or departure, a removal, a stream published,
   * updated or unpublished, a subscription): re-read the directory. Cuts are synchronous: when this
   * returns, no packet goes to a connection that left, from a track that ended, or to a subscription
   * that was dropped. Renegotiation follows asynchronously.
   */
  roomChanged(roomId: string): void;
  /** The connection closed: end all its media at once. */
  connectionClosed(connectionId: string): void;
  stats(): MediaUnitStats;
  /** Totals since start. */
  readonly counters: Readonly<MediaCounters>;
  /** Closes every transport; requests after it fail with MEDIA_UNAVAILABLE. */
  close(): Promise<void>;
}
