/**
 * The Bridge's connection to NATS (docs/operations/cluster.md): one core-NATS connection per Bridge,
 * with the official client (`@nats-io/transport-node`, an optional peer of the package loaded only
 * with `nats`). It reconnects on its own for ever; the Bridge asks `up` to answer `/healthz` and to
 * refuse what needs the other Bridges while it is down, and hears `onChange` to resynchronise when
 * it is back. `noEcho`: a Bridge never receives what it published itself.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { SealroomError, reasonToCode } from '../../protocol/errors.ts';

/** How long the first connection may take before the start is refused. Ms. */
const CONNECT_TIMEOUT_MS = 5000;
/** Between reconnection attempts. Ms. */
const RECONNECT_WAIT_MS = 500;
/** Client pings: a server that stops answering is noticed after about PING_INTERVAL_MS * MAX_PINGS_OUT. */
const PING_INTERVAL_MS = 2000;
const MAX_PINGS_OUT = 2;

/**
 * - `Unavailable`: the NATS server cannot be reached at start (the Bridge does not start).
 */
export type ClusterErrorReason = 'Unavailable';

export class ClusterError extends SealroomError {
  readonly reason: ClusterErrorReason;

  constructor(reason: ClusterErrorReason, message: string, options: { cause?: unknown } = {}) {
    super(reasonToCode('ERR_CLUSTER', reason), message, options);
    this.reason = reason;
  }
}

/** The URL with its password (or token) shown as `***`, for logs and errors. */
export function redactNatsUrl(url: string): string {
  return url
    .split(',')
    .map((one) => {
      try {
        const parsed = new URL(one.trim());
        if (parsed.password !== '') parsed.password = '***';
        else if (parsed.username !== '') parsed.username = '***';
        return parsed.toString().replace(/\/$/, '');
      } catch {
        return 'nats://(unparsable URL)';
      }
    })
    .join(',');
}

export type MessageHandler = (data: Uint8Array, subject: string) => void;

/**
 * A subscription, as the rest of the Bridge sees it. The client's own type stays out of the Bridge's
 * published declarations: an app that never uses NATS typechecks without its optional package.
 */
export interface NatsSubscription {
  unsubscribe(): void;
}

export class NatsLink {
  /** False from a disconnect until the client is connected again. */
  up = true;
  private readonly changeListeners = new Set<(up: boolean) => void>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    readonly url: string,
  ) {
    void this.watch();
  }

  static async connect(url: string, name: string, log: Logger): Promise<NatsLink> {
    let mod: typeof import('@nats-io/transport-node');
    try {
      mod = await import('@nats-io/transport-node');
    } catch (error) {
      throw new ClusterError('Unavailable', 'the NATS fan-out (--nats) needs the @nats-io/transport-node package: npm install @nats-io/transport-node', {
        cause: error,
      });
    }
    const servers = url.split(',').map((s) => s.trim());
    let nc: NatsConnection;
    try {
      nc = await mod.connect({
        servers,
        name,
        noEcho: true,
        timeout: CONNECT_TIMEOUT_MS,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: RECONNECT_WAIT_MS,
        pingInterval: PING_INTERVAL_MS,
        maxPingOut: MAX_PINGS_OUT,
      });
    } catch (error) {
      throw new ClusterError('Unavailable', `NATS at ${redactNatsUrl(url)} cannot be reached: ${(error as Error).message}`, { cause: error });
    }
    return new NatsLink(nc, log, redactNatsUrl(url));
  }

  /** Called with `false` when the connection drops and `true` when it is back. */
  onChange(listener: (up: boolean) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * Publishes, or returns false without sending while the connection is down and `whileDown` is
   * 'drop' (data frames: a late frame is worse than none). 'buffer': the client holds it and sends it
   * once reconnected (room events and removals: late is better than never).
   */
  publish(subject: string, data: Uint8Array, whileDown: 'drop' | 'buffer'): boolean {
    if (!this.up && whileDown === 'drop') return false;
    try {
      this.nc.publish(subject, data);
      return true;
    } catch (error) {
      this.log.debug({ err: error, subject }, 'NATS publish failed');
      return false;
    }
  }

  subscribe(subject: string, handler: MessageHandler): NatsSubscription {
    return this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err !== null) {
          this.log.warn({ err, subject }, 'NATS subscription error');
          return;
        }
        try {
          handler(msg.data, msg.subject);
        } catch (error) {
          this.log.error({ err: error, subject: msg.subject }, 'handling a NATS message failed');
        }
      },
    });
  }

  /** Waits until the server has seen everything published so far (tests, shutdown). */
  flush(): Promise<void> {
    return this.nc.flush();
  }

  async close(): Promise<void> {
    this.changeListeners.clear();
    await this.nc.drain().catch(() => this.nc.close());
  }

  private async watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect' && this.up) this.set(false);
      else if (status.type === 'reconnect' && !this.up) this.set(true);
      else if (status.type === 'slowConsumer') this.log.warn({ subject: status.sub.getSubject() }, 'NATS: this Bridge reads too slowly; messages were dropped');
    }
  }

  private set(up: boolean): void {
    this.up = up;
    if (up) this.log.info({ nats: this.url }, 'NATS connection back');
    else this.log.warn({ nats: this.url }, 'NATS connection lost: real-time requests that need the other Bridges are refused until it is back');
    for (const listener of this.changeListeners) listener(up);
  }
}
