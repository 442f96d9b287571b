/** The options and events of a Connection (endpoint/connection.ts), and the check of the options. */
import { EndpointError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { ClientRequest } from '../protocol/ws.ts';

/** Default timeout of each request, in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** A request's fields, without the kind and the id the Connection adds. */
export type RequestBody<K extends ClientRequest['kind']> = Omit<Extract<ClientRequest, { kind: K }>, 'kind' | 'id'>;

export interface ConnectOptions {
  /** Timeout of each request, in milliseconds. */
  requestTimeoutMs?: number;
  /** Reconnect the socket after it drops, failing over across the Bridge URLs given (default true). */
  reconnect?: boolean;
  /**
   * Attempt n after a drop (from 0) waits a random time below min(max, base * 2^n), so that clients
   * dropped together do not all come back at once. The base, in milliseconds (default 250).
   */
  reconnectBaseDelayMs?: number;
  /** The cap of that window, in milliseconds (default 10,000). */
  reconnectMaxDelayMs?: number;
  /**
   * After this long without a message from the Bridge, the Endpoint pings it; a ping unanswered for as
   * long again drops the socket (`connectionLost`, code 1006), and the reconnect, or failover, starts.
   * It notices a Bridge that died without closing the socket. Milliseconds (default 10,000); 0: never.
   */
  heartbeatIntervalMs?: number;
  /**
   * The largest REST answer read from the Bridge, in bytes (default 32 MiB, at least 1 MiB): a bigger
   * one fails with `BridgeRefused` (`bridgeCode` `RESPONSE_TOO_LARGE`) before it is buffered. Raise it
   * only for a Bridge whose `pageBytes` or listings need more (docs/operations/limits.md).
   */
  maxResponseBytes?: number;
  /** Where the library logs (default: nowhere). Pino's argument order, so a pino logger fits as it is. */
  logger?: Logger;
  signal?: AbortSignal;
}

export type ConnectionState = 'connected' | 'reconnecting' | 'disconnected';

export interface ConnectionEvents extends Record<string, unknown> {
  /** The socket dropped; pending requests failed with ConnectionLost. */
  connectionLost: { code: number; reason: string };
  /** Attempt `attempt` starts after `delayMs`, to `bridgeUrl`. */
  reconnecting: { attempt: number; delayMs: number; bridgeUrl: string };
  /** The connection is on another Bridge of its list than before the drop (fires just before `reconnected`). */
  bridgeChanged: { bridgeUrl: string; previousBridgeUrl: string };
  /** A new socket is up (on `bridgeUrl`) and event subscriptions are restored. */
  reconnected: { connectionId: string; bridgeUrl: string };
  /** Closed for good: by `disconnect()`, or because the session cannot be restored. */
  disconnected: { reason: string; error?: EndpointError };
}

/** Fails with `InvalidArgument` naming the first option that is out of range. */
export function checkConnectOptions(options: ConnectOptions): void {
  for (const name of ['reconnectBaseDelayMs', 'reconnectMaxDelayMs', 'heartbeatIntervalMs'] as const) {
    const value: unknown = options[name];
    const zeroAllowed = name === 'heartbeatIntervalMs';
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && (value > 0 || (zeroAllowed && value === 0)))) {
      const expected = zeroAllowed ? 'a positive number of milliseconds or 0' : 'a positive number of milliseconds';
      throw EndpointError.invalidArgument(`"${name}" expected ${expected}, got ${String(value)}`);
    }
  }
  const max: unknown = options.maxResponseBytes;
  if (max !== undefined && !(typeof max === 'number' && Number.isSafeInteger(max) && max >= MIN_RESPONSE_BYTES)) {
    throw EndpointError.invalidArgument(`"maxResponseBytes" expected an integer of at least ${MIN_RESPONSE_BYTES} bytes, got ${String(max)}`);
  }
}

/** The least `maxResponseBytes`: one record (MAX_RECORD_BYTES) must fit in a page. */
const MIN_RESPONSE_BYTES = 1024 * 1024 + 64 * 1024;
