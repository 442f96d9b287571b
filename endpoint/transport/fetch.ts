/**
 * The one HTTP exchange the Endpoint needs: send a request, get the status and the body text. Node uses
 * node:http with a keep-alive agent (#endpoint-http); browsers use fetch.
 */
export interface HttpExchange {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  body: string | null;
  signal: AbortSignal;
  /**
   * The answer's body may hold at most this many bytes: past it (or when its Content-Length says
   * more) the exchange stops reading and fails with a `ResponseTooLarge`, before it buffers more.
   */
  maxBytes: number;
}

export type HttpSend = (request: HttpExchange) => Promise<{ status: number; text: string }>;

/** An answer bigger than `maxBytes`: the Bridge's, refused before it is read further. */
export class ResponseTooLarge extends Error {
  readonly code = 'RESPONSE_TOO_LARGE';

  constructor(
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`the answer holds more than ${maxBytes} bytes (${bytes} seen or announced)`);
  }
}
