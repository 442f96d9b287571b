/**
 * SFrame (RFC 9605) of encoded media frames: the state and per-frame work of the frame worker
 * (frame-worker.ts), with no WebRTC in it, so Node tests drive the very same code
 * (docs/media/frame-encryption.md).
 *
 * Sending. One session per (room, epoch), shared by every local track of that room, like data tracks
 * (endpoint/realtime/data-track-sender.ts): a fresh random session id, hence its own KID and base key
 * `deriveSenderBaseKey({purpose: 'media', senderId: own userId, ...})`. When keys with a newer epoch
 * arrive (`setRoomKeys`), the new session replaces the old one at once, so every track's next frame is
 * under the newest epoch and none goes back; `setRoomKeys` says so, and the worker asks the encoders
 * for a keyframe. A frame with no key to send under is dropped, never sent in clear.
 *
 * Receiving. One `MediaTrackDecryptor` per remote track: the publisher is the Bridge's word for who
 * published it, and goes into the base key, so a Bridge that names the wrong publisher makes every frame
 * fail. Its own replay window per KID; and, shared by every decryptor of the same session (publisher,
 * room, stream, track and KID), the newest stamp taken, so a new decryptor the Bridge makes for the
 * track (a new receive offer, a second mid) cannot take the session's frames again. A frame is dropped and counted (never given to the decoder) when
 * it is malformed, names an epoch without a key (`noKey`: not held, past its grace, newer than held, or
 * a session first seen under a superseded epoch, or one its sender already moved on from), fails
 * to authenticate (`decrypt`), or repeats a counter or is stamped outside `maxAgeMs` of this clock
 * (`replay`). Nothing is kept for a KID whose frames never authenticated, so forged frames cannot
 * push real sessions out.
 *
 * Stamp. Each plaintext starts with the sender's time (never decreasing within a session) and its
 * trusted room head (`MEDIA_STAMP_BYTES`), authenticated with the frame: a receiver that never saw a
 * session (subscribed later) would otherwise take a recording of it, replayed by the Bridge within the
 * same epoch, as live; and the head lets members see one kept on a stale head (split views,
 * endpoint/rooms/head-tracker.ts), whatever it sends.
 */
import { CryptoError } from '../../crypto/errors.ts';
import { decodeSFrameHeader, deriveSenderBaseKey, makeKid, MAX_MEMBER_INDEX, parseKid, randomSessionId, SFrameContext } from '../../crypto/sframe/index.ts';
import { kidFailed, type KidFailures, kidMayBeTried, resolveEpoch } from '../realtime/kid-epoch.ts';
import type { LocalMediaTrack, MediaDropReason, RemoteMediaTrack } from './e2ee.ts';
import { clearByteCount, frameCodec, joinFrame, mediaFrameMetadata } from './frame-layout.ts';

/** Why a sender dropped one of its own frames instead of sending it. */
export type MediaSendRefusal = 'noKey' | 'codec' | 'malformed';

/** The worker's counters (docs/media/frame-encryption.md "Stats"). */
export interface MediaCounters {
  framesEncrypted: number;
  framesDecrypted: number;
  dropped: Record<MediaDropReason, number>;
  keyframesOnRotation: number;
  /** Frames this client's senders dropped rather than send: no key yet, a codec not supported, malformed. */
  sendRefused: Record<MediaSendRefusal, number>;
}

export function zeroMediaCounters(): MediaCounters {
  return {
    framesEncrypted: 0,
    framesDecrypted: 0,
    dropped: { decrypt: 0, replay: 0, noKey: 0, malformed: 0 },
    keyframesOnRotation: 0,
    sendRefused: { noKey: 0, codec: 0, malformed: 0 },
  };
}

/** A room's keys as the main thread hands them over (docs/media/frame-encryption.md "Keys"). */
export interface RoomMediaKeys {
  /** This client's user id: the sender id in its own base keys. */
  userId: string;
  /** This client's index in the room's verified head; undefined when it is not a member (sends nothing). */
  memberIndex: number | undefined;
  /** The epoch keys held: the newest, and older ones still in their grace period. 32 bytes each. */
  epochs: { epoch: number; key: Uint8Array }[];
  /** This client's trusted room head, stamped into every frame it sends; undefined when it sends nothing. */
  head?: MediaHead | undefined;
}

/** A room head as media frames carry it: the version and the first MEDIA_HEAD_HASH_BYTES of its hash. */
export interface MediaHead {
  version: number;
  hash: Uint8Array;
}

/** One encoded frame: its track's kind, the browser's `mimeType` metadata if any, and its bytes. */
export interface MediaFrame {
  kind: 'audio' | 'video';
  mimeType?: string | undefined;
  data: Uint8Array;
}

/** `head`: the sender's room head, when it differs from the last this decryptor reported or a second passed since. */
export type DecryptOutcome =
  | { ok: true; data: Uint8Array<ArrayBuffer>; epoch: number; head?: MediaHead }
  | { ok: false; reason: MediaDropReason; newerEpoch?: number };
export type EncryptOutcome = { ok: true; data: Uint8Array<ArrayBuffer> } | { ok: false; reason: MediaSendRefusal };

/**
 * Frames stamped further than this from the receiver's clock are refused (counted as `replay`): a
 * Bridge that recorded a session cannot play it to a receiver that never saw it, past this. The data
 * tracks' default (endpoint/realtime/limits.ts). In ms.
 */
export const MEDIA_FRAME_MAX_AGE_MS = 30_000;
/**
 * Bytes of the room head hash a media stamp carries: enough that two signed records of one version
 * sharing them cannot be ground out (2^48 tries for a pair), few enough for 50 audio frames a second.
 */
export const MEDIA_HEAD_HASH_BYTES = 12;
/**
 * The stamp at the start of every media plaintext: the sender's time (u64 big-endian, ms since the
 * Unix epoch), the version of its trusted room head (u32) and that head's hash, its first
 * MEDIA_HEAD_HASH_BYTES (DESIGN: every frame authenticates its sender's time and room version).
 */
export const MEDIA_STAMP_BYTES = 8 + 4 + MEDIA_HEAD_HASH_BYTES;

export interface MediaFrameCryptorOptions {
  /** Default `MEDIA_FRAME_MAX_AGE_MS`. */
  maxAgeMs?: number;
  /** Default `Date.now` (tests move it). */
  now?: () => number;
}

/** A decryptor reports its publisher's room head when it changes, and at least this often while frames come. In ms. */
export const HEAD_REPORT_MS = 1_000;
/** KIDs a remote track keeps keys and replay windows for (a publisher's sessions across rotations). */
export const MAX_KIDS_PER_TRACK = 4;
/** KIDs a remote track remembers as closed, so their frames stay refused rather than start afresh. */
export const MAX_RETIRED_KIDS_PER_TRACK = 64;
/**
 * Sessions (a publisher's track under one KID) whose newest accepted stamp this cryptor remembers
 * beyond the decryptor that saw them; past it the oldest is forgotten. Only sessions with a frame that
 * authenticated get an entry.
 */
export const MAX_SEEN_SESSIONS = 4096;

/**
 * What every decryptor of one session has accepted: the newest stamp, and which decryptor took it.
 * A Bridge can give a track a new decryptor (a new receive offer, the same track under a second mid),
 * whose replay windows start empty; it must not be able to play the session's frames again there.
 */
interface SessionSeen {
  latest: number;
  /** The decryptor (its number) that took `latest`. */
  owner: number;
}

interface SendSession {
  epoch: number;
  kid: bigint;
  ctx: SFrameContext;
  /** The last stamp sent: the next is never earlier, whatever the clock does. */
  lastTime: number;
}

interface RoomState {
  keys: RoomMediaKeys;
  epochs: Map<number, Uint8Array>;
  newest: number;
  /** The sending session of the newest epoch; undefined if this client cannot send there. */
  send: Promise<SendSession | undefined>;
}

export class MediaFrameCryptor {
  readonly counters: MediaCounters = zeroMediaCounters();
  readonly maxAgeMs: number;
  readonly now: () => number;
  readonly #rooms = new Map<string, RoomState>();
  readonly #seen = new Map<string, SessionSeen>();
  #decryptors = 0;

  constructor(options: MediaFrameCryptorOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? MEDIA_FRAME_MAX_AGE_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Replaces a room's keys. Returns true when the newest epoch changed and a new sending session began
   * (the caller asks the room's video encoders for a keyframe).
   */
  setRoomKeys(roomId: string, keys: RoomMediaKeys): boolean {
    const epochs = new Map<number, Uint8Array>();
    for (const { epoch, key } of keys.epochs) epochs.set(epoch, key.slice());
    const previous = this.#rooms.get(roomId);
    if (epochs.size === 0) {
      this.dropRoom(roomId);
      return false;
    }
    const newest = Math.max(...epochs.keys());
    for (const key of previous?.epochs.values() ?? []) key.fill(0);
    const rotated = previous === undefined || previous.newest !== newest || previous.keys.memberIndex !== keys.memberIndex;
    const send = rotated ? startSession(roomId, keys, newest, epochs.get(newest)!) : previous.send;
    this.#rooms.set(roomId, { keys, epochs, newest, send });
    return rotated && previous !== undefined && previous.newest !== newest;
  }

  /** Forgets a room's keys: its senders and receivers drop every frame from now on (`noKey`). */
  dropRoom(roomId: string): void {
    for (const key of this.#rooms.get(roomId)?.epochs.values() ?? []) key.fill(0);
    this.#rooms.delete(roomId);
  }

  /** The key of an epoch, if held, and the newest epoch held, of a room. */
  room(roomId: string): { newest: number; key(epoch: number): Uint8Array | undefined } | undefined {
    const state = this.#rooms.get(roomId);
    return state === undefined ? undefined : { newest: state.newest, key: (epoch) => state.epochs.get(epoch) };
  }

  /** Encrypts one frame of a local track under the room's newest epoch, or says why it is dropped. */
  async encrypt(track: LocalMediaTrack, frame: MediaFrame): Promise<EncryptOutcome> {
    const outcome = await this.#encrypt(track, frame);
    if (outcome.ok) this.counters.framesEncrypted++;
    else this.counters.sendRefused[outcome.reason]++;
    return outcome;
  }

  async #encrypt(track: LocalMediaTrack, frame: MediaFrame): Promise<EncryptOutcome> {
    const codec = frameCodec(track.kind, frame.mimeType);
    if (codec === undefined) return { ok: false, reason: 'codec' };
    const clearBytes = clearByteCount(codec, frame.data);
    if (clearBytes === undefined) return { ok: false, reason: 'malformed' };
    const room = this.#rooms.get(track.roomId);
    const session = await room?.send.catch(() => undefined);
    const head = room?.keys.head;
    if (session === undefined || head === undefined) return { ok: false, reason: 'noKey' };
    const clear = frame.data.subarray(0, clearBytes);
    const rest = frame.data.subarray(clearBytes);
    const plaintext = new Uint8Array(MEDIA_STAMP_BYTES + rest.length);
    session.lastTime = Math.max(session.lastTime, this.now());
    writeStamp(plaintext, session.lastTime, head);
    plaintext.set(rest, MEDIA_STAMP_BYTES);
    const sframe = await session.ctx.encrypt(session.kid, mediaFrameMetadata(track, codec, clear), plaintext);
    return { ok: true, data: joinFrame(clear, sframe) };
  }

  /** The decryptor of one remote track. */
  receiver(track: RemoteMediaTrack): MediaTrackDecryptor {
    return new MediaTrackDecryptor(this, track, ++this.#decryptors);
  }

  /** What the decryptors of a session (a publisher's track under `kid`) accepted so far. */
  sessionSeen(track: RemoteMediaTrack, kid: bigint): SessionSeen {
    const key = `${track.roomId}\n${track.userId}\n${track.streamId}\n${track.trackId}\n${kid}`;
    let seen = this.#seen.get(key);
    if (seen === undefined) {
      if (this.#seen.size >= MAX_SEEN_SESSIONS) this.#seen.delete(this.#seen.keys().next().value as string);
      seen = { latest: Number.NEGATIVE_INFINITY, owner: 0 };
      this.#seen.set(key, seen);
    }
    return seen;
  }
}

async function startSession(roomId: string, keys: RoomMediaKeys, epoch: number, epochKey: Uint8Array): Promise<SendSession | undefined> {
  const { memberIndex } = keys;
  if (memberIndex === undefined || !Number.isInteger(memberIndex) || memberIndex < 0 || memberIndex > MAX_MEMBER_INDEX) return undefined;
  const kid = makeKid({ memberIndex, sessionId: randomSessionId(), epoch });
  const baseKey = deriveSenderBaseKey({ epochKey, roomId, epoch, kid, senderId: keys.userId, purpose: 'media' });
  const ctx = new SFrameContext();
  try {
    await ctx.addKey(kid, baseKey);
  } finally {
    baseKey.fill(0);
  }
  return { epoch, kid, ctx, lastTime: 0 };
}

/** The time as a u64 big-endian in two u32 halves (no BigInt on the per-frame path), then the head. */
function writeStamp(plaintext: Uint8Array, time: number, head: MediaHead): void {
  const view = new DataView(plaintext.buffer, plaintext.byteOffset, MEDIA_STAMP_BYTES);
  view.setUint32(0, Math.floor(time / 2 ** 32));
  view.setUint32(4, time >>> 0);
  view.setUint32(8, head.version);
  plaintext.set(head.hash.subarray(0, MEDIA_HEAD_HASH_BYTES), 12);
}

function readStamp(plaintext: Uint8Array): number {
  const view = new DataView(plaintext.buffer, plaintext.byteOffset, MEDIA_STAMP_BYTES);
  return view.getUint32(0) * 2 ** 32 + view.getUint32(4);
}

interface KidEntry {
  epoch: number;
  /** A frame under this KID authenticated. */
  verified: boolean;
  /** Shared with every decryptor of the session: set by the first frame that authenticates here. */
  seen?: SessionSeen;
}

/** Decrypts the frames of one remote track (see the top of this file). Call `decrypt` one frame at a time. */
export class MediaTrackDecryptor {
  readonly #ctx = new SFrameContext();
  readonly #kids = new Map<bigint, KidEntry>();
  readonly #retired = new Set<bigint>();
  /** Newest epoch a frame authenticated under: the publisher's sessions of older epochs are closed. */
  #newestEpoch = 0;
  /** What new KIDs that never authenticate may cost (kid-epoch.ts). */
  readonly #failures: KidFailures = { spent: 0, at: 0 };
  /** The publisher's room head last reported, and when. */
  #head: MediaHead | undefined;
  #headAt = 0;

  constructor(
    private readonly cryptor: MediaFrameCryptor,
    readonly track: RemoteMediaTrack,
    /** This decryptor's number: the owner of what it accepts in its sessions' `SessionSeen`. */
    private readonly id: number,
  ) {}

  async decrypt(frame: MediaFrame): Promise<DecryptOutcome> {
    const outcome = await this.#decrypt(frame);
    const counters = this.cryptor.counters;
    if (outcome.ok) counters.framesDecrypted++;
    else counters.dropped[outcome.reason]++;
    return outcome;
  }

  async #decrypt(frame: MediaFrame): Promise<DecryptOutcome> {
    const { track } = this;
    const codec = frameCodec(track.kind, frame.mimeType);
    const clearBytes = codec === undefined ? undefined : clearByteCount(codec, frame.data);
    if (codec === undefined || clearBytes === undefined) return { ok: false, reason: 'malformed' };
    const clear = frame.data.subarray(0, clearBytes);
    const body = frame.data.subarray(clearBytes);
    let kid: bigint;
    try {
      kid = decodeSFrameHeader(body).kid;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const room = this.cryptor.room(track.roomId);
    if (room === undefined) return { ok: false, reason: 'noKey' };
    if (this.#retired.has(kid)) return { ok: false, reason: 'noKey' };
    let entry = this.#kids.get(kid);
    if (entry !== undefined && (room.key(entry.epoch) === undefined || entry.epoch < this.#newestEpoch)) {
      // Past its grace period, or the publisher moved on to a newer epoch and never comes back.
      this.#retire(kid);
      return { ok: false, reason: 'noKey' };
    }
    if (entry === undefined) {
      // New KIDs of this track keep failing (forged): no more key work for them for now.
      if (!kidMayBeTried(this.#failures, this.cryptor.now())) return { ok: false, reason: 'noKey' };
      const resolved = resolveEpoch(room.newest, parseKid(kid).epochLow);
      if (resolved === undefined) return { ok: false, reason: 'noKey' };
      if (resolved.newer) return { ok: false, reason: 'noKey', newerEpoch: resolved.epoch };
      // A session first seen under a superseded epoch: a removed member's, or one about to move on.
      const epochKey = room.key(resolved.epoch);
      if (epochKey === undefined || resolved.epoch < room.newest || resolved.epoch < this.#newestEpoch) return { ok: false, reason: 'noKey' };
      const baseKey = deriveSenderBaseKey({ epochKey, roomId: track.roomId, epoch: resolved.epoch, kid, senderId: track.userId, purpose: 'media' });
      try {
        await this.#ctx.addKey(kid, baseKey);
      } finally {
        baseKey.fill(0);
      }
      entry = { epoch: resolved.epoch, verified: false };
      this.#kids.set(kid, entry);
    }
    let plaintext: Uint8Array;
    try {
      ({ plaintext } = await this.#ctx.decrypt(mediaFrameMetadata(track, codec, clear), body));
    } catch (error) {
      if (!entry.verified) this.#unverified(kid);
      if (error instanceof CryptoError && error.reason === 'Replay') return { ok: false, reason: 'replay' };
      if (error instanceof CryptoError && error.reason === 'LimitExceeded') return { ok: false, reason: 'malformed' };
      return { ok: false, reason: 'decrypt' };
    }
    const time = plaintext.length < MEDIA_STAMP_BYTES ? undefined : readStamp(plaintext);
    const now = this.cryptor.now();
    // A frame no newer than what another decryptor of the session took: played again into this one.
    entry.seen ??= time === undefined ? undefined : this.cryptor.sessionSeen(track, kid);
    const replayed = entry.seen !== undefined && entry.seen.owner !== this.id && time! <= entry.seen.latest;
    if (time === undefined || Math.abs(time - now) > this.cryptor.maxAgeMs || replayed) {
      // Authenticated, so from a member: not a frame this library sends, or a stale one played again.
      if (!entry.verified) this.#unverified(kid);
      return { ok: false, reason: time === undefined ? 'malformed' : 'replay' };
    }
    if (!entry.verified) {
      entry.verified = true;
      this.#bound();
    }
    entry.seen!.owner = this.id;
    if (time > entry.seen!.latest) entry.seen!.latest = time;
    if (entry.epoch > this.#newestEpoch) {
      this.#newestEpoch = entry.epoch;
      for (const [other, { epoch }] of [...this.#kids]) if (epoch < entry.epoch) this.#retire(other);
    }
    const data = joinFrame(clear, plaintext.subarray(MEDIA_STAMP_BYTES));
    return this.#headSeen(plaintext, now) ? { ok: true, data, epoch: entry.epoch, head: this.#head! } : { ok: true, data, epoch: entry.epoch };
  }

  /**
   * Whether the head in an authenticated frame is to be reported: it changed, or HEAD_REPORT_MS passed
   * since the last report (the receiver's own head may have moved meanwhile: docs/security/bridge-adversary.md).
   */
  #headSeen(plaintext: Uint8Array, now: number): boolean {
    const version = new DataView(plaintext.buffer, plaintext.byteOffset + 8, 4).getUint32(0);
    const hash = plaintext.subarray(12, MEDIA_STAMP_BYTES);
    const last = this.#head;
    if (last !== undefined && last.version === version && now - this.#headAt < HEAD_REPORT_MS && last.hash.every((b, i) => b === hash[i])) return false;
    this.#head = { version, hash: hash.slice() };
    this.#headAt = now;
    return true;
  }

  /** Nothing is kept for a KID whose frames never authenticated; it spends from the failure budget. */
  #unverified(kid: bigint): void {
    this.#ctx.removeKey(kid);
    this.#kids.delete(kid);
    kidFailed(this.#failures, this.cryptor.now());
  }

  #bound(): void {
    while (this.#kids.size > MAX_KIDS_PER_TRACK) {
      const oldest = this.#kids.keys().next();
      if (oldest.done === true) break;
      this.#retire(oldest.value);
    }
  }

  #retire(kid: bigint): void {
    this.#ctx.removeKey(kid);
    this.#kids.delete(kid);
    this.#retired.add(kid);
    while (this.#retired.size > MAX_RETIRED_KIDS_PER_TRACK) {
      const oldest = this.#retired.values().next();
      if (oldest.done === true) break;
      this.#retired.delete(oldest.value);
    }
  }
}
