/**
 * Where the default trust store keeps its entries (endpoint/rooms/persistent-trust-store.ts): files in
 * Node (trust-kv-node.ts), IndexedDB in browsers (trust-kv-web.ts). `#endpoint-trust-kv` in
 * package.json picks one by import condition, like `#endpoint-fs`.
 */

/** Text values by key. Keys are `[a-z]+/` followed by an id of [A-Za-z0-9_-]. */
export interface TrustKv {
  /** What it stores in: two TrustKv with the same id share their entries (the identity's folder, or its IndexedDB namespace). */
  readonly id: string;
  /** The stored text, or undefined when there is none. */
  read(key: string): Promise<string | undefined>;
  /**
   * Replaces the value all at once: a crash leaves the old value or the new one, never a mix. With
   * `durable`, it resolves only once the value is on stable storage (fsync); without, a power loss may
   * bring back the previous value.
   */
  write(key: string, value: string, durable: boolean): Promise<void>;
  remove(key: string): Promise<void>;
  /**
   * Takes the namespace for this instance alone until the hold is released: a second taker, in this
   * process or another (another tab, window or worker in browsers), is refused at once with an error
   * whose `code` is `ELOCKED`. `onLost` is called if the hold is ever lost while held (its lock was
   * removed or taken over): from then on, nothing may be written.
   */
  hold(onLost: (error: Error) => void): Promise<TrustKvHold>;
}

export interface TrustKvHold {
  release(): Promise<void>;
}

export interface TrustKvOptions {
  /** Node: the folder under which each identity gets its own folder. Ignored in browsers. */
  directory?: string;
  /** Separates identities (solution and public key) that share a folder or a browser profile. */
  namespace: string;
}

export type OpenTrustKv = (options: TrustKvOptions) => TrustKv;
