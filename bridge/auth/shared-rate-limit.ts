/**
 * Rate limits that hold across the Bridges of a cluster (docs/operations/limits.md, "Across Bridges").
 *
 * On a shared store (PostgreSQL) a limit counts in the store's fixed windows (`Store.rateWindows`), so
 * a user or an address that spreads its requests over N Bridges gets what one Bridge allows, exactly:
 * each hit is one upsert under a row lock. Only limits of requests that go to the store anyway use it
 * (room writes, logins), so no message pays a database round trip. When the store cannot be reached,
 * each Bridge falls back to its own in-memory window (a per-Bridge limit, at most N times the rate)
 * rather than refusing everybody; those requests mostly fail on the store then anyway. On SQLite
 * (one Bridge) the in-memory windows are the whole count.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { RateWindows } from '../store/types.ts';

export class SharedLimits {
  #degraded = false;

  constructor(
    /** Undefined on a store of one Bridge. */
    readonly windows: RateWindows | undefined,
    private readonly log: Pick<Logger, 'warn' | 'info'>,
    /** Counts a decision taken on this Bridge's own windows because the store could not answer. */
    private readonly fellBack: () => void,
  ) {}

  /** The store's key for a limited thing: its name and a hash (no address or key in clear, fixed length). */
  static key(name: string, value: string): string {
    return `${name}:${createHash('sha256').update(value).digest('base64url')}`;
  }

  /** `shared` on the store's windows; `local` when there are none or the store fails. */
  async decide<T>(shared: (windows: RateWindows) => Promise<T>, local: () => T): Promise<T> {
    if (this.windows === undefined) return local();
    try {
      const result = await shared(this.windows);
      if (this.#degraded) {
        this.#degraded = false;
        this.log.info('shared rate limits answered again: limits hold across Bridges');
      }
      return result;
    } catch (err) {
      this.fellBack();
      if (!this.#degraded) {
        this.#degraded = true;
        this.log.warn({ err }, 'shared rate limits unavailable: limits count this Bridge only until the store answers');
      }
      return local();
    }
  }
}

/** Seconds to wait for a window that ends in `ms` (at least 1). */
export function retrySeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
