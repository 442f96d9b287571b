/**
 * The remote-track index (joined-rooms.ts): a track keeps one object under its trackNo, so the
 * description a later stream update brings (its lossy deadline) reaches the object every frame is
 * routed by, also when the track was first known from a subscribe result.
 */
import { describe, expect, it } from 'vitest';
import { DATA_DEADLINE_DEFAULT_MS, type StreamInfo } from '../../protocol/ws.ts';
import { silentLogger } from '../logger.ts';
import { JoinedRoom, JoinedRooms } from './joined-rooms.ts';

const ROOM = 'room-1';

function joinedRooms(): { rooms: JoinedRooms; room: JoinedRoom } {
  const rooms = new JoinedRooms(silentLogger);
  const room = new JoinedRoom(ROOM, 'conn-self');
  room.status = 'joined';
  rooms.add(room);
  return { rooms, room };
}

function info(tracks: StreamInfo['tracks']): StreamInfo {
  return { roomId: ROOM, streamId: 'stream-1', userId: 'alice', connectionId: 'conn-alice', tracks };
}

describe('JoinedRooms', () => {
  it('gives a track first known from a subscribe result the deadline of the stream description that follows', () => {
    const { rooms, room } = joinedRooms();
    rooms.applySubscribed(room, [{ streamId: 'stream-1', trackId: 'data-1', trackNo: 7, userId: 'alice' }]);
    const routed = rooms.track(7);
    expect(routed?.lateAfterMs).toBeUndefined();
    rooms.putStream(room, info([{ trackId: 'data-1', kind: 'data', trackNo: 7 }]));
    expect(rooms.track(7)).toBe(routed);
    expect(routed?.lateAfterMs).toBe(DATA_DEADLINE_DEFAULT_MS);
    expect(room.streams.get('stream-1')?.tracks.get('data-1')).toBe(routed);
  });

  it('takes a track description as updated: a deadline, then reliable (none); a new trackNo is a new track', () => {
    const { rooms, room } = joinedRooms();
    rooms.putStream(room, info([{ trackId: 'data-1', kind: 'data', trackNo: 7, deadlineMs: 200 }]));
    const first = rooms.track(7);
    expect(first?.lateAfterMs).toBe(200);
    rooms.putStream(room, info([{ trackId: 'data-1', kind: 'data', trackNo: 7, delivery: 'reliable' }]));
    expect(rooms.track(7)).toBe(first);
    expect(first?.lateAfterMs).toBeUndefined();
    const { added, removed } = rooms.putStream(room, info([{ trackId: 'data-1', kind: 'data', trackNo: 8 }]))!;
    expect(removed).toEqual([first]);
    expect(added.map((t) => t.trackNo)).toEqual([8]);
    expect(rooms.track(7)).toBeUndefined();
    expect(rooms.track(8)?.lateAfterMs).toBe(DATA_DEADLINE_DEFAULT_MS);
  });
});
