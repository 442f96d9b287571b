/**
 * Public types of byte and text streams (LiveKit's API shape, see shared/reference/livekit-*):
 * end-to-end encrypted, ordered, complete-or-error, with backpressure from receiver to sender.
 */
import type { SealroomError } from '../../protocol/errors.ts';

export interface BaseStreamInfo {
  /** Unique id of the stream. */
  id: string;
  topic: string;
  /** When the sender opened it, ms since the Unix epoch (sender's clock). */
  timestamp: number;
  mimeType: string;
  /** Total size in bytes, when the sender knew it. */
  size?: number;
  attributes: Record<string, string>;
}

export interface ByteStreamInfo extends BaseStreamInfo {
  name: string;
}

export type TextStreamInfo = BaseStreamInfo;

interface CommonSendOptions {
  /** The room to send in (this connection must have joined it). */
  roomId: string;
  topic: string;
  attributes?: Record<string, string>;
  /** User ids to send to; empty or omitted: everyone in the room but the sender. */
  destinationIdentities?: string[];
  signal?: AbortSignal;
}

export interface SendFileOptions extends CommonSendOptions {
  name?: string;
  /** Detected from the name when omitted. */
  mimeType?: string;
  /** Fraction sent, 0..1 (when the size is known). */
  onProgress?: (progress: number) => void;
}

export interface StreamBytesOptions extends CommonSendOptions {
  name: string;
  mimeType?: string;
  totalSize?: number;
}

export interface SendTextOptions extends CommonSendOptions {
  onProgress?: (progress: number) => void;
}

export type StreamTextOptions = CommonSendOptions & { totalSize?: number };

export interface ByteStreamWriter {
  readonly info: ByteStreamInfo;
  /** Resolves when the bytes are handed on; waits while the slowest receiver is a window behind. */
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** Ends the stream; receivers get an `AbnormalEnd` error carrying `reason`. */
  abort(reason: string): Promise<void>;
}

export interface TextStreamWriter {
  readonly info: TextStreamInfo;
  write(text: string): Promise<void>;
  close(): Promise<void>;
  abort(reason: string): Promise<void>;
}

export interface ByteStreamReader extends AsyncIterable<Uint8Array> {
  readonly info: ByteStreamInfo;
  onProgress?: (progress: number | undefined) => void;
  readAll(options?: { signal?: AbortSignal }): Promise<Uint8Array[]>;
  /** Writes the stream to `directory/name` (default: the sender's name); rejects unsafe names. Node only. */
  writeToFile(directory: string, name?: string): Promise<string>;
}

export interface TextStreamReader extends AsyncIterable<string> {
  readonly info: TextStreamInfo;
  onProgress?: (progress: number | undefined) => void;
  readAll(options?: { signal?: AbortSignal }): Promise<string>;
}

export interface ParticipantInfo {
  /** The sender's user id, as the Bridge knows it and as its signature proves at the end. */
  identity: string;
  streamRoomId: string;
}

export type ByteStreamHandler = (reader: ByteStreamReader, participant: ParticipantInfo) => void;
export type TextStreamHandler = (reader: TextStreamReader, participant: ParticipantInfo) => void;

export type { SealroomError };
