/**
 * The Bridge's one HTTP error class and its one error handler (STYLE.md: hono's model). Every refusal
 * is an `HttpError(status, code, message)` with a stable string code from `ErrorCode`; the handler
 * turns it into `{ "error": { "code", "message", "details"? } }`. Anything else is logged and becomes a
 * generic 500 that reveals nothing.
 */
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { SealroomError } from '../../protocol/errors.ts';

/** The stable error codes of the Bridge's HTTP API. Clients and tests match on these. */
export type ErrorCode =
  | 'BAD_JSON'
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

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
  length?: number;
}

/** Maps body-parser's errors (bad JSON, too large, wrong charset) onto our codes. */
function fromBodyParser(error: BodyParserError): HttpError | undefined {
  switch (error.type) {
    case 'entity.parse.failed':
      return HttpError.badRequest('BAD_JSON', 'the request body is not valid JSON');
    case 'entity.too.large':
      return new HttpError(413, 'BODY_TOO_LARGE', `the request body exceeds the limit of ${error.limit} bytes`, {
        details: { limit: error.limit },
      });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'the request body must be UTF-8 JSON');
    case 'request.aborted':
    case 'stream.encoding.set':
    case 'request.size.invalid':
      return HttpError.badRequest('BAD_JSON', 'the request body could not be read');
    default:
      return undefined;
  }
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const known = error instanceof HttpError ? error : fromBodyParser(error as BodyParserError);
    if (known === undefined) {
      log.error({ err: error, method: req.method, path: req.path }, 'unhandled error');
    }
    const http = known ?? new HttpError(500, 'INTERNAL', 'internal error');
    if (http.retryAfter !== undefined) res.setHeader('Retry-After', String(Math.ceil(http.retryAfter)));
    if (res.headersSent) return;
    res.status(http.status).json({
      error: { code: http.code, message: http.message, ...(http.details === undefined ? {} : { details: http.details }) },
    });
  };
}
