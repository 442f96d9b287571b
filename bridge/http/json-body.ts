/**
 * Every body the Bridge accepts is JSON. express.json() silently skips a body of another type (or of
 * a malformed one), and the route would then report missing fields, hiding the real mistake; this
 * refuses such a body with 415 first (RFC 9110, section 15.5.16).
 */
import type { RequestHandler } from 'express';
import { HttpError } from './errors.ts';

/** Longest content-type echoed back in the refusal, in characters. */
const ECHOED_TYPE_MAX_CHARS = 64;

export const requireJsonBody: RequestHandler = (req, _res, next) => {
  // type-is counts `content-length: 0` as a body; clients send it on bodiless POSTs and DELETEs.
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  if (hasBody && req.is('application/json') === false) {
    const got = req.headers['content-type'];
    throw new HttpError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `expected a body of content-type application/json, got ${got === undefined ? 'none' : JSON.stringify(got.slice(0, ECHOED_TYPE_MAX_CHARS))}`,
    );
  }
  next();
};
