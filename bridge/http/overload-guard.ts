/**
 * REST under overload (docs/operations/limits.md, "Overload"): while the Bridge is saturated, writes
 * of the user API (room creates, updates, deletes) get `503 OVERLOADED` with `Retry-After`, before
 * their session is checked or their body read. Reads, logins and logouts, `/healthz`, `/metrics` and
 * the operator's management API go on: they answer what is, or let an operator act on the overload.
 */
import type { RequestHandler } from 'express';
import type { OverloadMonitor } from '../overload/overload.ts';

/** Methods that change nothing. */
const READS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export function overloadGuard(overload: OverloadMonitor): RequestHandler {
  return (req, _res, next) => {
    if (!overload.overloaded || READS.has(req.method) || !req.path.startsWith('/v1/') || req.path.startsWith('/v1/auth/')) return next();
    overload.admit('rest_write');
  };
}
