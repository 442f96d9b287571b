/**
 * StreamApi streams on a direct path (docs/protocol/peer-signalling.md, "Path selection"): the sending
 * side of `send`, `sendFile` and `streamBytes` over a RemotePeer's STREAMS_CHANNEL, and the receiving
 * side, which hands each verified stream to the app's byte- or text-stream handler for its topic, as a
 * reader of the same shape a relayed stream gets. So the path is invisible to both apps: the same
 * handlers, the same `info`, the same `{ id, delivered, failed }` with signed receipts.
 */
import { toBase64, utf8 } from '../../crypto/bytes.ts';
import { backend } from '../../crypto/backend/index.ts';
import type { Logger } from '../logger.ts';
import { DataStreamError } from '../data-streams/errors.ts';
import { base64ToUrl } from '../data-streams/ids.ts';
import { ChunkQueue } from '../data-streams/incoming/chunk-queue.ts';
import { ByteReader, TextReader } from '../data-streams/incoming/readers.ts';
import { openSource, type FileInput } from '../data-streams/outgoing/send-file.ts';
import { abortReasonText } from '../data-streams/outgoing/writers.ts';
import type {
  ByteStreamHandler,
  ByteStreamInfo,
  ByteStreamWriter,
  DeliveryReport,
  SendFileOptions,
  StreamBytesOptions,
  TextStreamHandler,
  TextStreamInfo,
} from '../data-streams/types.ts';
import { trackedTransfer } from '../data-streams/web-streams/progress-feed.ts';
import type { SendData, SendOptions, SendResult, TransferProgress } from '../data-streams/web-streams/types.ts';
import type { IncomingDirectStream } from './direct-stream.ts';
import { PeerError } from './errors.ts';
import type { StreamSending } from './peer-sender.ts';
import { peerControl, type RemotePeer } from './remote-peer.ts';
import { mimeTypeOf } from '../data-streams/mime-type.ts';

/** The app's stream handlers, as the relay's streams reach them (DataStreamsApi). */
export interface AppHandlers {
  /** The handler for `topic`, after the sender's signed room view was handed to the head observer. */
  handler(kind: 'bytes' | 'text', topic: string, view: { roomId: string; senderId: string; roomVersion: number; headHash: string }): unknown;
  log: Logger;
}

// ---- receiving

/**
 * Hands a verified stream from STREAMS_CHANNEL to the app's handler for its topic; false when there is
 * none (the channel answers REJECT, and the sender's result says `rejected`, as on the relay).
 */
export function handOver(stream: IncomingDirectStream, roomId: string, senderId: string, app: AppHandlers): boolean {
  const header = stream.header!;
  const handler = app.handler(header.kind, header.topic, { roomId, senderId, roomVersion: header.roomVersion, headHash: header.headHash });
  if (typeof handler !== 'function') return false;
  const source = stream.readable.getReader();
  let received = 0;
  let reading = false;
  // One chunk is fetched ahead of the app; the next only once the app took it, so the direct stream's
  // credit (and through it the sender) follows the app's reading, as on the relay.
  const pull = (): void => {
    if (reading) return;
    reading = true;
    source.read().then(
      ({ done, value }) => {
        reading = false;
        if (done) {
          if (header.size !== undefined && received !== header.size)
            return queue.fail(new DataStreamError('Incomplete', `the stream ended after ${received} of ${header.size} bytes`));
          return queue.end();
        }
        received += value.length;
        if (header.size !== undefined && received > header.size) {
          const error = DataStreamError.lengthExceeded(`the stream carried more than its ${header.size} bytes`);
          queue.fail(error);
          void source.cancel(error);
          return;
        }
        queue.push(value, value.length);
      },
      (error: unknown) => queue.fail(readError(error)),
    );
  };
  const queue = new ChunkQueue({ consumed: pull, cancelled: (error) => void source.cancel(error) });
  const base = { id: stream.id, topic: header.topic, timestamp: header.timestamp, mimeType: header.mimeType, attributes: header.attributes };
  const sized = header.size === undefined ? base : { ...base, size: header.size };
  const participant = { identity: senderId, streamRoomId: roomId };
  let invoke: () => unknown;
  if (header.kind === 'bytes') {
    const reader = new ByteReader({ ...sized, name: header.name } satisfies ByteStreamInfo, queue, app.log);
    invoke = () => (handler as ByteStreamHandler)(reader, participant);
  } else {
    const { replyToStreamId, attachedStreamIds, operationType, version } = header;
    const chat = Object.fromEntries(Object.entries({ replyToStreamId, attachedStreamIds, operationType, version }).filter(([, v]) => v !== undefined));
    const reader = new TextReader({ ...sized, ...chat } satisfies TextStreamInfo, queue, app.log);
    invoke = () => (handler as TextStreamHandler)(reader, participant);
  }
  pull();
  try {
    const result = invoke();
    if (result instanceof Promise) result.catch((error: unknown) => app.log.warn({ topic: header.topic, error: String(error) }, 'a stream handler rejected'));
  } catch (error) {
    app.log.warn({ topic: header.topic, error: String(error) }, 'a stream handler threw; its stream is let go');
    queue.cancel(DataStreamError.aborted('the handler threw', error));
  }
  return true;
}

/** A direct stream's failure as the DataStreamError a relayed stream's reader would get. */
function readError(error: unknown): DataStreamError {
  if (error instanceof DataStreamError) return error;
  if (!(error instanceof PeerError)) return DataStreamError.integrity(error);
  switch (error.reason) {
    case 'Closed':
      // The sender's signed abort carries its reason; otherwise the peer closed mid-stream.
      return typeof error.cause === 'string'
        ? DataStreamError.senderAborted(error.cause)
        : new DataStreamError('AbnormalEnd', `the direct connection closed before the end of the stream`, { cause: error });
    case 'Removed':
      return new DataStreamError('Removed', error.message, { cause: error });
    case 'SignatureInvalid':
    case 'FingerprintMismatch':
      return DataStreamError.integrity(error);
    default:
      return new DataStreamError('AbnormalEnd', error.message, { cause: error });
  }
}

// ---- sending

/** The error a relayed send would have given for an aborted signal; else the direct path's own. */
function sendError(error: unknown, signal: AbortSignal | undefined, what: string): unknown {
  return signal?.aborted === true ? DataStreamError.aborted(what, signal.reason) : error;
}

function newStreamId(): { streamId: Uint8Array; id: string } {
  const streamId = backend().randomBytes(16);
  return { streamId, id: base64ToUrl(toBase64(streamId)) };
}

function report(id: string, result: SendResult): DeliveryReport {
  return { streamId: id, delivered: result.delivered, failed: result.failed };
}

/** `sendFile` over a direct peer: resolves once the signed end is out, `delivery` after the receipt. */
export async function sendFileDirect(peer: RemotePeer, file: FileInput, o: SendFileOptions): Promise<{ id: string; delivery?: Promise<DeliveryReport> }> {
  const source = await openSource(file);
  const name = o.name ?? source.name ?? 'unnamed';
  const receipts = o.receipts ?? true;
  const { streamId, id } = newStreamId();
  const size = source.size;
  const progress = (fraction: number) => {
    try {
      o.onProgress?.(fraction);
    } catch {
      // an app callback's failure does not stop the send (as on the relay)
    }
  };
  if (size === 0) progress(1);
  let sending: StreamSending;
  try {
    sending = await peerControl(peer).appStream({
      streamId,
      topic: o.topic,
      name,
      mimeType: o.mimeType ?? (await mimeTypeOf(name)),
      attributes: o.attributes ?? {},
      size,
      receipts,
      receiptTimeoutMs: o.receiptTimeoutMs,
      source: source.blocks(),
      signal: o.signal,
      onProgress: (sent) => size !== undefined && size > 0 && progress(Math.min(1, sent / size)),
    });
    await sending.ended;
  } catch (error) {
    source.cancel();
    throw sendError(error, o.signal, 'sendFile');
  }
  return receipts ? { id, delivery: sending.result.then((r) => report(id, r)) } : { id };
}

/** `send` over a direct peer: the same progress steps and result as over the relay. */
export function sendDirect(
  peer: RemotePeer,
  data: SendData,
  o: SendOptions,
): { source: UnderlyingDefaultSource<TransferProgress>; result: Promise<SendResult> } {
  return trackedTransfer(
    async () => {
      const text = typeof data === 'string';
      const source = await openSource(text ? utf8(data) : data);
      const name = o.name ?? source.name ?? 'unnamed';
      const { streamId, id } = newStreamId();
      return {
        first: { id, label: o.topic, topic: o.topic, current: 0, total: source.size, done: false },
        source,
        start: async (onProgress) =>
          peerControl(peer).appStream({
            streamId,
            topic: o.topic,
            name,
            mimeType: o.mimeType ?? (text ? 'text/plain' : await mimeTypeOf(name)),
            attributes: o.info ?? {},
            size: source.size,
            receipts: o.receipts ?? true,
            receiptTimeoutMs: o.receiptTimeoutMs,
            source: source.blocks(),
            signal: o.signal,
            onProgress,
          }),
      };
    },
    (error) => sendError(error, o.signal, 'send'),
  );
}

/** `streamBytes` over a direct peer: a writer of the relay's shape whose writes wait for the reader's credit. */
export async function streamBytesDirect(peer: RemotePeer, o: StreamBytesOptions): Promise<ByteStreamWriter> {
  const { streamId, id } = newStreamId();
  const source = new PushSource();
  const info: ByteStreamInfo = {
    id,
    topic: o.topic,
    timestamp: Date.now(),
    mimeType: o.mimeType ?? 'application/octet-stream',
    attributes: o.attributes ?? {},
    name: o.name ?? 'unnamed',
    ...(o.totalSize === undefined ? {} : { size: o.totalSize }),
  };
  const sending = await peerControl(peer).appStream({
    streamId,
    topic: info.topic,
    name: info.name,
    mimeType: info.mimeType,
    attributes: info.attributes,
    size: o.totalSize,
    receipts: o.receipts ?? false,
    receiptTimeoutMs: o.receiptTimeoutMs,
    source: source.iterate(),
    signal: o.signal,
    onProgress: () => undefined,
  });
  sending.ended.then(
    () => source.finish(),
    (error: unknown) => source.finish(sendError(error, o.signal, 'streamBytes')),
  );
  const writer = new DirectByteWriter(info, source, sending, o.receipts === true);
  if (o.signal !== undefined) {
    const signal = o.signal;
    const onAbort = () => void writer.abort(abortReasonText(signal.reason)).catch(() => undefined);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  return writer;
}

class DirectByteWriter implements ByteStreamWriter {
  readonly delivery?: Promise<DeliveryReport>;
  #written = 0;

  constructor(
    readonly info: ByteStreamInfo,
    private readonly source: PushSource,
    private readonly sending: StreamSending,
    receipts: boolean,
  ) {
    if (receipts) this.delivery = sending.result.then((r) => report(info.id, r));
    this.delivery?.catch(() => undefined);
  }

  write(chunk: Uint8Array): Promise<void> {
    if (!(chunk instanceof Uint8Array)) return Promise.reject(DataStreamError.invalidArgument('"chunk" expected a Uint8Array'));
    this.#written += chunk.length;
    if (this.info.size !== undefined && this.#written > this.info.size)
      return Promise.reject(DataStreamError.lengthExceeded(`the stream was announced with ${this.info.size} bytes`));
    return this.source.push(chunk);
  }

  async close(): Promise<void> {
    if (this.info.size !== undefined && this.#written !== this.info.size)
      throw new DataStreamError('Incomplete', `closed after ${this.#written} of the announced ${this.info.size} bytes`);
    void this.source.push(undefined).catch(() => undefined);
    await this.sending.ended;
  }

  async abort(reason: string): Promise<void> {
    // The error's message is the reason the signed abort carries (./direct-stream.ts).
    void this.source.push(undefined, new DataStreamError('Aborted', abortReasonText(reason))).catch(() => undefined);
    await this.sending.ended.catch(() => undefined);
  }
}

interface Pending {
  chunk: Uint8Array | undefined;
  error?: Error;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The writer's chunks as the async source the direct sender pulls: a write resolves once the sender
 * asks for the next chunk (this one is sealed and sent by then), or at once when the stream is over.
 */
class PushSource {
  readonly #queue: Pending[] = [];
  #wake: (() => void) | undefined;
  #current: Pending | undefined;
  #over: { error: unknown } | undefined;

  /** A chunk, the end (undefined), or an abort (`error`). */
  push(chunk: Uint8Array | undefined, error?: Error): Promise<void> {
    if (this.#over !== undefined) return this.#over.error === undefined ? Promise.resolve() : Promise.reject(this.#over.error);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ chunk, ...(error === undefined ? {} : { error }), resolve, reject });
      this.#wake?.();
    });
  }

  /** The stream is over: every pending write settles (rejected writes with `error`). */
  finish(error?: unknown): void {
    this.#over = { error };
    for (const p of [this.#current, ...this.#queue.splice(0)]) {
      if (p === undefined) continue;
      if (error === undefined) p.resolve();
      else p.reject(error);
    }
    this.#current = undefined;
    this.#wake?.();
  }

  async *iterate(): AsyncGenerator<Uint8Array> {
    for (;;) {
      this.#current?.resolve();
      this.#current = undefined;
      while (this.#queue.length === 0) {
        if (this.#over !== undefined) return;
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
      const next = this.#queue.shift()!;
      this.#current = next;
      if (next.error !== undefined) throw next.error;
      if (next.chunk === undefined) return;
      yield next.chunk;
    }
  }
}
