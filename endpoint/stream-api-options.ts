/** The options of `Endpoint.createStreamApi` (endpoint/stream-api.ts). */
import type { MediaOptions } from './media/types.ts';
import type { PeerOptions } from './peers/types.ts';
import type { TrustStore } from './rooms/trust.ts';
import type { UserVerifier } from './types.ts';

export interface StreamApiOptions {
  /**
   * Where pinned user keys and verified room heads are kept (docs/security/key-trust.md). Default: a
   * persistent store, under `trustDir` in Node and in IndexedDB in browsers, so that pins and rollback
   * protection survive restarts. A `MemoryTrustStore` forgets both with the process.
   */
  trustStore?: TrustStore;
  /**
   * Node, default store only: the folder that holds it (one sub-folder per solution and identity).
   * Default: `$SEALROOM_TRUST_DIR`, else `~/.sealroom/trust`.
   */
  trustDir?: string;
  /**
   * The app's check of every key before the Endpoint trusts it on first use (or on a key change), for
   * example against its own backend; `false` refuses with `KeyRejected`.
   * @example verifyUsers: async (users) => Promise.all(users.map((u) => myBackend.hasKey(u.userId, u.pubKey)))
   */
  verifyUsers?: UserVerifier;
  /** How long `verifyUsers` may take, in milliseconds (default 30,000); past it, `Timeout`. */
  verifyUsersTimeoutMs?: number;
  /** How long old epoch keys stay usable after a rotation, for data in flight. Milliseconds. */
  epochGraceMs?: number;
  /**
   * A byte or text stream that carries nothing for this long fails with `Timeout`: a reader that gets
   * no chunk (while it holds no unread data), a writer that gets no allowance. Default 60,000; 0 never.
   */
  streamIdleTimeoutMs?: number;
  /**
   * Freshness window of received data-track messages: one stamped by its sender more than this before
   * (or after) this client's clock is dropped and counted as `stale`. It must cover network delay and
   * the clock difference between members. Default 30,000 (docs/security/bridge-adversary.md).
   */
  dataTrackMaxAgeMs?: number;
  /**
   * How long a member of a joined room may be on another room head than this client before the
   * `staleView` event. Default 10,000; keep it below `epochGraceMs`.
   */
  staleViewAfterMs?: number;
  /** Audio and video (docs/media/endpoint-media.md): which ICE candidates to use, the frame worker's source. */
  media?: MediaOptions;
  /** Direct peer connections (docs/protocol/peer-signalling.md): ICE servers, candidate filter, Node's werift options. */
  peers?: PeerOptions;
}
