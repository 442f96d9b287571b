/**
 * The streams this connection receives, delivered through ordered pipelines, one per sending
 * connection.
 *
 * Every CHUNK frame and every Bridge event about a received stream becomes a step in its sender's
 * pipeline, and steps run one at a time in arrival order. A chunk is decrypted, verified and hashed in
 * its own step, in a bounded slice of the process-wide scheduler (util/cooperative.ts), never in the
 * socket's message handler: data-track frames, events and results that arrive behind chunks are
 * handled between slices (docs/operations/realtime-priorities.md, "Receive side"). So a sender's
 * streams reach their handlers in the order their headers arrived (senders send headers in the order
 * they open streams), and its readers end in the order its final chunks arrived, which is the order
 * it closed them (LiveKit's guarantees, which are per sender); an abort from the Bridge lands after the
 * chunks that came before it. One pipeline per sender keeps a slow step (a key fetched for a new
 * epoch) from holding other senders' streams.
 *
 * A stream without a handler for its topic, or one this side gives up on (integrity failure, the app
 * stopped reading), is rejected at the Bridge (`byteStreamReject`), so its sender never waits for it.
 *
 * No handler sees a stream before its header opened with the sender's signature verified (so the
 * sender, topic, time and recipients are the sender's own), in the room the Bridge names, with a
 * stream id not seen before (replay-guard.ts). Content is delivered as it opens; a checkpoint signed by
 * the sender comes every segment (crypto/stream/format.ts), so at most two segments are unsigned.
 */
import type { Connection } from '../../connection.ts';
import type { RoomApi } from '../../rooms/room-api.ts';
import type { RoomLeftReason } from '../../realtime/types.ts';
import { fromBase64 } from '../../../crypto/bytes.ts';
import { encodeCreditFrame, FRAME_CREDIT_UP } from '../../../protocol/ws.ts';
import { DataStreamError, roomLeftError, type DataStreamErrorReason } from '../errors.ts';
import { decodeHeader, type StreamHeader } from '../header.ts';
import type { OpenedChunk, StreamReaderKey } from '../stream-crypto.ts';
import type { ByteStreamHandler, ByteStreamInfo, TextStreamHandler, TextStreamInfo } from '../types.ts';
import { ChunkQueue } from './chunk-queue.ts';
import { GONE, IncomingStream, type OpenedEvent } from './incoming-stream.ts';
import { Pipeline } from './pipeline.ts';
import { ByteReader, TextReader } from './readers.ts';
import { ReplayGuard } from './replay-guard.ts';
import { INCOMING_STREAMS_MAX, INCOMING_STREAMS_PER_SENDER_MAX, INCOMING_UNCONSUMED_MAX_BYTES, INCOMING_UNCONSUMED_TOTAL_MAX_BYTES } from '../limits.ts';

type BridgeAbortReason = 'sender_disconnected' | 'sender_left' | 'too_slow' | 'removed' | 'room_deleted' | 'limit';

/** How long a `removed` abort waits for the `streamRoomLeft` that says whose removal it was. Ms. */
const REMOVAL_DECISION_MS = 2000;

export interface IncomingDeps {
  connection: Connection;
  rooms: RoomApi;
  /** A stream that carries nothing for this long fails with `Timeout` (0: never). Milliseconds. */
  idleTimeoutMs: number;
  byteHandler(topic: string): ByteStreamHandler | undefined;
  textHandler(topic: string): TextStreamHandler | undefined;
  /** How this connection opens a private stream in a room (its id, and an unwrap with its key). */
  readerKey?(roomId: string): StreamReaderKey;
  /** Sends the delivery receipt of a stream read to its verified end. */
  receipt?(stream: IncomingStream): void;
  /** The receive window this connection declared (receive-window.ts), undefined for each stream's window. */
  receiveWindowBytes?(): number | undefined;
  /** The memory of stream ids seen (one per connection; tests give their own). */
  replay?: ReplayGuard;
}

export class IncomingStreams {
  private readonly streams = new Map<number, IncomingStream>();
  /** By sending connection; dropped when idle with no stream left. */
  private readonly pipelines = new Map<string, Pipeline>();
  /** Live streams per sending connection. */
  private readonly perSender = new Map<string, number>();
  /** Open streams by sender user id (INCOMING_STREAMS_PER_SENDER_MAX). */
  private readonly perSenderUser = new Map<string, number>();
  /** Streams that failed before any handler saw them, by reason (no app code hears of those). */
  private readonly droppedBeforeHandler = new Map<DataStreamErrorReason, number>();
  /** Streams announced past INCOMING_STREAMS_MAX, rejected at once. */
  private refusedOpens = 0;
  /** Payload bytes arrived and not consumed, over every incoming stream (each stream's share: IncomingStream.unconsumed). */
  private readonly ledger = { unconsumed: 0 };
  private idleTimer: ReturnType<typeof setInterval> | undefined;
  private readonly replay: ReplayGuard;

  constructor(private readonly d: IncomingDeps) {
    this.replay = d.replay ?? new ReplayGuard();
  }

  /** What is held for streams being received: bounded by one window per stream (tests assert it). */
  stats(): {
    streams: number;
    bufferedBytes: number;
    pendingSteps: number;
    droppedBeforeHandler: Partial<Record<DataStreamErrorReason, number>>;
    refusedOpens: number;
    unconsumedBytes: number;
  } {
    let bufferedBytes = 0;
    for (const s of this.streams.values()) bufferedBytes += s.queue?.bufferedBytes ?? 0;
    let pendingSteps = 0;
    for (const p of this.pipelines.values()) pendingSteps += p.pending;
    return {
      streams: this.streams.size,
      bufferedBytes,
      pendingSteps,
      droppedBeforeHandler: Object.fromEntries(this.droppedBeforeHandler),
      refusedOpens: this.refusedOpens,
      unconsumedBytes: this.ledger.unconsumed,
    };
  }

  /**
   * One sweep timer for every stream (not a timer per chunk): it runs while streams are open, a few
   * times per idle period, and fails the streams that carried nothing for `idleTimeoutMs`.
   */
  private watchIdle(): void {
    if (this.idleTimer !== undefined || this.d.idleTimeoutMs <= 0) return;
    const idleMs = this.d.idleTimeoutMs;
    this.idleTimer = setInterval(
      () => {
        const now = performance.now();
        for (const s of [...this.streams.values()]) {
          if (s.idleSince(now, idleMs)) this.fail(s, DataStreamError.timeout(`nothing arrived on the stream for ${idleMs} ms`), true);
        }
        if (this.streams.size === 0) {
          clearInterval(this.idleTimer);
          this.idleTimer = undefined;
        }
      },
      Math.max(10, Math.min(1000, Math.floor(idleMs / 4))),
    );
    (this.idleTimer as { unref?: () => void }).unref?.();
  }

  opened(event: OpenedEvent): void {
    const again = this.streams.get(event.streamNo);
    if (again !== undefined) {
      // A number still in use: the Bridge's error or its lie. Neither stream can be told apart now.
      // fail() rejects the number at the Bridge, which ends the second announcement too.
      this.fail(again, new DataStreamError('AbnormalEnd', `the Bridge announced stream number ${event.streamNo} again while it was open`), true);
      return;
    }
    const fromSender = this.perSenderUser.get(event.senderId) ?? 0;
    if (this.streams.size >= INCOMING_STREAMS_MAX || fromSender >= INCOMING_STREAMS_PER_SENDER_MAX) {
      this.refusedOpens++;
      this.d.connection.log.warn(
        { roomId: event.roomId, sender: event.senderId, streams: this.streams.size, fromSender },
        'an incoming stream refused: too many at once',
      );
      this.d.connection.notify({ kind: 'byteStreamReject', streamNo: event.streamNo });
      return;
    }
    const stream = new IncomingStream(
      event,
      this.d.rooms,
      this.d.readerKey?.(event.roomId),
      (offset, starved) => {
        try {
          this.d.connection.sendFrame(encodeCreditFrame(FRAME_CREDIT_UP, event.streamNo, offset, starved));
        } catch {
          // The socket closed: the stream fails with it (connectionLost), no credit is owed any more.
        }
      },
      this.ledger,
      () => this.d.receiveWindowBytes?.(),
    );
    this.streams.set(event.streamNo, stream);
    this.perSender.set(event.senderConnectionId, (this.perSender.get(event.senderConnectionId) ?? 0) + 1);
    this.perSenderUser.set(event.senderId, fromSender + 1);
    this.watchIdle();
  }

  /** A stream is over: forget it, and its sender's pipeline once that is idle and has no stream left. */
  private forget(s: IncomingStream): void {
    if (this.streams.get(s.streamNo) !== s) return; // forgotten already
    this.streams.delete(s.streamNo);
    const fromSender = (this.perSenderUser.get(s.senderId) ?? 1) - 1;
    if (fromSender > 0) this.perSenderUser.set(s.senderId, fromSender);
    else this.perSenderUser.delete(s.senderId);
    const left = (this.perSender.get(s.senderConnectionId) ?? 1) - 1;
    if (left > 0) {
      this.perSender.set(s.senderConnectionId, left);
      return;
    }
    this.perSender.delete(s.senderConnectionId);
    if (this.pipelines.get(s.senderConnectionId)?.busy === false) this.pipelines.delete(s.senderConnectionId);
  }

  /**
   * A CHUNK frame: counted now (credit, idle clock), opened and delivered in its step's turn, in a
   * slice of the process-wide scheduler, so the socket's next frames are not held behind it.
   */
  chunk(streamNo: number, last: boolean, payload: Uint8Array): void {
    const stream = this.streams.get(streamNo);
    if (stream === undefined) return; // rejected, ended, or not ours: the Bridge's frames in flight
    const payloadBytes = payload.length;
    stream.arrived(payloadBytes);
    if (stream.unconsumed > INCOMING_UNCONSUMED_MAX_BYTES || this.ledger.unconsumed > INCOMING_UNCONSUMED_TOTAL_MAX_BYTES) {
      // Before the chunk is queued: the Bridge sent past every window flow control gave it.
      const held = stream.unconsumed;
      this.fail(
        stream,
        new DataStreamError('AbnormalEnd', `the Bridge sent ${held} bytes the reader had not made room for (past the flow-control window)`),
        true,
      );
      return;
    }
    // On the bulk thread, opening starts on arrival (the thread works while the chunk waits for its
    // turn here), and takes the socket message's buffer without a copy: nothing here reads it again
    // (its length is counted above). It starts in a microtask, once every listener of this frame has
    // seen it; microtasks keep the arrival order. A stream that ended meanwhile (failed, cut) opens
    // nothing more: its step sees it done and delivers nothing. On this thread, opening is the step's
    // work, in its slice.
    const opening = stream.threaded
      ? Promise.resolve().then(() => (stream.done ? (undefined as never) : stream.open(payload, last, ownsItsMessage(payload))))
      : undefined;
    opening?.catch(() => undefined);
    this.enqueue(stream.senderConnectionId, () => {
      stream.taken();
      if (stream.done) return;
      return this.deliver(stream, opening ?? stream.open(payload, last), payloadBytes);
    });
  }

  /** The Bridge ended a stream this connection receives. */
  bridgeAborted(streamNo: number, reason: BridgeAbortReason): void {
    const stream = this.streams.get(streamNo);
    if (stream !== undefined) this.enqueue(stream.senderConnectionId, () => this.applyBridgeAbort(stream, reason));
  }

  /** Another connection was removed from a room: its streams that the Bridge aborted end now. */
  participantRemoved(roomId: string, connectionId: string): void {
    if (!this.perSender.has(connectionId)) return;
    this.enqueue(connectionId, () => {
      for (const s of this.inRoom(roomId)) {
        if (s.removal !== undefined && s.senderConnectionId === connectionId)
          this.fail(s, new DataStreamError('AbnormalEnd', 'the sender was removed from the room'), false);
      }
    });
  }

  /** This connection left a room: its streams there end, after what already arrived (except on a drop). */
  roomLeft(roomId: string, reason: RoomLeftReason): void {
    for (const s of this.inRoom(roomId)) {
      const end = () => this.fail(s, roomLeftError(reason), false);
      if (reason === 'removed' || reason === 'room_deleted') this.enqueue(s.senderConnectionId, end);
      else end();
    }
  }

  /** The socket closed: every stream ends now. */
  connectionLost(): void {
    for (const s of [...this.streams.values()]) this.fail(s, DataStreamError.connectionLost(), false);
  }

  private inRoom(roomId: string): IncomingStream[] {
    return [...this.streams.values()].filter((s) => s.roomId === roomId);
  }

  private enqueue(senderConnectionId: string, step: () => void | Promise<void>): void {
    let pipeline = this.pipelines.get(senderConnectionId);
    if (pipeline === undefined) {
      const created = new Pipeline(this.d.connection.log, () => {
        if (this.pipelines.get(senderConnectionId) === created && !this.perSender.has(senderConnectionId)) this.pipelines.delete(senderConnectionId);
      });
      this.pipelines.set(senderConnectionId, (pipeline = created));
    }
    pipeline.enqueue(step);
  }

  private async deliver(s: IncomingStream, opening: Promise<OpenedChunk>, payloadBytes: number): Promise<void> {
    if (s.done) return;
    let chunk: OpenedChunk | typeof GONE;
    try {
      // Racing every chunk would pile reactions on `gone` for the stream's lifetime; only the first
      // chunks, while the decryptor is being made, need it.
      chunk = s.preparing ? await Promise.race([opening, s.gone]) : await opening;
    } catch (error) {
      this.fail(s, error instanceof DataStreamError ? error : DataStreamError.integrity(), true);
      return;
    }
    if (chunk === GONE || s.done) return;
    switch (chunk.kind) {
      case 'header':
        s.consumed(payloadBytes, true);
        this.start(s, chunk.header);
        return;
      case 'checkpoint':
        // The sender signed the content so far; its bytes are never the app's, so credit follows now.
        s.consumed(payloadBytes, (s.queue?.bufferedBytes ?? 0) === 0);
        return;
      case 'data': {
        s.contentBytes += chunk.data.length;
        const size = s.header?.size;
        if (size !== undefined && s.contentBytes > size) {
          this.fail(s, DataStreamError.lengthExceeded(`the stream announced ${size} bytes and carried more`), true);
          return;
        }
        s.queue?.push(chunk.data, payloadBytes);
        s.reader?.delivered(chunk.data.length);
        return;
      }
      case 'end': {
        const size = s.header?.size;
        if (size !== undefined && s.contentBytes !== size) {
          this.fail(s, new DataStreamError('Incomplete', `the stream announced ${size} bytes and ended after ${s.contentBytes}`), false);
          return;
        }
        s.contentHash = chunk.contentHash;
        if (s.end()) {
          this.forget(s);
          s.queue?.end();
        }
        return;
      }
      case 'aborted':
        this.fail(s, DataStreamError.senderAborted(chunk.reason), false);
        return;
      default: {
        const never: never = chunk;
        throw new Error(`unknown chunk kind ${(never as { kind: string }).kind}`);
      }
    }
  }

  /**
   * The signed header opened: check it is for this room and a stream not seen before, then find the
   * topic's handler and give it a reader, or reject the stream.
   */
  private start(s: IncomingStream, headerBytes: Uint8Array): void {
    let header: StreamHeader;
    try {
      header = decodeHeader(headerBytes, { senderId: s.senderId, roomId: s.roomId });
    } catch (error) {
      this.fail(s, error as DataStreamError, true);
      return;
    }
    const verdict = this.replay.admit(s.roomId, s.senderId, s.id, header.timestamp);
    if (verdict !== 'fresh') {
      // The same error as any integrity failure; the log says which check refused it (a skewed clock shows here).
      this.d.connection.log.warn(
        { roomId: s.roomId, sender: s.senderId, verdict },
        'an incoming stream was refused: replayed, or its signed time is outside the replay window',
      );
      this.fail(s, DataStreamError.integrity(), true);
      return;
    }
    s.header = header;
    s.senderView = { roomVersion: header.roomVersion, headHash: fromBase64(header.headHash) };
    const queue = new ChunkQueue({
      consumed: (bytes, starved) => s.consumed(bytes, starved),
      cancelled: (error) => this.fail(s, error, true),
      // Read to the verified end: the receipt the sender asked for (docs/protocol/receipts.md).
      drained: () => {
        if (header.receipts === true) this.d.receipt?.(s);
      },
    });
    const log = this.d.connection.log;
    const participant = { identity: s.senderId, streamRoomId: s.roomId };
    const base = { id: s.id, topic: header.topic, timestamp: header.timestamp, mimeType: header.mimeType, attributes: header.attributes };
    const sized = header.size === undefined ? base : { ...base, size: header.size };
    let invoke: () => unknown;
    if (header.kind === 'bytes') {
      const handler = this.d.byteHandler(header.topic);
      if (handler === undefined) return this.unwanted(s, header);
      const info: ByteStreamInfo = { ...sized, name: header.name };
      const reader = new ByteReader(info, queue, log);
      s.reader = reader;
      invoke = () => handler(reader, participant);
    } else {
      const handler = this.d.textHandler(header.topic);
      if (handler === undefined) return this.unwanted(s, header);
      const chat = {
        replyToStreamId: header.replyToStreamId,
        attachedStreamIds: header.attachedStreamIds,
        operationType: header.operationType,
        version: header.version,
      };
      const info: TextStreamInfo = { ...sized, ...Object.fromEntries(Object.entries(chat).filter(([, v]) => v !== undefined)) };
      const reader = new TextReader(info, queue, log);
      s.reader = reader;
      invoke = () => handler(reader, participant);
    }
    s.queue = queue;
    try {
      const result = invoke();
      if (result instanceof Promise) result.catch((error: unknown) => log.warn({ topic: header.topic, error: String(error) }, 'a stream handler rejected'));
    } catch (error) {
      log.warn({ topic: header.topic, error: String(error) }, 'a stream handler threw; its stream is let go');
      queue.cancel(DataStreamError.aborted('the handler threw', error));
    }
  }

  private unwanted(s: IncomingStream, header: StreamHeader): void {
    this.d.connection.log.debug({ topic: header.topic, kind: header.kind }, 'no handler for an incoming stream; rejected');
    this.fail(s, DataStreamError.aborted('no handler'), true);
  }

  private applyBridgeAbort(s: IncomingStream, reason: BridgeAbortReason): void {
    if (s.done) return;
    switch (reason) {
      case 'sender_disconnected':
        return this.fail(s, new DataStreamError('AbnormalEnd', 'the sender disconnected before the end of the stream'), false);
      case 'sender_left':
        return this.fail(s, new DataStreamError('AbnormalEnd', 'the sender left the room before the end of the stream'), false);
      case 'limit':
        return this.fail(s, new DataStreamError('AbnormalEnd', 'the Bridge ended the stream: the sender overran its allowance'), false);
      case 'too_slow':
        return this.fail(s, new DataStreamError('TooSlow', 'the Bridge cut this reader from the stream: it consumed nothing for too long'), false);
      case 'room_deleted':
        return this.fail(s, new DataStreamError('Removed', 'the room was deleted'), false);
      case 'removed':
        // This member or the sender was removed; the streamRoomLeft that follows says which.
        s.removal ??= setTimeout(
          () => this.fail(s, new DataStreamError('AbnormalEnd', 'the Bridge ended the stream: a member was removed'), false),
          REMOVAL_DECISION_MS,
        );
        return;
      default: {
        const never: never = reason;
        throw new Error(`unknown abort reason ${String(never)}`);
      }
    }
  }

  /** Ends a stream with an error; `reject` tells the Bridge to stop sending it here. */
  private fail(s: IncomingStream, error: DataStreamError, reject: boolean): void {
    if (!s.end()) return;
    this.forget(s);
    s.queue?.fail(error);
    if (s.queue === undefined && error.reason !== 'Aborted') {
      // No reader yet (key, header or handler missing, or a header that does not open for the sender the
      // Bridge names): nobody else hears of it, so it is counted and logged.
      this.droppedBeforeHandler.set(error.reason, (this.droppedBeforeHandler.get(error.reason) ?? 0) + 1);
      this.d.connection.log.warn({ roomId: s.roomId, sender: s.senderId, reason: error.reason }, 'an incoming stream failed before its handler');
    }
    if (reject) this.d.connection.notify({ kind: 'byteStreamReject', streamNo: s.streamNo });
  }
}

/**
 * Whether a CHUNK frame's payload is the tail of a buffer that holds only its frame (the frame header
 * is at most 64 bytes): then the buffer is that socket message's own, and can be given away.
 */
function ownsItsMessage(payload: Uint8Array): boolean {
  return payload.byteOffset <= 64 && payload.byteOffset + payload.length === payload.buffer.byteLength;
}
