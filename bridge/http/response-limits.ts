/**
 * What a REST client that stops reading can make the Bridge hold (docs/operations/limits.md): at most
 * one response, for at most `writeTimeoutMs`.
 *
 * - Pipelined requests on one connection are handled one at a time. Node parses every request in a
 *   chunk it reads and queues their responses in memory behind the one being sent, so 64 KiB of
 *   pipelined `GET`s would otherwise build hundreds of pages for a client that reads none of them.
 *   A request whose response does not own the socket yet waits (unparsed body and all) until it does.
 * - Once a response is written in full on our side and the socket has not taken all of it, the client
 *   has `writeTimeoutMs` to take it; then the connection is destroyed and its buffers freed.
 */
import type { RequestHandler, Response } from 'express';

export interface ResponseLimitCounters {
  /** Connections dropped because a response sat unread past `responseWriteTimeoutMs`. */
  responseWriteTimeouts: number;
  /** Requests that waited for an earlier response on their connection (pipelining). */
  pipelinedRequestsHeld: number;
}

export interface ResponseLimitOptions {
  writeTimeoutMs: number;
  counters: ResponseLimitCounters;
  onTimeout?: (res: Response) => void;
}

export function responseLimits(options: ResponseLimitOptions): RequestHandler {
  const { writeTimeoutMs, counters } = options;
  return (_req, res, next) => {
    // 'prefinish': the whole response is handed to the socket; 'finish': the socket has written it out.
    res.once('prefinish', () => {
      if (res.writableFinished) return;
      const timer = setTimeout(() => {
        counters.responseWriteTimeouts++;
        options.onTimeout?.(res);
        res.socket?.destroy();
      }, writeTimeoutMs);
      timer.unref();
      const clear = () => clearTimeout(timer);
      res.once('finish', clear);
      res.once('close', clear);
    });
    if (res.socket !== null) return next();
    // Queued behind an earlier response on this connection: Node assigns the socket when that one
    // finishes, and never if the connection closes first (then this request is dropped with it).
    counters.pipelinedRequestsHeld++;
    res.once('socket', () => next());
  };
}
