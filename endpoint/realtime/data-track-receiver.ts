/**
 * Receiving data-track messages (DESIGN.md "Data tracks and media frames"; LESSONS.md: PrivMX passed
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
 *
 * Frames are handled one at a time in arrival order, so listeners get each track's messages in the
 * order the Bridge relayed them, also across a key fetch.
 *
 * Bounds. At most `MAX_QUEUED_FRAMES` / `MAX_QUEUED_FRAME_BYTES` wait (more: `receiveOverflow`). Keys
 * and replay windows are kept for `MAX_CACHED_SENDERS` senders, `MAX_KIDS_PER_SENDER` KIDs each. Nothing
 * is kept for a frame that did not authenticate: a sender or KID enters the cache only with a frame that
 * decrypted, so the Bridge cannot flush the cache (and with it the replay windows) with forged frames.
 * A KID whose epoch left its grace period or that was pushed out is remembered as retired (bounded), so
 * its old frames stay refused rather than meeting a fresh replay window.
 */
import { CryptoError } from '../../crypto/errors.ts';
import {
  decodeSFrameHeader,
  DEFAULT_SFRAME_SUITE,
  deriveSenderBaseKey,
  parseKid,
  SFRAME_MAX_HEADER_BYTES,
  SFrameContext,
  sframeSuite,
} from '../../crypto/sframe/index.ts';
import type { Logger } from '../logger.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import { dataTrackMetadata, resolveEpoch } from './data-track-crypto.ts';
import { rememberBounded } from './ids.ts';
import type { RemoteTrack } from './joined-rooms.ts';
import type { KeyRefresher } from './key-refresh.ts';
import {
  MAX_CACHED_SENDERS,
  MAX_DATA_MESSAGE_BYTES,
  MAX_KIDS_PER_SENDER,
  MAX_QUEUED_FRAME_BYTES,
  MAX_QUEUED_FRAMES,
  MAX_RETIRED_KIDS_PER_SENDER,
} from './limits.ts';
import type { DataTrackStats } from './types.ts';

/** Longest SFrame ciphertext a data-track message can have: header, the largest message, the tag. Bytes. */
const MAX_SFRAME_BYTES = SFRAME_MAX_HEADER_BYTES + MAX_DATA_MESSAGE_BYTES + sframeSuite(DEFAULT_SFRAME_SUITE).tagLength;

interface KidEntry {
  epoch: number;
  /** A frame under this KID authenticated. */
  verified: boolean;
}

/** One remote sender in one room: its keys and replay windows (per KID). */
interface SenderKeys {
  ctx: SFrameContext;
  kids: Map<bigint, KidEntry>;
  retired: Map<bigint, true>;
}

export interface ReceiverDeps {
  keys: KeyRing;
  refresher: KeyRefresher;
  counters: DataTrackStats;
  log: Logger;
  /** The remote track behind a trackNo, if it is in a joined room. */
  route: (trackNo: number) => RemoteTrack | undefined;
  /** Hands an authenticated message to the listeners; false if its room was left meanwhile. */
  deliver: (track: RemoteTrack, data: Uint8Array, epoch: number) => boolean;
}

export class DataTrackReceiver {
  /** `${roomId}\n${userId}` -> keys, least recently used first. */
  private readonly senders = new Map<string, SenderKeys>();
  private chain: Promise<void> = Promise.resolve();
  private queuedFrames = 0;
  private queuedBytes = 0;

  constructor(private readonly d: ReceiverDeps) {}

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
    if (this.queuedFrames >= MAX_QUEUED_FRAMES || this.queuedBytes + payload.length > MAX_QUEUED_FRAME_BYTES) {
      this.d.counters.receiveOverflow++;
      return;
    }
    this.queuedFrames++;
    this.queuedBytes += payload.length;
    this.chain = this.chain.then(async () => {
      try {
        await this.process(track, payload);
      } catch (error) {
        this.d.counters.undecryptable++;
        this.d.log.error({ reason: (error as Error).message }, 'handling a data-track frame failed');
      } finally {
        this.queuedFrames--;
        this.queuedBytes -= payload.length;
      }
    });
  }

  /** Forgets the keys and replay windows of a room's senders (after removal or deletion). */
  dropRoom(roomId: string): void {
    for (const key of [...this.senders.keys()]) if (key.startsWith(`${roomId}\n`)) this.senders.delete(key);
  }

  private async process(track: RemoteTrack, payload: Uint8Array): Promise<void> {
    const counters = this.d.counters;
    let kid: bigint;
    try {
      kid = decodeSFrameHeader(payload).kid;
    } catch {
      counters.undecryptable++;
      return;
    }
    const senderKey = `${track.roomId}\n${track.userId}`;
    const known = this.senders.get(senderKey);
    const sender = known ?? { ctx: new SFrameContext({ maxFrameBytes: MAX_DATA_MESSAGE_BYTES }), kids: new Map(), retired: new Map() };
    let entry = sender.kids.get(kid);
    if (entry !== undefined && this.d.keys.get(track.roomId, entry.epoch) === undefined) {
      // The epoch's grace period is over: its frames are refused from now on.
      this.retire(sender, kid);
      entry = undefined;
    }
    if (entry === undefined) {
      if (sender.retired.has(kid)) {
        counters.noKey++;
        return;
      }
      const epoch = await this.epochOf(track.roomId, parseKid(kid).epochLow);
      const epochKey = epoch === undefined ? undefined : await this.d.refresher.keyFor(track.roomId, epoch);
      if (epoch === undefined || epochKey === undefined) {
        counters.noKey++;
        return;
      }
      const baseKey = deriveSenderBaseKey({ epochKey, roomId: track.roomId, epoch, kid, senderId: track.userId });
      try {
        await sender.ctx.addKey(kid, baseKey);
      } finally {
        baseKey.fill(0);
      }
      entry = { epoch, verified: false };
      sender.kids.set(kid, entry);
    }
    let plaintext: Uint8Array;
    try {
      ({ plaintext } = await sender.ctx.decrypt(dataTrackMetadata(track.roomId, track.streamId, track.trackId), payload));
    } catch (error) {
      if (error instanceof CryptoError && error.reason === 'Replay') counters.replayed++;
      else counters.undecryptable++;
      if (!entry.verified) {
        // Nothing is kept for a KID that never authenticated.
        sender.ctx.removeKey(kid);
        sender.kids.delete(kid);
      }
      return;
    }
    if (!entry.verified) {
      entry.verified = true;
      this.keep(senderKey, sender, known === undefined);
      this.bound(sender);
    } else {
      // Least recently used last.
      this.senders.delete(senderKey);
      this.senders.set(senderKey, sender);
    }
    // Its room may have been left while the frame waited: then it counts as unroutable.
    if (this.d.deliver(track, plaintext, entry.epoch)) counters.delivered++;
    else counters.unroutable++;
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
      const oldest = this.senders.keys().next();
      if (oldest.done === true) break;
      this.senders.delete(oldest.value);
    }
  }

  /** Keeps at most MAX_KIDS_PER_SENDER KIDs: the oldest go to the retired list. */
  private bound(sender: SenderKeys): void {
    while (sender.kids.size > MAX_KIDS_PER_SENDER) {
      const oldest = sender.kids.keys().next();
      if (oldest.done === true) break;
      this.retire(sender, oldest.value);
    }
  }

  private retire(sender: SenderKeys, kid: bigint): void {
    sender.ctx.removeKey(kid);
    sender.kids.delete(kid);
    rememberBounded(sender.retired, kid, true, MAX_RETIRED_KIDS_PER_SENDER);
  }
}
