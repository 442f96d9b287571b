/**
 * The real-time relay: rooms joined over the socket, published streams and tracks, subscriptions,
 * data-track fan-out and byte-stream forwarding with flow control. The hub authenticates and
 * dispatches; the relay owns everything that moves data.
 */
import type { ClientRequest, ResultPayloads } from '../../protocol/ws.ts';
import type { RoomDeletedEvent, RoomUpdatedEvent } from '../events.ts';
import type { RealtimeConnection } from './connection.ts';

type Req<K extends ClientRequest['kind']> = Extract<ClientRequest, { kind: K }>;

export interface Relay {
  join(conn: RealtimeConnection, req: Req<'join'>): Promise<ResultPayloads['join']>;
  /** The join result again for a connection that joined; undefined when it left meanwhile. */
  joinSnapshot(conn: RealtimeConnection, roomId: string): ResultPayloads['join'] | undefined;
  leave(conn: RealtimeConnection, req: Req<'leave'>): Promise<ResultPayloads['leave']>;
  /** Whether the connection is joined to the room now (direct peer signalling, relay/peer-signals.ts). */
  joined(connectionId: string, roomId: string): boolean;
  publish(conn: RealtimeConnection, req: Req<'publish'>): Promise<ResultPayloads['publish']>;
  /** Whether the update would start a track (new, or of another kind or delivery); false when it only keeps or removes tracks. */
  updateAddsTracks(conn: RealtimeConnection, req: Req<'updateStream'>): boolean;
  /** Whether the update would change nothing (the same tracks): answered, not announced to the room. */
  updateChangesNothing(conn: RealtimeConnection, req: Req<'updateStream'>): boolean;
  updateStream(conn: RealtimeConnection, req: Req<'updateStream'>): Promise<ResultPayloads['updateStream']>;
  unpublish(conn: RealtimeConnection, req: Req<'unpublish'>): Promise<ResultPayloads['unpublish']>;
  listStreams(conn: RealtimeConnection, req: Req<'listStreams'>): Promise<ResultPayloads['listStreams']>;
  subscribeStreams(conn: RealtimeConnection, req: Req<'subscribeStreams'>): Promise<ResultPayloads['subscribeStreams']>;
  byteStreamOpen(conn: RealtimeConnection, req: Req<'byteStreamOpen'>): Promise<ResultPayloads['byteStreamOpen']>;
  /** `starved`: the reader had consumed all it was given (the CREDIT frame's flag). */
  byteStreamCredit(conn: RealtimeConnection, streamNo: number, offset: number, starved?: boolean): void;
  byteStreamReject(conn: RealtimeConnection, streamNo: number): void;
  /** The connection's receive window for the byte streams it receives (undefined: each stream's window). */
  byteStreamReceiveWindow(conn: RealtimeConnection, bytes: number | undefined): void;
  /** A receiver's signed delivery receipt, relayed to the stream's sender (relay/receipts.ts). */
  byteStreamReceipt(conn: RealtimeConnection, req: Req<'byteStreamReceipt'>): void;
  /** A binary DATA frame from a publisher; `frame` is the whole received frame, forwarded as is (toDownFrame). */
  data(conn: RealtimeConnection, trackNo: number, payload: Uint8Array, frame: Uint8Array): void;
  /** A binary CHUNK frame from a byte-stream sender; `frame` is the whole received frame (see `data`). */
  chunk(conn: RealtimeConnection, streamNo: number, last: boolean, payload: Uint8Array, frame: Uint8Array): void;
  /** Byte-stream payload bytes the Bridge may hold for the connection: not yet consumed, or of ended streams not yet sent (relay/state.ts streamBytesHeld). */
  streamBytesInFlight(conn: RealtimeConnection): number;
  /** The connection closed (for any reason): leave its rooms, end its streams. */
  disconnected(conn: RealtimeConnection): void;
  /** A room version committed: cut removed members from the relay at once. */
  roomUpdated(event: RoomUpdatedEvent): void;
  roomDeleted(event: RoomDeletedEvent): void;
  /** Stops timers; called on shutdown after connections close. */
  close(): void;
}
