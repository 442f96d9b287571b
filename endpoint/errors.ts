/**
 * Errors of the Endpoint library. One class with a `reason` from a documented union and a stable
 * `code` (`ERR_ENDPOINT_<REASON>`), built by static factories (STYLE.md, after livekit's model).
 */
import { SealroomError, reasonToCode } from '../protocol/errors.ts';

/**
 * - `InvalidArgument`: a caller passed a bad value (the message names it).
 * - `AuthFailed`: the Bridge refused the login or the session.
 * - `AccessDenied`: the Bridge refused the action (policy, membership).
 * - `NotFound`: no such room, context or stream (or not visible to this user).
 * - `VersionConflict`: the room changed since the version the update was based on.
 * - `RoomTampered`: what the Bridge served fails verification (signature, chain, key set, meta).
 * - `Rollback`: the Bridge served a room version older than one this client has seen.
 * - `KeyUnavailable`: no key for the needed epoch (not a member, or the key was withheld).
 * - `KeyChanged`: a user is presented with another key than the one this client pinned for it
 *   (`details`: contextId, userId, pinnedKey, newKey, verified); refused until the app accepts the
 *   change or the user compares safety numbers again (docs/security/key-trust.md).
 * - `KeyRejected`: the app's `verifyUsers` refused a key (or failed), or a safety number did not match.
 * - `TrustStoreFailed`: the local store of pins and trusted room heads could not be read or written.
 * - `TrustStoreBusy`: another StreamApi of the same identity (another tab, window, worker or process)
 *   holds the default trust store; one instance per identity and store at a time
 *   (docs/security/key-trust.md, "One instance per identity").
 * - `ConnectionLost`: the connection to the Bridge dropped or was closed.
 * - `Timeout`: a request got no answer in time.
 * - `Aborted`: the caller's AbortSignal fired.
 * - `RateLimited`: the Bridge asked to slow down: this client's rate (`bridgeCode` RATE_LIMITED), or the
 *   Bridge as a whole is saturated and refuses new work for now (OVERLOADED: tell a person the server is
 *   busy, not that they are too fast); `retryAfterMs` says how long (absent when a socket was refused by
 *   a close 1013 alone).
 * - `BridgeRefused`: any other refusal; `bridgeCode` holds the Bridge's code.
 * - `Unsupported`: this runtime lacks what the call needs.
 */
export type EndpointErrorReason =
  | 'InvalidArgument'
  | 'AuthFailed'
  | 'AccessDenied'
  | 'NotFound'
  | 'VersionConflict'
  | 'RoomTampered'
  | 'Rollback'
  | 'KeyUnavailable'
  | 'KeyChanged'
  | 'KeyRejected'
  | 'TrustStoreFailed'
  | 'TrustStoreBusy'
  | 'ConnectionLost'
  | 'Timeout'
  | 'Aborted'
  | 'RateLimited'
  | 'BridgeRefused'
  | 'Unsupported';

export class EndpointError extends SealroomError {
  readonly reason: EndpointErrorReason;
  /** The Bridge's stable error code, when the Bridge refused. */
  readonly bridgeCode: string | undefined;
  /** HTTP status, when the refusal came over REST. */
  readonly status: number | undefined;
  readonly details: Record<string, unknown> | undefined;
  /** For `RateLimited` (and a Bridge shutting down): how long to wait before trying again, in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(
    reason: EndpointErrorReason,
    message: string,
    options: { cause?: unknown; bridgeCode?: string; status?: number; details?: Record<string, unknown>; retryAfterMs?: number } = {},
  ) {
    super(reasonToCode('ERR_ENDPOINT', reason), message, { cause: options.cause });
    this.reason = reason;
    this.bridgeCode = options.bridgeCode;
    this.status = options.status;
    this.details = options.details;
    this.retryAfterMs = options.retryAfterMs;
  }

  static invalidArgument(message: string): EndpointError {
    return new EndpointError('InvalidArgument', message);
  }

  static tampered(message: string, cause?: unknown): EndpointError {
    return new EndpointError('RoomTampered', message, { cause });
  }

  static rollback(roomId: string, seen: number, served: number): EndpointError {
    return new EndpointError('Rollback', `room "${roomId}": the Bridge served version ${served}, older than version ${seen} seen before`);
  }

  static keyUnavailable(message: string): EndpointError {
    return new EndpointError('KeyUnavailable', message);
  }

  static connectionLost(message = 'the connection to the Bridge was lost', cause?: unknown): EndpointError {
    return new EndpointError('ConnectionLost', message, { cause });
  }

  /** An update based on `version` of a room that is at `currentVersion` (verified by this client). */
  static versionConflict(roomId: string, currentVersion: number, version: number): EndpointError {
    return new EndpointError('VersionConflict', `room "${roomId}" is at version ${currentVersion}, the update is based on ${version}`, {
      details: { currentVersion },
    });
  }

  static timeout(what: string, ms: number): EndpointError {
    return new EndpointError('Timeout', `${what}: no answer within ${ms} ms`);
  }

  static aborted(what: string, cause?: unknown): EndpointError {
    return new EndpointError('Aborted', `${what}: aborted`, { cause });
  }

  /** Maps a Bridge refusal (HTTP status and stable code) onto a reason. */
  static fromBridge(status: number, code: string, message: string, details?: Record<string, unknown>, retryAfterSeconds?: number): EndpointError {
    const reason: EndpointErrorReason =
      code === 'VERSION_CONFLICT'
        ? 'VersionConflict'
        : code === 'RATE_LIMITED' || code === 'OVERLOADED'
          ? 'RateLimited'
          : status === 401 || code === 'AUTH_FAILED' || code === 'UNAUTHENTICATED'
            ? 'AuthFailed'
            : status === 403 || code === 'FORBIDDEN'
              ? 'AccessDenied'
              : status === 404 || code.endsWith('_NOT_FOUND')
                ? 'NotFound'
                : 'BridgeRefused';
    return new EndpointError(reason, message, {
      bridgeCode: code,
      status,
      ...(details === undefined ? {} : { details }),
      ...(retryAfterSeconds === undefined ? {} : { retryAfterMs: retryAfterSeconds * 1000 }),
    });
  }
}
