/**
 * Notices a Bridge that stopped answering without closing the socket: a machine that lost power, a
 * network that drops everything, a process that hangs. TCP tells the client nothing then, so neither
 * a reconnect nor a failover to another Bridge (docs/operations/failover.md) would start. The Bridge
 * pings its clients, but a browser's WebSocket does not show pings to the page: the Endpoint asks
 * instead. When nothing came from the Bridge for `intervalMs`, it sends a `ping` request; one left
 * unanswered for `intervalMs` more declares the socket dead. Only an unanswered ping does, never a
 * late timer, so throttled timers (a background tab) delay the check but cause no false alarm. A ping
 * queued behind a large upload on a slow link is late for another reason: while the socket's send
 * queue shrinks, bytes are leaving and the Bridge's side takes them, so that socket is not dead.
 */
import { EndpointError } from './errors.ts';

/** Default: silence after which the Endpoint pings, and how long the ping may take, in milliseconds. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;

export interface HeartbeatDeps {
  intervalMs: number;
  /** Sends one `ping` request that fails with `Timeout` after `timeoutMs`. */
  ping(timeoutMs: number): Promise<unknown>;
  /** Bytes queued in the socket, not yet sent. */
  bufferedAmount(): number;
  /** The Bridge did not answer: drop the socket. */
  dead(): void;
}

export class Heartbeat {
  #lastHeard = performance.now();
  #inFlight = false;
  #stopped = false;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(private readonly d: HeartbeatDeps) {
    this.#timer = setInterval(() => this.#tick(), Math.max(50, d.intervalMs / 2));
    // A heartbeat alone does not keep a Node process running.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Something arrived from the Bridge. */
  heard(): void {
    this.#lastHeard = performance.now();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  #tick(): void {
    if (this.#inFlight || performance.now() - this.#lastHeard < this.d.intervalMs) return;
    this.#inFlight = true;
    const queued = this.d.bufferedAmount();
    this.d
      .ping(this.d.intervalMs)
      .then(
        () => this.heard(),
        (error: unknown) => {
          if (this.#stopped || !(error instanceof EndpointError && error.reason === 'Timeout')) return;
          if (this.d.bufferedAmount() < queued) return this.heard();
          this.stop(); // once: this socket is done
          this.d.dead();
        },
      )
      .finally(() => (this.#inFlight = false));
  }
}
