/**
 * The Bridge's WebSocket protocol (one socket per Endpoint connection, docs/design.md "Transport").
 *
 * Control messages are JSON text frames, unions keyed on `kind`. A client request carries a numeric
 * `id`; the Bridge answers every request with exactly one `result` or `error` carrying that id. The
 * Bridge pushes `event` messages. The first message must be `hello` with a session token (browsers
 * cannot set headers on a WebSocket, and a token in the URL would end up in logs).
 *
 * Data, stream chunks and credits travel in binary frames: protocol/ws-frames.ts, re-exported here.
 */
import * as z from './zod.ts';
import { contextIdSchema, roomIdSchema, userIdSchema } from './room-record.ts';

export * from './ws-frames.ts';

/**
 * The protocol the Endpoint speaks. 2 adds BATCH frames down (ws-frames.ts); 3 adds receive windows
 * (`byteStreamReceiveWindow`, and `allowed` in the `byteStreamOpen` result, which a sender must start
 * from). The Bridge still accepts 1 and 2: a client that says 1 gets every frame alone, and the streams
 * of a sender that says less than 3 ignore their receivers' receive windows (docs/protocol/byte-streams.md).
 */
export const WS_PROTOCOL_VERSION = 3;
/** The protocols a Bridge accepts in `hello`. */
export const WS_PROTOCOL_VERSIONS = [1, 2, 3] as const;
export const WS_PATH = '/v1/ws';

/** WebSocket close codes the Bridge uses (4000-4999 are application codes). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  tooBig: 1009,
  unauthenticated: 4401,
  sessionEnded: 4403,
  helloTimeout: 4408,
  /** The socket's outbound buffer passed its budget: the client does not read what it is sent. */
  outboundOverflow: 4409,
  /** Too many sockets for this session or user; the oldest was replaced (bridge config). */
  replaced: 4410,
  rateLimited: 4429,
  /** The Bridge is saturated and admits no new socket now (RFC 6455 registry: Try Again Later). */
  tryAgainLater: 1013,
} as const;

export const streamIdSchema = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/));
export const trackIdSchema = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/));
const base64_16 = z.string().check(z.regex(/^[A-Za-z0-9+/]{22}==$/, 'expected 16 bytes of base64'));
/** An Ed25519 signature: exactly 88 characters, so a receipt is bounded before it is parsed further. */
const base64_64 = z.string().check(z.regex(/^[A-Za-z0-9+/]{86}==$/, 'expected 64 bytes of base64'));

export const trackKindSchema = z.enum(['data', 'audio', 'video']);
export type TrackKind = z.infer<typeof trackKindSchema>;

/**
 * How the Bridge delivers a data track's frames (docs/protocol/data-tracks.md): `lossy` drops a frame
 * older than its deadline and the oldest when a subscriber's queue is full; `reliable` never drops and
 * cuts a subscriber that cannot keep up from the track.
 */
export const dataDeliverySchema = z.enum(['lossy', 'reliable']);
export type DataDelivery = z.infer<typeof dataDeliverySchema>;
/** A lossy data track's deadline when its publisher names none. Milliseconds. */
export const DATA_DEADLINE_DEFAULT_MS = 500;
/** Bounds of a lossy data track's deadline. Milliseconds. */
export const DATA_DEADLINE_MIN_MS = 10;
export const DATA_DEADLINE_MAX_MS = 60_000;
const deadlineMsSchema = z.int().check(z.minimum(DATA_DEADLINE_MIN_MS), z.maximum(DATA_DEADLINE_MAX_MS));
/** Why data-track frames to a subscriber were dropped: it read too slowly, they outlived the deadline, or they were lost between Bridges. */
export const dataDropCauseSchema = z.enum(['slow', 'deadline', 'lost']);
export type DataDropCause = z.infer<typeof dataDropCauseSchema>;

export const trackInfoSchema = z.object({
  trackId: trackIdSchema,
  kind: trackKindSchema,
  /** The Bridge's number for this track's frames. */
  trackNo: z.int().check(z.nonnegative()),
  /** Data tracks: the delivery mode, and a lossy track's deadline. */
  delivery: z.optional(dataDeliverySchema),
  deadlineMs: z.optional(deadlineMsSchema),
});
export type TrackInfo = z.infer<typeof trackInfoSchema>;

/** A connection as the Bridge names it (`conn_` and 16 base64url characters); bounded, as every field a Bridge sends. */
export const connectionIdSchema = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/));

export const streamInfoSchema = z.object({
  roomId: roomIdSchema,
  streamId: streamIdSchema,
  /** The publisher, as the Bridge knows it from the session. */
  userId: userIdSchema,
  connectionId: connectionIdSchema,
  /** At most what a publish may carry (publishStream below). */
  tracks: z.array(trackInfoSchema).check(z.maxLength(32)),
});
export type StreamInfo = z.infer<typeof streamInfoSchema>;

export const participantSchema = z.object({ userId: userIdSchema, connectionId: connectionIdSchema });

export const subscriptionSchema = z.strictObject({ streamId: streamIdSchema, trackId: z.optional(trackIdSchema) });
export type StreamSubscriptionWire = z.infer<typeof subscriptionSchema>;

const trackDraftSchema = z.strictObject({
  trackId: trackIdSchema,
  kind: trackKindSchema,
  /** Data tracks only (the Bridge refuses them on media tracks); `lossy` when absent. */
  delivery: z.optional(dataDeliverySchema),
  /** Lossy data tracks only; DATA_DEADLINE_DEFAULT_MS when absent. */
  deadlineMs: z.optional(deadlineMsSchema),
});

// ---- media signalling (docs/media/forwarding-unit.md)

/** Largest SDP the Bridge accepts in a media request, in bytes (a 32-track offer is about 20 KiB). */
export const MEDIA_SDP_MAX_BYTES = 64 * 1024;
/** Longest ICE candidate line accepted, in characters. */
export const MEDIA_CANDIDATE_MAX_CHARS = 512;
const sdpSchema = z.string().check(z.minLength(1), z.maxLength(MEDIA_SDP_MAX_BYTES));
const midSchema = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,32}$/));
/** `publish`: the client offers, the unit answers. `receive`: the unit offers, the client answers. */
export const mediaTransportSchema = z.enum(['publish', 'receive']);
export type MediaTransport = z.infer<typeof mediaTransportSchema>;
export const iceCandidateSchema = z.strictObject({
  candidate: z.string().check(z.maxLength(MEDIA_CANDIDATE_MAX_CHARS)),
  sdpMid: z.optional(z.nullable(midSchema)),
  sdpMLineIndex: z.optional(z.nullable(z.int().check(z.minimum(0), z.maximum(255)))),
  usernameFragment: z.optional(z.nullable(z.string().check(z.maxLength(256)))),
});
export type IceCandidateWire = z.infer<typeof iceCandidateSchema>;
/** Which announced track (`publish` result's trackNo) an m-line of the publisher's offer carries. */
const mediaBindingSchema = z.strictObject({ mid: midSchema, trackNo: z.int().check(z.nonnegative()) });
export type MediaBinding = z.infer<typeof mediaBindingSchema>;
/**
 * A receive offer's bounds, as the client checks them: the unit sends at most
 * `maxReceivedTracksPerConnection` tracks (at most 256, bridge/media/config.ts), each an m-section of a
 * few hundred bytes; a Bridge that sends more is dropped before the browser builds transceivers for it.
 */
export const MEDIA_RECEIVE_TRACKS_MAX = 256;
/**
 * The largest byte-stream window a Bridge may give (its `streamWindowBytes` and `streamWindowMaxBytes`
 * are refused above it): a receiver fails a stream that sends it more unconsumed bytes than this
 * (endpoint/data-streams/limits.ts), since flow control was not kept.
 */
export const STREAM_WINDOW_MAX_BYTES = 32 * 1024 * 1024;
/**
 * The least receive window a connection may declare (`byteStreamReceiveWindow`): two of the largest
 * sealed data chunks (64 KiB of plaintext and the tag) with the final chunk's room (132,209 bytes), so
 * one chunk can be in flight while the next goes (docs/protocol/byte-streams.md, "Receive windows").
 */
export const STREAM_RECEIVE_WINDOW_MIN_BYTES = 160 * 1024;
/**
 * The largest WebSocket message an Endpoint takes from the Bridge. What the Bridge sends is far
 * smaller (a chunk, a batch of about 64 KiB, a media offer of at most 1 MiB of SDP); in Node the socket
 * closes past it (ws's maxPayload), and in browsers, whose sockets have no such bound, a larger
 * message is dropped unparsed (endpoint/socket-messages.ts).
 */
export const DOWN_MESSAGE_MAX_BYTES = 8 * 1024 * 1024;
export const MEDIA_RECEIVE_SDP_MAX_BYTES = 1024 * 1024;
export const mediaReceiveTrackSchema = z.object({
  mid: midSchema,
  trackNo: z.int().check(z.nonnegative()),
  kind: z.enum(['audio', 'video']),
  streamId: streamIdSchema,
  trackId: trackIdSchema,
  /** The publisher, as the Bridge knows it from its session. */
  userId: userIdSchema,
});
export type MediaReceiveTrack = z.infer<typeof mediaReceiveTrackSchema>;

// ---- direct peer signalling (docs/protocol/peer-signalling.md)

/** Largest SDP of a direct peer offer or answer, in characters (a data-channel offer is about 1 KiB). */
export const PEER_SDP_MAX_CHARS = 16 * 1024;
/** Largest caller metadata (JSON text) carried in a signed offer, in characters. */
export const PEER_METADATA_MAX_CHARS = 4096;
/** At most this many DTLS fingerprints per description (one per algorithm in practice). */
export const PEER_FINGERPRINTS_MAX = 4;
/** `sha-256 AB:CD:...`: a hash algorithm name and colon-separated hex bytes (RFC 8122 section 5). */
const peerFingerprintSchema = z.string().check(z.regex(/^[a-z0-9-]{1,16} [0-9A-F]{2}(:[0-9A-F]{2}){15,63}$/, 'expected "<algorithm> <HEX:HEX:...>"'));
const peerSdpSchema = z.string().check(z.minLength(1), z.maxLength(PEER_SDP_MAX_CHARS));
const peerSessionFields = { sessionId: base64_16 };
const peerSignedFields = {
  ...peerSessionFields,
  /** Fresh random 16 bytes per signed description: the receiver remembers it and refuses a replay. */
  nonce: base64_16,
  /** When the sender signed it, ms since the Unix epoch (its clock; signed). */
  at: z.int().check(z.nonnegative(), z.maximum(Number.MAX_SAFE_INTEGER)),
  sdp: peerSdpSchema,
  /** The DTLS fingerprints of `sdp`, as signed; the receiver checks they are the SDP's. */
  fingerprints: z.array(peerFingerprintSchema).check(z.minLength(1), z.maxLength(PEER_FINGERPRINTS_MAX)),
  /** The sender's Ed25519 signature (docs/protocol/peer-signalling.md, "Signed message"). */
  signature: base64_64,
};
/** What two members' Endpoints send each other through the Bridge to set up a direct connection. */
export const peerSignalSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('offer'), ...peerSignedFields, metadata: z.string().check(z.maxLength(PEER_METADATA_MAX_CHARS)) }),
  z.strictObject({ type: z.literal('answer'), ...peerSignedFields }),
  /** A trickled ICE candidate (not signed: a forged one can only fail to connect, DTLS still checks). */
  z.strictObject({ type: z.literal('candidate'), ...peerSessionFields, candidate: z.nullable(iceCandidateSchema) }),
  /** The session ends: declined by the callee, closed, failed, or refused (a check failed). */
  z.strictObject({ type: z.literal('bye'), ...peerSessionFields, reason: z.enum(['declined', 'closed', 'failed', 'refused']) }),
]);
export type PeerSignal = z.infer<typeof peerSignalSchema>;

// ---- client -> Bridge

const id = z.int().check(z.nonnegative());

export const clientMessageSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('hello'), id, token: z.string().check(z.maxLength(200)), protocol: z.literal(WS_PROTOCOL_VERSIONS) }),
  z.strictObject({ kind: z.literal('ping'), id }),
  z.strictObject({ kind: z.literal('subscribe'), id, queries: z.array(z.string().check(z.maxLength(512))).check(z.minLength(1), z.maxLength(64)) }),
  z.strictObject({ kind: z.literal('unsubscribe'), id, subscriptionIds: z.array(z.string().check(z.maxLength(64))).check(z.minLength(1), z.maxLength(64)) }),
  z.strictObject({ kind: z.literal('join'), id, roomId: roomIdSchema }),
  z.strictObject({ kind: z.literal('leave'), id, roomId: roomIdSchema }),
  z.strictObject({
    kind: z.literal('publish'),
    id,
    roomId: roomIdSchema,
    streamId: streamIdSchema,
    tracks: z.array(trackDraftSchema).check(z.minLength(1), z.maxLength(32)),
  }),
  z.strictObject({
    kind: z.literal('updateStream'),
    id,
    roomId: roomIdSchema,
    streamId: streamIdSchema,
    tracks: z.array(trackDraftSchema).check(z.minLength(1), z.maxLength(32)),
  }),
  z.strictObject({ kind: z.literal('unpublish'), id, roomId: roomIdSchema, streamId: streamIdSchema }),
  z.strictObject({ kind: z.literal('listStreams'), id, roomId: roomIdSchema }),
  z.strictObject({
    kind: z.literal('subscribeStreams'),
    id,
    roomId: roomIdSchema,
    add: z.array(subscriptionSchema).check(z.maxLength(256)),
    remove: z.array(subscriptionSchema).check(z.maxLength(256)),
  }),
  z.strictObject({
    kind: z.literal('byteStreamOpen'),
    id,
    roomId: roomIdSchema,
    /** base64 of the random 16-byte stream id (the HKDF salt of the stream key). */
    streamId: base64_16,
    /** The epoch whose key the stream uses. */
    epoch: z.int().check(z.positive()),
    /** Empty: everyone in the room but the sender. */
    destinationIdentities: z.array(userIdSchema).check(z.maxLength(4096)),
  }),
  /**
   * How far a sender may run ahead of what this connection consumed, on every stream it receives from
   * now on (and, when larger, on those it receives now), if less than the stream's window; null: the
   * stream's window (docs/protocol/byte-streams.md, "Receive windows").
   */
  z.strictObject({
    kind: z.literal('byteStreamReceiveWindow'),
    id,
    bytes: z.nullable(z.int().check(z.minimum(STREAM_RECEIVE_WINDOW_MIN_BYTES), z.maximum(STREAM_WINDOW_MAX_BYTES))),
  }),
  /** A receiver does not want this stream (no handler for its topic): stop sending it here. */
  z.strictObject({ kind: z.literal('byteStreamReject'), streamNo: z.int().check(z.nonnegative()) }),
  /**
   * A delivery receipt (docs/protocol/receipts.md): a receiver that read a stream to its verified end
   * signs (room, stream, content hash, length, sender, itself, `at`) with its own key; the Bridge relays
   * it to the stream's sender only, once per receiving connection, and only from a connection that was a
   * receiver at the stream's end (else `NOT_A_RECEIVER`). The Bridge cannot forge one.
   */
  z.strictObject({
    kind: z.literal('byteStreamReceipt'),
    id,
    streamNo: z.int().check(z.nonnegative()),
    /** The stream's id (base64 of 16 bytes), so a reused streamNo never takes another stream's receipt. */
    streamId: base64_16,
    /** When the receiver signed it, ms since the Unix epoch (its clock; signed). */
    at: z.int().check(z.nonnegative(), z.maximum(Number.MAX_SAFE_INTEGER)),
    signature: base64_64,
  }),
  /** Opens media for this connection in a joined room: it may publish, and it receives what it subscribes to. */
  z.strictObject({ kind: z.literal('mediaJoin'), id, roomId: roomIdSchema }),
  /** Closes both media transports of this connection in the room. */
  z.strictObject({ kind: z.literal('mediaLeave'), id, roomId: roomIdSchema }),
  /** The publish transport's offer (first or renegotiation), with the track each sending m-line carries. */
  z.strictObject({ kind: z.literal('mediaOffer'), id, roomId: roomIdSchema, sdp: sdpSchema, tracks: z.array(mediaBindingSchema).check(z.maxLength(64)) }),
  /** The answer to the unit's receive offer `revision` (event `mediaReceiveOffer`). */
  z.strictObject({ kind: z.literal('mediaAnswer'), id, roomId: roomIdSchema, revision: z.int().check(z.positive()), sdp: sdpSchema }),
  /** A trickled ICE candidate of the client for one transport; null: no more candidates. */
  z.strictObject({ kind: z.literal('mediaCandidate'), id, roomId: roomIdSchema, transport: mediaTransportSchema, candidate: z.nullable(iceCandidateSchema) }),
  /**
   * Direct peer signalling: relayed as is to `toConnectionId`, only when both connections are joined to
   * the room (else NOT_JOINED / PEER_NOT_JOINED), at most `peerSignalsPerSecond` per connection.
   */
  z.strictObject({
    kind: z.literal('peerSignal'),
    id,
    roomId: roomIdSchema,
    toConnectionId: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/)),
    signal: peerSignalSchema,
  }),
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type ClientRequest = Extract<ClientMessage, { id: number }>;
export type ClientRequestKind = ClientRequest['kind'];

// ---- Bridge -> client

/** What each request's `result` carries. */
export interface ResultPayloads {
  hello: { connectionId: string; userId: string; solutionId: string; sessionExpiresAt: number };
  ping: { now: number };
  subscribe: { subscriptionIds: string[] };
  unsubscribe: Record<string, never>;
  join: { participants: Array<{ userId: string; connectionId: string }>; streams: StreamInfo[] };
  leave: Record<string, never>;
  publish: { stream: StreamInfo };
  updateStream: { stream: StreamInfo };
  unpublish: Record<string, never>;
  listStreams: { streams: StreamInfo[] };
  subscribeStreams: { tracks: Array<{ streamId: string; trackId: string; trackNo: number; userId: string }> };
  /**
   * `receiverIds`: the user id of each receiving connection (a user joined twice is listed twice).
   * `allowed`: the payload offset the sender may reach before its first ALLOWANCE frame: `window`, or
   * less where a receiver declared a smaller receive window (protocol 3; absent from older Bridges).
   */
  byteStreamOpen: { streamNo: number; window: number; allowed?: number; receivers: number; receiverIds: string[] };
  byteStreamReceiveWindow: Record<string, never>;
  byteStreamReceipt: Record<string, never>;
  mediaJoin: {
    /** STUN/TURN servers for the client's peer connections (the Bridge's configuration). */
    iceServers: Array<{ urls: string[]; username?: string; credential?: string }>;
    limits: { publishedTracks: number; receivedTracks: number; videoBitrateBps: number; audioBitrateBps: number };
  };
  mediaLeave: Record<string, never>;
  /** The unit's answer, and the tracks it now forwards from this connection. */
  mediaOffer: { sdp: string; tracks: MediaBinding[] };
  mediaAnswer: Record<string, never>;
  /** false: the candidate was dropped (an address outside the unit's allowed networks, a host name). */
  mediaCandidate: { accepted: boolean };
  peerSignal: Record<string, never>;
}

export type EventReason = 'sender_disconnected' | 'sender_left' | 'too_slow' | 'removed' | 'room_deleted' | 'limit';

export const serverEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('streamRoomCreated'),
    roomId: roomIdSchema,
    contextId: contextIdSchema,
    version: z.int(),
    subscriptionIds: z.array(z.string()),
  }),
  z.object({
    type: z.literal('streamRoomUpdated'),
    roomId: roomIdSchema,
    contextId: contextIdSchema,
    version: z.int(),
    epoch: z.int(),
    subscriptionIds: z.array(z.string()),
  }),
  z.object({ type: z.literal('streamRoomDeleted'), roomId: roomIdSchema, contextId: contextIdSchema, subscriptionIds: z.array(z.string()) }),
  z.object({ type: z.literal('streamRoomJoined'), roomId: roomIdSchema, userId: userIdSchema, connectionId: connectionIdSchema }),
  z.object({
    type: z.literal('streamRoomLeft'),
    roomId: roomIdSchema,
    userId: userIdSchema,
    connectionId: connectionIdSchema,
    reason: z.enum(['left', 'disconnected', 'removed', 'room_deleted']),
  }),
  z.object({ type: z.literal('streamPublished'), stream: streamInfoSchema }),
  z.object({
    type: z.literal('streamUpdated'),
    stream: streamInfoSchema,
    tracksAdded: z.array(trackInfoSchema),
    tracksRemoved: z.array(trackInfoSchema),
  }),
  z.object({ type: z.literal('streamUnpublished'), roomId: roomIdSchema, streamId: streamIdSchema, userId: userIdSchema }),
  z.object({ type: z.literal('streamSubscribed'), roomId: roomIdSchema, streamId: streamIdSchema, trackIds: z.array(trackIdSchema).check(z.maxLength(32)) }),
  z.object({ type: z.literal('streamUnsubscribed'), roomId: roomIdSchema, streamId: streamIdSchema, trackIds: z.array(trackIdSchema).check(z.maxLength(32)) }),
  z.object({
    type: z.literal('byteStreamOpened'),
    roomId: roomIdSchema,
    streamNo: z.int(),
    streamId: base64_16,
    epoch: z.int().check(z.positive()),
    senderId: userIdSchema,
    senderConnectionId: connectionIdSchema,
    window: z.int().check(z.positive()),
  }),
  z.object({
    type: z.literal('byteStreamAborted'),
    streamNo: z.int(),
    reason: z.enum(['sender_disconnected', 'sender_left', 'too_slow', 'removed', 'room_deleted', 'limit']),
  }),
  /** To the sender: a receiver was cut from its stream (for diagnostics and onProgress of senders). */
  z.object({
    type: z.literal('byteStreamReceiverDropped'),
    streamNo: z.int(),
    userId: userIdSchema,
    // 'left': the receiver left the room on its own (it neither disconnected nor was removed).
    reason: z.enum(['too_slow', 'removed', 'disconnected', 'rejected', 'left']),
  }),
  /**
   * To the sender: a receiver's signed delivery receipt, relayed as it came (docs/protocol/receipts.md).
   * `userId` is the receiving connection's user as the Bridge knows it; the sender checks the signature
   * against that user's key in the verified room.
   */
  z.object({
    type: z.literal('byteStreamReceipt'),
    streamNo: z.int(),
    streamId: base64_16,
    userId: userIdSchema,
    at: z.int().check(z.nonnegative(), z.maximum(Number.MAX_SAFE_INTEGER)),
    signature: base64_64,
  }),
  /** A direct peer signal from another member of the room; who sent it is the Bridge's word (checked by signature). */
  z.object({
    type: z.literal('peerSignal'),
    roomId: roomIdSchema,
    fromUserId: userIdSchema,
    fromConnectionId: connectionIdSchema,
    signal: peerSignalSchema,
  }),
  /** Data-track messages to this connection that were dropped, by cause (docs/protocol/data-tracks.md). */
  z.object({ type: z.literal('dataDropped'), trackNo: z.int(), count: z.int().check(z.positive()), cause: z.optional(dataDropCauseSchema) }),
  /** A reliable data track this connection could not keep up with: it is no longer subscribed to it. */
  z.object({
    type: z.literal('dataTrackCut'),
    roomId: roomIdSchema,
    streamId: streamIdSchema,
    trackId: trackIdSchema,
    trackNo: z.int(),
    reason: z.literal('too_slow'),
  }),
]);
export type ServerEvent = z.infer<typeof serverEventSchema>;
export type ServerEventType = ServerEvent['type'];

/**
 * Media signalling from the Bridge (docs/media/forwarding-unit.md), in messages of their own kind
 * (`media`): they concern one connection's transports, not the room, and only a connection that sent
 * `mediaJoin` ever gets one.
 */
export const mediaEventSchema = z.discriminatedUnion('type', [
  /**
   * The unit's offer for this connection's receive transport (its subscribed audio and video tracks
   * changed). The client answers with `mediaAnswer` and the same revision; a later offer supersedes it.
   */
  z.object({
    type: z.literal('mediaReceiveOffer'),
    roomId: roomIdSchema,
    revision: z.int().check(z.positive()),
    sdp: z.string().check(z.minLength(1), z.maxLength(MEDIA_RECEIVE_SDP_MAX_BYTES)),
    tracks: z.array(mediaReceiveTrackSchema).check(z.maxLength(MEDIA_RECEIVE_TRACKS_MAX)),
  }),
  /** The unit closed one of this connection's media transports in the room. */
  z.object({
    type: z.literal('mediaClosed'),
    roomId: roomIdSchema,
    transport: mediaTransportSchema,
    // failed: ICE or DTLS failed; timeout: a receive offer was not answered, or the transport did not connect, in time.
    reason: z.enum(['failed', 'timeout']),
  }),
]);
export type MediaEvent = z.infer<typeof mediaEventSchema>;

export const serverMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('result'), id, result: z.record(z.string(), z.unknown()) }),
  /** `retryAfter`: seconds until a retry may succeed (RATE_LIMITED, OVERLOADED, ...). */
  z.object({ kind: z.literal('error'), id, code: z.string(), message: z.string(), retryAfter: z.optional(z.number().check(z.nonnegative())) }),
  z.object({ kind: z.literal('event'), event: serverEventSchema }),
  z.object({ kind: z.literal('media'), event: mediaEventSchema }),
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

// ---- event subscription queries (PrivMX `buildSubscriptionQuery`)

export const ROOM_EVENT_TYPES = ['streamRoomCreated', 'streamRoomUpdated', 'streamRoomDeleted'] as const;
export type RoomEventType = (typeof ROOM_EVENT_TYPES)[number];
export type SelectorType = 'contextId' | 'streamRoomId';

/** `stream/<eventType>|<selectorType>=<id>`, e.g. `stream/streamRoomUpdated|contextId=ctx_...`. */
export function buildSubscriptionQuery(eventType: RoomEventType, selectorType: SelectorType, selectorId: string): string {
  return `stream/${eventType}|${selectorType}=${selectorId}`;
}

export interface ParsedQuery {
  eventType: RoomEventType;
  selectorType: SelectorType;
  selectorId: string;
}

export function parseSubscriptionQuery(query: string): ParsedQuery | undefined {
  const match = /^stream\/(streamRoomCreated|streamRoomUpdated|streamRoomDeleted)\|(contextId|streamRoomId)=([A-Za-z0-9_-]{1,64})$/.exec(query);
  if (match === null) return undefined;
  return { eventType: match[1] as RoomEventType, selectorType: match[2] as SelectorType, selectorId: match[3]! };
}
