/**
 * The real-time relay: rooms joined over the socket, published streams and tracks, lossy
 * data-track fan-out and reliable byte streams with end-to-end flow control. The hub authenticates and
 * dispatches; this composes the parts under ./relay/ and adds `stats()` for tests and operators.
 *
 * Everything here handles ciphertext only: the Bridge routes by room, track and stream numbers and
 * never looks into a payload (docs/design.md, "Trust model").
 */
import type { ClientRequest, ResultPayloads, ServerEvent, StreamInfo } from '../../protocol/ws.ts';
import type { RoomDeletedEvent, RoomUpdatedEvent } from '../events.ts';
import type { MediaDirectory, MediaTrackInfo } from '../media/unit.ts';
import type { BridgeServices } from '../services.ts';
import type { RealtimeConnection } from './connection.ts';
import { ByteStreamsRelay } from './relay/byte-streams.ts';
import { RemoteByteStreams } from './relay/remote-byte-streams.ts';
import { RemoteStreams } from './relay/remote-streams.ts';
import { RoomsRelay } from './relay/rooms.ts';
import { RelayState, streamBytesHeld, type RelayCounters, type RoomSlots } from './relay/state.ts';
import { StreamsRelay } from './relay/streams.ts';
import type { Relay } from './relay-types.ts';

type Req<K extends ClientRequest['kind']> = Extract<ClientRequest, { kind: K }>;

/** What the cluster fan-out hears from the relay (bridge/cluster/fanout.ts). */
export interface ClusterHooks {
  broadcast(roomId: string, event: ServerEvent): void;
  roomOpened(roomId: string): void;
  roomClosed(roomId: string): void;
  /** `track` identifies the track while it lives (a key for per-track state, gone with the track). */
  data(roomId: string, trackNo: number, payload: Uint8Array, track: object): void;
  /** What the other Bridges publish in a room this one does not hold. */
  remoteStreams(roomId: string): Promise<StreamInfo[]>;
}

export interface ConnectionStats {
  connectionId: string;
  userId: string;
  rooms: string[];
  publishedStreams: number;
  /** Bytes waiting in the socket (all traffic to this connection). */
  bufferedBytes: number;
  queuedDataBytes: number;
  queuedDataFrames: number;
  /** The most data-track bytes ever queued for this connection at once (never above dataQueueBytes). */
  peakQueuedDataBytes: number;
  deliveredData: number;
  droppedData: number;
  /** streamNos of the byte streams it sends and receives. */
  sending: number[];
  receiving: number[];
  /** The receive window it declared (`byteStreamReceiveWindow`); undefined: each stream's window. */
  receiveWindowBytes: number | undefined;
}

export interface ByteStreamStats {
  streamNo: number;
  roomId: string;
  senderConnectionId: string;
  receivers: number;
  /** Payload bytes forwarded. */
  sent: number;
  /** Offset the sender may reach, and the last one it was told. */
  allowed: number;
  announced: number;
  /** Slowest attached receiver's consumed offset; undefined without receivers. */
  minConsumed: number | undefined;
}

export interface RelayStats {
  rooms: number;
  tracks: number;
  connections: ConnectionStats[];
  byteStreams: ByteStreamStats[];
}

export class SealroomRelay implements Relay, MediaDirectory {
  private readonly st: RelayState;
  private readonly streams: StreamsRelay;
  private readonly byteStreams: ByteStreamsRelay;
  private readonly rooms: RoomsRelay;
  /** Streams and participants of other Bridges, byte streams to and from them (docs/operations/cluster.md). */
  readonly remote: RemoteStreams;
  readonly remoteBytes: RemoteByteStreams;

  constructor(services: BridgeServices) {
    this.st = new RelayState(services);
    this.streams = new StreamsRelay(this.st);
    this.byteStreams = new ByteStreamsRelay(this.st);
    this.rooms = new RoomsRelay(this.st, this.streams, this.byteStreams);
    this.remoteBytes = new RemoteByteStreams(this.st, this.byteStreams, this.byteStreams.receipts);
    this.remote = new RemoteStreams(this.st, (room, connectionId, reason) => this.remoteBytes.remoteLeft(room, connectionId, reason));
  }

  join(conn: RealtimeConnection, req: Req<'join'>): Promise<ResultPayloads['join']> {
    return this.rooms.join(conn, req);
  }

  /** The join result again for a connection that joined (undefined when it left meanwhile). */
  joinSnapshot(conn: RealtimeConnection, roomId: string): ResultPayloads['join'] | undefined {
    return this.rooms.snapshotOf(conn, roomId);
  }

  async leave(conn: RealtimeConnection, req: Req<'leave'>): Promise<ResultPayloads['leave']> {
    return this.rooms.leave(conn, req);
  }

  async publish(conn: RealtimeConnection, req: Req<'publish'>): Promise<ResultPayloads['publish']> {
    if (this.st.rooms.get(req.roomId)?.participants.has(conn.id) === true) this.remote.supersede(req.roomId, conn.userId, req.streamId);
    return this.streams.publish(conn, req);
  }

  updateAddsTracks(conn: RealtimeConnection, req: Req<'updateStream'>): boolean {
    return this.streams.updateAddsTracks(conn, req);
  }

  updateChangesNothing(conn: RealtimeConnection, req: Req<'updateStream'>): boolean {
    return this.streams.updateChangesNothing(conn, req);
  }

  async updateStream(conn: RealtimeConnection, req: Req<'updateStream'>): Promise<ResultPayloads['updateStream']> {
    return this.streams.updateStream(conn, req);
  }

  async unpublish(conn: RealtimeConnection, req: Req<'unpublish'>): Promise<ResultPayloads['unpublish']> {
    return this.streams.unpublish(conn, req);
  }

  listStreams(conn: RealtimeConnection, req: Req<'listStreams'>): Promise<ResultPayloads['listStreams']> {
    return this.rooms.listStreams(conn, req);
  }

  async subscribeStreams(conn: RealtimeConnection, req: Req<'subscribeStreams'>): Promise<ResultPayloads['subscribeStreams']> {
    return this.streams.subscribe(conn, req);
  }

  async byteStreamOpen(conn: RealtimeConnection, req: Req<'byteStreamOpen'>): Promise<ResultPayloads['byteStreamOpen']> {
    return this.byteStreams.open(conn, req);
  }

  byteStreamCredit(conn: RealtimeConnection, streamNo: number, offset: number, starved = false): void {
    if (!this.remoteBytes.credit(conn, streamNo, offset)) this.byteStreams.credit(conn, streamNo, offset, starved);
  }

  byteStreamReject(conn: RealtimeConnection, streamNo: number): void {
    if (!this.remoteBytes.reject(conn, streamNo)) this.byteStreams.reject(conn, streamNo);
  }

  byteStreamReceiveWindow(conn: RealtimeConnection, bytes: number | undefined): void {
    this.byteStreams.receiveWindow(conn, bytes);
  }

  byteStreamReceipt(conn: RealtimeConnection, req: Req<'byteStreamReceipt'>): void {
    if (!this.remoteBytes.receipt(conn, req)) this.byteStreams.receipts.receipt(conn, req);
  }

  data(conn: RealtimeConnection, trackNo: number, payload: Uint8Array, frame: Uint8Array): void {
    this.streams.data(conn, trackNo, payload, frame);
  }

  chunk(conn: RealtimeConnection, streamNo: number, last: boolean, payload: Uint8Array, frame: Uint8Array): void {
    this.byteStreams.chunk(conn, streamNo, last, payload, frame);
  }

  // ---- MediaDirectory: what the forwarding unit reads (bridge/media/unit.ts)

  joined(connectionId: string, roomId: string): boolean {
    return this.st.participants.get(connectionId)?.rooms.has(roomId) ?? false;
  }

  track(trackNo: number): MediaTrackInfo | undefined {
    const t = this.st.tracks.get(trackNo);
    if (t === undefined || t.kind === 'data') return undefined;
    const { stream } = t;
    return {
      trackNo,
      kind: t.kind,
      roomId: stream.room.id,
      streamId: stream.streamId,
      trackId: t.trackId,
      userId: stream.owner.userId,
      connectionId: stream.owner.conn.id,
    };
  }

  subscribedTracks(connectionId: string, roomId: string): number[] {
    const p = this.st.participants.get(connectionId);
    const room = p?.rooms.get(roomId);
    if (p === undefined || room === undefined) return [];
    const out: number[] = [];
    for (const stream of room.streams.values()) {
      if (!stream.subs.has(p)) continue;
      for (const t of stream.tracks.values()) if (t.kind !== 'data' && t.subscribers.has(p)) out.push(t.trackNo);
    }
    return out;
  }

  /** Relay-wide totals since start (for /metrics). */
  get counters(): RelayCounters {
    return this.st.counters;
  }

  /** Rooms with at least one joined connection, and joined (room, connection) pairs. */
  occupancy(): { rooms: number; participants: number; tracks: number; byteStreams: number } {
    let participants = 0;
    for (const room of this.st.rooms.values()) participants += room.participants.size;
    return { rooms: this.st.rooms.size, participants, tracks: this.st.tracks.size, byteStreams: this.st.byteStreams.size };
  }

  streamBytesInFlight(conn: RealtimeConnection): number {
    const p = this.st.participants.get(conn.id);
    return p === undefined ? 0 : streamBytesHeld(p);
  }

  disconnected(conn: RealtimeConnection): void {
    this.rooms.disconnected(conn);
    this.byteStreams.receipts.senderGone(conn.id);
  }

  roomUpdated(event: RoomUpdatedEvent): void {
    this.rooms.roomUpdated(event);
  }

  roomDeleted(event: RoomDeletedEvent): void {
    this.rooms.roomDeleted(event);
  }

  // ---- The cluster fan-out over NATS (bridge/cluster/fanout.ts, docs/operations/cluster.md)

  /**
   * Hands the cluster every room broadcast (after the local participants got it), the rooms this
   * Bridge starts and stops holding, and every DATA frame of a track published here.
   */
  clusterHooks(hooks: ClusterHooks | undefined): void {
    this.st.onBroadcast = hooks === undefined ? undefined : (room, event) => hooks.broadcast(room.id, event);
    this.st.onRoomOpened = hooks === undefined ? undefined : (room) => hooks.roomOpened(room.id);
    this.st.onRoomClosed =
      hooks === undefined
        ? undefined
        : (room) => {
            this.remote.roomClosed(room);
            hooks.roomClosed(room.id);
          };
    // A frame goes to NATS only while another Bridge holds members of the room: NATS would drop it
    // unread otherwise, after this Bridge and the NATS server had paid to carry it. A member there
    // joins (and is announced here) before it can subscribe, so no frame it asked for is skipped.
    this.st.onData =
      hooks === undefined
        ? undefined
        : (track, payload) => {
            const roomId = track.stream.room.id;
            if ((this.st.remoteParticipants.get(roomId)?.size ?? 0) > 0) hooks.data(roomId, track.trackNo, payload, track);
          };
    this.st.remoteStreamsOf = hooks === undefined ? undefined : (roomId) => hooks.remoteStreams(roomId);
  }

  /** An event another Bridge broadcast in a room: to this Bridge's participants of the room. */
  deliverRemote(roomId: string, event: ServerEvent): void {
    const room = this.st.rooms.get(roomId);
    if (room !== undefined) this.st.toParticipants(room, event);
  }

  /** Rooms with participants here, and the users joined to each (the cluster's resync checks them). */
  joinedUsers(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const room of this.st.rooms.values()) out.set(room.id, new Set([...room.participants.values()].map((p) => p.userId)));
    return out;
  }

  /** A member joined to the room on another Bridge, as this Bridge knows it (direct peer signals cross to it). */
  remoteParticipant(roomId: string, connectionId: string): { userId: string; origin: string } | undefined {
    return this.st.remoteParticipants.get(roomId)?.get(connectionId);
  }

  /** With a shared store: the room caps across Bridges (bridge/cluster/room-slots.ts). */
  useRoomSlots(slots: RoomSlots | undefined): void {
    this.st.roomSlots = slots;
  }

  /** The (room, connection) pairs joined here: the room slots this Bridge holds. */
  heldSlots(): Array<readonly [string, string]> {
    const out: Array<readonly [string, string]> = [];
    for (const room of this.st.rooms.values()) for (const connectionId of room.participants.keys()) out.push([room.id, connectionId]);
    return out;
  }

  hasRoom(roomId: string): boolean {
    return this.st.rooms.has(roomId);
  }

  /** Cuts the users' connections out of the room as removed (the cluster's resync found them gone). */
  removeUsers(roomId: string, userIds: readonly string[]): void {
    this.rooms.removeUsers(roomId, userIds);
  }

  close(): void {
    this.byteStreams.close();
    for (const p of this.st.participants.values()) p.closeData();
  }

  /** A snapshot of what the relay holds: tests assert that queues and state stay bounded. */
  stats(): RelayStats {
    return {
      rooms: this.st.rooms.size,
      tracks: this.st.tracks.size,
      connections: [...this.st.participants.values()].map((p) => {
        const q = p.data.stats();
        return {
          connectionId: p.conn.id,
          userId: p.userId,
          rooms: [...p.rooms.keys()],
          publishedStreams: p.published,
          bufferedBytes: p.conn.bufferedAmount,
          queuedDataBytes: q.queuedBytes,
          queuedDataFrames: q.queuedFrames,
          peakQueuedDataBytes: q.peakQueuedBytes,
          deliveredData: q.delivered,
          droppedData: q.dropped,
          sending: [...p.sending.keys()],
          receiving: [...p.receiving.keys()],
          receiveWindowBytes: p.conn.receiveWindowBytes,
        };
      }),
      byteStreams: [...this.st.byteStreams.values()].map((bs) => ({
        streamNo: bs.streamNo,
        roomId: bs.room.id,
        senderConnectionId: bs.sender.conn.id,
        receivers: bs.receivers.size,
        sent: bs.sent,
        allowed: bs.allowed,
        announced: bs.announced,
        minConsumed: bs.receivers.size === 0 ? undefined : Math.min(...[...bs.receivers.values()].map((r) => r.consumed)),
      })),
    };
  }
}

export function createRelay(services: BridgeServices): SealroomRelay {
  return new SealroomRelay(services);
}

/** The relay's stats, for a relay built here (tests reach it as `bridge.realtime.relay`). */
export function relayStats(relay: Relay): RelayStats {
  if (!(relay instanceof SealroomRelay)) throw new TypeError('expected the SealroomRelay, got another Relay implementation');
  return relay.stats();
}
