/** The options and events of a Connection (endpoint/connection.ts). */
import type { EndpointError } from './errors.ts';
import type { Logger } from './logger.ts';

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
