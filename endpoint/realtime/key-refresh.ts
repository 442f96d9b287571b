/**
 * Following key rotations of joined rooms (docs/design.md "Rotation", docs/design.md "Lessons from earlier systems": PrivMX senders stay on
 * the old key until they rejoin). A room is fetched and verified again (`rooms.getStreamRoom`) when its
 * `streamRoomUpdated` event names a newer epoch, or when a frame names one; one fetch per room at a
 * time, and senders wait for a fetch in flight before they pick a key.
 */
import type { Logger } from '../logger.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';

export class KeyRefresher {
  private readonly inFlight = new Map<string, Promise<void>>();

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
   * The key of an epoch: held (after the fetch in flight for the room, if any), or from `rooms.keyFor`,
   * which reads the room for a newer epoch at most once per room in NEWER_EPOCH_FETCH_MS, so frames
   * naming epochs that do not exist cannot make this client fetch the room over and over. Undefined if
   * there is none.
   */
  async keyFor(roomId: string, epoch: number): Promise<Uint8Array | undefined> {
    const held = this.keys.get(roomId, epoch);
    if (held !== undefined) return held;
    await this.inFlight.get(roomId);
    try {
      return await this.rooms.keyFor(roomId, epoch);
    } catch (error) {
      this.log.debug({ roomId, epoch, reason: (error as Error).message }, 'no key for a data-track epoch');
      return undefined;
    }
  }
}
