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
}

export type HttpSend = (request: HttpExchange) => Promise<{ status: number; text: string }>;
