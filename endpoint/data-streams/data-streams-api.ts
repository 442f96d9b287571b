/**
 * Byte and text streams (LiveKit's API shape; docs/design.md "Byte streams and text streams"), end-to-end
 * encrypted with the stream AEAD (crypto/stream) and flow-controlled from each receiver to the sender.
 * `StreamApi` is the documented facade; this class wires the parts in this folder to the connection:
 *
 * - outgoing/: opening (newest key, sealed header), the writer with its allowance and pacing, sendFile;
 * - incoming/: the ordered delivery pipeline, decryptors, credit, readers, writeToFile;
 * - receipts/: signed delivery receipts, sent by readers and collected by senders (docs/protocol/receipts.md);
 * - web-streams/: the WritableStream broadcast and `send()` shapes (docs/data-streams/web-streams.md);
 * - header.ts (the encrypted header), errors.ts (`DataStreamError`), limits.ts.
 */
import { fromBase64, utf8 } from '../../crypto/bytes.ts';
import type { ServerEvent } from '../../protocol/ws.ts';
import type { Connection } from '../connection.ts';
import type { EventApi } from '../event-api.ts';
import { connectionInternals } from '../internal.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import type { StreamRoomLeftEvent } from '../realtime/types.ts';
import { DataStreamError, roomLeftError } from './errors.ts';
import { Handlers } from './handlers.ts';
import { senderRoomViewOf } from './incoming/incoming-stream.ts';
import { ReceiveWindow } from './incoming/receive-window.ts';
import { IncomingStreams } from './incoming/incoming-streams.ts';
import { DEFAULT_RECEIPT_TIMEOUT_MS, DEFAULT_STREAM_IDLE_TIMEOUT_MS, FILE_READ_BLOCK_BYTES, RECEIPT_TIMEOUT_MAX_MS } from './limits.ts';
import { NewestKeys } from './outgoing/newest-key.ts';
import { openStream, type OpenDeps, type Opened, type OpenOptions } from './outgoing/open-stream.ts';
import type { OutgoingStream } from './outgoing/outgoing-stream.ts';
import { openSource, type FileInput } from './outgoing/send-file.ts';
import { abortOnSignal, ByteWriter, checkSignal, TextWriter } from './outgoing/writers.ts';
import { Sequencer } from './sequencer.ts';
import type {
  ByteStreamHandler,
  ByteStreamWriter,
  DataStreamStats,
  DeliveryReport,
  ParticipantInfo,
  SendFileOptions,
  SendTextOptions,
  StreamBytesOptions,
  StreamTextOptions,
  TextStreamHandler,
  TextStreamWriter,
} from './types.ts';
import { utf8PieceEnd } from './utf8.ts';
import { Emitter } from '../util/emitter.ts';
import { bulkGovernor } from '../util/bulk-governor.ts';
import { lazyTransfer, lazyWritable } from './web-streams/lazy.ts';
import { broadcastHandler } from './web-streams/receive.ts';
import type { BroadcastEventMap, BroadcastOptions, BroadcastStreamComplete, SendData, SendOptions, Transfer } from './web-streams/types.ts';
import { mimeTypeOf } from './mime-type.ts';

type BridgeAbortReason = Extract<ServerEvent, { type: 'byteStreamAborted' }>['reason'];

/** What the sender side of delivery receipts takes from the Bridge (receipts/collector.ts). */
interface ReceiptSink {
  receipt(event: Extract<ServerEvent, { type: 'byteStreamReceipt' }>): Promise<void>;
  dropped(userId: string, reason: Extract<ServerEvent, { type: 'byteStreamReceiverDropped' }>['reason']): void;
}

/** An opened stream and, when receipts were asked for, its delivery report (settles after the end and the wait). */
export interface Sending extends Opened {
  delivery: Promise<DeliveryReport> | undefined;
}

/** Takes a member's signed claim about its room head (endpoint/rooms/head-tracker.ts `observeHead`). */
export type HeadObserver = (roomId: string, senderId: string, version: number, headHash: Uint8Array) => void;

export class DataStreamsApi {
  private readonly handlers = new Handlers();
  private readonly incoming: IncomingStreams;
  private readonly newestKeys: NewestKeys;
  /** Streams this connection sends, from before their open request until they are over. */
  private readonly outgoing = new Set<OutgoingStream>();
  private readonly outgoingByNo = new Map<number, OutgoingStream>();
  private readonly openDeps: OpenDeps;
  private headObserver: HeadObserver | undefined;
  /** Streams waiting for delivery receipts, by streamNo (until their report settles). */
  private readonly receiptSinks = new Map<number, ReceiptSink>();
  /** PeerPigeon-shaped events of broadcasts sent and received (web-streams/). */
  readonly broadcastEvents = new Emitter<BroadcastEventMap>();

  constructor(
    readonly connection: Connection,
    readonly eventApi: EventApi,
    readonly rooms: RoomApi,
    readonly keys: KeyRing,
    idleTimeoutMs: number = DEFAULT_STREAM_IDLE_TIMEOUT_MS,
  ) {
    this.newestKeys = new NewestKeys(rooms);
    const { signer } = connectionInternals(connection);
    const receiveWindow = new ReceiveWindow(connection, connection.log);
    this.incoming = new IncomingStreams({
      connection,
      receiveWindowBytes: () => receiveWindow.bytes,
      rooms,
      idleTimeoutMs,
      byteHandler: (topic) => this.viewing(this.handlers.bytes.get(topic)),
      textHandler: (topic) => this.viewing(this.handlers.text.get(topic)),
      readerKey: (roomId) => ({ roomId, recipientId: connection.userId, unwrap: (params) => signer.unwrapStreamSecret(params) }),
      // Loaded on first use: only streams that ask for receipts need it (the browser entry chunk stays small).
      receipt: (s) =>
        void import('./receipts/receipt.ts').then((m) =>
          m.sendReceipt(connection, s.streamNo, {
            roomId: s.roomId,
            streamId: fromBase64(s.streamIdBase64),
            contentHash: s.contentHash!,
            contentBytes: s.contentBytes,
            senderId: s.senderId,
          }),
        ),
    });
    this.openDeps = {
      connection,
      idleTimeoutMs,
      keys: this.newestKeys,
      rooms,
      finals: new Sequencer(),
      track: (s) => this.outgoing.add(s),
      numbered: (s) => this.outgoingByNo.set(s.streamNo!, s),
      forget: (s) => {
        this.outgoing.delete(s);
        if (s.streamNo !== undefined && this.outgoingByNo.get(s.streamNo) === s) this.outgoingByNo.delete(s.streamNo);
      },
    };
    const { hooks } = connectionInternals(connection);
    hooks.on('event', (event) => this.onEvent(event));
    hooks.on('frame', (frame) => {
      if (frame.type === 'chunk') this.incoming.chunk(frame.streamNo, frame.last, frame.payload);
      // ALLOWANCE: the Bridge lets a stream this connection sends go up to `offset` (protocol/ws.ts).
      else if (frame.type === 'credit') this.outgoingByNo.get(frame.streamNo)?.allowance(frame.offset);
    });
    hooks.on('socketClosed', () => {
      receiveWindow.socketClosed();
      this.connectionLost();
    });
    // Before the requests that restore the rooms (resume.ts runs on 'reconnected', after 'restore').
    hooks.on('restore', () => receiveWindow.socketOpened());
    if (connection.state === 'connected') receiveWindow.socketOpened();
  }

  /**
   * Hands the room view each incoming stream's signed header carries (the sender's room version and
   * head hash) to `observer`, before the stream's handler runs: members on different heads notice
   * (docs/security/bridge-adversary.md).
   */
  observeHeads(observer: HeadObserver): void {
    this.headObserver = observer;
  }

  /**
   * The app's handler for a stream that came over a direct connection (endpoint/peers/app-streams.ts):
   * the relay's topics and handlers, after the stream's signed room view went to the head observer.
   */
  directHandler(
    kind: 'bytes' | 'text',
    topic: string,
    view: { roomId: string; senderId: string; roomVersion: number; headHash: string },
  ): ByteStreamHandler | TextStreamHandler | undefined {
    const handler = kind === 'bytes' ? this.handlers.bytes.get(topic) : this.handlers.text.get(topic);
    if (handler !== undefined) this.headObserver?.(view.roomId, view.senderId, view.roomVersion, fromBase64(view.headHash));
    return handler;
  }

  /** The handler, preceded by handing its stream's signed room view to the head observer. */
  private viewing<R extends object>(handler: ((reader: R, participant: ParticipantInfo) => void | Promise<void>) | undefined) {
    if (handler === undefined) return undefined;
    return (reader: R, participant: ParticipantInfo): void | Promise<void> => {
      const view = senderRoomViewOf(reader);
      if (view !== undefined) this.headObserver?.(participant.streamRoomId, participant.identity, view.roomVersion, view.headHash);
      return handler(reader, participant);
    };
  }

  /**
   * Streams open in each direction, and what receiving holds: decrypted bytes waiting for readers and
   * delivery steps queued (for tests and diagnostics; both are bounded by the Bridge's window).
   */
  stats(): DataStreamStats {
    const incoming = this.incoming.stats();
    return {
      sending: this.outgoing.size,
      receiving: incoming.streams,
      bufferedBytes: incoming.bufferedBytes,
      pendingSteps: incoming.pendingSteps,
      awaitingReceipts: this.receiptSinks.size,
      droppedBeforeHandler: incoming.droppedBeforeHandler,
      refusedOpens: incoming.refusedOpens,
      unconsumedBytes: incoming.unconsumedBytes,
      bulkYield: bulkGovernor.stats(),
    };
  }

  /**
   * This connection left a room: its open readers and writers there end with an error (`RoomLeft`,
   * `Removed` or `ConnectionLost`; after what already arrived, except on a drop).
   * @example realtime.onRoomLeft((roomId, reason) => dataStreams.roomLeft(roomId, reason));
   */
  roomLeft(roomId: string, reason: StreamRoomLeftEvent['reason']): void {
    this.newestKeys.forget(roomId);
    this.incoming.roomLeft(roomId, reason);
    for (const s of [...this.outgoing]) if (s.roomId === roomId) s.fail(roomLeftError(reason));
  }

  /**
   * Sends a path (Node), Blob or File, bytes or a ReadableStream as one byte stream; the MIME type
   * comes from the name unless given. Resolves once the signed end is on the socket. The bytes of a
   * Uint8Array must not change until then. Receipts are asked for unless `receipts: false`; `delivery`
   * settles with who proved delivery (docs/protocol/receipts.md).
   * @example const { id, delivery } = await dataStreams.sendFile(file, { roomId, topic: 'files', onProgress: (p) => bar(p) });
   */
  async sendFile(file: FileInput, options: SendFileOptions): Promise<{ id: string; delivery?: Promise<DeliveryReport> }> {
    checkSignal(options?.signal, 'sendFile');
    const source = await openSource(file);
    const name = options.name ?? source.name ?? 'unnamed';
    const mimeType = options.mimeType ?? (await mimeTypeOf(name));
    const receipts = options.receipts ?? true;
    const opening = this.open('bytes', { ...options, receipts, name, mimeType, ...(source.size === undefined ? {} : { totalSize: source.size }) });
    opening.catch(() => source.cancel());
    const { stream, info, delivery } = await opening;
    abortOnSignal(stream, options.signal);
    const progress = this.progress(options.onProgress, source.size);
    try {
      for await (const block of source.blocks()) {
        await stream.write(block);
        progress(block.length);
      }
      await stream.close();
    } catch (error) {
      source.cancel();
      await stream.abort('sending the file failed').catch(() => undefined);
      throw error;
    }
    return delivery === undefined ? { id: info.id } : { id: info.id, delivery };
  }

  /**
   * Opens a byte stream under the room's newest key and returns its writer. Refusals: `InvalidArgument`
   * (bad options, room not joined), `LengthExceeded` (header over 16 KiB), `KeyUnavailable`, or an
   * `EndpointError` from the Bridge (too many open streams).
   * @example const writer = await dataStreams.streamBytes({ roomId, topic: 'camera', name: 'frames.bin' });
   */
  async streamBytes(options: StreamBytesOptions): Promise<ByteStreamWriter> {
    checkSignal(options?.signal, 'streamBytes');
    const { stream, info, delivery } = await this.open('bytes', {
      ...options,
      name: options.name ?? 'unnamed',
      mimeType: options.mimeType ?? 'application/octet-stream',
    });
    abortOnSignal(stream, options.signal);
    return new ByteWriter({ ...info, name: info.name ?? '' }, stream, delivery);
  }

  /**
   * Sends a text as one text stream (its size announced), split on UTF-8 boundaries.
   * @example await dataStreams.sendText('hello 👋', { roomId, topic: 'chat' });
   */
  async sendText(text: string, options: SendTextOptions): Promise<{ id: string }> {
    if (typeof text !== 'string') throw DataStreamError.invalidArgument(`"text" expected a string, got ${typeof text}`);
    checkSignal(options?.signal, 'sendText');
    const bytes = utf8(text);
    const { stream, info } = await this.open('text', { ...options, mimeType: 'text/plain', totalSize: bytes.length });
    abortOnSignal(stream, options.signal);
    const progress = this.progress(options.onProgress, bytes.length);
    try {
      for (let start = 0; start < bytes.length; ) {
        const end = utf8PieceEnd(bytes, start, FILE_READ_BLOCK_BYTES);
        await stream.write(bytes.subarray(start, end));
        progress(end - start);
        start = end;
      }
      await stream.close();
    } catch (error) {
      await stream.abort('sending the text failed').catch(() => undefined);
      throw error;
    }
    return { id: info.id };
  }

  /**
   * Opens a text stream and returns its writer.
   * @example const writer = await dataStreams.streamText({ roomId, topic: 'llm' }); await writer.write('Hel'); await writer.close();
   */
  async streamText(options: StreamTextOptions): Promise<TextStreamWriter> {
    checkSignal(options?.signal, 'streamText');
    const { stream, info } = await this.open('text', { ...options, mimeType: 'text/plain' });
    abortOnSignal(stream, options.signal);
    return new TextWriter(info, stream);
  }

  // ---- Web Streams shapes (web-streams/, docs/data-streams/web-streams.md)

  /**
   * A WritableStream that sends one byte stream to the room; its `desiredSize` and `ready` follow the
   * slowest receiver. Opening starts at once; a refusal errors the stream.
   * @example await readable.pipeTo(dataStreams.createBroadcastStream(roomId, { topic: 'files', name: 'a.bin' }));
   */
  createBroadcastStream(roomId: string, options: BroadcastOptions): WritableStream<Uint8Array> {
    return this.broadcast(roomId, options).writable;
  }

  /** Pipes `readable` into a broadcast; resolves with its completion (after receipts). */
  async broadcastStream(readable: ReadableStream<Uint8Array>, options: BroadcastOptions & { roomId: string }): Promise<BroadcastStreamComplete> {
    if (!(readable instanceof ReadableStream)) throw DataStreamError.invalidArgument('"readable" expected a ReadableStream');
    if (typeof options !== 'object' || options === null) throw DataStreamError.invalidArgument('"options" expected an object');
    const { roomId, ...rest } = options;
    const { writable, report } = this.broadcast(roomId, rest);
    await readable.pipeTo(writable);
    return report;
  }

  /** Broadcasts a file (a path in Node, a Blob or File) or bytes, named and typed after it. */
  async broadcastFile(file: FileInput, options: BroadcastOptions & { roomId: string }): Promise<BroadcastStreamComplete> {
    const m = await import('./web-streams/broadcast.ts');
    return m.broadcastSource((roomId, o) => this.broadcast(roomId, o), file, options);
  }

  /**
   * Opens `topic` for PeerPigeon's receiving events: each byte stream on it goes to `streamReceived`
   * listeners (as `stream`, the reader's readable), then `streamCompleted`. Registers the topic's byte
   * handler (`HandlerExists` if it has one).
   */
  receiveBroadcasts(topic: string): void {
    this.handlers.register('bytes', topic, broadcastHandler(this.broadcastEvents, this.connection.log));
  }

  /**
   * Sends data as one byte stream (Peerix's shape): the returned Transfer is a progress ReadableStream
   * and resolves with who proved delivery.
   * @example const { delivered, failed } = await dataStreams.send(file, { roomId, topic: 'files', info: { kind: 'photo' } });
   */
  send(data: SendData, options: SendOptions): Transfer {
    return lazyTransfer(import('./web-streams/transfer.ts').then((m) => m.startTransfer(this, data, options)));
  }

  private broadcast(roomId: string, options: BroadcastOptions): { writable: WritableStream<Uint8Array>; report: Promise<BroadcastStreamComplete> } {
    const loading = import('./web-streams/broadcast.ts').then((m) => m.broadcastSink(this, roomId, options));
    const report = loading.then((b) => b.report);
    report.catch(() => undefined);
    return { writable: lazyWritable(loading.then((b) => b.sink)), report };
  }

  /**
   * Handles byte streams on `topic` (one handler per topic; twice is `HandlerExists`). Streams on a
   * topic without a handler are rejected, so they never hold their sender.
   * @example dataStreams.registerByteStreamHandler('files', (reader, { identity }) => void reader.writeToFile('./in'));
   */
  registerByteStreamHandler(topic: string, handler: ByteStreamHandler): void {
    this.handlers.register('bytes', topic, handler);
  }

  /** @example dataStreams.unregisterByteStreamHandler('files'); */
  unregisterByteStreamHandler(topic: string): void {
    this.handlers.unregister('bytes', topic);
  }

  /** @example dataStreams.registerTextStreamHandler('chat', async (reader) => show(await reader.readAll())); */
  registerTextStreamHandler(topic: string, handler: TextStreamHandler): void {
    this.handlers.register('text', topic, handler);
  }

  /** @example dataStreams.unregisterTextStreamHandler('chat'); */
  unregisterTextStreamHandler(topic: string): void {
    this.handlers.unregister('text', topic);
  }

  /**
   * Opens a stream; with `receipts`, its delivery report follows the stream: once it has ended (after
   * `receiptTimeoutMs` at most) or failed (receipts/collector.ts).
   */
  async open(kind: 'bytes' | 'text', options: OpenOptions & { receiptTimeoutMs?: number }): Promise<Sending> {
    if (typeof options !== 'object' || options === null) throw DataStreamError.invalidArgument('"options" expected an object');
    const timeoutMs = options.receiptTimeoutMs ?? DEFAULT_RECEIPT_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > RECEIPT_TIMEOUT_MAX_MS) {
      throw DataStreamError.invalidArgument(`"receiptTimeoutMs" expected an integer from 0 to ${RECEIPT_TIMEOUT_MAX_MS}`);
    }
    if (options.receipts !== undefined && typeof options.receipts !== 'boolean') throw DataStreamError.invalidArgument('"receipts" expected a boolean');
    const collectors = options.receipts === true ? await import('./receipts/collector.ts') : undefined;
    const opened = await openStream(this.openDeps, kind, options);
    if (collectors === undefined) return { ...opened, delivery: undefined };
    const { stream } = opened;
    const streamNo = stream.streamNo!;
    const collector = new collectors.ReceiptCollector({
      rooms: this.rooms,
      log: this.connection.log,
      roomId: stream.roomId,
      streamId: opened.streamId,
      senderId: this.connection.userId,
      intended: opened.intended,
      stream,
    });
    this.receiptSinks.set(streamNo, collector);
    const delivery = stream.ended
      .then(() => (stream.contentHash !== undefined ? collector.report(timeoutMs) : collector.failed()))
      .finally(() => this.receiptSinks.delete(streamNo));
    return { ...opened, delivery };
  }

  /** Reports progress to an app callback (which may throw without harm); `size` 0 counts as done. */
  private progress(onProgress: ((progress: number) => void) | undefined, size: number | undefined): (bytes: number) => void {
    let sent = 0;
    const report = (fraction: number) => {
      try {
        onProgress?.(fraction);
      } catch (error) {
        this.connection.log.warn({ error: String(error) }, 'an onProgress callback threw');
      }
    };
    if (size === 0) report(1);
    return (bytes) => {
      sent += bytes;
      if (size !== undefined && size > 0) report(Math.min(1, sent / size));
    };
  }

  private onEvent(event: ServerEvent): void {
    switch (event.type) {
      case 'byteStreamOpened':
        this.incoming.opened(event);
        return;
      case 'byteStreamAborted': {
        const writer = this.outgoingByNo.get(event.streamNo);
        if (writer !== undefined) writer.fail(writerAbortError(event.reason));
        else this.incoming.bridgeAborted(event.streamNo, event.reason);
        return;
      }
      case 'byteStreamReceiverDropped':
        this.connection.log.debug({ streamNo: event.streamNo, reason: event.reason }, 'a receiver was dropped from a byte stream');
        this.receiptSinks.get(event.streamNo)?.dropped(event.userId, event.reason);
        return;
      case 'byteStreamReceipt':
        void this.receiptSinks.get(event.streamNo)?.receipt(event);
        return;
      case 'streamRoomUpdated':
        this.newestKeys.saw(event.roomId, event.epoch);
        return;
      case 'streamRoomLeft':
        if (event.reason === 'removed' && event.connectionId !== this.connection.connectionId) {
          this.incoming.participantRemoved(event.roomId, event.connectionId);
        }
        return;
      case 'streamRoomCreated':
      case 'streamRoomDeleted':
      case 'streamRoomJoined':
      case 'streamPublished':
      case 'streamUpdated':
      case 'streamUnpublished':
      case 'streamSubscribed':
      case 'streamUnsubscribed':
      case 'dataDropped':
      case 'dataTrackCut':
      case 'peerSignal':
        return;
      default: {
        const never: never = event;
        this.connection.log.debug({ type: (never as { type: string }).type }, 'unknown event');
      }
    }
  }

  private connectionLost(): void {
    this.incoming.connectionLost();
    for (const s of [...this.outgoing]) s.fail(DataStreamError.connectionLost());
  }
}

/** Why the Bridge ended a stream, as its writer sees it. */
function writerAbortError(reason: BridgeAbortReason): DataStreamError {
  switch (reason) {
    case 'sender_left':
      return roomLeftError('left');
    case 'sender_disconnected':
      return DataStreamError.connectionLost();
    case 'removed':
      return roomLeftError('removed');
    case 'room_deleted':
      return roomLeftError('room_deleted');
    case 'limit':
      return new DataStreamError('AbnormalEnd', 'the Bridge ended the stream: it went over its allowance');
    case 'too_slow':
      return new DataStreamError('AbnormalEnd', 'the Bridge ended the stream: too slow');
    default: {
      const never: never = reason;
      throw new Error(`unknown abort reason ${String(never)}`);
    }
  }
}
