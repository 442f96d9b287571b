/**
 * Public types of direct peer connections (docs/protocol/peer-signalling.md, README "Direct connections").
 */
import type { IncomingDirectStream } from './direct-stream.ts';
import type { PeerError } from './errors.ts';

export interface PeerOptions {
  /** STUN/TURN servers for direct connections. Default: none (host candidates only). */
  iceServers?: RTCIceServer[];
  /** Which candidate addresses to use (tests: loopback only). Default: all. */
  allowCandidate?: (address: string) => boolean;
  /**
   * Node only: extra `werift` RTCPeerConnection options (e.g. `iceInterfaceAddresses`,
   * `iceAdditionalHostAddresses`, `iceUseIpv4: false` to keep to loopback).
   */
  node?: Record<string, unknown>;
  /** How long an offer waits for the answer and the connection to come up. Default 15,000 ms. */
  connectTimeoutMs?: number;
}

export type { PathOptions } from '../data-streams/types.ts';

/** Which path one stream to exactly one member took (`streamApi.peerStats().streams`). */
export interface PathChoice {
  /** The stream's id (`info.id` at the receiver). */
  id: string;
  roomId: string;
  userId: string;
  path: 'direct' | 'relay';
}

export type PeerConnectionState = 'new' | 'connecting' | 'connected' | 'closed' | 'failed';

export interface ConnectPeerOptions {
  /** JSON-serializable data for the callee (signed with the offer), at most 4096 characters as JSON. */
  metadata?: unknown;
  signal?: AbortSignal;
}

export interface OpenChannelOptions {
  label: string;
}

export interface PeerSendOptions {
  /** The channel (default `default`). */
  label?: string;
  /** Metadata for the receiver, inside the encrypted, signed stream header (Peerix's `info`). */
  info?: Record<string, string>;
  /** Ask the reader for a signed delivery receipt (default true; docs/protocol/receipts.md). */
  receipts?: boolean;
  /** How long to wait for it after the end (default 10,000 ms); then `no_receipt`. */
  receiptTimeoutMs?: number;
  /** A name for bytes (default `unnamed`). */
  name?: string;
  signal?: AbortSignal;
}

export type RemotePeerEventMap = {
  /** The connection state changed. */
  connectionState: PeerConnectionState;
  /** A channel opened (by either side). */
  channel: { label: string };
  /** A stream arrived on a channel, verified like one off the relay; read `readable` (or `text()` / `bytes()`). */
  stream: IncomingDirectStream;
  /** The other member shares a media track (`share`), its frames decrypted with the room's SFrame keys. */
  track: { track: MediaStreamTrack; stream: MediaStream | undefined };
  /** The peer closed, for the given reason (never reopened). */
  close: PeerError;
};

export interface RemotePeerJson {
  id: string;
  room: string;
  metadata: unknown;
  connectionState: PeerConnectionState;
  channels: string[];
}
