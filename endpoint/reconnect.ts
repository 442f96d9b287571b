/**
 * The reconnect loop of a Connection (connection.ts): attempts with full-jitter backoff (backoff.ts)
 * until one succeeds, the connection is closed, or a fresh login is refused. The first attempt goes
 * back to the Bridge that dropped, unless it stopped answering (heartbeat.ts): an attempt there would
 * only wait for its timeout. With several Bridge URLs each failed attempt moves on to the next (round
 * robin), where a fresh login signed for that Bridge comes first (docs/operations/failover.md). A
 * Bridge that asked for a wait (OVERLOADED, RATE_LIMITED: `retryAfterMs`, at most the backoff's cap)
 * is passed over until the wait is out while another Bridge of the list is free; when none is, the
 * attempt goes to the one free soonest, after its wait (docs/operations/limits.md, "Overload").
 *
 * A socket that drops within CONNECTION_STABLE_MS of coming back does not start the backoff over: the
 * next loop goes on from the attempt after the one that brought it back. Otherwise a Bridge (or a path)
 * that drops every socket right after `hello` would have the client log in, rejoin and read its rooms
 * again at the first attempt's pace, about eight times a second, for as long as it liked.
 */
import { CLOSE } from '../protocol/ws.ts';
import { type Backoff, reconnectDelayMs } from './backoff.ts';
import type { BridgeRing } from './bridge-urls.ts';
import type { EndpointError } from './errors.ts';
import type { Logger } from './logger.ts';

/** A socket up this long counts as stable: a drop after it starts the backoff from the first attempt. Ms. */
export const CONNECTION_STABLE_MS = 30_000;

export interface ReconnectDeps {
  bridges: BridgeRing;
  backoff: Backoff;
  log: Logger;
  /** `disconnect()` was called: stop. */
  closed(): boolean;
  /** The Bridge the session token is good at. */
  sessionUrl(): string;
  /** A fresh login at `url`. */
  login(url: string): Promise<void>;
  /** A login again at the session's Bridge. */
  relogin(): Promise<void>;
  openSocket(): Promise<void>;
  attempting(attempt: number, delayMs: number, bridgeUrl: string): void;
  /** The socket is up at `bridgeUrl` after attempt `attempt`; `lostUrl` is where it was before the drop. */
  reconnected(bridgeUrl: string, lostUrl: string, attempt: number): void;
  /** A fresh login was refused: nothing to reconnect to. */
  gaveUp(error: EndpointError): void;
}

/**
 * `lastCode`: the close code of the drop (a session that ended needs a login first); `silent`: the
 * heartbeat dropped the socket because its Bridge stopped answering; `firstAttempt`: where the count
 * (and so the backoff window) starts, past 1 when the socket that dropped had not been up for long.
 */
export async function reconnectLoop(d: ReconnectDeps, lastCode: number, silent = false, firstAttempt = 1): Promise<void> {
  let mustLogin = lastCode === CLOSE.sessionEnded || lastCode === CLOSE.unauthenticated;
  const lostUrl = d.bridges.current;
  let moveOn = silent && d.bridges.urls.length > 1;
  // Bridges that refused an attempt for a while (OVERLOADED, RATE_LIMITED): not asked again before then.
  const refusedUntil = new Map<string, number>();
  for (let attempt = firstAttempt; !d.closed(); attempt++) {
    const url = moveOn ? nextFree(d.bridges, refusedUntil) : d.bridges.current;
    moveOn = d.bridges.urls.length > 1;
    const delay = Math.max(0, (refusedUntil.get(url) ?? 0) - Date.now()) + reconnectDelayMs(attempt - 1, d.backoff);
    d.attempting(attempt, delay, url);
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (d.closed()) return;
    try {
      if (url !== d.sessionUrl()) {
        await d.login(url);
        mustLogin = false;
      } else if (mustLogin) await d.relogin();
      await d.openSocket();
      d.reconnected(url, lostUrl, attempt);
      return;
    } catch (error) {
      const e = error as EndpointError;
      if (e.reason === 'AuthFailed') {
        if (!mustLogin && url === d.sessionUrl()) {
          // The session ended meanwhile: log in again at the same Bridge.
          mustLogin = true;
          moveOn = false;
          continue;
        }
        // The key is no longer a user of the solution (or the Bridge refuses its own URL).
        d.gaveUp(e);
        return;
      }
      if (e.reason === 'RateLimited') refusedUntil.set(url, Date.now() + Math.min(e.retryAfterMs ?? 0, d.backoff.maxDelayMs));
      d.log.debug({ attempt, bridgeUrl: url, reason: e.message }, 'reconnect attempt failed');
    }
  }
}

/**
 * Moves the ring on to the next Bridge that asked for no wait still running, round robin; when every
 * one did, to the one whose wait ends first. Returns it.
 */
function nextFree(bridges: BridgeRing, refusedUntil: ReadonlyMap<string, number>): string {
  const now = Date.now();
  const until = (url: string) => refusedUntil.get(url) ?? 0;
  let soonest = bridges.next();
  for (let i = 1; i < bridges.urls.length && until(bridges.current) > now; i++) {
    if (until(bridges.next()) < until(soonest)) soonest = bridges.current;
  }
  if (until(bridges.current) <= now) return bridges.current;
  while (bridges.current !== soonest) bridges.next();
  return soonest;
}
