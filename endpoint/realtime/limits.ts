/**
 * Bounds of the real-time plane on the Endpoint. Every queue, cache and map that grows with what the
 * Bridge or the app sends has one here (STYLE.md: every untrusted length has an explicit limit).
 */

/** Largest data-track message `sendData` accepts and a receiver decrypts (plaintext), in bytes. */
export const MAX_DATA_MESSAGE_BYTES = 64 * 1024;

/** `sendData` sends at once while the socket holds at most this many bytes; above it, it paces. */
export const SEND_PACE_BYTES = 256 * 1024;
/** How long `sendData` waits for the socket to drain below `SEND_PACE_BYTES` before it drops, in ms. */
export const SEND_PACE_MAX_WAIT_MS = 250;
/** How often a pacing `sendData` looks at the socket again, in ms. */
export const SEND_PACE_POLL_MS = 5;
/** `sendData` calls waiting in line (all tracks) before new ones are dropped, in messages. */
export const MAX_QUEUED_SENDS = 1024;

/** Received data frames waiting for decryption before new ones are dropped, in frames. */
export const MAX_QUEUED_FRAMES = 4096;
/** The same bound in bytes of SFrame ciphertext. */
export const MAX_QUEUED_FRAME_BYTES = 8 * 1024 * 1024;

/** Remote senders (room, user) whose SFrame keys and replay windows are kept, least recently used out. */
export const MAX_CACHED_SENDERS = 1024;
/** KIDs (sessions x epochs) kept per remote sender. */
export const MAX_KIDS_PER_SENDER = 8;
/** KIDs per remote sender remembered after their key was dropped, so their frames stay refused. */
export const MAX_RETIRED_KIDS_PER_SENDER = 64;
/**
 * Default freshness window of data-track frames: a frame stamped more than this before (or after) the
 * receiver's clock is dropped (`stale`). It must cover the network delay and the clock difference
 * between members. StreamApiOptions `dataTrackMaxAgeMs`. In ms.
 */
export const DEFAULT_DATA_TRACK_MAX_AGE_MS = 30_000;
/**
 * Remote senders whose forgotten sessions are remembered as a time floor (a new or forgotten session
 * of that sender must be stamped after it). Past this, the oldest floor folds into one floor for all.
 */
export const MAX_SENDER_FLOORS = 16_384;
/**
 * A frame naming an epoch newer than any held makes the client fetch its room, at most once per room
 * in this many ms (as the media worker's NEWER_EPOCH_NOTICE_MS); frames of an unknown newer epoch in
 * between are dropped (`noKey`). A member cannot make every receiver fetch the room once per frame by
 * naming made-up epochs, and the receive chain, which serves every room, waits for at most one fetch
 * a room per second.
 */
export const NEWER_EPOCH_FETCH_MS = 1_000;
/** Rooms whose last newer-epoch fetch is remembered (the oldest is forgotten past it). */
export const MAX_NEWER_EPOCH_ROOMS = 256;

/** Remote streams tracked per joined room (the Bridge bounds participants to 1024 by default). */
export const MAX_REMOTE_STREAMS_PER_ROOM = 4096;
/** Participants tracked per joined room. */
export const MAX_PARTICIPANTS_PER_ROOM = 4096;
/** Events held for a room while its `join` is in flight. */
export const MAX_EVENTS_WHILE_JOINING = 1024;
/** Subscribed tracks announced before their stream update arrived, per room. */
export const MAX_PENDING_TRACK_ANNOUNCEMENTS = 256;

/** Local streams (handles from `createStream`) per connection. */
export const MAX_LOCAL_STREAMS = 64;
/** Tracks per stream (the wire protocol's limit). */
export const MAX_TRACKS_PER_STREAM = 32;
/** Ended streams and tracks remembered, so that late calls get an error that says why. */
export const MAX_ENDED_REMEMBERED = 512;
/** Subscriptions per `subscribeStreams` call, each of `add` and `remove` (the wire protocol's limit). */
export const MAX_SUBSCRIPTIONS_PER_CALL = 256;
