/**
 * The relay's shared state: who joined which room, what they publish, which byte streams are open.
 * Every part of the relay (rooms, streams and tracks, data fan-out, byte streams) works on one
 * `RelayState`. All of it lives in one Bridge process; a multi-node Bridge will fan out through NATS
 * instead (docs/design.md, "Storage").
 */
import { DATA_DEADLINE_DEFAULT_MS, type ServerEvent, type StreamInfo, type TrackInfo, type TrackKind } from '../../../protocol/ws.ts';
import type { RealtimeConfig } from '../../config.ts';
import { BridgeError } from '../../errors.ts';
import type { BridgeServices } from '../../services.ts';
import { encodeEvent, type RealtimeConnection } from '../connection.ts';
import type { DataQueue, TrackDelivery } from './data-queue.ts';
import { type BoundedSet, NumberAllocator } from './numbers.ts';
import { LocalParticipant } from './participant.ts';

/**
 * What the relay uses of a participant's connection. A local participant's is its
 * `RealtimeConnection`; a member on another Bridge has a stand-in (relay/remote-streams.ts,
 * relay/remote-byte-streams.ts) that implements the same members, so that one the relay starts to
 * use must be given to the stand-ins too or the build fails.
 */
export type ParticipantConnection = Pick<
  RealtimeConnection,
  | 'id'
  | 'userId'
  | 'bufferedAmount'
  | 'softCapBytes'
  | 'outboundCapBytes'
  | 'event'
  | 'encodedEvent'
  | 'binary'
  | 'bulk'
  | 'dropBulk'
  | 'afterBulk'
  | 'bulkWaiting'
  | 'receiveWindowBytes'
>;

/** A connection that joined at least one room (kept until it disconnects). */
export interface Participant {
  readonly conn: ParticipantConnection;
  readonly userId: string;
  readonly rooms: Map<string, RoomState>;
  /** Published streams over all rooms (bounded by `maxPublishedStreamsPerConnection`). */
  published: number;
  /** Lossy outbound queue of data-track frames to this connection. */
  readonly data: DataQueue;
  /** Byte streams this connection sends, by streamNo. */
  readonly sending: Map<number, ByteStream>;
  /** Byte streams this connection receives, by streamNo. */
  readonly receiving: Map<number, ByteStream>;
  /**
   * Byte-stream payload bytes forwarded to this connection and not yet reported consumed, over the
   * streams it receives: what flow control lets its socket hold on top of its outbound budget.
   */
  unconsumedBytes: number;
  /**
   * Payload bytes of streams that ended or were cut for this connection, not consumed then, and still
   * possibly in its bulk lane or socket: counted until every chunk queued before the end has left
   * (streamBytesHeld; docs/protocol/byte-streams.md, "Accounting").
   */
  endedBytes: number;
  /** The most `unconsumedBytes` reached since `endedBytes` was last zero: what bounds `endedBytes`' share. */
  peakBytes: number;
  readonly retiredTracks: BoundedSet<number>;
  readonly retiredStreams: BoundedSet<number>;
}

export interface RoomState {
  readonly id: string;
  /** Joined connections, by connection id. */
  readonly participants: Map<string, Participant>;
  /** Published streams, by the publisher's streamId (unique per room). */
  readonly streams: Map<string, PublishedStream>;
  readonly byteStreams: Set<ByteStream>;
}

/** 'all': subscribed without a trackId, so tracks added later are included. */
export type SubscriptionMode = 'all' | 'some';

export interface PublishedStream {
  readonly room: RoomState;
  readonly streamId: string;
  readonly owner: Participant;
  /** In the order the publisher listed them. */
  tracks: Map<string, Track>;
  readonly subs: Map<Participant, SubscriptionMode>;
}

export interface Track {
  readonly trackId: string;
  readonly kind: TrackKind;
  readonly trackNo: number;
  readonly stream: PublishedStream;
  readonly subscribers: Set<Participant>;
  /** Data tracks: how their frames reach subscribers (docs/protocol/data-tracks.md). */
  readonly delivery: TrackDelivery;
}

/** A track's delivery from its publisher's draft (or a mirrored track's info); lossy with the default deadline unless named. */
export function trackDelivery(draft: { delivery?: TrackInfo['delivery']; deadlineMs?: number }): TrackDelivery {
  return { reliable: draft.delivery === 'reliable', deadlineMs: draft.deadlineMs ?? DATA_DEADLINE_DEFAULT_MS };
}

/**
 * A track as the wire shows it: a data track's delivery mode only when it is not the default (lossy
 * with DATA_DEADLINE_DEFAULT_MS), so absent fields mean the default (docs/protocol/data-tracks.md).
 */
export function trackInfo(t: Track): TrackInfo {
  if (t.kind !== 'data') return { trackId: t.trackId, kind: t.kind, trackNo: t.trackNo };
  if (t.delivery.reliable) return { trackId: t.trackId, kind: t.kind, trackNo: t.trackNo, delivery: 'reliable' };
  if (t.delivery.deadlineMs === DATA_DEADLINE_DEFAULT_MS) return { trackId: t.trackId, kind: t.kind, trackNo: t.trackNo };
  return { trackId: t.trackId, kind: t.kind, trackNo: t.trackNo, delivery: 'lossy', deadlineMs: t.delivery.deadlineMs };
}

export interface Receiver {
  readonly participant: Participant;
  /** Payload bytes the receiver reported as consumed (absolute, never decreasing, at most `sent`). */
  consumed: number;
  /** Monotonic time (ms) of the last advance of `consumed`, or of the open. */
  lastAdvanceAt: number;
  /** Number of the latest chunk queued to its connection's bulk lane (RealtimeConnection.bulk), -1 before any. */
  bulkNo: number;
  /** Monotonic time (ms) the stuck check last saw that chunk still held by the Bridge (0: never). */
  heldSeenAt: number;
}

export interface ByteStream {
  readonly streamNo: number;
  readonly room: RoomState;
  readonly streamId: string;
  readonly epoch: number;
  readonly sender: Participant;
  /** Fixed at open: later joiners never become receivers. */
  readonly receivers: Map<Participant, Receiver>;
  /** Payload bytes forwarded so far. */
  sent: number;
  /**
   * Payload offset the sender may reach: min over receivers of consumed + lead, where a receiver's lead
   * is the window, or its connection's receive window when smaller (and the sender speaks protocol 3).
   * Never decreases.
   */
  allowed: number;
  /** Whether receivers' receive windows apply: the sender starts from the open result's `allowed` (protocol 3). */
  readonly receiveWindows: boolean;
  /**
   * The least consumed + lead over the receivers, as the last full count found it (byte-streams.ts,
   * `recompute`). Receivers are fixed at open and only ever leave through a cut, which counts again, and
   * a lead only grows through a count (a receive window that changes, a window that widens), so a credit
   * of a receiver above it cannot move the allowance and costs no count over the receivers.
   */
  slowest: number;
  /** A count over the receivers is queued for the end of this turn (credits of one socket read share it). */
  recomputeQueued: boolean;
  /** The last allowance the sender was told (the open result's `allowed`). */
  announced: number;
  /**
   * How far the sender may run ahead of the slowest receiver: the configured window at the open,
   * doubled (up to `streamWindowMaxBytes`) while the window, not a reader, holds the sender back.
   */
  window: number;
  /** Monotonic time the sender last reached its limit, while it is there. */
  atLimitSince: number | undefined;
  stuckTimer: NodeJS.Timeout | undefined;
  announceTimer: NodeJS.Timeout | undefined;
  ended: boolean;
}

/**
 * Byte-stream bytes the Bridge may hold for `p` on top of its fixed budgets (readPauseBytes,
 * outboundBudgetBytes): what flow control lets be in flight on its open streams, plus the ended
 * streams' bytes not yet gone, those never above the most the open streams had in flight at once
 * since ended bytes were last gone (so a sender that ends stream after stream to a reader that does
 * not read cannot grow it: docs/protocol/byte-streams.md, "Accounting").
 */
export function streamBytesHeld(p: Participant): number {
  return Math.min(p.unconsumedBytes + p.endedBytes, Math.max(p.peakBytes, p.unconsumedBytes));
}

/**
 * `p` stops receiving a stream of which it had not consumed `unconsumed` bytes: they leave
 * `unconsumedBytes` now and stay counted in `endedBytes` until every chunk queued to its socket so far
 * has left the Bridge (RealtimeConnection.afterBulk).
 */
export function detachBytes(p: Participant, unconsumed: number): void {
  if (p.endedBytes === 0) p.peakBytes = p.unconsumedBytes;
  p.unconsumedBytes -= unconsumed;
  if (unconsumed === 0) return;
  p.endedBytes += unconsumed;
  p.conn.afterBulk(() => {
    p.endedBytes -= unconsumed;
    if (p.endedBytes === 0) p.peakBytes = p.unconsumedBytes;
  });
}

/** Milliseconds from a monotonic clock: flow-control timers must not jump with the wall clock. */
export const monotonicMs = (): number => performance.now();

/** Relay-wide totals since start, for /metrics. */
export interface RelayCounters {
  dataFrames: number;
  dataBytes: number;
  /** Data-track frames handed to subscribers' queues (one per subscriber). */
  dataDeliveries: number;
  /** Data-track frames dropped because a subscriber read too slowly. */
  dataDroppedSlow: number;
  /** Lossy data-track frames dropped because they outlived their track's deadline. */
  dataDroppedDeadline: number;
  /** Subscribers cut from a reliable data track they could not keep up with. */
  dataTracksCut: number;
  chunkFrames: number;
  chunkBytes: number;
  chunkDeliveries: number;
  /** Byte-stream windows doubled because the window, not a reader, held the sender (byte-streams.ts). */
  windowsWidened: number;
  /**
   * Byte-stream receivers detached, by reason (rejected, removed, ...); `too_slow` by the rule that
   * cut: `too_slow_socket` (a socket over its soft cap that took no chunk for the stuck timeout, or
   * holds no chunk), `too_slow_budget` (a chunk would pass its outbound budget) and `too_slow_stuck`
   * (nothing consumed while the sender waited; docs/protocol/byte-streams.md, "Cuts").
   */
  receiversCut: Record<string, number>;
  /** Byte streams ended by the Bridge, by reason (limit, sender_left, removed, ...). */
  streamsAborted: Record<string, number>;
  /** Delivery receipts relayed to senders, and refused by error code (NOT_A_RECEIVER, RECEIPT_EXISTS). */
  receipts: { relayed: number; refused: Record<string, number> };
}

/** The room caps counted across Bridges (bridge/cluster/room-slots.ts). */
export interface RoomSlots {
  /** Throws ROOM_FULL or TOO_MANY_CONNECTIONS when the room has no slot for this connection. */
  claim(roomId: string, connectionId: string, userId: string): Promise<void>;
  release(roomId: string, connectionId: string): void;
}

export class RelayState {
  readonly counters: RelayCounters = {
    dataFrames: 0,
    dataBytes: 0,
    dataDeliveries: 0,
    dataDroppedSlow: 0,
    dataDroppedDeadline: 0,
    dataTracksCut: 0,
    chunkFrames: 0,
    chunkBytes: 0,
    chunkDeliveries: 0,
    windowsWidened: 0,
    receiversCut: {},
    streamsAborted: {},
    receipts: { relayed: 0, refused: {} },
  };
  readonly participants = new Map<string, LocalParticipant>();
  readonly rooms = new Map<string, RoomState>();
  readonly tracks = new Map<number, Track>();
  readonly byteStreams = new Map<number, ByteStream>();
  readonly trackNos = new NumberAllocator();
  readonly streamNos = new NumberAllocator();
  /**
   * Told of every room broadcast after the local participants got it: with NATS, the cluster fan-out
   * (bridge/cluster/fanout.ts) passes it on to the other Bridges' participants of the room.
   */
  onBroadcast: ((room: RoomState, event: ServerEvent) => void) | undefined;
  /** A room got its first participant here / lost its last one (the cluster listens to it meanwhile). */
  onRoomOpened: ((room: RoomState) => void) | undefined;
  onRoomClosed: ((room: RoomState) => void) | undefined;
  /** A DATA frame of a track published here, after the local subscribers got it (the cluster sends it on). */
  onData: ((track: Track, payload: Uint8Array) => void) | undefined;
  /** Participants of a room on other Bridges, by connection id (kept by ./remote-streams.ts). */
  readonly remoteParticipants = new Map<string, Map<string, { userId: string; origin: string }>>();
  /** Members of the room on other Bridges as byte-stream receivers, and one by connection id (./remote-byte-streams.ts). */
  remoteReceiversOf: ((room: RoomState) => Participant[]) | undefined;
  remoteReceiver: ((connectionId: string) => Participant | undefined) | undefined;
  /** The streams the other Bridges hold in a room this one does not hold (a `listStreams` without a join). */
  remoteStreamsOf: ((roomId: string) => Promise<StreamInfo[]>) | undefined;
  /**
   * With a shared store: the room caps across Bridges (bridge/cluster/room-slots.ts). A join claims a
   * slot (refused with ROOM_FULL or TOO_MANY_CONNECTIONS when another Bridge took the last one);
   * every departure releases it.
   */
  roomSlots: RoomSlots | undefined;
  /** A subscriber's backlog of a reliable data track passed its bound (./streams.ts cuts it from the track). */
  onReliableOverflow: ((p: Participant, trackNo: number) => void) | undefined;

  constructor(readonly s: BridgeServices) {}

  get config(): RealtimeConfig {
    return this.s.config.realtime;
  }

  /** The connection's participant, created on its first join. */
  participant(conn: RealtimeConnection): LocalParticipant {
    let p = this.participants.get(conn.id);
    if (p === undefined) {
      p = new LocalParticipant(conn, this);
      this.participants.set(conn.id, p);
    }
    return p;
  }

  /** The joined room, or 409 NOT_JOINED: every stream request needs a join first. */
  joined(conn: RealtimeConnection, roomId: string): { p: Participant; room: RoomState } {
    const p = this.participants.get(conn.id);
    const room = p?.rooms.get(roomId);
    if (p === undefined || room === undefined) {
      throw BridgeError.conflict('NOT_JOINED', `expected a joined room, got "${roomId}", which this connection has not joined`);
    }
    return { p, room };
  }

  /** Sends an event to every joined connection of the room except `except`; the cluster passes it on. */
  broadcast(room: RoomState, event: ServerEvent, except?: Participant): void {
    this.toParticipants(room, event, except);
    this.onBroadcast?.(room, event);
  }

  /** Sends an event to this Bridge's participants of the room except `except`, encoded once for all. */
  toParticipants(room: RoomState, event: ServerEvent, except?: Participant): void {
    let message: Buffer | undefined; // made at the first recipient
    for (const p of room.participants.values()) if (p !== except) p.conn.encodedEvent((message ??= encodeEvent(event)));
  }

  streamInfo(stream: PublishedStream): StreamInfo {
    return {
      roomId: stream.room.id,
      streamId: stream.streamId,
      userId: stream.owner.userId,
      connectionId: stream.owner.conn.id,
      tracks: [...stream.tracks.values()].map(trackInfo),
    };
  }
}
