/**
 * How fast one user may change rooms on this Bridge (docs/operations/limits.md, "Users, sessions and
 * rooms"). A join, leave, publish, unpublish, stream update or subscription change is announced to the
 * whole room and resyncs its media, so one member changing in a loop costs the Bridge and every other
 * member work in proportion to the room: a token bucket per user (a public key in a solution, over all
 * its sockets here) bounds it.
 *
 * What starts something (a join, a publish, an update that changes a stream, a subscription change
 * that adds, a media join) takes a token and is refused with RATE_LIMITED when there is none. What
 * ends something (a leave, an unpublish, a media leave, a subscription change that only removes) is
 * never refused, but takes a token too, down to one bucket into debt: a join and its leave both count,
 * and leaving stays possible.
 */
import { BridgeError } from '../errors.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept before full ones are swept: a user whose bucket has refilled needs no entry. */
const SWEEP_AT = 1024;

export class RoomChangeRate {
  readonly #buckets = new Map<string, Bucket>();
  #sweepAt = SWEEP_AT;
  /** Changes refused for want of a token (for /metrics). */
  refused = 0;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a token for a change that starts something, or throws RATE_LIMITED with the wait. */
  start(userKey: string): void {
    const bucket = this.#bucket(userKey);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    this.refused++;
    const waitSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond));
    throw BridgeError.rateLimited(
      'RATE_LIMITED',
      `more than ${this.perSecond} room changes a second (joins, publishes, stream and subscription changes); retry in ${waitSeconds} s`,
      waitSeconds,
    );
  }

  /** Takes a token for a change that ends something: never refused, at most one bucket into debt. */
  end(userKey: string): void {
    const bucket = this.#bucket(userKey);
    bucket.tokens = Math.max(-this.burst, bucket.tokens - 1);
  }

  #bucket(userKey: string): Bucket {
    const now = this.now();
    let bucket = this.#buckets.get(userKey);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#sweepAt) this.#sweep(now);
      bucket = { tokens: this.burst, at: now };
      this.#buckets.set(userKey, bucket);
      return bucket;
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    return bucket;
  }

  /** Drops the buckets that have refilled; the next sweep waits until the map has doubled past what stays. */
  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond >= this.burst) this.#buckets.delete(key);
    }
    this.#sweepAt = Math.max(SWEEP_AT, 2 * this.#buckets.size);
  }
}
