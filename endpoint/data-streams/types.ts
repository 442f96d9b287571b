/**
 * Public types of byte and text streams (LiveKit's API shape, see docs/design.md, "Byte streams and text streams"):
 * end-to-end encrypted, ordered, complete-or-error, with backpressure from receiver to sender.
 */
import type { SealroomError } from '../../protocol/errors.ts';

export interface BaseStreamInfo {
  /** Unique id of the stream: base64url of its 16-byte random stream id. */
  id: string;
  topic: string;
  /** When the sender opened it, ms since the Unix epoch (sender's clock). */
  timestamp: number;
  /** Defaults to `application/octet-stream` (bytes) or `text/plain` (text). */
  mimeType: string;
  /** Total size in bytes, when the sender knew it; the reader refuses more (`LengthExceeded`) or less (`Incomplete`). */
  size?: number;
  attributes: Record<string, string>;
}

export interface ByteStreamInfo extends BaseStreamInfo {
  name: string;
}

/**
 * What a chat app says about a text stream (LiveKit's text-stream fields), sent inside the encrypted,
 * signed header: so neither the Bridge nor another member can change them.
 */
export interface ChatFields {
  /** The message (stream id, `info.id`) this one answers. */
  replyToStreamId?: string;
  /** Byte streams sent with this message (their `info.id`s, at most 64). */
  attachedStreamIds?: string[];
  /** What this message does to the conversation; `update`, `delete` and `reaction` name their target in `replyToStreamId`. */
  operationType?: 'create' | 'update' | 'delete' | 'reaction';
  /** Edit number of the message, for `update`. */
  version?: number;
}

export type TextStreamInfo = BaseStreamInfo & ChatFields;

interface CommonSendOptions {
  /** The room to send in (this connection must have joined it). */
  roomId: string;
  topic: string;
  attributes?: Record<string, string>;
  /**
   * User ids to send to (at most 256, each a member of the room); empty or omitted: everyone in the
   * room but the sender. With destinations the stream is private: its key is random and wrapped to
   * each of them, so no other member can read it, whoever the Bridge delivers it to.
   */
  destinationIdentities?: string[];
  /** Aborting ends the stream with a signed abort (receivers get `AbnormalEnd`) and rejects pending writes. */
  signal?: AbortSignal;
  /**
   * Asks each receiver for a delivery receipt signed with its own key once it has read the stream to
   * its verified end (docs/protocol/receipts.md). Default: on for `sendFile`, `send` and broadcasts,
   * off for `streamBytes`, `streamText` and `sendText`.
   */
  receipts?: boolean;
  /** How long to wait for receipts after the stream's end, in ms (default 10,000). */
  receiptTimeoutMs?: number;
}

/**
 * Which way a stream to exactly one member goes (docs/protocol/peer-signalling.md, "Path selection"):
 * `auto` (the default) over a direct connection to it when one is up or comes up within
 * `directTimeoutMs`, else over the relay with the same result; `direct` fails with a `PeerError`
 * instead; `relay` never goes direct. With other destinations than exactly one, the relay. A stream
 * never switches path halfway; `streamApi.peerStats()` says which path each stream took.
 */
export interface PathOptions {
  path?: 'auto' | 'relay' | 'direct';
  /** `path: 'auto'`: how long a new direct connection may take before the relay is used. Default 2,000 ms. */
  directTimeoutMs?: number;
}

export interface SendFileOptions extends CommonSendOptions, PathOptions {
  /** Defaults to the file's name (a path or a `File`), else `unnamed`. */
  name?: string;
  /** Detected from the name when omitted. */
  mimeType?: string;
  /** Fraction sent, 0..1 (when the size is known). */
  onProgress?: (progress: number) => void;
}

export interface StreamBytesOptions extends CommonSendOptions, PathOptions {
  name: string;
  mimeType?: string;
  /** Bytes the stream will carry; writing more is `LengthExceeded`, closing with fewer is `Incomplete`. */
  totalSize?: number;
}

export interface SendTextOptions extends CommonSendOptions, ChatFields {
  /** Fraction sent, 0..1. */
  onProgress?: (progress: number) => void;
}

export type StreamTextOptions = CommonSendOptions &
  ChatFields & {
    /** UTF-8 bytes the stream will carry, if known. */
    totalSize?: number;
  };

export interface ByteStreamWriter {
  readonly info: ByteStreamInfo;
  /** With `receipts: true`: who proved delivery, once the stream has ended and receipts came (or the wait passed). */
  readonly delivery?: Promise<DeliveryReport>;
  /**
   * Resolves once the bytes are on the socket; waits while the slowest receiver is a window behind.
   * The bytes are sealed before it resolves, so the buffer may be reused afterwards. Writes are sent
   * in call order; a large write is cut into chunks of at most 64 KiB.
   * @example for await (const block of source) await writer.write(block);
   */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Sends the signed end once earlier writes are out; readers end in the order their writers closed.
   * @example await writer.close();
   */
  close(): Promise<void>;
  /**
   * Ends the stream with a signed abort: pending writes reject with `Aborted`, receivers get an
   * `AbnormalEnd` error whose `abortReason` is `reason` (at most 1024 UTF-8 bytes).
   * @example await writer.abort('cancelled by the user');
   */
  abort(reason: string): Promise<void>;
}

export interface TextStreamWriter {
  readonly info: TextStreamInfo;
  /**
   * Sends text as UTF-8; never splits a character across chunks.
   * @example for await (const token of llm) await writer.write(token);
   */
  write(text: string): Promise<void>;
  /** @example await writer.close(); */
  close(): Promise<void>;
  /** @example await writer.abort('generation stopped'); */
  abort(reason: string): Promise<void>;
}

/**
 * What a byte-stream handler gets. Read it with one of `for await`, `readAll` or `writeToFile`
 * (one consumer); leaving a `for await` early lets the stream go. Data arrives complete and in order,
 * or the read rejects with a `DataStreamError`: never a silent gap or truncation.
 * @example for await (const chunk of reader) hash.update(chunk);
 */
export interface ByteStreamReader extends AsyncIterable<Uint8Array> {
  readonly info: ByteStreamInfo;
  /** Called as data arrives: the fraction received when the size is known, undefined otherwise. */
  onProgress?: (progress: number | undefined) => void;
  /**
   * Every chunk, once the stream has reached its verified end (the sender's signature checked). An
   * aborted `signal` rejects with `Aborted` and lets the stream go. It holds the whole stream in
   * memory, so it reads at most `maxBytes` (default 64 MiB, `BYTES_READ_ALL_MAX_BYTES`): past it, or
   * with a signed size over it, `LengthExceeded` and the stream is cancelled. Read larger streams
   * with `for await`, `readable` or `writeToFile`.
   * @example const blob = new Blob(await reader.readAll(), { type: reader.info.mimeType });
   */
  readAll(options?: { signal?: AbortSignal; maxBytes?: number }): Promise<Uint8Array[]>;
  /**
   * Writes the stream to `directory/name` (default: the sender's name) through a temporary file that
   * becomes the file only at the verified end, and is removed on any error. Rejects names with path
   * separators, `..`, a drive or absolute path, or empty (`InvalidArgument`), and never replaces a
   * file (`FileError`). Returns the path. Node only (`Unsupported` elsewhere).
   * @example const path = await reader.writeToFile('./downloads');
   */
  writeToFile(directory: string, name?: string): Promise<string>;
  /**
   * The same stream as a standard `ReadableStream` (pull-based: nothing is read ahead, so an unread
   * stream stays held at one window). Getting it picks it as the reader's one consumer; it closes at
   * the verified end and errors with the stream's `DataStreamError`; cancelling it lets the stream go.
   * @example await reader.readable.pipeTo(Writable.toWeb(createWriteStream(path)));
   */
  readonly readable: ReadableStream<Uint8Array>;
}

/** @example for await (const piece of reader) output.append(piece); */
export interface TextStreamReader extends AsyncIterable<string> {
  readonly info: TextStreamInfo;
  onProgress?: (progress: number | undefined) => void;
  /**
   * The whole text, once the stream has reached its verified end: at most `maxBytes` of UTF-8
   * (default 1 MiB, `TEXT_READ_ALL_MAX_BYTES`; past it `LengthExceeded` and the stream is cancelled),
   * since any member may send a text of any size. Iterate with `for await` to read more.
   * @example const text = await reader.readAll({ signal: AbortSignal.timeout(10_000) });
   */
  readAll(options?: { signal?: AbortSignal; maxBytes?: number }): Promise<string>;
}

export interface ParticipantInfo {
  /** The sender's user id, as the Bridge knows it and as its signature proves at the end. */
  identity: string;
  streamRoomId: string;
}

/** A handler may be async; a rejection is logged. Read the stream, or it holds its sender at one window. */
export type ByteStreamHandler = (reader: ByteStreamReader, participant: ParticipantInfo) => void | Promise<void>;
export type TextStreamHandler = (reader: TextStreamReader, participant: ParticipantInfo) => void | Promise<void>;

/**
 * Why an intended recipient is not in `delivered` (docs/protocol/receipts.md): `not_connected` (no
 * connection of it received the stream), the Bridge's cut (`too_slow`, `rejected`, `disconnected`,
 * `removed`, `left`), `invalid_receipt` (only receipts that failed to verify came), `no_receipt` (none
 * within the wait) or `stream_failed` (the stream did not reach its end).
 */
export type DeliveryFailure =
  | 'not_connected'
  | 'too_slow'
  | 'rejected'
  | 'disconnected'
  | 'removed'
  | 'left'
  | 'invalid_receipt'
  | 'no_receipt'
  | 'stream_failed';

/** Who proved delivery of a stream with a signed receipt, and who did not (every intended recipient is in one list). */
export interface DeliveryReport {
  streamId: string;
  /** `at`: when the receiver signed its receipt (its clock, ms since the Unix epoch). */
  delivered: Array<{ userId: string; at: number }>;
  failed: Array<{ userId: string; reason: DeliveryFailure }>;
}

export type { SealroomError };
export { DataStreamError, type DataStreamErrorReason } from './errors.ts';

/** What byte and text streams hold and what they dropped (`streamApi.dataStreamStats()`). */
export interface DataStreamStats {
  /** Streams this connection is sending. */
  sending: number;
  /** Streams this connection is receiving. */
  receiving: number;
  /** Decrypted bytes waiting for readers (bounded by the Bridge's window per stream). */
  bufferedBytes: number;
  /** Delivery steps queued. */
  pendingSteps: number;
  /** Streams this connection sent whose delivery receipts it still waits for (each at most `receiptTimeoutMs`). */
  awaitingReceipts: number;
  /**
   * Incoming streams that failed before any handler saw them, by reason: a header that did not open
   * (`Integrity`, which is also what a sender misattributed by the Bridge gives), no key
   * (`KeyUnavailable`), an invalid header (`Malformed`), or idle (`Timeout`). Each is also logged.
   */
  droppedBeforeHandler: Partial<Record<import('./errors.ts').DataStreamErrorReason, number>>;
  /**
   * Incoming streams the Bridge announced past `INCOMING_STREAMS_MAX` (256) at once, or past
   * `INCOMING_STREAMS_PER_SENDER_MAX` (64) from one sender, rejected at once
   * (docs/operations/limits.md, "What the Endpoint reads").
   */
  refusedOpens: number;
  /**
   * Payload bytes of incoming streams that arrived and were not consumed yet. Flow control bounds it by a
   * window per stream; a stream past `INCOMING_UNCONSUMED_MAX_BYTES` (32 MiB), or a connection past 256
   * MiB over all, fails (`AbnormalEnd`) before more is queued.
   */
  unconsumedBytes: number;
  /**
   * The bulk governor of this process (shared by its connections): whether it paces byte streams now,
   * at what rate, how often and how long it held credits and chunks back, and how often the event
   * loop's lateness halved the rate (docs/operations/realtime-priorities.md, "The bulk governor").
   */
  bulkYield: import('../util/bulk-governor.ts').BulkYieldStats;
}
