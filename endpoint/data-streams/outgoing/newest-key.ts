/**
 * The key a new stream uses: the room's newest epoch (docs/design.md "Rotation": senders switch to a new
 * epoch for new streams at once). Rotations are announced by `streamRoomUpdated` (every joined room
 * has an internal subscription); when one names an epoch newer than the key ring holds, the room is
 * read and verified again before the stream opens. Streams already open keep the key they opened with.
 */
import { EndpointError } from '../../errors.ts';
import type { RoomApi } from '../../rooms/room-api.ts';
import { DataStreamError } from '../errors.ts';

export class NewestKeys {
  private readonly announced = new Map<string, number>();

  constructor(private readonly rooms: RoomApi) {}

  /** A `streamRoomUpdated` named this epoch. */
  saw(roomId: string, epoch: number): void {
    if (epoch > (this.announced.get(roomId) ?? 0)) this.announced.set(roomId, epoch);
  }

  forget(roomId: string): void {
    this.announced.delete(roomId);
  }

  /**
   * The newest epoch and a copy of its key, the caller's to wipe: the ring wipes its own in place when
   * the room is forgotten, which may happen while the caller awaits something else.
   */
  async current(roomId: string): Promise<{ epoch: number; key: Uint8Array }> {
    try {
      let held = await this.rooms.currentKey(roomId);
      const announced = this.announced.get(roomId);
      if (announced !== undefined && announced > held.epoch) {
        await this.rooms.keyFor(roomId, announced);
        held = await this.rooms.currentKey(roomId);
      }
      return { epoch: held.epoch, key: held.key.slice() };
    } catch (error) {
      if (error instanceof EndpointError && error.reason === 'KeyUnavailable') {
        throw new DataStreamError('KeyUnavailable', `room "${roomId}": no current key to send with`, { cause: error });
      }
      throw error;
    }
  }
}
