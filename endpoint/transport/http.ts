/**
 * REST calls to the Bridge: every request has a timeout and honours the caller's AbortSignal, maps
 * refusals onto `EndpointError` reasons, validates the response body with a schema, and logs in again
 * once when the session has expired. The exchange itself is node:http in Node and fetch elsewhere
 * (#endpoint-http).
 */
import { httpSend } from '#endpoint-http';
import type * as z from '../../protocol/zod.ts';
import { errorBodySchema } from '../../protocol/api.ts';
import { EndpointError } from '../errors.ts';
import { ResponseTooLarge } from './fetch.ts';

export interface RequestOptions {
  /** Milliseconds; defaults to the connection's request timeout. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface HttpSession {
  /** The current session token, if logged in. */
  token(): string | undefined;
  /** Logs in again (the session expired or was revoked); rejects with AuthFailed if it cannot. */
  relogin(): Promise<void>;
}

/**
 * The largest REST answer the Endpoint reads by default: a malicious Bridge must not make a client
 * buffer without end (in Node, past about 512 MiB the text cannot even be made). A page of a room's
 * chain is at most the Bridge's `pageBytes` (4 MiB by default) plus one record (at most 1 MiB); a
 * listing is one head record per room. `ConnectOptions.maxResponseBytes` raises it for a Bridge
 * configured for larger pages.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export class BridgeHttp {
  readonly #baseUrl: () => string;

  /** `baseUrl`: the Bridge, or a function that names the Bridge of each request (a connection's moves). */
  constructor(
    baseUrl: string | (() => string),
    private readonly session: HttpSession | undefined,
    private readonly defaultTimeoutMs: number,
    /** The largest answer read (`ConnectOptions.maxResponseBytes`). */
    private readonly maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES,
  ) {
    this.#baseUrl = typeof baseUrl === 'string' ? () => baseUrl : baseUrl;
  }

  async request<S extends z.ZodMiniType>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    schema: S | undefined,
    body?: unknown,
    options: RequestOptions = {},
    retried = false,
  ): Promise<z.infer<S>> {
    const what = `${method} ${path.split('?')[0]}`;
    if (aborted(options.signal)) throw EndpointError.aborted(what, options.signal?.reason);
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
    const token = this.session?.token();
    let response: { status: number; text: string };
    try {
      response = await httpSend({
        method,
        url: this.#baseUrl() + path,
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? null : JSON.stringify(body),
        signal,
        maxBytes: this.maxResponseBytes,
      });
    } catch (cause) {
      if (cause instanceof ResponseTooLarge) {
        throw new EndpointError('BridgeRefused', `${what}: ${cause.message}; the limit is ConnectOptions.maxResponseBytes`, {
          bridgeCode: 'RESPONSE_TOO_LARGE',
          cause,
          details: { maxBytes: cause.maxBytes },
        });
      }
      if (aborted(options.signal)) throw EndpointError.aborted(what, cause);
      if (timeout.aborted) throw EndpointError.timeout(what, timeoutMs);
      // A kept-alive socket can die between requests; a read is safe to send once more.
      if (method === 'GET' && !retried) return this.request(method, path, schema, body, options, true);
      throw EndpointError.connectionLost(`${what}: the Bridge could not be reached`, cause);
    }
    if (response.status === 401 && token !== undefined && this.session !== undefined && !retried) {
      await this.session.relogin();
      return this.request(method, path, schema, body, options, true);
    }
    const { text } = response;
    if (response.status < 200 || response.status > 299) {
      const parsed = errorBodySchema.safeParse(safeJson(text));
      if (parsed.success) {
        const { code, message, details, retryAfter } = parsed.data.error;
        throw EndpointError.fromBridge(response.status, code, message, details, retryAfter);
      }
      throw EndpointError.fromBridge(response.status, 'HTTP_ERROR', `${what}: HTTP ${response.status}`);
    }
    if (schema === undefined) return undefined as z.infer<S>;
    const parsed = schema.safeParse(safeJson(text));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new EndpointError('BridgeRefused', `${what}: unexpected response (${issue.path.join('.')}: ${issue.message})`, {
        bridgeCode: 'BAD_RESPONSE',
        status: response.status,
      });
    }
    return parsed.data;
  }
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function safeJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
