/**
 * Rooms on the relay: join and leave, participants, and cutting connections out of a room when their
 * user is removed or the room is deleted. docs/design.md ("Room keys and room state"): the Bridge drops a
 * removed member from the room's relay when the update commits, not later. `roomUpdated` and
 * `roomDeleted` run synchronously from the commit's event, before the REST reply is sent.
 */
import type { ClientRequest, EventReason, ResultPayloads, ServerEvent } from '../../../protocol/ws.ts';
import type { RoomDeletedEvent, RoomUpdatedEvent } from '../../events.ts';
import { BridgeError } from '../../errors.ts';
import { visibleRoom } from '../../rooms/visible.ts';
import type { RealtimeConnection } from '../connection.ts';
import type { ByteStreamsRelay } from './byte-streams.ts';
import type { Participant, RelayState, RoomState } from './state.ts';
import type { StreamsRelay } from './streams.ts';

type Req<K extends ClientRequest['kind']> = Extract<ClientRequest, { kind: K }>;
type LeftReason = Extract<ServerEvent, { type: 'streamRoomLeft' }>['reason'];
type Departure = Exclude<LeftReason, 'room_deleted'>;

/**
 * A membership check reads the store asynchronously; a removal may commit meanwhile. Each room with a
 * check in flight counts the membership changes it sees, and a check that saw one runs again. Bounded:
 * after this many rounds the join fails rather than spin under a storm of updates.
 */
const MEMBERSHIP_CHECK_ROUNDS = 5;

export class RoomsRelay {
  /** Rooms with membership checks in flight: changes seen, and how many checks are waiting. */
  private readonly checks = new Map<string, { changes: number; pending: number }>();

  constructor(
    private readonly st: RelayState,
    private readonly streams: StreamsRelay,
    private readonly byteStreams: ByteStreamsRelay,
  ) {}

  /**
   * Room slots are counted per user, not per socket (docs/operations/limits.md): one user's many
   * sockets cannot fill a room against others, and each user has a few connections per room.
   */
  private checkRoomSlots(room: RoomState, p: Participant): void {
    const users = new Set<string>();
    let own = 0;
    // With NATS, members joined on the other Bridges count too (docs/operations/cluster.md).
    for (const other of [...room.participants.values(), ...(this.st.remoteParticipants.get(room.id)?.values() ?? [])]) {
      users.add(other.userId);
      if (other.userId === p.userId) own++;
    }
    const perUser = this.st.config.maxConnectionsPerUserInRoom;
    if (own >= perUser) {
      throw new BridgeError('TOO_MANY_CONNECTIONS', `expected at most ${perUser} connections of one user in room "${room.id}", this would be ${own + 1}`);
    }
    const maxUsers = this.st.config.maxParticipantsPerRoom;
    if (own === 0 && users.size >= maxUsers) {
      throw new BridgeError('ROOM_FULL', `expected at most ${maxUsers} users in room "${room.id}", this would be ${users.size + 1}`);
    }
  }

  async join(conn: RealtimeConnection, req: Req<'join'>): Promise<ResultPayloads['join']> {
    await this.checkMember(conn, req.roomId);
    // The socket may have closed while the store answered; `disconnected` has already run then.
    if (conn.closed) throw BridgeError.conflict('NOT_JOINED', 'expected an open connection, got one that closed while joining');
    const p = this.st.participant(conn);
    let room = p.rooms.get(req.roomId);
    if (room !== undefined) return this.snapshot(room, p); // joining twice changes nothing
    const maxRooms = this.st.config.maxJoinedRoomsPerConnection;
    if (p.rooms.size >= maxRooms) {
      throw new BridgeError('TOO_MANY_ROOMS', `expected at most ${maxRooms} joined rooms per connection, this would be ${p.rooms.size + 1}`);
    }
    room = this.st.rooms.get(req.roomId);
    if (room !== undefined) this.checkRoomSlots(room, p);
    const slots = this.st.roomSlots;
    if (slots !== undefined) {
      // Counted across Bridges: of two joins for the last slot on two Bridges, one is refused.
      await slots.claim(req.roomId, conn.id, p.userId);
      const again = p.rooms.get(req.roomId);
      if (again !== undefined) return this.snapshot(again, p); // a repeated join took the slot first
      if (conn.closed || p.rooms.size >= maxRooms) {
        slots.release(req.roomId, conn.id);
        if (conn.closed) throw BridgeError.conflict('NOT_JOINED', 'expected an open connection, got one that closed while joining');
        throw new BridgeError('TOO_MANY_ROOMS', `expected at most ${maxRooms} joined rooms per connection, this would be ${p.rooms.size + 1}`);
      }
      room = this.st.rooms.get(req.roomId);
    }
    if (room === undefined) {
      room = { id: req.roomId, participants: new Map(), streams: new Map(), byteStreams: new Set() };
      this.st.rooms.set(room.id, room);
      this.st.onRoomOpened?.(room);
    }
    this.st.broadcast(room, { type: 'streamRoomJoined', roomId: room.id, userId: p.userId, connectionId: conn.id });
    room.participants.set(conn.id, p);
    p.rooms.set(room.id, room);
    return this.snapshot(room, p);
  }

  leave(conn: RealtimeConnection, req: Req<'leave'>): ResultPayloads['leave'] {
    const { p, room } = this.st.joined(conn, req.roomId);
    this.depart(room, p, 'left');
    return {};
  }

  /** Members may list a room's streams without joining it. */
  async listStreams(conn: RealtimeConnection, req: Req<'listStreams'>): Promise<ResultPayloads['listStreams']> {
    await this.checkMember(conn, req.roomId);
    const room = this.st.rooms.get(req.roomId);
    // Not held here: with NATS, the other Bridges are asked (docs/operations/cluster.md).
    if (room === undefined && this.st.remoteStreamsOf !== undefined) return { streams: await this.st.remoteStreamsOf(req.roomId) };
    return { streams: this.streams.list(room) };
  }

  roomUpdated(e: RoomUpdatedEvent): void {
    this.sawChange(e.roomId);
    this.removeUsers(e.roomId, e.removed);
  }

  /** Cuts every connection of these users out of the room, as removed (also the cluster's resync). */
  removeUsers(roomId: string, userIds: readonly string[]): void {
    const room = this.st.rooms.get(roomId);
    if (room === undefined || userIds.length === 0) return;
    const removed = new Set(userIds);
    for (const p of [...room.participants.values()]) if (removed.has(p.userId)) this.depart(room, p, 'removed');
  }

  roomDeleted(e: RoomDeletedEvent): void {
    this.sawChange(e.roomId);
    const room = this.st.rooms.get(e.roomId);
    if (room === undefined) return;
    // Byte streams first, so each reader and writer gets its abort before the room is gone.
    this.byteStreams.abortRoom(room, 'room_deleted');
    for (const p of room.participants.values()) {
      this.st.roomSlots?.release(room.id, p.conn.id);
      this.streams.dropParticipant(room, p, false);
      p.rooms.delete(room.id);
      p.conn.event({ type: 'streamRoomLeft', roomId: room.id, userId: p.userId, connectionId: p.conn.id, reason: 'room_deleted' });
    }
    room.participants.clear();
    this.st.rooms.delete(room.id);
    this.st.onRoomClosed?.(room);
  }

  disconnected(conn: RealtimeConnection): void {
    const p = this.st.participants.get(conn.id);
    if (p === undefined) return;
    for (const room of [...p.rooms.values()]) this.depart(room, p, 'disconnected');
    p.closeData();
    this.st.participants.delete(conn.id);
  }

  /**
   * Takes a connection out of a room. Others hear, in order: `byteStreamAborted` for its streams,
   * `streamUnpublished` for its published streams, then `streamRoomLeft`. A removed connection hears
   * `byteStreamAborted {removed}` for every stream it received or sent there, then `streamRoomLeft`
   * about itself; no data frame of the room reaches it after that.
   */
  private depart(room: RoomState, p: Participant, how: Departure): void {
    room.participants.delete(p.conn.id);
    this.st.roomSlots?.release(room.id, p.conn.id);
    p.rooms.delete(room.id);
    const asSender: Record<Departure, EventReason> = { left: 'sender_left', disconnected: 'sender_disconnected', removed: 'removed' };
    this.byteStreams.receiverGone(room, p, how, how === 'removed' ? 'removed' : undefined);
    this.byteStreams.senderGone(room, p, asSender[how], how !== 'disconnected');
    this.streams.dropParticipant(room, p, true);
    const event: ServerEvent = { type: 'streamRoomLeft', roomId: room.id, userId: p.userId, connectionId: p.conn.id, reason: how };
    if (how === 'removed') p.conn.event(event);
    this.st.broadcast(room, event);
    if (room.participants.size === 0) {
      this.st.rooms.delete(room.id);
      this.st.onRoomClosed?.(room);
    }
  }

  /** The join result again, for a joined connection (the cluster's first join waits for the other Bridges). */
  snapshotOf(conn: RealtimeConnection, roomId: string): ResultPayloads['join'] | undefined {
    const p = this.st.participants.get(conn.id);
    const room = p?.rooms.get(roomId);
    return p === undefined || room === undefined ? undefined : this.snapshot(room, p);
  }

  private snapshot(room: RoomState, self: Participant): ResultPayloads['join'] {
    return {
      participants: [
        ...[...room.participants.values()].filter((p) => p !== self).map((p) => ({ userId: p.userId, connectionId: p.conn.id })),
        // On other Bridges (docs/operations/cluster.md).
        ...[...(this.st.remoteParticipants.get(room.id) ?? [])].map(([connectionId, r]) => ({ userId: r.userId, connectionId })),
      ],
      streams: this.streams.list(room),
    };
  }

  /**
   * The session's user must be a member (user or manager) of the room, in its own solution. Like the
   * REST routes, a room outside the user's solution or context is 404, so its existence does not leak.
   */
  private async checkMember(conn: RealtimeConnection, roomId: string): Promise<void> {
    let entry = this.checks.get(roomId);
    if (entry === undefined) this.checks.set(roomId, (entry = { changes: 0, pending: 0 }));
    entry.pending++;
    try {
      for (let round = 0; round < MEMBERSHIP_CHECK_ROUNDS; round++) {
        const seen = entry.changes;
        await this.readMembership(conn, roomId);
        if (entry.changes === seen) return;
      }
      throw BridgeError.conflict('VERSION_CONFLICT', `room "${roomId}" kept changing while its membership was checked; try again`);
    } finally {
      if (--entry.pending === 0) this.checks.delete(roomId);
    }
  }

  private async readMembership(conn: RealtimeConnection, roomId: string): Promise<void> {
    const session = conn.session!;
    if ((await visibleRoom(this.st.s.store, session, roomId)).member === undefined) {
      throw BridgeError.forbidden(`expected a member of room "${roomId}", got "${session.userId}", who is not one`);
    }
  }

  private sawChange(roomId: string): void {
    const entry = this.checks.get(roomId);
    if (entry !== undefined) entry.changes++;
  }
}
