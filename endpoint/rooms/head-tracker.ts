/**
 * Which room head each member says it is on, against this client's own trusted head (docs/design.md "Trust
 * model": a split view is detected by the members themselves, through the room version each sender
 * binds into what it sends; docs/security/bridge-adversary.md).
 *
 * The Bridge answers every fetch, so it can keep serving one member the head from before a removal
 * while the others move on, and that member keeps sending under a key the removed user holds. Every
 * data-track frame (and byte-stream header) carries, authenticated, its sender's room version and head
 * hash (media frames its first 12 bytes, MIN_HEAD_PREFIX_BYTES). Receivers hand each one to `observeHead`
 * after it authenticated:
 *
 * - same version and hash as this client's head: nothing to do (one map lookup and a 32-byte compare);
 * - a **newer** version: this client fetches and verifies the room (`fetch`, at most once per
 *   `HEAD_FETCH_INTERVAL_MS` per room, so claims cannot make it fetch per frame), which normally ends it;
 * - the same version with another hash: a **fork** (two different signed records for one version, which
 *   no honest manager and Bridge produce): reported at once;
 * - an older version, or a newer one this client still cannot get: reported once it has lasted
 *   `staleAfterMs` (members fetch within moments of an update; a member still on another head after
 *   that is being shown another room).
 *
 * A report goes to `onStale` once per episode (it starts again when the views agree, or when either
 * side moves). Only members that differ are kept, at most `MAX_DIVERGING_MEMBERS` per room; rooms are
 * kept while `setOwn` has been called for them and `forget` has not.
 */
import { equalBytes, toBase64 } from '../../crypto/bytes.ts';

/** Default: how long a member may be on another head than this client before `staleView`, in ms. */
export const DEFAULT_STALE_VIEW_AFTER_MS = 10_000;
/** A member naming a newer head makes this client fetch the room at most this often, in ms. */
export const HEAD_FETCH_INTERVAL_MS = 1_000;
/** The shortest head hash prefix compared as a head (media frames carry 12 bytes; data tracks the whole hash). */
export const MIN_HEAD_PREFIX_BYTES = 12;
/** Members on another head than this client, tracked per room; more are not followed. */
export const MAX_DIVERGING_MEMBERS = 4_096;

/** How a member's head differs from this client's. */
export type StaleViewReason = 'behind' | 'ahead' | 'fork';

/** A split view, as the tracker reports it (the app gets it as the `staleView` event). */
export interface StaleView {
  roomId: string;
  /** The member whose head differs from this client's, as the Bridge names the sender. */
  userId: string;
  reason: StaleViewReason;
  theirVersion: number;
  /** base64 */
  theirHeadHash: string;
  ourVersion: number;
  /** base64 */
  ourHeadHash: string;
  /** How long the two heads have differed, in ms. */
  sinceMs: number;
}

export interface HeadTrackerOptions {
  /** Default `DEFAULT_STALE_VIEW_AFTER_MS`. */
  staleAfterMs?: number;
  /** Fetches and verifies the room again; must not throw (the tracker learns the result by `setOwn`). */
  fetch: (roomId: string) => void;
  onStale: (view: StaleView) => void;
  now?: () => number;
}

interface Head {
  version: number;
  hash: Uint8Array;
}

interface Divergence extends Head {
  since: number;
  /** The (their version, our version) pair last reported, so one episode is reported once. */
  reported: string | undefined;
}

interface RoomHeads {
  own: Head;
  diverging: Map<string, Divergence>;
  /** When a member's newer head last made this client fetch. */
  fetchedAt: number;
}

export class HeadTracker {
  readonly #rooms = new Map<string, RoomHeads>();
  readonly #staleAfterMs: number;
  readonly #fetch: (roomId: string) => void;
  readonly #onStale: (view: StaleView) => void;
  readonly #now: () => number;

  constructor(options: HeadTrackerOptions) {
    this.#staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_VIEW_AFTER_MS;
    this.#fetch = options.fetch;
    this.#onStale = options.onStale;
    this.#now = options.now ?? Date.now;
  }

  /** This client's trusted head of a room (what its own frames carry), if it has one. */
  own(roomId: string): Head | undefined {
    return this.#rooms.get(roomId)?.own;
  }

  /** This client now trusts `version` (never goes back: an older or equal version changes nothing). */
  setOwn(roomId: string, version: number, hash: Uint8Array): void {
    const room = this.#rooms.get(roomId);
    if (room === undefined) {
      this.#rooms.set(roomId, { own: { version, hash: hash.slice() }, diverging: new Map(), fetchedAt: -Infinity });
      return;
    }
    if (version <= room.own.version) return;
    room.own = { version, hash: hash.slice() };
    for (const [userId, d] of room.diverging) if (d.version === version && equalBytes(d.hash, hash)) room.diverging.delete(userId);
  }

  /** Stops following a room (left, removed, deleted). */
  forget(roomId: string): void {
    this.#rooms.delete(roomId);
  }

  /**
   * An authenticated claim of `senderId` about its head, from a frame or a stream header. Ignored for a
   * room without an own head yet (not joined, or not read).
   * @example heads.observeHead(roomId, 'bob', stamp.version, stamp.headHash);
   */
  observeHead(roomId: string, senderId: string, version: number, headHash: Uint8Array): void {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return;
    const own = room.own;
    // Media frames name the hash by its first MIN_HEAD_PREFIX_BYTES (endpoint/media/frame-cryptor.ts).
    const ours = headHash.length >= MIN_HEAD_PREFIX_BYTES && headHash.length < own.hash.length ? own.hash.subarray(0, headHash.length) : own.hash;
    if (version === own.version && equalBytes(headHash, ours)) {
      if (room.diverging.size > 0) room.diverging.delete(senderId);
      return;
    }
    const now = this.#now();
    let d = room.diverging.get(senderId);
    if (d === undefined) {
      if (room.diverging.size >= MAX_DIVERGING_MEMBERS) return;
      d = { version, hash: headHash.slice(), since: now, reported: undefined };
      room.diverging.set(senderId, d);
    } else if (d.version !== version || !equalBytes(d.hash, headHash)) {
      // The member moved, still on another head than ours: the split goes on.
      d.version = version;
      d.hash = headHash.slice();
    }
    const reason: StaleViewReason = version > own.version ? 'ahead' : version < own.version ? 'behind' : 'fork';
    if (reason === 'ahead' && now - room.fetchedAt >= HEAD_FETCH_INTERVAL_MS) {
      room.fetchedAt = now;
      this.#fetch(roomId);
    }
    const episode = `${version}:${own.version}`;
    if (d.reported === episode) return;
    if (reason !== 'fork' && now - d.since < this.#staleAfterMs) return;
    d.reported = episode;
    this.#onStale({
      roomId,
      userId: senderId,
      reason,
      theirVersion: version,
      theirHeadHash: toBase64(headHash),
      ourVersion: own.version,
      ourHeadHash: toBase64(own.hash),
      sinceMs: now - d.since,
    });
  }
}
