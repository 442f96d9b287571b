/**
 * The Bridge's real-time events for joined rooms: they update the room state (participants, streams,
 * the trackNo index, subscriptions) and reach the app as typed events through the EventApi's internal `emit`, named
 * with `streamRoomId`. Also: `streamRoomUpdated` with a newer epoch refreshes the room's keys (from the
 * internal subscription each joined room has, whatever the app subscribed to), `dataDropped` counts
 * messages the Bridge dropped for slowness, and `streamRoomLeft` about this connection (`removed`,
 * `room_deleted`) leaves the room locally.
 *
 * Order: events of a room whose `join` is still in flight wait, and are applied after the join result's
 * snapshot, in arrival order.
 */
import type { ServerEvent } from '../../protocol/ws.ts';
import type { EventApiInternals } from '../internal.ts';
import type { Logger } from '../logger.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import { publicStream, publicTrack, type JoinedRoom, type JoinedRooms, type RoomScopedEvent } from './joined-rooms.ts';
import type { KeyRefresher } from './key-refresh.ts';
import { MAX_EVENTS_WHILE_JOINING } from './limits.ts';
import type { RemoteListeners } from './remote-listeners.ts';
import type { Resumer } from './resume.ts';
import type { DataTrackStats, RoomLeftReason } from './types.ts';

export interface EventDeps {
  rooms: JoinedRooms;
  /** The EventApi's internal side, which emits to the app's listeners. */
  eventApi: EventApiInternals;
  listeners: RemoteListeners;
  refresher: KeyRefresher;
  keys: KeyRing;
  counters: DataTrackStats;
  log: Logger;
  /** The Bridge took this connection out of the room. */
  selfLeft: (room: JoinedRoom, reason: RoomLeftReason) => void;
  /** Subscriptions across a reconnect, on either side (resume.ts). */
  resumer: Resumer;
}

export class RealtimeEvents {
  constructor(private readonly d: EventDeps) {}

  handle(event: ServerEvent): void {
    switch (event.type) {
      case 'streamRoomUpdated':
        this.roomUpdated(event.roomId, event.epoch);
        return;
      case 'dataDropped':
        // An older Bridge names no cause: its only one was slowness.
        if (event.cause === 'deadline') this.d.counters.droppedByDeadline += event.count;
        else if (event.cause === 'lost') this.d.counters.droppedInCluster += event.count;
        else this.d.counters.droppedBySlowness += event.count;
        return;
      case 'streamRoomJoined':
      case 'streamRoomLeft':
      case 'streamPublished':
      case 'streamUpdated':
      case 'streamUnpublished':
      case 'streamSubscribed':
      case 'streamUnsubscribed':
      case 'dataTrackCut':
        this.roomEvent(event);
        return;
      case 'streamRoomCreated':
      case 'streamRoomDeleted':
      case 'byteStreamOpened':
      case 'byteStreamAborted':
      case 'byteStreamReceiverDropped':
      case 'byteStreamReceipt':
      case 'peerSignal':
        // EventApi, the byte streams and direct peers (endpoint/peers) handle these.
        return;
      default: {
        const never: never = event;
        this.d.log.warn({ type: (never as { type: string }).type }, 'unknown real-time event');
      }
    }
  }

  /** Applies the events that waited while the room's join was in flight. */
  flush(room: JoinedRoom): void {
    const waiting = room.buffered.splice(0);
    for (const event of waiting) {
      if (this.d.rooms.get(room.roomId) !== room) return;
      this.apply(room, event);
    }
  }

  private roomUpdated(roomId: string, epoch: number): void {
    if (this.d.rooms.get(roomId) === undefined) return;
    // A newer epoch: fetch it now, so the next frame this client sends is under it.
    if (epoch > (this.d.keys.newestEpoch(roomId) ?? 0)) void this.d.refresher.refresh(roomId);
  }

  private roomEvent(event: RoomScopedEvent): void {
    const roomId = event.type === 'streamPublished' || event.type === 'streamUpdated' ? event.stream.roomId : event.roomId;
    const room = this.d.rooms.get(roomId);
    if (room === undefined) return;
    if (room.status === 'joining') {
      if (room.buffered.length < MAX_EVENTS_WHILE_JOINING) room.buffered.push(event);
      else this.d.log.warn({ roomId, type: event.type }, 'too many events while joining a room; dropped one');
      return;
    }
    this.apply(room, event);
  }

  private apply(room: JoinedRoom, event: RoomScopedEvent): void {
    const { rooms, eventApi } = this.d;
    const streamRoomId = room.roomId;
    switch (event.type) {
      case 'streamRoomJoined':
        if (event.connectionId === room.connectionId) return;
        rooms.addParticipant(room, event.connectionId, event.userId);
        eventApi.emit('streamRoomJoined', { type: 'streamRoomJoined', streamRoomId, userId: event.userId, connectionId: event.connectionId });
        return;
      case 'streamRoomLeft':
        if (event.connectionId === room.connectionId) {
          this.d.selfLeft(room, event.reason);
          return;
        }
        room.participants.delete(event.connectionId);
        this.d.resumer.participantLeft(room.roomId, event.connectionId, event.reason);
        // The Bridge sends streamUnpublished first; this only guards against a missed one.
        for (const stream of [...room.streams.values()]) if (stream.connectionId === event.connectionId) rooms.removeStream(room, stream.streamId);
        eventApi.emit('streamRoomLeft', { type: 'streamRoomLeft', streamRoomId, userId: event.userId, connectionId: event.connectionId, reason: event.reason });
        return;
      case 'streamPublished': {
        if (rooms.putStream(room, event.stream) === undefined) return;
        eventApi.emit('streamPublished', { type: 'streamPublished', streamRoomId, stream: publicStream(event.stream), userId: event.stream.userId });
        this.d.resumer.published(streamRoomId, event.stream.streamId, event.stream.userId);
        return;
      }
      case 'streamUpdated': {
        const change = rooms.putStream(room, event.stream);
        if (change === undefined) return;
        for (const track of rooms.takeAnnounced(room, change.added)) this.d.listeners.track(track);
        eventApi.emit('streamUpdated', {
          type: 'streamUpdated',
          streamRoomId,
          stream: publicStream(event.stream),
          tracksAdded: event.tracksAdded.map(publicTrack),
          tracksRemoved: event.tracksRemoved.map(publicTrack),
          tracksModified: [],
        });
        return;
      }
      case 'streamUnpublished': {
        const connectionId = room.streams.get(event.streamId)?.connectionId;
        if (connectionId !== undefined) this.d.resumer.unpublished(room, event.streamId, connectionId, event.userId);
        rooms.removeStream(room, event.streamId);
        eventApi.emit('streamUnpublished', { type: 'streamUnpublished', streamRoomId, streamId: event.streamId, userId: event.userId });
        return;
      }
      case 'streamSubscribed':
        for (const track of rooms.subscribe(room, event.streamId, event.trackIds)) this.d.listeners.track(track);
        eventApi.emit('streamSubscribed', { type: 'streamSubscribed', streamRoomId, streamId: event.streamId, trackIds: [...event.trackIds] });
        return;
      case 'streamUnsubscribed':
        rooms.unsubscribe(room, event.streamId, event.trackIds);
        eventApi.emit('streamUnsubscribed', { type: 'streamUnsubscribed', streamRoomId, streamId: event.streamId, trackIds: [...event.trackIds] });
        return;
      case 'dataTrackCut':
        // A reliable track this client could not keep up with: the Bridge no longer sends it.
        this.d.counters.reliableCuts++;
        rooms.unsubscribe(room, event.streamId, [event.trackId]);
        eventApi.emit('streamUnsubscribed', {
          type: 'streamUnsubscribed',
          streamRoomId,
          streamId: event.streamId,
          trackIds: [event.trackId],
          reason: event.reason,
        });
        return;
      default: {
        const never: never = event;
        this.d.log.warn({ type: (never as { type: string }).type }, 'unknown room event');
      }
    }
  }
}
