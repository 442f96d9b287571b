/**
 * The room caps across Bridges (docs/operations/limits.md, "Across Bridges"): with a shared store,
 * `maxParticipantsPerRoom` and `maxConnectionsPerUserInRoom` count the connections joined on every
 * Bridge through the store's room slots (bridge/store/postgres-room-slots.ts), one claim per join,
 * one release per departure; no message pays a round trip.
 *
 * Every few seconds this Bridge marks the slots it still holds as alive; slots it lost track of (a
 * release that failed while the store was down) and those of a Bridge that died go stale and are
 * pruned. When the store cannot answer a claim, the join is decided by this Bridge's own view (the
 * local check it already passed) rather than refused: per-Bridge, as before.
 */
import type { Logger } from 'pino';
import { BridgeError } from '../errors.ts';
import type { RoomSlots } from '../realtime/relay/state.ts';
import type { RoomSlotCaps, RoomSlotStore } from '../store/types.ts';

/** How often this Bridge refreshes its slots (well inside ROOM_SLOT_STALE_MS). Ms. */
const REFRESH_MS = 5000;

export class ClusterRoomSlots implements RoomSlots {
  readonly counters = { roomSlotFallbacks: 0 };
  readonly #timer: NodeJS.Timeout;
  #degraded = false;

  constructor(
    private readonly store: RoomSlotStore,
    private readonly origin: string,
    private readonly caps: RoomSlotCaps,
    /** The (room, connection) pairs joined on this Bridge now. */
    held: () => Array<readonly [string, string]>,
    private readonly log: Pick<Logger, 'warn' | 'info' | 'debug'>,
  ) {
    this.#timer = setInterval(() => {
      this.store.refresh(this.origin, held()).catch((err: unknown) => this.log.debug({ err }, 'room slots refresh failed; the next one tries again'));
    }, REFRESH_MS);
    this.#timer.unref();
  }

  async claim(roomId: string, connectionId: string, userId: string): Promise<void> {
    let claim: Awaited<ReturnType<RoomSlotStore['claim']>>;
    try {
      claim = await this.store.claim(roomId, connectionId, userId, this.origin, this.caps);
      if (this.#degraded) {
        this.#degraded = false;
        this.log.info('room slots answered again: room caps hold across Bridges');
      }
    } catch (err) {
      this.counters.roomSlotFallbacks++;
      if (!this.#degraded) {
        this.#degraded = true;
        this.log.warn({ err }, 'room slots unavailable: room caps count what this Bridge knows until the store answers');
      }
      return;
    }
    if (claim === 'TOO_MANY_CONNECTIONS') {
      const perUser = this.caps.maxConnectionsPerUserInRoom;
      throw new BridgeError('TOO_MANY_CONNECTIONS', `expected at most ${perUser} connections of one user in room "${roomId}", on all Bridges`);
    }
    if (claim === 'ROOM_FULL') {
      throw new BridgeError('ROOM_FULL', `expected at most ${this.caps.maxParticipantsPerRoom} users in room "${roomId}", on all Bridges`);
    }
  }

  release(roomId: string, connectionId: string): void {
    // Not awaited: a release that fails leaves a slot that goes stale and is pruned (ROOM_SLOT_STALE_MS).
    this.store.release(roomId, connectionId).catch((err: unknown) => this.log.debug({ err, roomId }, 'room slot release failed; it goes stale'));
  }

  /** Another Bridge is gone (silent too long): its slots are freed at once rather than when stale. */
  originGone(origin: string): void {
    this.store.releaseOrigin(origin).catch(() => undefined);
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
