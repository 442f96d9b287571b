/**
 * Connections by a key (a session's token hash, a user): most keys have one socket, so a key holds
 * that connection itself and gets a Set only from its second (docs/operations/memory.md: an empty
 * Set costs about 200 bytes, held for as long as the socket is open).
 */
import type { RealtimeConnection } from './connection.ts';

const NONE: readonly RealtimeConnection[] = [];

export class ConnectionIndex {
  readonly #byKey = new Map<string, RealtimeConnection | Set<RealtimeConnection>>();

  add(key: string, conn: RealtimeConnection): void {
    const held = this.#byKey.get(key);
    if (held === undefined) this.#byKey.set(key, conn);
    else if (held instanceof Set) held.add(conn);
    else if (held !== conn) this.#byKey.set(key, new Set([held, conn]));
  }

  delete(key: string, conn: RealtimeConnection): void {
    const held = this.#byKey.get(key);
    if (held === conn) this.#byKey.delete(key);
    else if (held instanceof Set && held.delete(conn) && held.size === 1) this.#byKey.set(key, held.values().next().value as RealtimeConnection);
  }

  /** The key's connections (a copy-free view: do not change the index while iterating). */
  get(key: string): Iterable<RealtimeConnection> {
    const held = this.#byKey.get(key);
    return held === undefined ? NONE : held instanceof Set ? held : [held];
  }

  count(key: string): number {
    const held = this.#byKey.get(key);
    return held === undefined ? 0 : held instanceof Set ? held.size : 1;
  }
}
