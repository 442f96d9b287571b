/**
 * Joining and leaving a room's real-time plane, for RealtimeApi (realtime-api.ts).
 *
 * Joining goes in the order `RealtimeApi.joinStreamRoom` gives (subscribe, verify, join); events that
 * arrive meanwhile wait and are applied after the join's snapshot (realtime-events.ts).
 *
 * Leaving. A room is left locally when the app leaves it (`left`), when the Bridge takes this
 * connection out (`removed`, `room_deleted`), and for every joined room when the socket drops
 * (`disconnected`; resume.ts rejoins it after `reconnected`). Each time, synchronously and in this
 * order: the room's state and trackNos are forgotten, its local streams end (published ones report
 * `unpublished`; queued `sendData` calls on them reject; on a drop they are `suspended` instead, to be
 * republished), its sending session is dropped (its key is
 * never used to send again), the `onRoomLeft` listeners run, and then the app gets `streamRoomLeft`
 * about this connection.
 */
import { buildSubscriptionQuery, type ResultPayloads } from '../../protocol/ws.ts';
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import type { EventApiInternals } from '../internal.ts';
import type { MediaApi } from '../media/media-api.ts';
import type { HeadTracker } from '../rooms/head-tracker.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import type { RequestOptions } from '../transport/http.ts';
import type { DataTrackReceiver } from './data-track-receiver.ts';
import type { DataTrackSender } from './data-track-sender.ts';
import { checkRoomId } from './ids.ts';
import { JoinedRoom, type JoinedRooms } from './joined-rooms.ts';
import type { LocalStreams } from './local-streams.ts';
import type { Resumer } from './resume.ts';
import type { RoomLeftReason } from './types.ts';

export type RoomLeftListener = (roomId: string, reason: RoomLeftReason) => void;

/** The parts of RealtimeApi that a join and a leave go through. */
export interface MembershipDeps {
  connection: Connection;
  rooms: RoomApi;
  joined: JoinedRooms;
  heads: HeadTracker;
  locals: LocalStreams;
  resumer: Resumer;
  sender: DataTrackSender;
  receiver: DataTrackReceiver;
  /** The media chunk, if it is loaded. */
  media(): MediaApi | undefined;
  /** Where the app's real-time events are emitted (the EventApi's internal side). */
  appEvents: EventApiInternals;
  /** Applies the events that waited while the room's join was in flight (realtime-events.ts). */
  flush(room: JoinedRoom): void;
}

export class RoomMembership {
  readonly #d: MembershipDeps;
  readonly #roomLeftListeners = new Set<RoomLeftListener>();

  constructor(deps: MembershipDeps) {
    this.#d = deps;
  }

  /** Called with every room this connection leaves, for any reason, before the app's `streamRoomLeft` event. */
  onRoomLeft(listener: RoomLeftListener): () => void {
    this.#roomLeftListeners.add(listener);
    return () => {
      this.#roomLeftListeners.delete(listener);
    };
  }

  /** Joins a room (see the top of this file); joining a room already joined does nothing. */
  async join(roomId: string, options: RequestOptions = {}): Promise<void> {
    checkRoomId(roomId);
    const existing = this.#d.joined.get(roomId);
    if (existing !== undefined) return existing.ready;
    const room = new JoinedRoom(roomId, this.#d.connection.connectionId);
    this.#d.joined.add(room);
    room.ready = this.#join(room, options);
    return room.ready;
  }

  async #join(room: JoinedRoom, options: RequestOptions): Promise<void> {
    const { roomId } = room;
    let joinSent = false;
    try {
      const query = buildSubscriptionQuery('streamRoomUpdated', 'streamRoomId', roomId);
      const { subscriptionIds } = await this.#d.connection.request('subscribe', { queries: [query] }, options);
      room.subscriptionId = subscriptionIds[0];
      await this.#verifyMember(roomId, options);
      this.#stillJoining(room);
      joinSent = true;
      const result: ResultPayloads['join'] = await this.#d.connection.request('join', { roomId }, options);
      this.#stillJoining(room);
      this.#d.joined.applySnapshot(room, result);
      room.status = 'joined';
    } catch (error) {
      const wasOurs = this.#d.joined.get(roomId) === room;
      this.#d.joined.remove(room);
      if (wasOurs) {
        this.#d.heads.forget(roomId);
        this.#unsubscribeInternal(room);
        // Aborted or timed out after the request left: the Bridge may have joined us; undo it.
        if (joinSent && error instanceof EndpointError && (error.reason === 'Aborted' || error.reason === 'Timeout')) {
          this.#d.connection.request('leave', { roomId }).catch(() => undefined);
        }
      }
      throw error;
    }
    this.#d.appEvents.emit('streamRoomJoined', {
      type: 'streamRoomJoined',
      streamRoomId: roomId,
      userId: this.#d.connection.userId,
      connectionId: room.connectionId,
    });
    this.#d.flush(room);
  }

  /** Reads and verifies the room; a user who is not a member gets AccessDenied. */
  async #verifyMember(roomId: string, options: RequestOptions): Promise<void> {
    try {
      await this.#d.rooms.getStreamRoom(roomId, options);
    } catch (error) {
      if (!(error instanceof EndpointError) || error.reason !== 'KeyUnavailable') throw error;
      const head = await this.#d.rooms.trustedHead(roomId);
      const userId = this.#d.connection.userId;
      const member = head !== undefined && [...head.record.users, ...head.record.managers].some((m) => m.userId === userId);
      if (member) throw error;
      throw new EndpointError('AccessDenied', `room "${roomId}": "${userId}" is not a member`, { cause: error });
    }
  }

  /** After an await in `#join`: the socket may have dropped meanwhile, which ends the attempt. */
  #stillJoining(room: JoinedRoom): void {
    if (this.#d.joined.get(room.roomId) !== room) throw EndpointError.connectionLost(`join "${room.roomId}": the connection dropped`);
  }

  /**
   * Leaves a room on the Bridge. The room is left locally whatever the Bridge answers; an error means
   * the Bridge may not have heard.
   */
  async leave(roomId: string, options: RequestOptions = {}): Promise<void> {
    checkRoomId(roomId);
    let room = this.#d.joined.get(roomId);
    if (room?.status === 'joining') {
      await room.ready.catch(() => undefined);
      room = this.#d.joined.get(roomId);
    }
    if (room === undefined) throw EndpointError.invalidArgument(`room "${roomId}" is not joined`);
    try {
      await this.#d.connection.request('leave', { roomId }, options);
    } catch (error) {
      // The socket dropped: the room was left (`disconnected`) when it did.
      if (error instanceof EndpointError && error.reason === 'ConnectionLost' && this.#d.joined.get(roomId) !== room) return;
      // NOT_JOINED: the Bridge had already taken this connection out; any other error is passed on.
      const notJoined = error instanceof EndpointError && error.bridgeCode === 'NOT_JOINED';
      this.leftLocally(room, 'left');
      if (!notJoined) throw error;
      return;
    }
    this.leftLocally(room, 'left');
  }

  /** Leaves the room locally, in the order the top of this file gives. */
  leftLocally(room: JoinedRoom, reason: RoomLeftReason): void {
    const d = this.#d;
    if (d.joined.get(room.roomId) !== room) return;
    const { roomId } = room;
    if (reason === 'disconnected') {
      // Resumed when the connection is back (resume.ts); noted before the room's state goes.
      d.resumer.note(room, d.locals.suspendRoom(roomId));
    } else {
      d.locals.endRoom(roomId, reason);
      d.resumer.forget(roomId);
    }
    d.joined.remove(room);
    d.sender.dropRoom(roomId);
    d.media()?.roomLeft(roomId);
    d.heads.forget(roomId);
    // After a plain leave or a drop, replay windows stay (bounded), so old frames stay refused on rejoin.
    if (reason === 'removed' || reason === 'room_deleted') d.receiver.dropRoom(roomId);
    if (reason !== 'disconnected') this.#unsubscribeInternal(room);
    for (const listener of [...this.#roomLeftListeners]) {
      try {
        listener(roomId, reason);
      } catch (error) {
        d.connection.log.error({ roomId, error: String(error) }, 'an onRoomLeft listener threw');
      }
    }
    d.appEvents.emit('streamRoomLeft', {
      type: 'streamRoomLeft',
      streamRoomId: roomId,
      userId: d.connection.userId,
      connectionId: room.connectionId,
      reason,
    });
  }

  /** The socket dropped: every joined room is left (`disconnected`). */
  socketClosed(): void {
    for (const room of this.#d.joined.all()) {
      // A join in flight fails with ConnectionLost on its own; it never joined, so it does not "leave".
      if (room.status === 'joining') {
        this.#d.joined.remove(room);
        this.#d.heads.forget(room.roomId);
      } else this.leftLocally(room, 'disconnected');
    }
  }

  #unsubscribeInternal(room: JoinedRoom): void {
    const id = room.subscriptionId;
    room.subscriptionId = undefined;
    if (id === undefined) return;
    this.#d.connection.request('unsubscribe', { subscriptionIds: [id] }).catch((error: Error) => {
      this.#d.connection.log.debug({ reason: error.message }, 'removing an internal room subscription failed');
    });
  }
}
