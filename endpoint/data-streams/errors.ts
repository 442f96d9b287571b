/**
 * Errors of byte and text streams: one class with a `reason` from a documented union and a stable
 * `code` (`ERR_DATA_STREAM_<REASON>`), built by static factories (STYLE.md, after livekit's
 * `DataStreamError`). Messages name what was expected and what arrived; they never carry stream
 * content or keys. An abort reason is the sender's own text, authenticated by its signature, and
 * travels in `abortReason`, never in the message.
 */
import { SealroomError, reasonToCode } from '../../protocol/errors.ts';
import type { RoomLeftReason } from '../realtime/types.ts';

/**
 * - `AbnormalEnd`: the stream ended before its signed end: the sender aborted (`abortReason` holds its
 *   reason), left, disconnected or was removed, or the Bridge ended the stream.
 * - `Integrity`: what arrived is not what the sender sent: a chunk failed to authenticate, chunks were
 *   dropped, reordered, duplicated or cut short, or the sender's signature does not verify.
 * - `Malformed`: the stream authenticated but its header or its text is invalid.
 * - `ConnectionLost`: this connection to the Bridge dropped or was closed.
 * - `TooSlow`: the Bridge cut this reader from the stream: it consumed nothing for too long.
 * - `Removed`: this member was removed from the room, or the room was deleted.
 * - `RoomLeft`: this connection left the room.
 * - `Timeout`: the stream was idle past its idle timeout: nothing arrived for a reader, no allowance came
 *   for a writer (`streamIdleTimeoutMs`), so a withheld final chunk or allowance never waits forever.
 * - `Aborted`: the app aborted (an AbortSignal, `writer.abort()`, or it stopped reading).
 * - `HandlerExists`: a handler is already registered for the topic.
 * - `InvalidArgument`: a caller passed a bad value (the message names it).
 * - `KeyUnavailable`: no key for the room's epoch, or the sender is not in the verified room.
 * - `LengthExceeded`: more bytes than the announced `totalSize`, or a value over a size limit.
 * - `Incomplete`: the stream ended with fewer bytes than its announced `totalSize`.
 * - `FileError`: reading or writing a local file failed (`cause` holds the system error).
 * - `Unsupported`: this runtime lacks what the call needs (file paths outside Node).
 */
export type DataStreamErrorReason =
  | 'AbnormalEnd'
  | 'Integrity'
  | 'Malformed'
  | 'ConnectionLost'
  | 'TooSlow'
  | 'Timeout'
  | 'Removed'
  | 'RoomLeft'
  | 'Aborted'
  | 'HandlerExists'
  | 'InvalidArgument'
  | 'KeyUnavailable'
  | 'LengthExceeded'
  | 'Incomplete'
  | 'FileError'
  | 'Unsupported';

export class DataStreamError extends SealroomError {
  readonly reason: DataStreamErrorReason;
  /** For `AbnormalEnd` after the sender aborted: the reason it gave (authenticated by its signature). */
  readonly abortReason: string | undefined;

  constructor(reason: DataStreamErrorReason, message: string, options: { cause?: unknown; abortReason?: string } = {}) {
    super(reasonToCode('ERR_DATA_STREAM', reason), message, { cause: options.cause });
    this.reason = reason;
    this.abortReason = options.abortReason;
  }

  static invalidArgument(message: string): DataStreamError {
    return new DataStreamError('InvalidArgument', message);
  }

  static lengthExceeded(message: string): DataStreamError {
    return new DataStreamError('LengthExceeded', message);
  }

  /** The sender ended the stream with a signed abort. */
  static senderAborted(reason: string): DataStreamError {
    return new DataStreamError('AbnormalEnd', 'the sender aborted the stream', { abortReason: reason });
  }

  /** Every integrity failure has the same message (no oracle, STYLE.md rule 2). */
  static integrity(cause?: unknown): DataStreamError {
    return new DataStreamError('Integrity', 'the stream failed its integrity check', { cause });
  }

  static timeout(message: string): DataStreamError {
    return new DataStreamError('Timeout', message);
  }

  static connectionLost(): DataStreamError {
    return new DataStreamError('ConnectionLost', 'the connection to the Bridge was lost');
  }

  static aborted(what: string, cause?: unknown): DataStreamError {
    return new DataStreamError('Aborted', `${what}: aborted`, { cause });
  }
}

/** The error of streams (read or written) in a room this connection left, by why it left. */
export function roomLeftError(reason: RoomLeftReason): DataStreamError {
  switch (reason) {
    case 'left':
      return new DataStreamError('RoomLeft', 'this connection left the room');
    case 'removed':
      return new DataStreamError('Removed', 'this member was removed from the room');
    case 'room_deleted':
      return new DataStreamError('Removed', 'the room was deleted');
    case 'disconnected':
      return DataStreamError.connectionLost();
    default: {
      const never: never = reason;
      throw new Error(`unknown reason ${String(never)}`);
    }
  }
}
