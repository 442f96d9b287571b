/**
 * Sending data-track messages: SFrame (RFC 9605) under the room's newest epoch key, one sending session
 * per (room, epoch) with its own KID and counter (docs/design.md "Data tracks and media frames").
 *
 * - **Newest key, always.** Each message looks up the room's newest epoch right before it is encrypted,
 *   after waiting for a room fetch in flight (a `streamRoomUpdated` that names a newer epoch starts one).
 *   When the epoch changed, a new session starts: a fresh random session id, hence a new KID and base key
 *   `deriveSenderBaseKey({epochKey, roomId, epoch, kid, senderId: userId})`, and the old session is
 *   dropped. So the first message after a rotation is known is under the new epoch, and no message after
 *   it goes back to the old one (docs/design.md "Lessons from earlier systems": PrivMX senders stayed on the old key).
 * - **Stamp.** Each plaintext starts with the send time (never decreasing within a session) and this
 *   client's trusted room head, version and hash, read right before the message is encrypted
 *   (data-track-crypto.ts): receivers refuse stale frames with it and notice members on other heads.
 * - **Order.** Messages are encrypted and handed to the socket one at a time in call order, so a
 *   track's messages leave in the order `sendData` was called.
 * - **In the call, where nothing waits.** When no earlier message is still queued, no room fetch is in
 *   flight, the room's session is on its newest epoch, the socket is below the pace mark and the key
 *   seals synchronously (node:crypto), the message is stamped, sealed and on the socket before `send`
 *   returns: no promise chain, and one copy of the message (into a reused plaintext buffer) before the
 *   cipher. Otherwise it takes the ordered async path below, and so does every message behind it, so
 *   the order holds (past its waits that path seals synchronously too, where the key can); browsers
 *   (WebCrypto) always take it (docs/operations/load.md, "The send path").
 * - **Lossy pacing.** Data tracks are for fresh, small messages (byte streams are the bulk path).
 *   Byte-stream chunks wait in the connection's bulk lane (transport/bulk-lane.ts), so they never hold a
 *   data frame back by more than about one chunk. While the socket holds more than `SEND_PACE_BYTES`,
 *   a message waits up to `SEND_PACE_MAX_WAIT_MS` for it to drain. If it does not, the message is dropped and counted (`sendDropped`), and so is every
 *   following one until the socket is below the mark again: nothing piles up behind a stalled socket.
 *   Past `MAX_QUEUED_SENDS` waiting calls, new ones are dropped at once. A dropped message resolves
 *   (it is not an error on a lossy track); `dataTrackStats().sendDropped` counts them. A lossy message
 *   that has waited here longer than its track's `deadlineMs` is dropped too (`sendDeadlineDropped`).
 * - **Reliable tracks** (docs/protocol/data-tracks.md) are never dropped here: a message waits for the
 *   socket as long as it takes, and past `MAX_QUEUED_SENDS` waiting calls `sendData` refuses with
 *   `RateLimited` instead of dropping.
 */
import type { CryptoBackend } from '../../crypto/backend/types.ts';
import { deriveSenderBaseKey, makeKid, randomSessionId, SFrameContext } from '../../crypto/sframe/index.ts';
import { DATA_HEADER_BYTES, encodeDataFrame, FRAME_DATA_UP, writeDataHeader } from '../../protocol/ws.ts';
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import type { HeadTracker } from '../rooms/head-tracker.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import { DATA_TRACK_STAMP_BYTES, dataTrackMetadata, MAX_DATA_PLAINTEXT_BYTES, memberIndexOf, writeDataTrackStamp } from './data-track-crypto.ts';
import type { KeyRefresher } from './key-refresh.ts';
import { MAX_QUEUED_SENDS, SEND_PACE_BYTES, SEND_PACE_MAX_WAIT_MS, SEND_PACE_POLL_MS } from './limits.ts';
import type { SendTarget } from './local-streams.ts';
import type { DataTrackStats } from './types.ts';

interface Session {
  epoch: number;
  kid: bigint;
  ctx: SFrameContext;
  /** The last stamp sent: the next is never earlier, whatever the clock does. */
  lastTime: number;
  /** False once the key turned out to seal asynchronously only (WebCrypto): no sync attempt again. */
  sealsSync: boolean;
}

/** The DATA frame around an SFrame ciphertext sealed with `DATA_HEADER_BYTES` of headroom. */
function withHeadroom(sframe: Uint8Array): Uint8Array {
  return new Uint8Array(sframe.buffer, sframe.byteOffset - DATA_HEADER_BYTES, DATA_HEADER_BYTES + sframe.length);
}

/** What `send` returns for a message sent in the call. */
const SENT: Promise<void> = Promise.resolve();

export interface SenderDeps {
  connection: Connection;
  rooms: RoomApi;
  keys: KeyRing;
  refresher: KeyRefresher;
  /** This client's trusted head of each room, stamped into every frame. */
  heads: HeadTracker;
  counters: DataTrackStats;
  now?: () => number;
  /** Where the track sends now; throws if it cannot (unknown, unpublished, its room left). */
  target: (trackId: string) => SendTarget;
  /** The SFrame sessions' crypto backend; default the platform's (a test runs WebCrypto's async-only path in Node with it). */
  backend?: CryptoBackend;
}

export class DataTrackSender {
  /** The sending session of each joined room. */
  private readonly sessions = new Map<string, Session>();
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  /** Set when the socket failed to drain in time; cleared once it is below the pace mark again. */
  private congested = false;
  /** Each local track's SFrame metadata (room, stream and track ids), made once rather than per message. */
  private readonly metadata = new Map<string, { roomId: string; streamId: string; bytes: Uint8Array }>();
  /** The stamp and message of the synchronous path: sealed before `send` returns, so one buffer serves all. */
  private plaintext = new Uint8Array(DATA_TRACK_STAMP_BYTES + 512);

  constructor(private readonly d: SenderDeps) {}

  /** Queues one message; resolves once it is on the socket or dropped by pacing. */
  send(trackId: string, data: Uint8Array): Promise<void> {
    const target = this.d.target(trackId);
    if (this.queued === 0) {
      try {
        if (this.sendSync(target, data)) return SENT;
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const { reliable } = target;
    if (this.queued >= MAX_QUEUED_SENDS) {
      if (reliable)
        return Promise.reject(
          new EndpointError('RateLimited', `expected at most ${MAX_QUEUED_SENDS} data-track messages waiting to be sent; wait for earlier sendData calls`),
        );
      this.drop('send queue full');
      return Promise.resolve();
    }
    const queuedAt = Date.now();
    // The caller may reuse its buffer as soon as sendData returns. The stamp goes in front at sending.
    const copy = new Uint8Array(DATA_TRACK_STAMP_BYTES + data.length);
    copy.set(data, DATA_TRACK_STAMP_BYTES);
    this.queued++;
    const done = this.chain.then(() => this.sendNow(trackId, copy, queuedAt)).finally(() => this.queued--);
    this.chain = done.catch(() => undefined);
    return done;
  }

  /** The room was left: its session (and so its key) is never used again. */
  dropRoom(roomId: string): void {
    this.sessions.delete(roomId);
    for (const [trackId, m] of this.metadata) if (m.roomId === roomId) this.metadata.delete(trackId);
  }

  private metadataOf(target: SendTarget): Uint8Array {
    const known = this.metadata.get(target.trackId);
    if (known !== undefined && known.roomId === target.roomId && known.streamId === target.streamId) return known.bytes;
    const bytes = dataTrackMetadata(target.roomId, target.streamId, target.trackId);
    this.metadata.set(target.trackId, { roomId: target.roomId, streamId: target.streamId, bytes });
    return bytes;
  }

  /**
   * `sendNow` in the call, when none of its steps would wait (the module comment, "In the call"): the
   * same checks in the same order, the same stamp and counters. False, having sent nothing and used no
   * counter, when one would wait; the caller then takes the async path.
   */
  private sendSync(target: SendTarget, data: Uint8Array): boolean {
    const { roomId } = target;
    if (this.d.refresher.pending(roomId) !== undefined) return false;
    // Pacing: below the mark a message goes at once (`paced`, `reliablePaced`); above it, it waits.
    if (this.d.connection.priorityBufferedAmount > SEND_PACE_BYTES) return false;
    const session = this.sessions.get(roomId);
    if (session === undefined || !session.sealsSync || this.d.keys.current(roomId)?.epoch !== session.epoch) return false;
    const head = this.d.heads.own(roomId);
    if (head === undefined) return false;
    const queuedAt = Date.now();
    const now = this.d.now === undefined ? queuedAt : this.d.now();
    const time = Math.max(session.lastTime, target.reliable ? now : Math.min(queuedAt, now));
    const length = DATA_TRACK_STAMP_BYTES + data.length;
    if (this.plaintext.length < length) this.plaintext = new Uint8Array(length);
    const plaintext = this.plaintext.subarray(0, length);
    plaintext.set(data, DATA_TRACK_STAMP_BYTES);
    writeDataTrackStamp(plaintext, { time, version: head.version, headHash: head.hash });
    const frame = session.ctx.encryptSync(session.kid, this.metadataOf(target), plaintext, DATA_HEADER_BYTES);
    if (frame === undefined) {
      session.sealsSync = false;
      return false;
    }
    if (!target.reliable) this.congested = false;
    session.lastTime = time;
    this.d.connection.sendFrame(writeDataHeader(withHeadroom(frame), FRAME_DATA_UP, target.trackNo));
    this.d.counters.sent++;
    return true;
  }

  /** `plaintext`: the message behind `DATA_TRACK_STAMP_BYTES` of room for the stamp. */
  private async sendNow(trackId: string, plaintext: Uint8Array, queuedAt: number): Promise<void> {
    let target = this.d.target(trackId);
    await this.d.refresher.pending(target.roomId);
    if (target.reliable) await this.reliablePaced();
    else if (Date.now() - queuedAt > target.deadlineMs) {
      this.d.counters.sendDeadlineDropped++;
      this.drop('older than its deadline');
      return;
    } else if (!(await this.paced(queuedAt + target.deadlineMs))) {
      if (Date.now() - queuedAt > target.deadlineMs) this.d.counters.sendDeadlineDropped++;
      this.drop('the socket is far behind');
      return;
    }
    target = this.d.target(trackId);
    const session = await this.session(target);
    const head = this.d.heads.own(target.roomId);
    if (head === undefined) throw EndpointError.keyUnavailable(`room "${target.roomId}": no verified head to send under`);
    // A lossy frame is stamped with when the app handed it over, so its receivers judge its deadline
    // from there, its wait in this sender included (data-track-receiver.ts, step 5); a reliable one
    // with when it is sealed. Never earlier than the last stamp.
    const now = (this.d.now ?? Date.now)();
    session.lastTime = Math.max(session.lastTime, target.reliable ? now : Math.min(queuedAt, now));
    writeDataTrackStamp(plaintext, { time: session.lastTime, version: head.version, headHash: head.hash });
    // Past the waits, a key that seals synchronously seals here too, straight into the DATA frame.
    const sealed = session.sealsSync ? session.ctx.encryptSync(session.kid, this.metadataOf(target), plaintext, DATA_HEADER_BYTES) : undefined;
    if (sealed !== undefined) {
      // The trackNo as it is now: `session` above may have waited (a republish renumbers the track).
      target = this.d.target(trackId);
      this.d.connection.sendFrame(writeDataHeader(withHeadroom(sealed), FRAME_DATA_UP, target.trackNo));
    } else {
      session.sealsSync = false;
      const frame = await session.ctx.encrypt(session.kid, this.metadataOf(target), plaintext);
      target = this.d.target(trackId);
      this.d.connection.sendFrame(encodeDataFrame(FRAME_DATA_UP, target.trackNo, frame));
    }
    this.d.counters.sent++;
  }

  /** The session for the room's newest epoch, starting a new one (new KID) when the epoch changed. */
  private async session(target: SendTarget): Promise<Session> {
    const { roomId } = target;
    const held = this.d.keys.current(roomId) ?? (await this.d.rooms.currentKey(roomId));
    const existing = this.sessions.get(roomId);
    if (existing !== undefined && existing.epoch === held.epoch) return existing;
    // A copy, wiped below: the ring wipes its keys in place when the room is forgotten, which may happen during the awaits.
    const current = { epoch: held.epoch, key: held.key.slice() };
    const userId = this.d.connection.userId;
    let memberIndex: number | undefined;
    let kid: bigint;
    let baseKey: Uint8Array;
    try {
      const head = await this.d.rooms.trustedHead(roomId);
      memberIndex = head === undefined ? undefined : memberIndexOf(head.record, userId);
      if (memberIndex === undefined) {
        throw EndpointError.keyUnavailable(`room "${roomId}": "${userId}" is not a member of the verified room, so it sends nothing there`);
      }
      this.d.heads.setOwn(roomId, head!.record.version, head!.hash);
      kid = makeKid({ memberIndex, sessionId: randomSessionId(), epoch: current.epoch });
      baseKey = deriveSenderBaseKey({ epochKey: current.key, roomId, epoch: current.epoch, kid, senderId: userId });
    } finally {
      current.key.fill(0);
    }
    const ctx = new SFrameContext({ maxFrameBytes: MAX_DATA_PLAINTEXT_BYTES, ...(this.d.backend === undefined ? {} : { backend: this.d.backend }) });
    try {
      await ctx.addKey(kid, baseKey);
    } finally {
      baseKey.fill(0);
    }
    // A newer epoch came while the key was added: receivers holding it refuse a session that starts in
    // an older one (`stale`), so start one in the newest instead.
    if ((this.d.keys.current(roomId)?.epoch ?? 0) > current.epoch) {
      ctx.removeKey(kid);
      return this.session(target);
    }
    const session = { epoch: current.epoch, kid, ctx, lastTime: 0, sealsSync: true };
    // The room may have been left while the key was derived: then the session is not kept.
    this.d.target(target.trackId);
    this.sessions.set(roomId, session);
    this.d.connection.log.debug({ roomId, epoch: current.epoch, memberIndex }, 'data-track sender session started');
    return session;
  }

  /**
   * True when the message may go now; false when it must be dropped. Polls `bufferedAmount` (WebSockets
   * have no drain event); a socket that closes meanwhile reads 0, and `sendFrame` then fails.
   */
  private async paced(expiresAt: number): Promise<boolean> {
    const connection = this.d.connection;
    if (connection.priorityBufferedAmount <= SEND_PACE_BYTES) {
      this.congested = false;
      return true;
    }
    if (this.congested) return false;
    const deadline = Math.min(Date.now() + SEND_PACE_MAX_WAIT_MS, expiresAt);
    while (connection.priorityBufferedAmount > SEND_PACE_BYTES) {
      if (Date.now() >= deadline) {
        this.congested = true;
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, SEND_PACE_POLL_MS));
    }
    return true;
  }

  /**
   * A reliable message waits for the socket as long as it takes. A socket that closes reads 0, and
   * `sendFrame` then fails with ConnectionLost.
   */
  private async reliablePaced(): Promise<void> {
    const connection = this.d.connection;
    while (connection.priorityBufferedAmount > SEND_PACE_BYTES) {
      await new Promise((resolve) => setTimeout(resolve, SEND_PACE_POLL_MS));
    }
  }

  private drop(why: string): void {
    this.d.counters.sendDropped++;
    this.d.connection.log.debug({ why }, 'data-track message dropped before sending');
  }
}
