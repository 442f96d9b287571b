import { SealroomError, reasonToCode } from './sealroom-error.ts';

/**
 * Why a crypto operation failed.
 * - `InvalidArgument`: a caller passed a value of the wrong type, length or range (names the argument).
 * - `InvalidKey`: a key's text form or bytes do not parse (bad checksum, wrong prefix, low-order point).
 * - `DecryptFailed`: authentication failed. Every decryption failure, whatever the cause (wrong key,
 *   flipped bit, reordered, dropped, duplicated or truncated chunk), has this reason and the same message,
 *   so the error is no oracle.
 * - `BadSignature`: an Ed25519 signature did not verify.
 * - `Replay`: a counter was seen before or is too old for the replay window.
 * - `Unsupported`: the runtime lacks a primitive and no fallback applies.
 * - `LimitExceeded`: an input exceeds a documented limit (chunk size, counter space).
 */
export type CryptoErrorReason = 'InvalidArgument' | 'InvalidKey' | 'DecryptFailed' | 'BadSignature' | 'Replay' | 'Unsupported' | 'LimitExceeded';

/** The single message for every decryption failure (STYLE.md: no oracle, no secret). */
export const DECRYPT_FAILED_MESSAGE = 'decryption failed';

export class CryptoError extends SealroomError {
  readonly reason: CryptoErrorReason;

  constructor(reason: CryptoErrorReason, message: string, options?: { cause?: unknown }) {
    super(reasonToCode('ERR_CRYPTO', reason), message, options);
    this.reason = reason;
  }

  static invalidArgument(message: string): CryptoError {
    return new CryptoError('InvalidArgument', message);
  }

  static invalidKey(message: string): CryptoError {
    return new CryptoError('InvalidKey', message);
  }

  /** The cause is kept for debugging but the message is always the same. */
  static decryptFailed(cause?: unknown): CryptoError {
    return new CryptoError('DecryptFailed', DECRYPT_FAILED_MESSAGE, { cause });
  }

  static badSignature(what: string): CryptoError {
    return new CryptoError('BadSignature', `${what}: signature does not verify`);
  }

  static replay(message: string): CryptoError {
    return new CryptoError('Replay', message);
  }

  static unsupported(message: string): CryptoError {
    return new CryptoError('Unsupported', message);
  }

  static limitExceeded(message: string): CryptoError {
    return new CryptoError('LimitExceeded', message);
  }
}
