/** Bridge-assigned frame numbers (trackNo, streamNo) and a bounded memory of retired ones. */

/** trackNo and streamNo travel as u32 in the binary frame header (protocol/ws.ts). */
const U32_MAX = 0xffff_ffff;

/**
 * Hands out u32 numbers in increasing order, starting at 1, so a number is not reused until the
 * counter wraps (after 4 billion numbers); on wrap it skips numbers still in use.
 */
export class NumberAllocator {
  private next = 1;

  take(inUse: (n: number) => boolean): number {
    for (;;) {
      const n = this.next;
      this.next = n >= U32_MAX ? 1 : n + 1;
      if (!inUse(n)) return n;
    }
  }
}

/**
 * A set that forgets its oldest entries beyond `capacity` entries. Its Set is made by the first `add`:
 * every participant has two of these and most never retire a number (docs/operations/memory.md).
 */
export class BoundedSet<T> {
  private items: Set<T> | undefined;

  constructor(private readonly capacity: number) {}

  add(item: T): void {
    this.items ??= new Set();
    this.items.delete(item);
    this.items.add(item);
    if (this.items.size > this.capacity) {
      const oldest = this.items.values().next();
      if (oldest.done !== true) this.items.delete(oldest.value);
    }
  }

  has(item: T): boolean {
    return this.items?.has(item) === true;
  }

  get size(): number {
    return this.items?.size ?? 0;
  }
}
