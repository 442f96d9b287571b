/**
 * A room as the session's user may see it: one read of the room and the user's standing toward it
 * (Store.roomAccess, or Store.roomRead with the user's keys for a room read). Every path that names a room by id checks it this way (REST reads and writes,
 * event subscriptions, joins), so a room of another solution, or one whose context does not list the
 * user, is "not found" alike everywhere.
 */
import type { Standing } from '../../protocol/policy.ts';
import { BridgeError } from '../errors.ts';
import type { RoomAccessRow, RoomMemberRow, RoomRow, SessionRow, Store } from '../store/types.ts';

export interface VisibleRoom {
  room: RoomRow;
  /** The user's membership, when a member. */
  member: RoomMemberRow | undefined;
  standing: Standing;
}

/** The room with the user's standing; 404 ROOM_NOT_FOUND when it does not exist for this user. */
export async function visibleRoom(store: Store, session: SessionRow, roomId: string): Promise<VisibleRoom> {
  return visibleAccess(await store.roomAccess(roomId, session.userId), session, roomId);
}

/** `visibleRoom` of an access row already read (Store.roomRead). */
export function visibleAccess(access: RoomAccessRow | undefined, session: SessionRow, roomId: string): VisibleRoom {
  if (access === undefined || access.solutionId !== session.solutionId || !access.contextUser) {
    throw BridgeError.notFound('ROOM_NOT_FOUND', `room "${roomId}" does not exist`);
  }
  const { room, member } = access;
  return {
    room,
    member,
    standing: { contextUser: true, member: member !== undefined, manager: member?.isManager === true, owner: room.creator === session.userId },
  };
}
