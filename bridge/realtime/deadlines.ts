/**
 * One timer for many deadlines (the sockets' session expiries): items are kept in buckets of
 * `resolutionMs` and a single timer is armed for the earliest bucket. A Node Timeout per socket costs
 * about 200 bytes of heap for as long as the socket is open, and each distinct delay adds a timer list
 * of its own (docs/operations/memory.md); here a socket costs one Set entry. A deadline fires at most
 * `resolutionMs` late, never early.
 */
export class Deadlines<T> {
  readonly #buckets = new Map<number, Set<T>>();
  /** Bucket numbers with items, ascending. */
  readonly #order: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The bucket the timer is armed for. */
  #armedFor: number | undefined;

  constructor(
    private readonly fire: (item: T) => void,
    private readonly now: () => number = Date.now,
    private readonly resolutionMs = 1000,
  ) {}

  /** Fires `item` at `atMs` (at most `resolutionMs` later). */
  add(item: T, atMs: number): void {
    const bucket = Math.ceil(atMs / this.resolutionMs);
    let items = this.#buckets.get(bucket);
    if (items === undefined) {
      this.#buckets.set(bucket, (items = new Set()));
      this.#order.splice(this.#insertAt(bucket), 0, bucket);
    }
    items.add(item);
    this.#arm();
  }

  /** Forgets `item`, added with the same `atMs`. */
  delete(item: T, atMs: number): void {
    const bucket = Math.ceil(atMs / this.resolutionMs);
    const items = this.#buckets.get(bucket);
    if (items === undefined || !items.delete(item) || items.size > 0) return;
    this.#buckets.delete(bucket);
    this.#order.splice(this.#insertAt(bucket), 1);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = undefined;
    this.#buckets.clear();
    this.#order.length = 0;
  }

  get size(): number {
    let n = 0;
    for (const items of this.#buckets.values()) n += items.size;
    return n;
  }

  /** Index of the first bucket number >= `bucket` (binary search). */
  #insertAt(bucket: number): number {
    let lo = 0;
    let hi = this.#order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#order[mid]! < bucket) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #arm(): void {
    const first = this.#order[0];
    if (first === undefined || first === this.#armedFor) return;
    clearTimeout(this.#timer);
    this.#armedFor = first;
    // Node timers overflow past 2^31-1 ms: a later deadline re-arms daily until it is near.
    const delay = Math.min(Math.max(0, first * this.resolutionMs - this.now()), 86_400_000);
    this.#timer = setTimeout(() => this.#run(), delay);
    this.#timer.unref();
  }

  #run(): void {
    this.#timer = undefined;
    this.#armedFor = undefined;
    const nowBucket = Math.floor(this.now() / this.resolutionMs);
    while (this.#order.length > 0 && this.#order[0]! <= nowBucket) {
      const bucket = this.#order.shift()!;
      const items = this.#buckets.get(bucket)!;
      this.#buckets.delete(bucket);
      for (const item of items) this.fire(item);
    }
    this.#arm();
  }
}
