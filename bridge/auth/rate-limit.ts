/**
 * A fixed-window counter per key (client address, public key), bounded in memory: at most
 * `maxKeys` keys are tracked, the oldest evicted first, so a flood of distinct keys cannot grow it.
 */
export interface RateLimiterOptions {
  /** Events allowed per key in one window. */
  limit: number;
  windowMs: number;
  maxKeys?: number;
  now?: () => number;
}

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(options: RateLimiterOptions) {
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  private current(key: string): { start: number; count: number } {
    const now = this.now();
    let entry = this.windows.get(key);
    if (entry === undefined || now - entry.start >= this.windowMs) {
      entry = { start: now, count: 0 };
      this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value as string);
      this.windows.set(key, entry);
    }
    return entry;
  }

  /** Seconds until the key may act again, or 0 if it may act now. */
  retryAfter(key: string): number {
    const entry = this.current(key);
    if (entry.count < this.limit) return 0;
    return Math.max(1, Math.ceil((entry.start + this.windowMs - this.now()) / 1000));
  }

  /** Events counted for the key in its current window. */
  count(key: string): number {
    const entry = this.windows.get(key);
    return entry === undefined || this.now() - entry.start >= this.windowMs ? 0 : entry.count;
  }

  /** Counts one event for the key. */
  hit(key: string): void {
    this.current(key).count++;
  }

  /** Forgets the key (after a successful login, say). */
  reset(key: string): void {
    this.windows.delete(key);
  }
}
