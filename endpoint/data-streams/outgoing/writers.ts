/**
 * The writers `streamBytes` and `streamText` return (LiveKit's shape), over an OutgoingStream. An
 * AbortSignal in the options aborts the stream with the signal's reason.
 */
import { utf8 } from '../../../crypto/bytes.ts';
import { DataStreamError } from '../errors.ts';
import { STREAM_ABORT_REASON_MAX_BYTES } from '../limits.ts';
import type { ByteStreamInfo, ByteStreamWriter, DeliveryReport, TextStreamInfo, TextStreamWriter } from '../types.ts';
import { utf8PieceEnd } from '../utf8.ts';
import type { OutgoingStream } from './outgoing-stream.ts';

export class ByteWriter implements ByteStreamWriter {
  constructor(
    readonly info: ByteStreamInfo,
    private readonly stream: OutgoingStream,
    readonly delivery?: Promise<DeliveryReport>,
  ) {}

  write(chunk: Uint8Array): Promise<void> {
    return this.stream.write(chunk);
  }

  close(): Promise<void> {
    return this.stream.close();
  }

  abort(reason: string): Promise<void> {
    return this.stream.abort(reason);
  }
}

export class TextWriter implements TextStreamWriter {
  constructor(
    readonly info: TextStreamInfo,
    private readonly stream: OutgoingStream,
  ) {}

  write(text: string): Promise<void> {
    if (typeof text !== 'string') return Promise.reject(DataStreamError.invalidArgument(`"text" expected a string, got ${typeof text}`));
    return this.stream.write(utf8(text));
  }

  close(): Promise<void> {
    return this.stream.close();
  }

  abort(reason: string): Promise<void> {
    return this.stream.abort(reason);
  }
}

/** Refuses a signal that is not one, or one already aborted. */
export function checkSignal(signal: unknown, what: string): asserts signal is AbortSignal | undefined {
  if (signal === undefined) return;
  if (!(signal instanceof AbortSignal)) throw DataStreamError.invalidArgument('"signal" expected an AbortSignal');
  if (signal.aborted) throw DataStreamError.aborted(what, signal.reason);
}

/** Aborts the stream when `signal` fires (until the stream is over). */
export function abortOnSignal(stream: OutgoingStream, signal: AbortSignal | undefined): void {
  if (signal === undefined) return;
  const onAbort = () => void stream.abort(signalReason(signal)).catch(() => undefined);
  // It may have fired while the stream was opening.
  if (signal.aborted) return onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  void stream.ended.then(() => signal.removeEventListener('abort', onAbort));
}

/** The abort reason a signal carries, as text that fits an abort chunk. */
export function signalReason(signal: AbortSignal): string {
  return abortReasonText(signal.reason);
}

/** An abort reason (an Error, a string, anything) as text that fits an abort chunk. */
export function abortReasonText(reason: unknown): string {
  const text = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  const bytes = utf8(text);
  if (bytes.length <= STREAM_ABORT_REASON_MAX_BYTES) return text;
  return new TextDecoder().decode(bytes.subarray(0, utf8PieceEnd(bytes, 0, STREAM_ABORT_REASON_MAX_BYTES)));
}
