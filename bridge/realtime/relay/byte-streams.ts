/**
 * Byte streams: reliable, ordered forwarding of CHUNK frames with end-to-end credit flow control
 * (docs/design.md, "Byte streams": backpressure end to end, a subscriber stuck past a timeout is cut with
 * an explicit error, the others go on, memory stays bounded; protocol/ws.ts for the wire).
 *
 * Receivers are fixed when the stream opens. Each reports the payload bytes it consumed; the sender
 * may run `window` bytes ahead of the slowest (`allowed`), or less ahead of a receiver whose connection
 * declared a smaller receive window (its lead, `lead()`), and a chunk past that aborts the stream
 * with 'limit'. The Bridge keeps no chunk queue: what it holds for a receiver is what sits in that
 * receiver's socket, at most one window per stream it receives.
 */
import {
  CLOSE,
  encodeCreditFrame,
  FRAME_ALLOWANCE_DOWN,
  toDownFrame,
  type ClientRequest,
  type EventReason,
  type ResultPayloads,
  type ServerEvent,
} from '../../../protocol/ws.ts';
import { BridgeError } from '../../errors.ts';
import type { RealtimeConnection } from '../connection.ts';
import { ReceiptsRelay } from './receipts.ts';
import {
  detachBytes,
  monotonicMs,
  type ByteStream,
  type Participant,
  type ParticipantConnection,
  type Receiver,
  type RelayState,
  type RoomState,
} from './state.ts';

/** A connection as credits and rejections name it: local, or a stand-in for a receiver on another Bridge. */
type ConnectionId = Pick<RealtimeConnection, 'id'>;

type Req<K extends ClientRequest['kind']> = Extract<ClientRequest, { kind: K }>;
type DroppedReason = Extract<ServerEvent, { type: 'byteStreamReceiverDropped' }>['reason'];

/** The allowance of a stream without receivers: the sender may write to its end (chunks go nowhere). */
export const UNLIMITED_ALLOWANCE_BYTES = Number.MAX_SAFE_INTEGER;
/**
 * Largest sealed chunk payload we expect: 64 KiB of plaintext (docs/design.md) plus AEAD tag and the
 * last chunk's signature, with room to spare. A sender with less headroom than this (or half a window,
 * if smaller) counts as "at its limit". Bytes.
 */
const MAX_SEALED_CHUNK_BYTES = 64 * 1024 + 1024;
/** Streams a connection receives are counted again, after its receive window grew, at most this often. Ms. */
const RECOUNT_MS = 50;
/** Allowance growth smaller than a quarter window, to a sender with headroom, waits this long. Ms. */
const ALLOWANCE_COALESCE_MS = 20;
/**
 * A receiver that consumed another stream within the stuck timeout is starved, not stalled: it may
 * consume nothing of this one for this many timeouts before it is cut (docs/protocol/byte-streams.md, "Cuts").
 */
const STARVED_GRACE_TIMEOUTS = 3;

export class ByteStreamsRelay {
  /** Receipts of the streams that ended, relayed to their senders (receipts.ts). */
  readonly receipts: ReceiptsRelay;

  constructor(private readonly st: RelayState) {
    this.receipts = new ReceiptsRelay(st.counters.receipts);
  }

  private get window(): number {
    return this.st.config.streamWindowBytes;
  }

  private get limitMarginBytes(): number {
    return Math.min(this.window / 2, MAX_SEALED_CHUNK_BYTES);
  }

  open(conn: RealtimeConnection, req: Req<'byteStreamOpen'>): ResultPayloads['byteStreamOpen'] {
    const { p, room } = this.st.joined(conn, req.roomId);
    const max = this.st.config.maxOpenStreamsPerConnection;
    if (p.sending.size >= max) {
      throw new BridgeError('TOO_MANY_STREAMS', `expected at most ${max} open byte streams per connection, this would be ${p.sending.size + 1}`);
    }
    const destinations = new Set(req.destinationIdentities);
    const streamNo = this.st.streamNos.take((n) => this.st.byteStreams.has(n) || this.receipts.has(n));
    const now = monotonicMs();
    const receivers = new Map<Participant, Receiver>();
    // Receivers are chosen now: who joins later does not get this stream. Never the sending connection.
    // With NATS, members on other Bridges receive it too (docs/operations/cluster.md).
    for (const r of [...room.participants.values(), ...(this.st.remoteReceiversOf?.(room) ?? [])]) {
      if (r === p || (destinations.size > 0 && !destinations.has(r.userId))) continue;
      receivers.set(r, { participant: r, consumed: 0, lastAdvanceAt: now, bulkNo: -1, heldSeenAt: 0 });
    }
    const receiveWindows = conn.startsFromAllowed;
    let initial = receivers.size === 0 ? UNLIMITED_ALLOWANCE_BYTES : this.window;
    if (receiveWindows) for (const r of receivers.keys()) initial = Math.min(initial, r.conn.receiveWindowBytes ?? initial);
    const bs: ByteStream = {
      streamNo,
      room,
      streamId: req.streamId,
      epoch: req.epoch,
      sender: p,
      receivers,
      sent: 0,
      allowed: initial,
      receiveWindows,
      slowest: receivers.size === 0 ? Number.POSITIVE_INFINITY : initial,
      recomputeQueued: false,
      // A sender without receivers hears of its unlimited allowance in an ALLOWANCE frame (below), as
      // before protocol 3.
      announced: receivers.size === 0 ? this.window : initial,
      window: this.window,
      atLimitSince: undefined,
      stuckTimer: undefined,
      announceTimer: undefined,
      ended: false,
    };
    this.st.byteStreams.set(streamNo, bs);
    room.byteStreams.add(bs);
    p.sending.set(streamNo, bs);
    for (const r of receivers.keys()) {
      r.receiving.set(streamNo, bs);
      r.conn.event({
        type: 'byteStreamOpened',
        roomId: room.id,
        streamNo,
        streamId: req.streamId,
        epoch: req.epoch,
        senderId: p.userId,
        senderConnectionId: p.conn.id,
        window: this.window,
      });
    }
    // Nobody to wait for: tell the sender right after its result (which carries the streamNo).
    if (receivers.size === 0) setImmediate(() => this.announce(bs));
    const receiverIds = [...receivers.keys()].map((r) => r.userId);
    return { streamNo, window: this.window, allowed: initial, receivers: receivers.size, receiverIds };
  }

  /**
   * A connection's receive window: how far any sender may run ahead of what it consumed, when less than
   * the stream's window (undefined: the stream's window). It holds for the streams it receives now as
   * well: a larger one lets their senders on at once; a smaller one takes nothing back (an allowance
   * never decreases), so it holds from what they were allowed.
   */
  receiveWindow(conn: RealtimeConnection, bytes: number | undefined): void {
    const before = conn.receiveWindowBytes ?? Number.POSITIVE_INFINITY;
    conn.receiveWindowBytes = bytes;
    // A smaller lead needs no count: the allowance never decreases, and a bound counted before it is
    // too high at worst, which costs a credit a count it did not need, never a growth it needed.
    if ((bytes ?? Number.POSITIVE_INFINITY) <= before || !this.st.participants.has(conn.id)) return;
    // A larger one counts the streams the connection receives, each over its receivers: once per
    // RECOUNT_MS per connection at most, so a member that flips its window in a loop cannot make the
    // Bridge count without end.
    this.recountDue.add(conn.id);
    this.recountTimer ??= setTimeout(() => this.recountGrown(), this.recountAt - monotonicMs());
    this.recountTimer.unref?.();
  }

  /** Connections whose receive window grew since the last count, and the timer that counts their streams. */
  private readonly recountDue = new Set<string>();
  private recountTimer: NodeJS.Timeout | undefined;
  /** When the next count may run (monotonic ms). */
  private recountAt = 0;

  private recountGrown(): void {
    this.recountTimer = undefined;
    this.recountAt = monotonicMs() + RECOUNT_MS;
    for (const id of this.recountDue) {
      const p = this.st.participants.get(id);
      if (p !== undefined) for (const bs of p.receiving.values()) if (bs.receiveWindows) this.recompute(bs);
    }
    this.recountDue.clear();
  }

  /** How far the sender may run ahead of what `r` consumed. */
  private lead(bs: ByteStream, r: Receiver): number {
    const own = bs.receiveWindows ? r.participant.conn.receiveWindowBytes : undefined;
    return own === undefined ? bs.window : Math.min(bs.window, own);
  }

  /** A CHUNK frame from a sender: forwarded in arrival order to every attached receiver. */
  chunk(conn: RealtimeConnection, streamNo: number, last: boolean, payload: Uint8Array, received: Uint8Array): void {
    const p = this.st.participants.get(conn.id);
    const bs = this.st.byteStreams.get(streamNo);
    if (bs === undefined || bs.sender !== p) {
      // Chunks already on the wire when the Bridge ended the stream (limit, removal) are not a fault.
      if (p?.retiredStreams.has(streamNo) === true) return;
      this.st.s.log.debug({ connectionId: conn.id, streamNo }, 'CHUNK frame on a stream this connection does not send');
      conn.close(CLOSE.protocolError, `CHUNK frame for streamNo ${streamNo}, which this connection does not send`);
      return;
    }
    if (bs.sent + payload.length > bs.allowed) {
      this.st.s.log.debug({ connectionId: conn.id, streamNo, sent: bs.sent, bytes: payload.length, allowed: bs.allowed }, 'byte stream over its allowance');
      this.abort(bs, 'limit', true);
      return;
    }
    bs.sent += payload.length;
    const counters = this.st.counters;
    counters.chunkFrames++;
    counters.chunkBytes += received.length;
    counters.chunkDeliveries += bs.receivers.size;
    if (bs.receivers.size > 0) {
      const frame = toDownFrame(received);
      // No copy of the receivers per frame: a cut deletes from the map while it is iterated, which a
      // Map allows (deleted entries are not visited), and nothing is added here.
      for (const r of bs.receivers.values()) {
        const conn = r.participant.conn;
        // Counted first, as `sent` already is: a cut detaches exactly what was counted.
        const p = r.participant;
        const unconsumed = (p.unconsumedBytes += payload.length);
        if (unconsumed > p.peakBytes) p.peakBytes = unconsumed;
        const cause = conn.bufferedAmount > conn.softCapBytes ? this.socketCut(conn, frame.length) : undefined;
        if (cause !== undefined) this.cut(bs, r, 'too_slow', 'too_slow', cause);
        else r.bulkNo = conn.bulk(bs.streamNo, frame);
      }
    }
    if (last) {
      this.receipts.ended(bs);
      return this.end(bs);
    }
    this.watch(bs);
  }

  /**
   * A receiver consumed the stream up to `offset` payload bytes. `starved`: it had consumed all that
   * reached it. When that receiver is the slowest and the sender has been waiting at its limit, the
   * window is what idles the pipe (a bandwidth-delay product above it): it doubles, up to
   * `streamWindowMaxBytes`. A reader that does not read never says so, and keeps its sender at the window.
   */
  credit(conn: ConnectionId, streamNo: number, offset: number, starved = false): void {
    const p = this.st.participants.get(conn.id) ?? this.st.remoteReceiver?.(conn.id);
    const bs = this.st.byteStreams.get(streamNo);
    const r = p === undefined ? undefined : bs?.receivers.get(p);
    if (bs === undefined || r === undefined) return; // ended, cut, or never this connection's: nothing to move
    // A receiver cannot have consumed what was never sent; clamping keeps a lying receiver from
    // letting the sender run more than a window ahead of what it was given.
    const consumed = Math.min(offset, bs.sent);
    if (consumed <= r.consumed) return; // offsets never decrease
    // Only the credit of the receiver that bounds the allowance (the least consumed + lead) can move it
    // or widen the window: another's skips the count over every receiver, which a receiver crediting
    // byte by byte would pay per frame, and the bounding one's credits of one turn share one count.
    const wasSlowest = r.consumed + this.lead(bs, r) <= bs.slowest;
    if (wasSlowest && starved && bs.atLimitSince !== undefined) this.widen(bs, r, consumed);
    p!.unconsumedBytes -= consumed - r.consumed;
    r.consumed = consumed;
    r.lastAdvanceAt = monotonicMs();
    if (wasSlowest && !bs.recomputeQueued) {
      // Once for every credit handled in this turn (a socket read holds many): the allowance only grows
      // later by it, and what the sender was told stays what it may send.
      bs.recomputeQueued = true;
      queueMicrotask(() => {
        bs.recomputeQueued = false;
        this.recompute(bs);
      });
    }
  }

  /** A receiver has no handler for the stream: detach it, tell the sender. */
  reject(conn: ConnectionId, streamNo: number): void {
    const p = this.st.participants.get(conn.id) ?? this.st.remoteReceiver?.(conn.id);
    const bs = this.st.byteStreams.get(streamNo);
    const r = p === undefined ? undefined : bs?.receivers.get(p);
    if (bs !== undefined && r !== undefined) this.cut(bs, r, 'rejected', undefined);
  }

  /** The sender leaves the room: its streams there end for everyone (and for it, when it can hear). */
  senderGone(room: RoomState, p: Participant, reason: EventReason, tellSender: boolean): void {
    for (const bs of [...p.sending.values()]) if (bs.room === room) this.abort(bs, reason, tellSender);
  }

  /** A receiver leaves the room: it is detached from the streams it receives there. */
  receiverGone(room: RoomState, p: Participant, dropped: DroppedReason, abortReason: EventReason | undefined): void {
    for (const bs of [...p.receiving.values()]) {
      const r = bs.receivers.get(p);
      if (bs.room === room && r !== undefined) this.cut(bs, r, dropped, abortReason);
    }
  }

  /** Every stream of the room ends, for senders and receivers alike. */
  abortRoom(room: RoomState, reason: EventReason): void {
    for (const bs of [...room.byteStreams]) this.abort(bs, reason, true);
  }

  /** Shutdown: stops every timer. */
  close(): void {
    clearTimeout(this.recountTimer);
    for (const bs of this.st.byteStreams.values()) {
      clearTimeout(bs.stuckTimer);
      clearTimeout(bs.announceTimer);
    }
  }

  private abort(bs: ByteStream, reason: EventReason, tellSender: boolean): void {
    this.st.counters.streamsAborted[reason] = (this.st.counters.streamsAborted[reason] ?? 0) + 1;
    const event: ServerEvent = { type: 'byteStreamAborted', streamNo: bs.streamNo, reason };
    // Chunks still queued behind the event would arrive after it (docs/operations/realtime-priorities.md).
    for (const r of bs.receivers.keys()) r.conn.dropBulk(bs.streamNo);
    for (const r of bs.receivers.keys()) r.conn.event(event);
    if (tellSender) bs.sender.conn.event(event);
    this.end(bs);
  }

  /** Frees everything the stream holds (after its last chunk, or an abort). */
  private end(bs: ByteStream): void {
    bs.ended = true;
    clearTimeout(bs.stuckTimer);
    clearTimeout(bs.announceTimer);
    this.st.byteStreams.delete(bs.streamNo);
    bs.room.byteStreams.delete(bs);
    bs.sender.sending.delete(bs.streamNo);
    bs.sender.retiredStreams.add(bs.streamNo);
    for (const [p, r] of bs.receivers) this.detach(bs, p, r);
    bs.receivers.clear();
  }

  /**
   * Detaches one receiver; the others go on with a recomputed allowance. `cause` names the cut in the
   * counters when the reason alone does not: `too_slow_socket` or `too_slow_budget` (`socketCut()`),
   * `too_slow_stuck` (`checkStuck()`).
   */
  private cut(bs: ByteStream, r: Receiver, dropped: DroppedReason, abortReason: EventReason | undefined, cause: string = dropped): void {
    const p = r.participant;
    bs.receivers.delete(p);
    p.conn.dropBulk(bs.streamNo);
    this.detach(bs, p, r);
    this.st.counters.receiversCut[cause] = (this.st.counters.receiversCut[cause] ?? 0) + 1;
    if (abortReason !== undefined) p.conn.event({ type: 'byteStreamAborted', streamNo: bs.streamNo, reason: abortReason });
    bs.sender.conn.event({ type: 'byteStreamReceiverDropped', streamNo: bs.streamNo, userId: p.userId, reason: dropped });
    this.recompute(bs);
  }

  /** Doubles the stream's window (up to the maximum) if `r`, now at `consumed`, is its slowest receiver. */
  private widen(bs: ByteStream, r: Receiver, consumed: number): void {
    const max = Math.max(this.window, this.st.config.streamWindowMaxBytes);
    // A reader held by its own receive window gains nothing from a wider stream window.
    if (bs.window >= max || this.lead(bs, r) < bs.window) return;
    for (const other of bs.receivers.values()) if (other !== r && other.consumed < consumed) return;
    bs.window = Math.min(max, bs.window * 2);
    this.st.counters.windowsWidened++;
  }

  private recompute(bs: ByteStream): void {
    if (bs.ended) return;
    let slowest = Number.POSITIVE_INFINITY;
    for (const r of bs.receivers.values()) slowest = Math.min(slowest, r.consumed + this.lead(bs, r));
    bs.slowest = slowest;
    const allowed = bs.receivers.size === 0 ? UNLIMITED_ALLOWANCE_BYTES : slowest;
    if (allowed > bs.allowed) bs.allowed = allowed;
    if (!this.atLimit(bs)) bs.atLimitSince = undefined;
    if (bs.allowed <= bs.announced) return;
    // Promptly when the sender may be waiting for it, or the step is large; otherwise coalesce.
    const headroom = bs.announced - bs.sent;
    const prompt = headroom < this.limitMarginBytes || bs.allowed - bs.announced >= bs.window / 4 || bs.receivers.size === 0;
    if (prompt) this.announce(bs);
    else if (bs.announceTimer === undefined) {
      bs.announceTimer = setTimeout(() => this.announce(bs), ALLOWANCE_COALESCE_MS);
      bs.announceTimer.unref();
    }
  }

  private announce(bs: ByteStream): void {
    clearTimeout(bs.announceTimer);
    bs.announceTimer = undefined;
    if (bs.ended || bs.allowed <= bs.announced) return;
    bs.announced = bs.allowed;
    bs.sender.conn.binary(encodeCreditFrame(FRAME_ALLOWANCE_DOWN, bs.streamNo, bs.allowed));
  }

  /**
   * The receiver no longer takes this stream. What it had not consumed keeps counting toward its
   * socket's cap until the chunks queued to it so far have left the Bridge, never above what its open
   * streams had in flight at once (state.ts detachBytes, streamBytesHeld): a receiver's cap is a fixed
   * budget plus what flow control lets be in flight to it (RealtimeConnection.softCapBytes).
   */
  private detach(bs: ByteStream, p: Participant, r: Receiver): void {
    p.receiving.delete(bs.streamNo);
    detachBytes(p, bs.sent - r.consumed);
  }

  /** The sender cannot be sure to fit another full chunk, even with everything announced. */
  private atLimit(bs: ByteStream): boolean {
    return bs.allowed - bs.sent < this.limitMarginBytes;
  }

  /** After a chunk: if the sender is now at its limit, start the stuck-receiver clock. */
  private watch(bs: ByteStream): void {
    if (!this.atLimit(bs)) return;
    bs.atLimitSince ??= monotonicMs();
    if (bs.stuckTimer === undefined) this.checkStuck(bs);
  }

  /**
   * A receiver's socket holds more than its soft cap (docs/protocol/byte-streams.md, "Cuts"). A socket
   * that still takes chunks belongs to a reader that is slow (short of CPU, say), not stalled: it is
   * cut only when this chunk would pass its outbound budget (which would close the socket, 4409).
   * One that took no chunk for `stuckReceiverTimeoutMs`, or holds no chunk at all (what fills it is
   * not bulk), is cut now. Returns the counter's cause, or undefined to forward the chunk.
   */
  private socketCut(conn: ParticipantConnection, frameBytes: number): string | undefined {
    if (conn.bufferedAmount + frameBytes > conn.outboundCapBytes) return 'too_slow_budget';
    const lastSentAt = conn.bulkWaiting();
    if (lastSentAt === undefined || monotonicMs() - lastSentAt >= this.st.config.stuckReceiverTimeoutMs) return 'too_slow_socket';
    return undefined;
  }

  /**
   * A receiver is stuck when the sender has been at its limit, and that receiver (the slowest) has
   * consumed nothing, for `stuckReceiverTimeoutMs`. It is cut with 'too_slow'; the next slowest is
   * judged the same way, from when it last advanced or the sender reached the limit, whichever is
   * later. While the Bridge still holds chunks of the stream for it (behind other streams' in its
   * bulk lane, or in its socket), the reader cannot have consumed them: it is judged by its socket,
   * from when that last took a chunk, and its own clock starts once they have left. One that consumed
   * another stream within the timeout is making progress: it gets STARVED_GRACE_TIMEOUTS of them.
   */
  private checkStuck(bs: ByteStream): void {
    bs.stuckTimer = undefined;
    const timeout = this.st.config.stuckReceiverTimeoutMs;
    while (!bs.ended && bs.atLimitSince !== undefined && this.atLimit(bs)) {
      let slowest: Receiver | undefined;
      // Among the receivers that hold the sender (their lead reaches no further than its margin), the
      // one that consumed least: with receive windows that is not always the least consumed overall.
      for (const r of bs.receivers.values()) {
        if (r.consumed >= bs.sent || r.consumed + this.lead(bs, r) - bs.sent >= this.limitMarginBytes) continue;
        if (slowest === undefined || r.consumed < slowest.consumed) slowest = r;
      }
      if (slowest === undefined) return;
      const now = monotonicMs();
      const lastSentAt = slowest.bulkNo < 0 ? undefined : slowest.participant.conn.bulkWaiting(slowest.bulkNo);
      if (lastSentAt !== undefined) slowest.heldSeenAt = now;
      const stalledMs = now - Math.max(slowest.lastAdvanceAt, bs.atLimitSince, lastSentAt ?? slowest.heldSeenAt);
      const limit = stalledMs >= timeout && this.consumedLately(slowest.participant, bs, now - timeout) ? STARVED_GRACE_TIMEOUTS * timeout : timeout;
      if (stalledMs < limit) {
        // Within a timeout at most: a starved reader that stops consuming its other streams is judged then.
        bs.stuckTimer = setTimeout(() => this.checkStuck(bs), Math.min(limit - stalledMs, timeout));
        bs.stuckTimer.unref();
        return;
      }
      this.cut(bs, slowest, 'too_slow', 'too_slow', 'too_slow_stuck');
    }
  }

  /** Whether `p` consumed some stream other than `bs` since `after` (monotonic ms). */
  private consumedLately(p: Participant, bs: ByteStream, after: number): boolean {
    for (const other of p.receiving.values()) {
      const r = other === bs ? undefined : other.receivers.get(p);
      if (r !== undefined && r.consumed > 0 && r.lastAdvanceAt > after) return true;
    }
    return false;
  }
}
