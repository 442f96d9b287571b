/**
 * Public types of the Web Streams shapes over byte streams (docs/data-streams/web-streams.md): a
 * `WritableStream` broadcast to a room (PeerPigeon's shape) and `send()` with a progress stream that is
 * also awaitable (Peerix's shape). Both are byte streams underneath: the same encryption, signatures,
 * flow control and `DataStreamError` reasons.
 */
import type { ByteStreamInfo, DeliveryReport, PathOptions } from '../types.ts';

export interface BroadcastOptions {
  topic: string;
  /** Defaults to the file's name (a path or a `File`), else `unnamed`. */
  name?: string;
  /** Detected from the name when omitted, else `application/octet-stream`. */
  mimeType?: string;
  /** Bytes the stream will carry; more is `LengthExceeded`, fewer at close is `Incomplete`. */
  totalSize?: number;
  attributes?: Record<string, string>;
  /** Only these members (at most 256) can read it; default everyone in the room but the sender. */
  destinationIdentities?: string[];
  /** Aborts the stream (receivers get `AbnormalEnd` with the signal's reason). */
  signal?: AbortSignal;
  /** Ask receivers for signed delivery receipts (default true; docs/protocol/receipts.md). */
  receipts?: boolean;
  /** How long to wait for receipts after the end, ms (default 10,000). */
  receiptTimeoutMs?: number;
}

/** What a broadcast said about itself, as its receivers see it in `info` (all of it encrypted). */
export interface BroadcastMetadata {
  topic: string;
  name: string;
  mimeType: string;
  size?: number;
  attributes: Record<string, string>;
}

/** A broadcast reached its signed end; with receipts, every intended recipient is in `delivered` or `failed`. */
export interface BroadcastStreamComplete {
  streamId: string;
  roomId: string;
  totalBytes: number;
  /** `write()` calls (chunks the app wrote). */
  totalChunks: number;
  metadata: BroadcastMetadata;
  delivered?: DeliveryReport['delivered'];
  failed?: DeliveryReport['failed'];
}

export interface BroadcastStreamAborted {
  streamId: string;
  roomId: string;
  reason: string;
  metadata: BroadcastMetadata;
}

/** A byte stream arrived on a topic opened with `receiveBroadcasts`. Read `stream` or cancel it: unread, it holds its sender. */
export interface StreamReceivedEvent {
  /** The sender's user id (the Bridge names it, the sender's signature proves it). */
  peerId: string;
  roomId: string;
  streamId: string;
  /** The reader's `readable` (pull-based); errors with the stream's `DataStreamError`. */
  stream: ReadableStream<Uint8Array>;
  metadata: ByteStreamInfo;
}

/** A stream of `streamReceived` was read to its verified end. */
export interface StreamCompletedEvent {
  peerId: string;
  roomId: string;
  streamId: string;
  totalChunks: number;
  totalBytes: number;
}

export interface BroadcastEventMap extends Record<string, unknown> {
  streamReceived: StreamReceivedEvent;
  streamCompleted: StreamCompletedEvent;
  broadcastStreamComplete: BroadcastStreamComplete;
  broadcastStreamAborted: BroadcastStreamAborted;
}

/** What `send()` takes: text (sent as UTF-8, `text/plain`), bytes, a Blob or File, or a ReadableStream of bytes. */
export type SendData = string | Uint8Array | Blob | ReadableStream<Uint8Array>;

/** `path` and `directTimeoutMs`: see PathOptions (default `auto`). */
export interface SendOptions extends PathOptions {
  roomId: string;
  topic: string;
  /** Metadata for the receivers, sent encrypted as the stream's attributes (Peerix's `info`). */
  info?: Record<string, string>;
  name?: string;
  mimeType?: string;
  /** Aborting stops the transfer at once, even inside a block: receivers get `AbnormalEnd` with the reason. */
  signal?: AbortSignal;
  destinationIdentities?: string[];
  /** Ask receivers for signed delivery receipts (default true). */
  receipts?: boolean;
  /** How long to wait for receipts after the end, ms (default 10,000). */
  receiptTimeoutMs?: number;
}

/** One progress step of `send()`; `current` never decreases, and the last step has `done: true`. */
export interface TransferProgress {
  id: string;
  /** The topic (Peerix calls it the label). */
  label: string;
  topic: string;
  /** Bytes on the socket so far. */
  current: number;
  /** Bytes in all, when known. */
  total: number | undefined;
  done: boolean;
}

/** What an awaited `send()` gives: the stream id and who proved delivery (with receipts). */
export interface SendResult {
  id: string;
  delivered: DeliveryReport['delivered'];
  failed: DeliveryReport['failed'];
}

/**
 * The progress of one `send()` as a `ReadableStream`, which is also awaitable for the result (after the
 * receipts, or the wait for them). Progress is pulled: an unread progress stream holds only the latest step.
 * @example for await (const p of transfer) bar(p.current / (p.total ?? 1)); const { delivered } = await transfer;
 */
export type Transfer = ReadableStream<TransferProgress> & AsyncIterable<TransferProgress> & PromiseLike<SendResult>;
