/**
 * Failed-login limits that an attacker cannot turn against someone else (docs/security/login.md).
 *
 * A failure is counted for its (client address, public key) pair and for its address. A pair over its
 * limit is refused. An address over its limit is refused only for the pairs that have already failed
 * from it in the window: a flood from a shared address (a NAT, an office) cannot lock out another user
 * behind it, and someone who knows a user's public key can lock out only that key from their own
 * address. Each known key can then cost a flooding address at most one signature check per window.
 * Guessing is not what these limits stop (an Ed25519 signature cannot be guessed): they bound the work
 * and the log noise of failures.
 *
 * On a shared store the counts are the store's, so they hold across Bridges (./shared-rate-limit.ts);
 * this Bridge's own windows count too, and decide when the store cannot answer.
 */
import type { RateWindows } from '../store/types.ts';
import { RateLimiter } from './rate-limit.ts';
import { retrySeconds, SharedLimits } from './shared-rate-limit.ts';

export interface LoginLimiterOptions {
  failuresPerPair: number;
  failuresPerAddress: number;
  windowMs: number;
  now: () => number;
  shared?: SharedLimits;
}

export class LoginLimiter {
  readonly #byPair: RateLimiter;
  readonly #byAddress: RateLimiter;
  readonly #o: LoginLimiterOptions;

  constructor(options: LoginLimiterOptions) {
    const { windowMs, now } = options;
    this.#o = options;
    this.#byPair = new RateLimiter({ limit: options.failuresPerPair, windowMs, now });
    this.#byAddress = new RateLimiter({ limit: options.failuresPerAddress, windowMs, now });
  }

  /**
   * Seconds until this key may try again from this address (0: it may try now), and whether it has
   * failed from there in this window (only then does a success have a count to reset).
   */
  check(address: string, publicKey: string): Promise<{ retryAfter: number; failedBefore: boolean }> {
    const pair = pairKey(address, publicKey);
    return this.#decide(
      async (windows) => {
        const [p, a] = await windows.counts([SharedLimits.key('login-pair', pair), SharedLimits.key('login-address', address)], this.#o.windowMs);
        const failedBefore = p!.count > 0;
        if (p!.count >= this.#o.failuresPerPair) return { retryAfter: retrySeconds(p!.resetsInMs), failedBefore };
        return { retryAfter: a!.count >= this.#o.failuresPerAddress && failedBefore ? retrySeconds(a!.resetsInMs) : 0, failedBefore };
      },
      () => {
        const failedBefore = this.#byPair.count(pair) > 0;
        const pairWait = this.#byPair.retryAfter(pair);
        if (pairWait > 0) return { retryAfter: pairWait, failedBefore };
        const addressWait = this.#byAddress.retryAfter(address);
        return { retryAfter: addressWait > 0 && failedBefore ? addressWait : 0, failedBefore };
      },
    );
  }

  async failed(address: string, publicKey: string): Promise<void> {
    const pair = pairKey(address, publicKey);
    this.#byPair.hit(pair);
    this.#byAddress.hit(address);
    await this.#decide(
      async (windows) => void (await windows.hit([SharedLimits.key('login-pair', pair), SharedLimits.key('login-address', address)], this.#o.windowMs)),
      () => undefined,
    );
  }

  /** `failedBefore` from `check`: a key that never failed here costs no round trip to reset. */
  async succeeded(address: string, publicKey: string, failedBefore: boolean): Promise<void> {
    const pair = pairKey(address, publicKey);
    this.#byPair.reset(pair);
    if (!failedBefore) return;
    await this.#decide(
      (windows) => windows.reset(SharedLimits.key('login-pair', pair)),
      () => undefined,
    );
  }

  #decide<T>(shared: (windows: RateWindows) => Promise<T>, local: () => T): Promise<T> {
    return this.#o.shared === undefined ? Promise.resolve(local()) : this.#o.shared.decide(shared, local);
  }
}

function pairKey(address: string, publicKey: string): string {
  return `${address}\n${publicKey}`;
}
