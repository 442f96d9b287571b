/**
 * The Bridge's domain errors (STYLE.md rule 12: errors belong to their layer). Services, the relay and
 * the socket hub throw `BridgeError(code, message)` with a stable code; only bridge/http maps a code to
 * an HTTP status (http/errors.ts), and the socket layer sends the code as is in an `error` message.
 */
import { SealroomError } from '../protocol/errors.ts';

/** The stable error codes of the Bridge, over REST and the socket. Clients and tests match on these. */
export type ErrorCode =
  | 'BAD_JSON'
  | 'BAD_CONTENT_ENCODING'
  | 'BAD_REQUEST'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'VALIDATION_FAILED'
  | 'UNAUTHENTICATED'
  | 'AUTH_FAILED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'SOLUTION_NOT_FOUND'
  | 'CONTEXT_NOT_FOUND'
  | 'USER_NOT_FOUND'
  | 'ROOM_NOT_FOUND'
  | 'API_KEY_NOT_FOUND'
  | 'ROOM_EXISTS'
  | 'VERSION_CONFLICT'
  | 'RECORD_INVALID'
  | 'KEY_SET_INVALID'
  | 'USER_CONFLICT'
  | 'LAST_API_KEY'
  | 'RATE_LIMITED'
  | 'NOT_JOINED'
  /** A direct peer signal's target connection is not joined to the room (docs/protocol/peer-signalling.md). */
  | 'PEER_NOT_JOINED'
  | 'STREAM_EXISTS'
  | 'STREAM_NOT_FOUND'
  | 'TRACK_NOT_FOUND'
  | 'TOO_MANY_STREAMS'
  | 'NOT_A_RECEIVER'
  | 'RECEIPT_EXISTS'
  | 'TOO_MANY_ROOMS'
  | 'ROOM_FULL'
  | 'CONTEXT_ROOM_QUOTA'
  | 'ROOM_VERSION_QUOTA'
  | 'QUERY_TOO_COSTLY'
  | 'TOO_MANY_CONNECTIONS'
  /** Dev mode: the request named a host that is not this Bridge's (a DNS-rebinding page), 421. */
  | 'HOST_NOT_ALLOWED'
  | 'SHUTTING_DOWN'
  | 'STORE_UNAVAILABLE'
  | 'CLUSTER_UNAVAILABLE'
  /** The Bridge's event loop is saturated: new work is refused until it recovers (docs/operations/limits.md, "Overload"). */
  | 'OVERLOADED'
  | 'INTERNAL';

export interface BridgeErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
  /** Seconds until a retry may succeed (rate limits, shutting down). */
  retryAfter?: number;
}

export class BridgeError extends SealroomError {
  override readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options?: BridgeErrorOptions) {
    super(code, message, options);
    this.code = code;
    this.details = options?.details;
    this.retryAfter = options?.retryAfter;
  }

  static invalid(code: ErrorCode, message: string, details?: Record<string, unknown>): BridgeError {
    return new BridgeError(code, message, details === undefined ? undefined : { details });
  }

  static unauthenticated(message = 'a valid session token is required'): BridgeError {
    return new BridgeError('UNAUTHENTICATED', message);
  }

  static forbidden(message: string): BridgeError {
    return new BridgeError('FORBIDDEN', message);
  }

  static notFound(code: ErrorCode, message: string): BridgeError {
    return new BridgeError(code, message);
  }

  static conflict(code: ErrorCode, message: string, details?: Record<string, unknown>): BridgeError {
    return new BridgeError(code, message, details === undefined ? undefined : { details });
  }

  static unprocessable(code: ErrorCode, message: string, details?: Record<string, unknown>): BridgeError {
    return new BridgeError(code, message, details === undefined ? undefined : { details });
  }

  static rateLimited(code: ErrorCode, message: string, retryAfter?: number): BridgeError {
    return new BridgeError(code, message, retryAfter === undefined ? undefined : { retryAfter });
  }
}
