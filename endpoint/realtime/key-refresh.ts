/**
 * Following key rotations of joined rooms (docs/design.md "Rotation", docs/design.md "Lessons from earlier systems": PrivMX senders stay on
 * the old key until they rejoin). A room is fetched and verified again (`rooms.getStreamRoom`) when its
 * `streamRoomUpdated` event names a newer epoch, or when a frame names one; one fetch per room at a
 * time, and senders wait for a fetch in flight before they pick a key.
 */
import type { Logger } from '../logger.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import { rememberBounded } from './ids.ts';
import { MAX_NO_KEY_MEMO, NO_KEY_RETRY_MS } from './limits.ts';

export class KeyRefresher {
  private readonly inFlight = new Map<string, Promise<void>>();
  /** `${roomId}#${epoch}` -> until when (ms) frames of that epoch are dropped without asking again. */
  private readonly keyless = new Map<string, number>();

  constructor(
    private readonly rooms: RoomApi,
    private readonly keys: KeyRing,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Fetches and verifies the room again (joining a fetch already in flight). Never rejects. */
  refresh(roomId: string): Promise<void> {
    const running = this.inFlight.get(roomId);
    if (running !== undefined) return running;
    const run = (async () => {
      try {
        await this.rooms.getStreamRoom(roomId);
      } catch (error) {
        this.log.warn({ roomId, reason: (error as Error).message }, 'refreshing a joined room failed');
      } finally {
        this.inFlight.delete(roomId);
      }
    })();
    this.inFlight.set(roomId, run);
    return run;
  }

  /** The fetch in flight for a room, if any: senders wait for it, so they never pick a stale epoch. */
  pending(roomId: string): Promise<void> | undefined {
    return this.inFlight.get(roomId);
  }

  /**
   * The key of an epoch: held, or fetched once if newer than the newest held (`rooms.keyFor`).
   * Undefined if there is none; that answer is remembered for `NO_KEY_RETRY_MS`, so frames naming an
   * epoch that does not exist cannot make this client fetch the room over and over.
   */
  async keyFor(roomId: string, epoch: number): Promise<Uint8Array | undefined> {
    const held = this.keys.get(roomId, epoch);
    if (held !== undefined) return held;
    const memo = `${roomId}#${epoch}`;
    const until = this.keyless.get(memo);
    if (until !== undefined && until > this.now()) return undefined;
    await this.inFlight.get(roomId);
    try {
      return await this.rooms.keyFor(roomId, epoch);
    } catch (error) {
      this.log.debug({ roomId, epoch, reason: (error as Error).message }, 'no key for a data-track epoch');
      rememberBounded(this.keyless, memo, this.now() + NO_KEY_RETRY_MS, MAX_NO_KEY_MEMO);
      return undefined;
    }
  }
}
