/**
 * The requests a Connection (connection.ts) has in flight on its socket. Each has an id, a timeout and
 * an AbortSignal; it is settled by the Bridge's `result` or `error` with its id, or fails with the
 * rest when the socket drops. Nothing waits forever. A result is checked against its request's
 * schema (protocol/ws-results.ts) before it settles the request: one that does not fit fails it with
 * `BridgeRefused` / `BAD_RESPONSE`.
 */
import { resultProblem } from '../protocol/ws-results.ts';
import type { ClientMessage, ClientRequest, ResultPayloads, ServerMessage } from '../protocol/ws.ts';
import type { RequestBody } from './connection-types.ts';
import { EndpointError } from './errors.ts';
import type { RequestOptions } from './transport/http.ts';
import type { SocketLike } from './transport/websocket.ts';

/** A request waiting for its answer on the socket. */
export interface Pending {
  kind: ClientRequest['kind'];
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: EndpointError) => void;
  timer: ReturnType<typeof setTimeout>;
  cleanup: () => void;
}

export class PendingRequests {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  /** Sends a request on an open socket and waits for its answer, at most `timeoutMs`. */
  send<K extends ClientRequest['kind']>(
    socket: SocketLike,
    kind: K,
    body: RequestBody<K>,
    options: RequestOptions,
    timeoutMs: number,
  ): Promise<ResultPayloads[K]> {
    const id = this.#nextId++;
    return new Promise<ResultPayloads[K]>((resolve, reject) => {
      const onAbort = () => {
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(EndpointError.aborted(kind, options.signal?.reason));
      };
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        options.signal?.removeEventListener('abort', onAbort);
        reject(EndpointError.timeout(kind, timeoutMs));
      }, timeoutMs);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        kind,
        resolve: resolve as (value: Record<string, unknown>) => void,
        reject,
        timer,
        cleanup: () => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
        },
      });
      socket.send(JSON.stringify({ kind, id, ...body } as ClientMessage));
    });
  }

  /** The Bridge's answer to a request; one that no longer waits (timed out, aborted) is ignored. */
  settle(message: Extract<ServerMessage, { kind: 'result' | 'error' }>): void {
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    pending.cleanup();
    if (message.kind === 'result') {
      const problem = resultProblem(pending.kind, message.result);
      if (problem === undefined) pending.resolve(message.result);
      else pending.reject(new EndpointError('BridgeRefused', `${pending.kind}: the Bridge's answer is invalid (${problem})`, { bridgeCode: 'BAD_RESPONSE' }));
    } else pending.reject(EndpointError.fromBridge(0, message.code, message.message, undefined, message.retryAfter));
  }

  /** Fails every request still waiting with `error`. */
  failAll(error: EndpointError): void {
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.cleanup();
      pending.reject(error);
    }
  }
}
