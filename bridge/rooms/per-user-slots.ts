/**
 * Work one user may have in progress at once (filtered listings: docs/operations/limits.md, "Listings
 * with queryAsJson"). Only users with work in progress have an entry, so the map is bounded by the
 * requests in flight.
 */
export class PerUserSlots {
  readonly #held = new Map<string, number>();

  constructor(private readonly most: number) {}

  /** Takes a slot for `user`, or returns false when it holds `most` already. */
  take(user: string): boolean {
    const held = this.#held.get(user) ?? 0;
    if (held >= this.most) return false;
    this.#held.set(user, held + 1);
    return true;
  }

  release(user: string): void {
    const left = (this.#held.get(user) ?? 1) - 1;
    if (left <= 0) this.#held.delete(user);
    else this.#held.set(user, left);
  }
}
