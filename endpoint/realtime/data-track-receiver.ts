/**
 * Receiving data-track messages (docs/design.md "Data tracks and media frames"; docs/design.md "Lessons from earlier systems": PrivMX passed
 * frames that failed to decrypt on, unchanged). For each DATA frame:
 *
 * 1. The trackNo gives (room, stream, track, publisher) from the Bridge's description of the room; an
 *    unknown trackNo is dropped (`unroutable`).
 * 2. The SFrame header gives the KID; its low 8 bits name the epoch among the keys held (current and in
 *    grace); a newer epoch makes this client fetch the room once (`KeyRefresher`). No key: `noKey`.
 * 3. The base key of (epoch, KID, sender = the Bridge's publisher) is derived once and kept in that
 *    sender's `SFrameContext`, which holds one replay window per KID. A frame that fails to
 *    authenticate is dropped (`undecryptable`); a counter seen before or too old is dropped
 *    (`replayed`). Only an authenticated frame reaches the listeners.
 * 4. The authenticated stamp (data-track-crypto.ts) is checked: a frame stamped outside `maxAgeMs`
 *    of this client's clock, or not after its KID's floor, is dropped (`stale`). Its room head goes to
 *    the head tracker (split views), then the message to the listeners.
 * 5. A lossy track's frame that arrives later than its `deadlineMs` is dropped here (`droppedLate`):
 *    the Bridge drops what waits in its own queue, but a delay that accrues after it (the kernel's
 *    socket buffers, this process's busy event loop) only the receiver sees. Late means: its
 *    `now - stamp` exceeds the quickest `now - stamp` of that sender over the last 20-40 s by more than
 *    the deadline. That quickest figure holds the two clocks' offset, so no clock has to agree with
 *    another; a delay present throughout that window is not seen, so the rule errs towards delivering
 *    (docs/protocol/data-tracks.md, "Deadlines at the receiver").
 *
 * Old epochs and forgotten sessions (docs/security/bridge-adversary.md):
 * - A KID first seen under an epoch older than the newest held is refused (`stale`): a session that
 *   starts in a superseded epoch is a removed member's forgery, or a sender that will move on at once.
 *   The grace period serves sessions seen before the rotation, and only until their sender's first
 *   frame under a newer epoch: senders never go back (data-track-sender.ts), so after it that sender's
 *   older sessions are closed.
 * - Forgetting a session (pushed out of the retired list, its sender out of the cache, its room
 *   dropped) raises its sender's floor to the newest time accepted under it, and a session admitted
 *   later (new, or forgotten and back) only takes frames stamped after that floor. So a frame is never
 *   delivered twice while its epoch is kept, however many sessions the Bridge forces through; and one
 *   older than `maxAgeMs` never, also at a receiver that never saw it (restarted, or a member added
 *   without a rotation).
 *
 * Frames are handled one at a time in arrival order, so listeners get each track's messages in the
 * order the Bridge relayed them, also across a key fetch.
 *
 * Bounds. At most `MAX_QUEUED_FRAMES` / `MAX_QUEUED_FRAME_BYTES` wait (more: `receiveOverflow`). Keys
 * and replay windows are kept for `MAX_CACHED_SENDERS` senders, `MAX_KIDS_PER_SENDER` KIDs each. Nothing
 * is kept for a frame that did not authenticate: a sender or KID enters the cache only with a frame that
 * decrypted and was fresh, so the Bridge cannot flush the cache (and with it the replay windows) with
 * forged frames. A KID whose epoch left its grace period or that was pushed out is remembered as
 * retired (bounded), so its old frames stay refused rather than meeting a fresh replay window; past the
 * bound, the sender's time floor takes over (`MAX_SENDER_FLOORS` senders, then one floor for all).
 */
import { CryptoError } from '../../crypto/errors.ts';
import {
  type DecodedSFrameHeader,
  decodeSFrameHeader,
  DEFAULT_SFRAME_SUITE,
  deriveSenderBaseKey,
  parseKid,
  SFRAME_MAX_HEADER_BYTES,
  SFrameContext,
  type SFrameDecrypted,
  sframeSuite,
} from '../../crypto/sframe/index.ts';
import { DATA_HEADER_BYTES } from '../../protocol/ws-frames.ts';
import type { Logger } from '../logger.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { HeadTracker } from '../rooms/head-tracker.ts';
import { bulkGovernor } from '../util/bulk-governor.ts';
import { dataTrackMetadata, decodeDataTrackPlaintext, MAX_DATA_PLAINTEXT_BYTES, resolveEpoch } from './data-track-crypto.ts';
import type { RemoteTrack } from './joined-rooms.ts';
import type { KeyRefresher } from './key-refresh.ts';
import { kidFailed, type KidFailures, kidMayBeTried } from './kid-epoch.ts';
import { rememberBounded } from './ids.ts';
import {
  MAX_CACHED_SENDERS,
  MAX_KIDS_PER_SENDER,
  MAX_QUEUED_FRAME_BYTES,
  MAX_QUEUED_FRAMES,
  MAX_RETIRED_KIDS_PER_SENDER,
  MAX_SENDER_FLOORS,
} from './limits.ts';
import type { DataTrackStats } from './types.ts';

/** Longest SFrame ciphertext a data-track message can have: header, stamp and largest message, tag. Bytes. */
const MAX_SFRAME_BYTES = SFRAME_MAX_HEADER_BYTES + MAX_DATA_PLAINTEXT_BYTES + sframeSuite(DEFAULT_SFRAME_SUITE).tagLength;

interface KidEntry {
  epoch: number;
  /** A frame under this KID authenticated. */
  verified: boolean;
  /** Frames under this KID must be stamped after this (the sender's floor when the KID was admitted). */
  floor: number;
  /** Newest stamp accepted under this KID. */
  lastTime: number;
}

/** One remote sender in one room: its keys and replay windows (per KID). */
interface SenderKeys {
  ctx: SFrameContext;
  kids: Map<bigint, KidEntry>;
  /** KIDs whose frames are refused, each with the newest stamp accepted under it. */
  retired: Map<bigint, number>;
  /** Newest epoch a frame of this sender authenticated under: its sessions of older epochs are closed. */
  newestEpoch: number;
  /** When a frame of this sender was last delivered (the receiver's tick): the least recent goes first. */
  lastUsed: number;
  /** The quickest `now - stamp` of this sender's frames in this bucket, and in the one before (step 5). */
  quickest: number;
  quickestBefore: number;
  /** When this bucket began, by this client's clock. */
  bucketAt: number;
}

/** One bucket of the quickest-transit figure; two are kept, so it reflects the last 20-40 s. */
const TRANSIT_BUCKET_MS = 20_000;

/**
 * This client's time for step 5: wall-clock milliseconds that never step (a clock set back or forward
 * here does not shift every transit). A sender's clock that steps does, until its step leaves the window.
 */
function monotonicWallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** What every frame of one remote track needs, computed on its first frame. */
interface TrackRoute {
  /** Its SFrame metadata (data-track-crypto.ts): room, stream and track ids. */
  metadata: Uint8Array;
  /** `${roomId}\n${userId}`: its sender's entry in `senders`. */
  senderKey: string;
}

/**
 * The bytes of a frame that waits in the queue: a copy when they are a view into a larger buffer (in
 * Node, the socket's read: endpoint/transport/websocket-node.ts), so that the queue's byte bound is what
 * it holds. A frame's own buffer holds its binary header too (endpoint/socket-messages.ts), hence the slack.
 */
function ownBytes(payload: Uint8Array): Uint8Array {
  return payload.buffer.byteLength > payload.byteLength + DATA_HEADER_BYTES ? new Uint8Array(payload) : payload;
}

/** `lookup`: the KID is not held yet. */
const ADMIT = 1;
/** `lookup`: the frame is refused (and counted). */
const DROPPED = 2;

export interface ReceiverDeps {
  keys: KeyRing;
  refresher: KeyRefresher;
  counters: DataTrackStats;
  log: Logger;
  /** The remote track behind a trackNo, if it is in a joined room. */
  route: (trackNo: number) => RemoteTrack | undefined;
  /** Hands an authenticated message to the listeners; false if its room was left meanwhile. */
  deliver: (track: RemoteTrack, data: Uint8Array, epoch: number) => boolean;
  /** Where each authenticated frame's room head goes (split views). */
  heads: HeadTracker;
  /** Freshness window: frames stamped further than this from this client's clock are stale. In ms. */
  maxAgeMs: number;
  now?: () => number;
}

export class DataTrackReceiver {
  /** `${roomId}\n${userId}` -> keys (recency in `lastUsed`). */
  private readonly senders = new Map<string, SenderKeys>();
  private chain: Promise<void> = Promise.resolve();
  private queuedFrames = 0;
  private queuedBytes = 0;
  /** `${roomId}\n${userId}` -> stamps up to this are refused for sessions admitted from now on. */
  private readonly floors = new Map<string, number>();
  /** The same for every sender, once `floors` overflowed. */
  private globalFloor = 0;
  private readonly now: () => number;
  /** Per remote track object: a track that comes back under a new description is a new object. */
  private readonly routes = new WeakMap<RemoteTrack, TrackRoute>();
  /** Counts delivered frames: `SenderKeys.lastUsed`. */
  private tick = 0;
  /** `${roomId}\n${userId}` -> what new KIDs that never authenticated may still cost (kid-epoch.ts). */
  private readonly failures = new Map<string, KidFailures>();

  constructor(private readonly d: ReceiverDeps) {
    this.now = d.now ?? Date.now;
  }

  /** A DATA frame from the Bridge. */
  onFrame(trackNo: number, payload: Uint8Array): void {
    const track = this.d.route(trackNo);
    if (track === undefined) {
      this.d.counters.unroutable++;
      return;
    }
    if (payload.length > MAX_SFRAME_BYTES) {
      // Longer than any message a sender may send: refused before any key work.
      this.d.counters.undecryptable++;
      return;
    }
    // Nothing waiting: a frame of a known session is handled in this call when the backend decrypts
    // synchronously (Node), with no promise or microtask per frame. The order stays the arrival order:
    // once one frame waits (a key to fetch, or an async-only backend), every later one queues behind it.
    if (this.queuedFrames === 0) {
      try {
        if (this.processSync(track, payload)) return;
      } catch (error) {
        this.failed(error);
        return;
      }
    }
    if (this.queuedFrames >= MAX_QUEUED_FRAMES || this.queuedBytes + payload.length > MAX_QUEUED_FRAME_BYTES) {
      this.d.counters.receiveOverflow++;
      return;
    }
    this.queuedFrames++;
    this.queuedBytes += payload.length;
    const kept = ownBytes(payload);
    this.chain = this.chain.then(async () => {
      try {
        await this.process(track, kept);
      } catch (error) {
        this.failed(error);
      } finally {
        this.queuedFrames--;
        this.queuedBytes -= payload.length;
      }
    });
  }

  /** Forgets the keys and replay windows of a room's senders (after removal or deletion). */
  dropRoom(roomId: string): void {
    for (const [key, sender] of [...this.senders]) {
      if (!key.startsWith(`${roomId}\n`)) continue;
      this.senders.delete(key);
      this.forgotten(key, sender);
    }
  }

  private failed(error: unknown): void {
    this.d.counters.undecryptable++;
    this.d.log.error({ reason: (error as Error).message }, 'handling a data-track frame failed');
  }

  /**
   * A frame of a session already admitted, decrypted synchronously: true when it was handled (delivered
   * or dropped and counted), false when it must take the async path (`process`): its sender or KID is
   * not admitted yet (a key to derive, maybe to fetch), or its AEAD decrypts only asynchronously.
   */
  private processSync(track: RemoteTrack, payload: Uint8Array): boolean {
    const header = this.headerOf(payload);
    if (header === undefined) return true;
    const route = this.routeOf(track);
    const sender = this.senders.get(route.senderKey);
    if (sender === undefined) return false;
    const entry = this.lookup(route.senderKey, sender, header.kid, track.roomId);
    if (entry === DROPPED) return true;
    if (entry === ADMIT) return false;
    let opened: SFrameDecrypted | undefined;
    try {
      opened = sender.ctx.decryptSync(route.metadata, payload, header);
    } catch (error) {
      this.notOpened(error, route.senderKey, sender, header.kid, entry);
      return true;
    }
    if (opened === undefined) return false;
    this.accept(track, route.senderKey, sender, false, header.kid, entry, opened.plaintext);
    return true;
  }

  private async process(track: RemoteTrack, payload: Uint8Array): Promise<void> {
    const kid = this.headerOf(payload)?.kid;
    if (kid === undefined) return;
    const route = this.routeOf(track);
    const known = this.senders.get(route.senderKey);
    const sender: SenderKeys = known ?? {
      ctx: new SFrameContext({ maxFrameBytes: MAX_DATA_PLAINTEXT_BYTES }),
      kids: new Map(),
      retired: new Map(),
      newestEpoch: 0,
      lastUsed: 0,
      quickest: Number.POSITIVE_INFINITY,
      quickestBefore: Number.POSITIVE_INFINITY,
      bucketAt: monotonicWallMs(),
    };
    let entry = this.lookup(route.senderKey, sender, kid, track.roomId);
    if (entry === DROPPED) return;
    if (entry === ADMIT) {
      const admitted = await this.admit(track, route.senderKey, sender, kid);
      if (admitted === undefined) return;
      entry = admitted;
    }
    let plaintext: Uint8Array;
    try {
      ({ plaintext } = await sender.ctx.decrypt(route.metadata, payload));
    } catch (error) {
      this.notOpened(error, route.senderKey, sender, kid, entry);
      return;
    }
    this.accept(track, route.senderKey, sender, known === undefined, kid, entry, plaintext);
  }

  /** A frame's SFrame header; undefined (counted) when it is malformed. */
  private headerOf(payload: Uint8Array): DecodedSFrameHeader | undefined {
    try {
      return decodeSFrameHeader(payload);
    } catch {
      this.d.counters.undecryptable++;
      return undefined;
    }
  }

  /** What a track's frames need every time, computed once per track. */
  private routeOf(track: RemoteTrack): TrackRoute {
    let route = this.routes.get(track);
    if (route === undefined) {
      route = { metadata: dataTrackMetadata(track.roomId, track.streamId, track.trackId), senderKey: `${track.roomId}\n${track.userId}` };
      this.routes.set(track, route);
    }
    return route;
  }

  /**
   * The session a frame's KID names at its sender: its entry, `ADMIT` when it is not held yet (the
   * caller may admit it), `DROPPED` (counted) when its frames are refused.
   */
  private lookup(senderKey: string, sender: SenderKeys, kid: bigint, roomId: string): KidEntry | typeof ADMIT | typeof DROPPED {
    let entry = sender.kids.get(kid);
    if (entry !== undefined && this.d.keys.get(roomId, entry.epoch) === undefined) {
      // The epoch's grace period is over: its frames are refused from now on.
      this.retire(senderKey, sender, kid);
      entry = undefined;
    }
    if (entry !== undefined && entry.epoch < sender.newestEpoch) {
      // The sender moved on to a newer epoch and never comes back: this session is closed.
      this.retire(senderKey, sender, kid);
      this.d.counters.stale++;
      return DROPPED;
    }
    if (entry !== undefined) return entry;
    if (sender.retired.has(kid) || !kidMayBeTried(this.failures.get(senderKey), performance.now())) {
      // A closed session, or one more new KID from a sender whose new KIDs keep failing (forged).
      this.d.counters.noKey++;
      return DROPPED;
    }
    return ADMIT;
  }

  /** Derives and adds the key of a KID not held yet; undefined (counted) when it is refused or has no key. */
  private async admit(track: RemoteTrack, senderKey: string, sender: SenderKeys, kid: bigint): Promise<KidEntry | undefined> {
    const counters = this.d.counters;
    const epoch = await this.epochOf(track.roomId, parseKid(kid).epochLow);
    if (epoch !== undefined && (epoch < (this.d.keys.newestEpoch(track.roomId) ?? 0) || epoch < sender.newestEpoch)) {
      // A session not seen before its epoch was superseded.
      counters.stale++;
      return undefined;
    }
    const epochKey = epoch === undefined ? undefined : await this.d.refresher.keyFor(track.roomId, epoch);
    if (epoch === undefined || epochKey === undefined) {
      counters.noKey++;
      return undefined;
    }
    const baseKey = deriveSenderBaseKey({ epochKey, roomId: track.roomId, epoch, kid, senderId: track.userId });
    try {
      await sender.ctx.addKey(kid, baseKey);
    } finally {
      baseKey.fill(0);
    }
    const entry = { epoch, verified: false, floor: Math.max(this.floors.get(senderKey) ?? 0, this.globalFloor), lastTime: 0 };
    sender.kids.set(kid, entry);
    return entry;
  }

  /** A frame that did not decrypt: a replay, or one that failed to authenticate. */
  private notOpened(error: unknown, senderKey: string, sender: SenderKeys, kid: bigint, entry: KidEntry): void {
    if (error instanceof CryptoError && error.reason === 'Replay') this.d.counters.replayed++;
    else this.d.counters.undecryptable++;
    this.unverified(senderKey, sender, kid, entry);
  }

  /** An authenticated frame: its stamp is checked, then it goes to the head tracker and the listeners. */
  private accept(track: RemoteTrack, senderKey: string, sender: SenderKeys, fresh: boolean, kid: bigint, entry: KidEntry, plaintext: Uint8Array): void {
    const counters = this.d.counters;
    const opened = decodeDataTrackPlaintext(plaintext);
    if (opened === undefined) {
      // Authenticated, so from a member, but not a frame this library sends.
      counters.undecryptable++;
      this.unverified(senderKey, sender, kid, entry);
      return;
    }
    const { stamp, message } = opened;
    const now = this.now();
    if (stamp.time <= entry.floor || stamp.time < now - this.d.maxAgeMs || stamp.time > now + this.d.maxAgeMs) {
      counters.stale++;
      this.unverified(senderKey, sender, kid, entry);
      return;
    }
    if (stamp.time > entry.lastTime) entry.lastTime = stamp.time;
    if (entry.epoch > sender.newestEpoch) sender.newestEpoch = entry.epoch;
    // Recency as a number, not by moving the sender to the end of the map on every frame.
    sender.lastUsed = ++this.tick;
    if (!entry.verified) {
      entry.verified = true;
      this.keep(senderKey, sender, fresh);
      this.bound(senderKey, sender);
    }
    this.d.heads.observeHead(track.roomId, track.userId, stamp.version, stamp.headHash);
    const arrived = monotonicWallMs();
    if (this.late(track, sender, arrived, arrived - stamp.time)) {
      counters.droppedLate++;
      return;
    }
    // Its room may have been left while the frame waited: then it counts as unroutable.
    if (this.d.deliver(track, message, entry.epoch)) counters.delivered++;
    else counters.unroutable++;
  }

  /** Step 5: whether a frame that arrived `transit` ms after its stamp is past its lossy track's deadline. */
  private late(track: RemoteTrack, sender: SenderKeys, now: number, transit: number): boolean {
    if (now - sender.bucketAt >= TRANSIT_BUCKET_MS) {
      sender.quickestBefore = sender.quickest;
      sender.quickest = transit;
      sender.bucketAt = now;
    } else if (transit < sender.quickest) sender.quickest = transit;
    const excess = transit - Math.min(sender.quickest, sender.quickestBefore);
    // What the bulk governor yields byte streams to, besides this process's own loop.
    bulkGovernor.frameArrived(excess);
    return track.lateAfterMs !== undefined && excess > track.lateAfterMs;
  }

  /** Nothing is kept for a KID that never authenticated a deliverable frame; it spends from its sender's failure budget. */
  private unverified(senderKey: string, sender: SenderKeys, kid: bigint, entry: KidEntry): void {
    if (entry.verified) return;
    sender.ctx.removeKey(kid);
    sender.kids.delete(kid);
    let failures = this.failures.get(senderKey);
    if (failures === undefined) rememberBounded(this.failures, senderKey, (failures = { spent: 0, at: 0 }), MAX_CACHED_SENDERS);
    kidFailed(failures, performance.now());
  }

  /** The full epoch a KID names, among the keys held (fetching the room once if none is held). */
  private async epochOf(roomId: string, epochLow: number): Promise<number | undefined> {
    let newest = this.d.keys.newestEpoch(roomId);
    if (newest === undefined) {
      await this.d.refresher.refresh(roomId);
      newest = this.d.keys.newestEpoch(roomId);
    }
    return newest === undefined ? undefined : resolveEpoch(newest, epochLow)?.epoch;
  }

  private keep(senderKey: string, sender: SenderKeys, fresh: boolean): void {
    if (!fresh) return;
    this.senders.set(senderKey, sender);
    while (this.senders.size > MAX_CACHED_SENDERS) {
      // The least recently used: a scan, only when a new sender (with a frame that authenticated) enters a full cache.
      let oldest: [string, SenderKeys] | undefined;
      for (const candidate of this.senders) if (oldest === undefined || candidate[1].lastUsed < oldest[1].lastUsed) oldest = candidate;
      if (oldest === undefined) break;
      this.senders.delete(oldest[0]);
      this.forgotten(oldest[0], oldest[1]);
    }
  }

  /** Keeps at most MAX_KIDS_PER_SENDER KIDs: the oldest go to the retired list. */
  private bound(senderKey: string, sender: SenderKeys): void {
    while (sender.kids.size > MAX_KIDS_PER_SENDER) {
      const oldest = sender.kids.keys().next();
      if (oldest.done === true) break;
      this.retire(senderKey, sender, oldest.value);
    }
  }

  /** Refuses a KID's frames from now on; one pushed out of the bounded retired list raises the floor. */
  private retire(senderKey: string, sender: SenderKeys, kid: bigint): void {
    const lastTime = sender.kids.get(kid)?.lastTime ?? 0;
    sender.ctx.removeKey(kid);
    sender.kids.delete(kid);
    sender.retired.delete(kid);
    sender.retired.set(kid, lastTime);
    while (sender.retired.size > MAX_RETIRED_KIDS_PER_SENDER) {
      const oldest = sender.retired.entries().next();
      if (oldest.done === true) break;
      sender.retired.delete(oldest.value[0]);
      this.raiseFloor(senderKey, oldest.value[1]);
    }
  }

  /** A sender's sessions are all forgotten: later ones must be stamped after anything accepted here. */
  private forgotten(senderKey: string, sender: SenderKeys): void {
    let newest = 0;
    for (const entry of sender.kids.values()) newest = Math.max(newest, entry.lastTime);
    for (const lastTime of sender.retired.values()) newest = Math.max(newest, lastTime);
    this.raiseFloor(senderKey, newest);
  }

  private raiseFloor(senderKey: string, time: number): void {
    const floor = Math.max(this.floors.get(senderKey) ?? 0, time);
    if (floor === 0) return;
    this.floors.delete(senderKey);
    this.floors.set(senderKey, floor);
    while (this.floors.size > MAX_SENDER_FLOORS) {
      const oldest = this.floors.entries().next();
      if (oldest.done === true) break;
      this.floors.delete(oldest.value[0]);
      // Stricter for everyone rather than forgetting: only ever refuses more.
      this.globalFloor = Math.max(this.globalFloor, oldest.value[1]);
    }
  }
}
