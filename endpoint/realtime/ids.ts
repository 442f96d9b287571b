/**
 * Ids and argument checks of the real-time plane, and the errors for things that ended with their room.
 */
import { backend } from '../../crypto/backend/index.ts';
import { toBase64 } from '../../crypto/bytes.ts';
import { ROOM_ID_PATTERN } from '../../protocol/room-record.ts';
import { EndpointError } from '../errors.ts';
import type { RoomLeftReason } from './types.ts';

/** Stream and track ids on the wire (protocol/ws.ts). */
export const WIRE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Random bytes in a generated stream or track id: 96 bits, so ids never collide in practice. */
const RANDOM_ID_BYTES = 12;

/** A fresh random id for a stream or a track (16 characters of base64url). */
export function randomWireId(): string {
  return toBase64(backend().randomBytes(RANDOM_ID_BYTES)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function checkRoomId(value: unknown, name = 'streamRoomId'): asserts value is string {
  if (typeof value !== 'string' || !ROOM_ID_PATTERN.test(value)) {
    throw EndpointError.invalidArgument(`"${name}" is not a valid room id: "${String(value).slice(0, 80)}"`);
  }
}

export function checkWireId(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || !WIRE_ID_PATTERN.test(value)) {
    throw EndpointError.invalidArgument(`"${name}" expected 1-64 characters of [A-Za-z0-9_-], got "${String(value).slice(0, 80)}"`);
  }
}

/** The error for using a stream or track whose room was left: the reason says why it ended. */
export function endedError(what: string, roomId: string, reason: RoomLeftReason): EndpointError {
  switch (reason) {
    case 'disconnected':
      return EndpointError.connectionLost(`${what} ended: the connection to the Bridge dropped (rejoin room "${roomId}")`);
    case 'removed':
      return new EndpointError('AccessDenied', `${what} ended: this user was removed from room "${roomId}"`);
    case 'room_deleted':
      return new EndpointError('NotFound', `${what} ended: room "${roomId}" was deleted`);
    case 'left':
      return EndpointError.invalidArgument(`${what} ended: room "${roomId}" was left`);
    default: {
      const never: never = reason;
      return EndpointError.invalidArgument(`${what} ended (${String(never)})`);
    }
  }
}

/** A Map used as a bounded memory: inserting past `max` forgets the oldest entry. */
export function rememberBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done === true) break;
    map.delete(oldest.value);
  }
}
