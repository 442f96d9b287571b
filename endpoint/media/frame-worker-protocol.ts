/**
 * Messages between the main thread (frame-encryption.ts) and the frame worker (frame-worker.ts)
 * (docs/media/frame-encryption.md "The worker"). Structured clone, no JSON: keys travel as Uint8Array.
 */
import type { LocalMediaTrack, RemoteMediaTrack } from './e2ee.ts';
import type { MediaCounters, MediaSendRefusal, RoomMediaKeys } from './frame-cryptor.ts';

/** What each transform is for: the options of `RTCRtpScriptTransform`, or sent with the streams. */
export type TransformOptions = { id: number; role: 'send'; track: LocalMediaTrack } | { id: number; role: 'receive'; track: RemoteMediaTrack };

export type ToWorker =
  /** A room's keys (all epochs held); replaces what the worker had. */
  | { type: 'keys'; roomId: string; keys: RoomMediaKeys }
  /** Forget a room's keys: its frames are dropped from now on. */
  | { type: 'dropRoom'; roomId: string }
  /** The encoded-streams fallback: a sender's or receiver's streams, transferred. */
  | { type: 'streams'; options: TransformOptions; readable: ReadableStream; writable: WritableStream }
  /** The encoded-streams fallback: a sender or receiver already attached is protected again, for another track. */
  | { type: 'retarget'; options: TransformOptions }
  /** Asks for the counters now (answered with `stats` and the same requestId). */
  | { type: 'stats'; requestId: number };

export type FromWorker =
  /** The counters: pushed when they changed (at most every STATS_PUSH_MS), or answering a request. */
  | { type: 'stats'; stats: MediaCounters; requestId?: number }
  /** A key change and this browser has no `generateKeyFrame` in the worker: the main thread asks the sender's encoder. */
  | { type: 'keyframe'; id: number }
  /** A received frame names an epoch newer than the worker holds: the main thread fetches the room. */
  | { type: 'newerEpoch'; roomId: string; epoch: number }
  /** A publisher's room head, as its authenticated frames name it (version, the hash's first bytes). */
  | { type: 'head'; roomId: string; userId: string; version: number; hash: Uint8Array }
  /** A sender's first refused frame (a codec not supported, say), for the log; later ones are only counted. */
  | { type: 'refused'; id: number; reason: MediaSendRefusal; mimeType: string | undefined };

/** The worker pushes changed counters at most this often. In ms. */
export const STATS_PUSH_MS = 250;
/** A room's `newerEpoch` is posted at most once in this long. In ms. */
export const NEWER_EPOCH_NOTICE_MS = 1_000;
