/** One authenticated WebSocket of an Endpoint, as the Bridge sees it. */
import type { WebSocket } from 'ws';
import type { ParsedQuery, ResultPayloads, ServerEvent, ClientRequestKind } from '../../protocol/ws.ts';
import type { SessionRow } from '../store/types.ts';

export class RealtimeConnection {
  /** Set by `hello`; every other message is refused before it. */
  session: SessionRow | undefined;
  /** Event subscriptions: subscription id -> query. */
  readonly subscriptions = new Map<string, ParsedQuery>();
  /** Rooms this connection has joined (the relay keeps the details). */
  readonly rooms = new Set<string>();
  closed = false;
  /** Settles when `hello` has been handled; messages that arrive meanwhile wait for it. */
  hello: Promise<void> | undefined;

  constructor(
    readonly id: string,
    readonly socket: WebSocket,
    readonly address: string,
  ) {}

  get userId(): string {
    if (this.session === undefined) throw new Error('connection is not authenticated');
    return this.session.userId;
  }

  /** Bytes queued in the socket and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  private sendText(message: object): void {
    if (this.closed) return;
    this.socket.send(JSON.stringify(message));
  }

  result<K extends ClientRequestKind>(id: number, result: ResultPayloads[K]): void {
    this.sendText({ kind: 'result', id, result });
  }

  error(id: number, code: string, message: string): void {
    this.sendText({ kind: 'error', id, code, message });
  }

  event(event: ServerEvent): void {
    this.sendText({ kind: 'event', event });
  }

  /** Sends a binary frame; the callback fires once the socket has taken it (for pacing). */
  binary(frame: Uint8Array, done?: (error?: Error) => void): void {
    if (this.closed) {
      done?.(new Error('closed'));
      return;
    }
    this.socket.send(frame, { binary: true }, done);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    // Close reasons are limited to 123 bytes by RFC 6455 section 5.5.
    this.socket.close(code, reason.slice(0, 120));
  }
}
