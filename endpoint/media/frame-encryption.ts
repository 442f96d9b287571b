/**
 * The main-thread side of media frame encryption (docs/media/frame-encryption.md): starts the frame
 * worker, installs a transform on each protected RTCRtpSender and RTCRtpReceiver, hands the worker the
 * keys it is given, and keeps the worker's counters. It knows nothing of rooms or KeyRings:
 * `createMediaE2ee` (e2ee.ts) feeds it the keys of each room; tests feed keys directly.
 *
 * Transforms: `RTCRtpScriptTransform` where the browser has it; else the older encoded streams
 * (`createEncodedStreams()`, which needs the RTCPeerConnection built with
 * `encodedInsertableStreams: true`: `mediaE2eePeerConnectionConfig()`), whose streams are transferred
 * to the same worker. Without either, protecting throws `Unsupported`.
 *
 * Keyframes on a key change: the worker calls `generateKeyFrame()` where the browser has it; Chromium
 * (156) has none, so the main thread restarts the sender's encodings (`active` false then true in
 * `setParameters`), which makes the encoder start with a keyframe without a gap in the frames
 * (measured: one keyframe, no longer pause between frames than usual).
 */
import { EndpointError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import type { LocalMediaTrack, MediaE2ee, MediaE2eeStats, MediaWorkerSource, RemoteMediaTrack } from './e2ee.ts';
import { zeroMediaCounters, type MediaCounters, type RoomMediaKeys } from './frame-cryptor.ts';
import { FRAME_WORKER_SOURCE } from './frame-worker-bundle.ts';
import type { FromWorker, ToWorker, TransformOptions } from './frame-worker-protocol.ts';

/** Which browser API installs the transforms. */
export type MediaTransformApi = 'script-transform' | 'encoded-streams';

export interface FrameEncryptionOptions {
  /** Default `{ kind: 'bundled' }` (a Blob URL; needs `worker-src blob:` under a CSP). */
  worker?: MediaWorkerSource;
  log?: Logger;
  /** Default: `script-transform` where `RTCRtpScriptTransform` exists, else `encoded-streams`. */
  api?: MediaTransformApi;
}

/** A `refreshStats` that gets no answer from the worker in this long rejects. In ms. */
export const STATS_REQUEST_TIMEOUT_MS = 5_000;
const ID_MAX_LENGTH = 256;

/** The transform API this browser offers, if any. */
export function detectTransformApi(): MediaTransformApi | undefined {
  if (typeof globalThis.RTCRtpScriptTransform === 'function') return 'script-transform';
  const sender = (globalThis as { RTCRtpSender?: { prototype: object } }).RTCRtpSender;
  if (sender !== undefined && 'createEncodedStreams' in sender.prototype) return 'encoded-streams';
  return undefined;
}

/**
 * What the media session adds to each RTCPeerConnection's configuration: `encodedInsertableStreams`
 * when the transforms go through the encoded-streams fallback (it must be set at construction).
 */
export function mediaE2eePeerConnectionConfig(api: MediaTransformApi | undefined = detectTransformApi()): Record<string, unknown> {
  return api === 'encoded-streams' ? { encodedInsertableStreams: true } : {};
}

interface EncodedStreams {
  readable: ReadableStream;
  writable: WritableStream;
}
type WithEncodedStreams = { createEncodedStreams(): EncodedStreams };

function checkTrack(track: LocalMediaTrack | RemoteMediaTrack, remote: boolean): void {
  const fields = remote ? (['roomId', 'streamId', 'trackId', 'userId'] as const) : (['roomId', 'streamId', 'trackId'] as const);
  for (const field of fields) {
    const value = (track as unknown as Record<string, unknown>)[field];
    if (typeof value !== 'string' || value.length === 0 || value.length > ID_MAX_LENGTH) {
      throw EndpointError.invalidArgument(
        `"track.${field}" expected a non-empty string of at most ${ID_MAX_LENGTH} characters, got ${typeof value === 'string' ? `length ${value.length}` : typeof value}`,
      );
    }
  }
  if (track.kind !== 'audio' && track.kind !== 'video')
    throw EndpointError.invalidArgument(`"track.kind" expected "audio" or "video", got ${String(track.kind)}`);
}

/** Frame encryption for one Endpoint connection: one worker, any number of senders and receivers. */
export class FrameEncryption implements MediaE2ee {
  readonly api: MediaTransformApi;
  readonly #worker: Worker;
  readonly #blobUrl: string | undefined;
  readonly #log: Logger;
  #counters: MediaCounters = zeroMediaCounters();
  /** Keyframes the main thread asked for (Chromium: encodings restarted). */
  #keyframesHere = 0;
  #nextId = 1;
  readonly #senders = new Map<number, { sender: RTCRtpSender; track: LocalMediaTrack }>();
  /** The fallback's transform id of each sender or receiver whose streams were taken. */
  readonly #streamIds = new WeakMap<RTCRtpSender | RTCRtpReceiver, number>();
  readonly #statsWaiters = new Map<number, { resolve: (counters: MediaCounters) => void; reject: (error: EndpointError) => void }>();
  readonly #newerEpochListeners = new Set<(roomId: string, epoch: number) => void>();
  readonly #headListeners = new Set<(roomId: string, userId: string, version: number, hash: Uint8Array) => void>();
  #closed = false;

  constructor(options: FrameEncryptionOptions = {}) {
    const api = options.api ?? detectTransformApi();
    if (api === undefined || typeof Worker !== 'function') {
      throw new EndpointError('Unsupported', 'media E2EE needs a browser with RTCRtpScriptTransform or encoded streams, and Workers');
    }
    this.api = api;
    this.#log = options.log ?? silentLogger;
    const source = options.worker ?? { kind: 'bundled' };
    if (source.kind === 'url') {
      this.#worker = new Worker(source.url, { name: 'sealroom-media-frames' });
    } else if (source.kind === 'bundled') {
      this.#blobUrl = URL.createObjectURL(new Blob([FRAME_WORKER_SOURCE], { type: 'text/javascript' }));
      this.#worker = new Worker(this.#blobUrl, { name: 'sealroom-media-frames' });
    } else {
      throw EndpointError.invalidArgument(`"worker.kind" expected "bundled" or "url", got ${String((source as { kind: unknown }).kind)}`);
    }
    this.#worker.onmessage = (event: MessageEvent<FromWorker>) => this.#onMessage(event.data);
    this.#worker.onerror = (event) => this.#log.error({ reason: event.message }, 'the media frame worker failed');
  }

  /** Hands the worker a room's keys (all epochs held); a newer epoch switches its senders at once. */
  setRoomKeys(roomId: string, keys: RoomMediaKeys): void {
    this.#post({ type: 'keys', roomId, keys });
  }

  /** Publishers' room heads as their frames name them: for the split-view tracker (rooms/head-tracker.ts). */
  onHead(listener: (roomId: string, userId: string, version: number, hash: Uint8Array) => void): () => void {
    this.#headListeners.add(listener);
    return () => void this.#headListeners.delete(listener);
  }

  /** Called when a received frame names an epoch newer than the worker holds (at most once a second per room). */
  onNewerEpoch(listener: (roomId: string, epoch: number) => void): () => void {
    this.#newerEpochListeners.add(listener);
    return () => void this.#newerEpochListeners.delete(listener);
  }

  protectSender(sender: RTCRtpSender, track: LocalMediaTrack): void {
    checkTrack(track, false);
    const options: TransformOptions = {
      id: this.#idFor(sender),
      role: 'send',
      track: { roomId: track.roomId, streamId: track.streamId, trackId: track.trackId, kind: track.kind },
    };
    this.#install(sender, options);
    this.#senders.set(options.id, { sender, track: options.track });
  }

  protectReceiver(receiver: RTCRtpReceiver, track: RemoteMediaTrack): void {
    checkTrack(track, true);
    const { roomId, streamId, trackId, kind, userId } = track;
    const options: TransformOptions = { id: this.#idFor(receiver), role: 'receive', track: { roomId, streamId, trackId, kind, userId } };
    this.#install(receiver, options);
  }

  /** A new id per transform; in the fallback, the id its streams already have (they exist once per sender or receiver). */
  #idFor(target: RTCRtpSender | RTCRtpReceiver): number {
    return (this.api === 'encoded-streams' ? this.#streamIds.get(target) : undefined) ?? this.#nextId++;
  }

  releaseRoom(roomId: string): void {
    this.#post({ type: 'dropRoom', roomId });
    for (const [id, { track }] of this.#senders) if (track.roomId === roomId) this.#senders.delete(id);
  }

  stats(): MediaE2eeStats {
    return toStats(this.#counters, this.#keyframesHere);
  }

  /** The worker's counters as of now (a round trip to it), rather than as last pushed. */
  refreshStats(timeoutMs = STATS_REQUEST_TIMEOUT_MS): Promise<MediaE2eeStats> {
    if (this.#closed) return Promise.reject(new EndpointError('Unsupported', 'media E2EE: closed'));
    const requestId = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#statsWaiters.delete(requestId);
        reject(new EndpointError('Timeout', `media E2EE: the frame worker did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#statsWaiters.set(requestId, {
        resolve: (counters) => {
          clearTimeout(timer);
          resolve(toStats(counters, this.#keyframesHere));
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#post({ type: 'stats', requestId });
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.terminate();
    if (this.#blobUrl !== undefined) URL.revokeObjectURL(this.#blobUrl);
    this.#senders.clear();
    for (const waiter of this.#statsWaiters.values()) waiter.reject(new EndpointError('Unsupported', 'media E2EE: closed'));
    this.#statsWaiters.clear();
  }

  #install(target: RTCRtpSender | RTCRtpReceiver, options: TransformOptions): void {
    if (this.#closed) throw new EndpointError('Unsupported', 'media E2EE: closed');
    if (this.api === 'script-transform') {
      target.transform = new RTCRtpScriptTransform(this.#worker, options);
      return;
    }
    if (this.#streamIds.has(target)) {
      this.#post({ type: 'retarget', options });
      return;
    }
    let streams: EncodedStreams;
    try {
      streams = (target as unknown as WithEncodedStreams).createEncodedStreams();
    } catch (cause) {
      throw new EndpointError('Unsupported', 'media E2EE: createEncodedStreams failed; build the RTCPeerConnection with mediaE2eePeerConnectionConfig()', {
        cause,
      });
    }
    this.#streamIds.set(target, options.id);
    this.#post({ type: 'streams', options, readable: streams.readable, writable: streams.writable }, [streams.readable, streams.writable]);
  }

  #post(message: ToWorker, transfer: Transferable[] = []): void {
    if (this.#closed) return;
    this.#worker.postMessage(message, transfer);
  }

  #onMessage(message: FromWorker): void {
    switch (message.type) {
      case 'stats':
        this.#counters = message.stats;
        if (message.requestId !== undefined) {
          this.#statsWaiters.get(message.requestId)?.resolve(message.stats);
          this.#statsWaiters.delete(message.requestId);
        }
        break;
      case 'keyframe':
        void this.#restartEncodings(message.id);
        break;
      case 'head':
        for (const listener of this.#headListeners) listener(message.roomId, message.userId, message.version, message.hash);
        break;
      case 'newerEpoch':
        for (const listener of this.#newerEpochListeners) listener(message.roomId, message.epoch);
        break;
      case 'refused':
        this.#log.warn(
          { trackId: this.#senders.get(message.id)?.track.trackId, reason: message.reason, mimeType: message.mimeType },
          message.reason === 'codec'
            ? 'media E2EE: the sender uses a codec it cannot protect (VP8 and Opus only); its frames are not sent'
            : "media E2EE: a sender's frame was not sent",
        );
        break;
      default:
        message satisfies never;
    }
  }

  /** Chromium's way to ask an encoder for a keyframe: its encodings stopped and started again. */
  async #restartEncodings(id: number): Promise<void> {
    const entry = this.#senders.get(id);
    if (entry === undefined) return;
    try {
      let parameters = entry.sender.getParameters();
      if (parameters.encodings.length === 0 || parameters.encodings.some((e) => e.active === false)) return;
      for (const encoding of parameters.encodings) encoding.active = false;
      await entry.sender.setParameters(parameters);
      parameters = entry.sender.getParameters();
      for (const encoding of parameters.encodings) encoding.active = true;
      await entry.sender.setParameters(parameters);
      this.#keyframesHere++;
    } catch (error) {
      this.#log.warn({ trackId: entry.track.trackId, reason: (error as Error).message }, 'media E2EE: asking the encoder for a keyframe failed');
      // Never leave the sender stopped by a half-done restart.
      const parameters = entry.sender.getParameters();
      if (parameters.encodings.some((e) => e.active === false)) {
        for (const encoding of parameters.encodings) encoding.active = true;
        await entry.sender.setParameters(parameters).catch(() => undefined);
      }
    }
  }
}

function toStats(counters: MediaCounters, keyframesHere: number): MediaE2eeStats {
  return {
    framesEncrypted: counters.framesEncrypted,
    framesDecrypted: counters.framesDecrypted,
    dropped: { ...counters.dropped },
    keyframesOnRotation: counters.keyframesOnRotation + keyframesHere,
    sendRefused: { ...counters.sendRefused },
  };
}
