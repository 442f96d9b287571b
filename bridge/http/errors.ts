/**
 * The Bridge's one HTTP error class and its one error handler (STYLE.md: hono's model). Every refusal
 * is an `HttpError(status, code, message)` with a stable string code from `ErrorCode`; the handler
 * turns it into `{ "error": { "code", "message", "details"? } }`. Anything else is logged and becomes a
 * generic 500 that reveals nothing.
 */
import type { ErrorRequestHandler, Request } from 'express';
import type { Logger } from 'pino';
import { SealroomError } from '../../protocol/errors.ts';

/** The stable error codes of the Bridge's HTTP API. Clients and tests match on these. */
export type ErrorCode =
  | 'BAD_JSON'
  | 'BAD_CONTENT_ENCODING'
  | 'BAD_REQUEST'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'VALIDATION_FAILED'
  | 'UNAUTHENTICATED'
  | 'AUTH_FAILED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'SOLUTION_NOT_FOUND'
  | 'CONTEXT_NOT_FOUND'
  | 'USER_NOT_FOUND'
  | 'ROOM_NOT_FOUND'
  | 'API_KEY_NOT_FOUND'
  | 'ROOM_EXISTS'
  | 'VERSION_CONFLICT'
  | 'RECORD_INVALID'
  | 'KEY_SET_INVALID'
  | 'USER_CONFLICT'
  | 'LAST_API_KEY'
  | 'RATE_LIMITED'
  | 'NOT_JOINED'
  | 'STREAM_EXISTS'
  | 'STREAM_NOT_FOUND'
  | 'TRACK_NOT_FOUND'
  | 'TOO_MANY_STREAMS'
  | 'TOO_MANY_ROOMS'
  | 'ROOM_FULL'
  | 'CONTEXT_ROOM_QUOTA'
  | 'ROOM_VERSION_QUOTA'
  | 'QUERY_TOO_COSTLY'
  | 'TOO_MANY_CONNECTIONS'
  | 'SHUTTING_DOWN'
  | 'INTERNAL';

export class HttpError extends SealroomError {
  readonly status: number;
  override readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  /** Seconds, for 429 and 503. */
  readonly retryAfter: number | undefined;

  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    options?: { details?: Record<string, unknown>; cause?: unknown; retryAfter?: number },
  ) {
    super(code, message, options);
    this.status = status;
    this.code = code;
    this.details = options?.details;
    this.retryAfter = options?.retryAfter;
  }

  static badRequest(code: ErrorCode, message: string, details?: Record<string, unknown>): HttpError {
    return new HttpError(400, code, message, details === undefined ? undefined : { details });
  }

  static unauthenticated(message = 'a valid session token is required'): HttpError {
    return new HttpError(401, 'UNAUTHENTICATED', message);
  }

  static forbidden(message: string): HttpError {
    return new HttpError(403, 'FORBIDDEN', message);
  }

  static notFound(code: ErrorCode, message: string): HttpError {
    return new HttpError(404, code, message);
  }

  static conflict(code: ErrorCode, message: string, details?: Record<string, unknown>): HttpError {
    return new HttpError(409, code, message, details === undefined ? undefined : { details });
  }

  static unprocessable(code: ErrorCode, message: string, details?: Record<string, unknown>): HttpError {
    return new HttpError(422, code, message, details === undefined ? undefined : { details });
  }
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

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const known = error instanceof HttpError ? error : fromFramework(error, req);
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
    res.status(http.status).json({
      error: { code: http.code, message: http.message, ...(http.details === undefined ? {} : { details: http.details }) },
    });
  };
}
