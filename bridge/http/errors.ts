/**
 * The Bridge's one HTTP error handler (STYLE.md: hono's model). Domain code throws `BridgeError`
 * (bridge/errors.ts) with a stable code; this is the only place a code becomes a status (`HTTP_STATUS`).
 * The handler turns every refusal into `{ "error": { "code", "message", "details"? } }`. Anything else
 * is logged and becomes a generic 500 that reveals nothing.
 */
import type { ErrorRequestHandler, Request } from 'express';
import type { Logger } from 'pino';
import { BridgeError, type BridgeErrorOptions, type ErrorCode } from '../errors.ts';
import { StoreError } from '../store/errors.ts';

export type { ErrorCode };

/** The HTTP status of every code: the one place a domain error becomes HTTP. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_JSON: 400,
  BAD_CONTENT_ENCODING: 400,
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHENTICATED: 401,
  AUTH_FAILED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  SOLUTION_NOT_FOUND: 404,
  CONTEXT_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  ROOM_NOT_FOUND: 404,
  API_KEY_NOT_FOUND: 404,
  STREAM_NOT_FOUND: 404,
  TRACK_NOT_FOUND: 404,
  ROOM_EXISTS: 409,
  VERSION_CONFLICT: 409,
  USER_CONFLICT: 409,
  LAST_API_KEY: 409,
  NOT_JOINED: 409,
  PEER_NOT_JOINED: 409,
  NOT_A_RECEIVER: 403,
  RECEIPT_EXISTS: 409,
  STREAM_EXISTS: 409,
  CONTEXT_ROOM_QUOTA: 409,
  ROOM_VERSION_QUOTA: 409,
  RECORD_INVALID: 422,
  KEY_SET_INVALID: 422,
  QUERY_TOO_COSTLY: 422,
  RATE_LIMITED: 429,
  TOO_MANY_STREAMS: 429,
  TOO_MANY_ROOMS: 429,
  TOO_MANY_CONNECTIONS: 429,
  ROOM_FULL: 429,
  HOST_NOT_ALLOWED: 421,
  SHUTTING_DOWN: 503,
  STORE_UNAVAILABLE: 503,
  CLUSTER_UNAVAILABLE: 503,
  OVERLOADED: 503,
  INTERNAL: 500,
};

/** An error of the HTTP layer itself (a route that does not exist, a malformed request, shutting down). */
export class HttpError extends BridgeError {
  readonly status: number;

  constructor(status: number, code: ErrorCode, message: string, options?: BridgeErrorOptions) {
    super(code, message, options);
    this.status = status;
  }

  static badRequest(code: ErrorCode, message: string, details?: Record<string, unknown>): HttpError {
    return new HttpError(400, code, message, details === undefined ? undefined : { details });
  }

  static override notFound(code: ErrorCode, message: string): HttpError {
    return new HttpError(404, code, message);
  }
}

/** The status of any Bridge error: its own for HttpError, the code's otherwise. */
export function statusOf(error: BridgeError): number {
  return error instanceof HttpError ? error.status : HTTP_STATUS[error.code];
}

/** What express, router and body-parser attach to the errors they throw (http-errors' fields). */
interface FrameworkError {
  type?: string;
  status?: number;
  expose?: boolean;
  limit?: number;
}

/** The content codings body-parser decodes (RFC 9110, section 8.4.1); anything else is refused with 415. */
const CONTENT_CODINGS = 'identity, gzip, deflate or br';

/**
 * Maps errors of the HTTP framework onto our codes. They all come from a malformed request, so none
 * may become a 500: a body that is not JSON, too large, in an unknown charset or content coding, or
 * not valid for its coding, and a path whose percent-escapes do not decode.
 */
function fromFramework(error: unknown, req: Request): HttpError | undefined {
  // router decodes path parameters with decodeURIComponent, which throws URIError on "%ZZ" or a
  // truncated UTF-8 sequence (RFC 3986, section 2.1). The value is not echoed: it is the client's.
  if (error instanceof URIError) {
    return HttpError.badRequest('VALIDATION_FAILED', 'params: a path segment is not valid percent-encoded UTF-8', {
      field: 'params',
    });
  }
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as FrameworkError;
  switch (e.type) {
    case 'entity.parse.failed':
      return HttpError.badRequest('BAD_JSON', 'the request body is not valid JSON');
    case 'entity.too.large':
      return new HttpError(413, 'BODY_TOO_LARGE', `the request body exceeds the limit of ${e.limit} bytes`, {
        details: { limit: e.limit },
      });
    case 'encoding.unsupported':
      return new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `the request body's content-encoding must be ${CONTENT_CODINGS}`);
    case 'charset.unsupported':
      return new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'the request body must be UTF-8 JSON');
    case 'request.aborted':
    case 'stream.encoding.set':
    case 'request.size.invalid':
      return HttpError.badRequest('BAD_JSON', 'the request body could not be read');
  }
  if (e.expose !== true || typeof e.status !== 'number' || e.status < 400 || e.status > 499) return undefined;
  // body-parser gives a stream error no type, only status 400. With a content coding that stream is
  // the decompressor, so the body was not valid gzip, deflate or brotli data.
  const coding = req.get('content-encoding')?.trim().toLowerCase();
  if (e.status === 400 && coding !== undefined && coding !== 'identity') {
    return HttpError.badRequest('BAD_CONTENT_ENCODING', `the request body is not valid for its content-encoding (${CONTENT_CODINGS})`);
  }
  // Any other client error the framework flags as such stays a client error, with a generic message.
  return new HttpError(e.status, 'BAD_REQUEST', 'the request is malformed');
}

/**
 * The database could not be reached (PostgreSQL down or cut off, docs/operations/postgres.md): 503, so
 * clients retry. A transaction cut off mid-way committed whole or not at all.
 */
function storeUnavailable(error: unknown): HttpError | undefined {
  if (!(error instanceof StoreError) || error.reason !== 'Unavailable') return undefined;
  return new HttpError(503, 'STORE_UNAVAILABLE', 'the database cannot be reached; retry later', { retryAfter: 5 });
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const known: BridgeError | undefined = error instanceof BridgeError ? error : (storeUnavailable(error) ?? fromFramework(error, req));
    if (known === undefined) {
      log.error({ err: error, method: req.method, path: req.path }, 'unhandled error');
    } else if (known.code === 'BAD_REQUEST') {
      log.warn({ err: error, method: req.method, path: req.path }, 'unmapped client error');
    }
    const http = known ?? new HttpError(500, 'INTERNAL', 'internal error');
    if (http.retryAfter !== undefined) res.setHeader('Retry-After', String(Math.ceil(http.retryAfter)));
    if (res.headersSent) return;
    // A refusal before the body was read (401 before parsing, 413): close the connection after the
    // answer instead of reading the rest, so a client cannot hold it by sending the body slowly.
    if (!req.complete) res.setHeader('Connection', 'close');
    res.status(statusOf(http)).json({
      error: {
        code: http.code,
        message: http.message,
        ...(http.details === undefined ? {} : { details: http.details }),
        ...(http.retryAfter === undefined ? {} : { retryAfter: Math.ceil(http.retryAfter) }),
      },
    });
  };
}
