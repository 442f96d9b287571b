/**
 * A sliding replay window over 64-bit counters, in the style of RFC 3711 section 3.3.2 (SRTP), which
 * RFC 9605 section 7.5 points receivers to.
 *
 * The window remembers the highest counter accepted and, for the `size` counters ending at it, which
 * ones were seen. A counter above the highest is new. One inside the window is accepted once, so frames
 * that arrive late (reordered by the network or the forwarding unit) still play. One below the window
 * is refused: the window cannot tell whether it was seen.
 *
 * `check` and `commit` are separate so that a receiver can check, decrypt, and commit only after the
 * frame authenticated: a forged frame with a huge counter must not slide the window and make every
 * genuine frame after it "too old". `commit` checks again, because two copies of one frame may both pass
 * `check` while their decryptions are in flight; only the first commit wins.
 */
import { assertInt, assertU64 } from '../bytes.ts';
import { CryptoError } from '../errors.ts';

/** Default window: 128 counters, twice SRTP's recommended minimum of 64 (RFC 3711 section 3.3.2). */
export const DEFAULT_REPLAY_WINDOW_SIZE = 128;
/** Smallest window allowed: RFC 3711 section 3.3.2 says the window size MUST be at least 64. */
export const MIN_REPLAY_WINDOW_SIZE = 64;
/** Largest window allowed: the bitmap is one bigint of this many bits, shifted on every new counter. */
export const MAX_REPLAY_WINDOW_SIZE = 65_536;

/** Why `check` refused a counter. */
export type ReplayVerdict = 'ok' | 'duplicate' | 'too-old';

/** Options of a `ReplayWindow`. */
export interface ReplayWindowOptions {
  /** Counters tracked below the highest seen, in [64, 65536]; default 128. */
  size?: number;
}

/** A replay window for one sender (one KID). */
export class ReplayWindow {
  /** How many counters, ending at the highest one seen, the window covers. */
  readonly size: number;
  readonly #mask: bigint;
  /** `size` as a bigint, for the comparisons each frame makes. */
  readonly #sizeBig: bigint;
  /** Highest counter committed, or undefined before the first. */
  #highest: bigint | undefined = undefined;
  /** Bit i set: counter (highest - i) was committed. */
  #seen = 0n;

  constructor(options: ReplayWindowOptions = {}) {
    const size = options.size ?? DEFAULT_REPLAY_WINDOW_SIZE;
    assertInt('size', size, MIN_REPLAY_WINDOW_SIZE, MAX_REPLAY_WINDOW_SIZE);
    this.size = size;
    this.#sizeBig = BigInt(size);
    this.#mask = (1n << this.#sizeBig) - 1n;
  }

  /** The highest counter committed so far, or undefined. */
  get highest(): bigint | undefined {
    return this.#highest;
  }

  /** Whether `ctr` would be accepted now; changes nothing. */
  verdict(ctr: bigint): ReplayVerdict {
    assertU64('ctr', ctr);
    if (this.#highest === undefined || ctr > this.#highest) return 'ok';
    const behind = this.#highest - ctr;
    if (behind >= this.#sizeBig) return 'too-old';
    return (this.#seen >> behind) & 1n ? 'duplicate' : 'ok';
  }

  /** Throws `CryptoError` reason `Replay` unless `ctr` is new or a first late arrival inside the window. */
  check(ctr: bigint): void {
    const verdict = this.verdict(ctr);
    if (verdict === 'duplicate') throw CryptoError.replay('replayed frame: counter already seen');
    if (verdict === 'too-old') throw CryptoError.replay(`replayed frame: counter older than the replay window of ${this.size}`);
  }

  /**
   * Marks `ctr` as seen, after its frame authenticated. Checks again first and throws `Replay` if the
   * counter was committed in the meantime, so a frame is delivered at most once.
   */
  commit(ctr: bigint): void {
    this.check(ctr);
    if (this.#highest === undefined || ctr > this.#highest) {
      const ahead = this.#highest === undefined ? this.#sizeBig : ctr - this.#highest;
      // A jump of a whole window or more forgets everything; otherwise shift the old bits up.
      this.#seen = ahead >= this.#sizeBig ? 1n : ((this.#seen << ahead) | 1n) & this.#mask;
      this.#highest = ctr;
    } else {
      this.#seen |= 1n << (this.#highest - ctr);
    }
  }
}
