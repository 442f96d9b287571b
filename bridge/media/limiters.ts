/**
 * Per-track limiters on the unit's packet path. Both keep a couple of numbers and allocate nothing.
 *
 * - KeyframeThrottle: subscribers' keyframe requests (PLI, FIR) reach the publisher at most once per
 *   interval per track. A subscriber that cannot decrypt (wrong key, epoch not yet received) keeps
 *   asking; without this, every request would make the publisher send a keyframe, the costliest
 *   frame there is, for every member of the room (docs/media/forwarding-unit.md, "Keyframes").
 * - BitrateBucket: a token bucket holding one second of a track's allowed bitrate. A publisher over
 *   its limit has the excess packets dropped at the unit, so one sender cannot take every
 *   subscriber's bandwidth. Its browser is told the limit in the answer's b=TIAS first. A packet is
 *   charged at least the bitrate's share of one of `maxPacketsPerSecond`: what a packet costs the unit
 *   does not shrink with its payload, and 1-byte payloads had passed at about 1,000 times the packet
 *   rate of real video under the same bitrate.
 */

/** Packets a second a track may send at its full bitrate: above any real encoder's, far below 1-byte floods. */
export const MAX_PACKETS_PER_SECOND = { audio: 200, video: 2000 } as const;

export class KeyframeThrottle {
  received = 0;
  forwarded = 0;
  suppressed = 0;
  #last = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Counts a request; true when it should go to the publisher now. */
  request(): boolean {
    this.received++;
    const now = this.now();
    if (now - this.#last < this.intervalMs) {
      this.suppressed++;
      return false;
    }
    this.#last = now;
    this.forwarded++;
    return true;
  }
}

export class BitrateBucket {
  dropped = 0;
  #tokens: number;
  #last: number;
  readonly #bytesPerMs: number;
  readonly #capacity: number;

  readonly #minBytes: number;

  constructor(
    bitsPerSecond: number,
    maxPacketsPerSecond: number = Number.POSITIVE_INFINITY,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#minBytes = bitsPerSecond / 8 / maxPacketsPerSecond;
    this.#bytesPerMs = bitsPerSecond / 8 / 1000;
    this.#capacity = bitsPerSecond / 8; // one second of the allowed rate
    this.#tokens = this.#capacity;
    this.#last = now();
  }

  /** Takes `bytes` from the bucket; false (and counted) when the track is over its rate. */
  take(payloadBytes: number): boolean {
    const bytes = Math.max(payloadBytes, this.#minBytes);
    const now = this.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#bytesPerMs);
    this.#last = now;
    if (bytes > this.#tokens) {
      this.dropped++;
      return false;
    }
    this.#tokens -= bytes;
    return true;
  }
}
