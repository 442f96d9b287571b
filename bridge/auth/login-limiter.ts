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
 */
import { RateLimiter } from './rate-limit.ts';

export interface LoginLimiterOptions {
  failuresPerPair: number;
  failuresPerAddress: number;
  windowMs: number;
  now: () => number;
}

export class LoginLimiter {
  readonly #byPair: RateLimiter;
  readonly #byAddress: RateLimiter;

  constructor(options: LoginLimiterOptions) {
    const { windowMs, now } = options;
    this.#byPair = new RateLimiter({ limit: options.failuresPerPair, windowMs, now });
    this.#byAddress = new RateLimiter({ limit: options.failuresPerAddress, windowMs, now });
  }

  /** Seconds until this key may try again from this address, or 0 if it may try now. */
  retryAfter(address: string, publicKey: string): number {
    const pair = pairKey(address, publicKey);
    const pairWait = this.#byPair.retryAfter(pair);
    if (pairWait > 0) return pairWait;
    const addressWait = this.#byAddress.retryAfter(address);
    return addressWait > 0 && this.#byPair.count(pair) > 0 ? addressWait : 0;
  }

  failed(address: string, publicKey: string): void {
    this.#byPair.hit(pairKey(address, publicKey));
    this.#byAddress.hit(address);
  }

  succeeded(address: string, publicKey: string): void {
    this.#byPair.reset(pairKey(address, publicKey));
  }
}

function pairKey(address: string, publicKey: string): string {
  return `${address}\n${publicKey}`;
}
