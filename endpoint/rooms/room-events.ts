/** Room events as the app gets them: verified, never as the Bridge sent them (docs/design.md). */
import type { RoomEventType, ServerEvent } from '../../protocol/ws.ts';
import { EndpointError } from '../errors.ts';
import type { StreamRoom, StreamRoomEvent } from '../types.ts';
import type { KeyRing } from './keyring.ts';
import type { RoomApi } from './room-api.ts';

/**
 * The app's view of a room event: the room read and verified again (an update with a new epoch has
 * refreshed the key by then), or the error that read met; a deletion forgets the room's keys.
 */
export async function verifiedRoomEvent(
  rooms: RoomApi,
  keys: KeyRing,
  event: Extract<ServerEvent, { type: RoomEventType }>,
  subscriptionIds: string[],
): Promise<StreamRoomEvent> {
  const base = { streamRoomId: event.roomId, contextId: event.contextId, subscriptionIds };
  if (event.type === 'streamRoomDeleted') {
    keys.forget(event.roomId);
    return { type: 'streamRoomDeleted', ...base };
  }
  let room: StreamRoom | undefined;
  let error: EndpointError | undefined;
  try {
    room = await rooms.getStreamRoom(event.roomId);
  } catch (e) {
    error = e instanceof EndpointError ? e : new EndpointError('BridgeRefused', (e as Error).message, { cause: e });
  }
  const result = { ...base, ...(room === undefined ? {} : { room }), ...(error === undefined ? {} : { error }) };
  return event.type === 'streamRoomCreated'
    ? { type: 'streamRoomCreated', ...result }
    : { type: 'streamRoomUpdated', version: event.version, epoch: event.epoch, ...result };
}
