/**
 * Reconnection delays with "full jitter": attempt n (counted from 0) waits a uniformly random time in
 * [0, min(cap, base * 2^n)). Clients dropped together (a Bridge restart) then come back spread over
 * the window rather than all in the same millisecond, and the window doubles while the Bridge stays
 * away, up to the cap.
 */

/** The first attempt's window, in milliseconds. */
export const DEFAULT_RECONNECT_BASE_DELAY_MS = 250;
/** The widest window, in milliseconds. */
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 10_000;

export interface Backoff {
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * The delay before reconnection attempt `attempt` (0 for the first), in whole milliseconds.
 * `random` returns a number in [0, 1), as `Math.random` does; tests inject their own.
 * @example reconnectDelayMs(2, { baseDelayMs: 250, maxDelayMs: 10_000 }) // somewhere in [0, 1000)
 */
export function reconnectDelayMs(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const windowMs = Math.min(backoff.maxDelayMs, backoff.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * windowMs);
}
