/**
 * Byte and text streams across Bridges (docs/operations/cluster.md), with end-to-end credits.
 *
 * On the sender's Bridge, each member of the room on another Bridge is a receiver like a local one,
 * through a stand-in participant whose socket is the cluster: the stream's events and CHUNK frames
 * to it go over NATS, and the credits, rejections and receipts it sends come back over NATS and move
 * the stream exactly as a local receiver's do (./byte-streams.ts: the sender may run one window ahead
 * of the slowest receiver, wherever it is; a stuck one is cut after the same timeout).
 *
 * On the receiver's Bridge, each such stream gets a streamNo of that Bridge: events and chunks are
 * renumbered and handed to the receiving connection; its credits are clamped to what it was given and
 * sent back. Chunks carry a sequence number per stream and receiver: a gap (core NATS delivers at most
 * once) is counted, and the chunk after it is forwarded all the same, so the reader fails to open it
 * (the STREAM AEAD's chunk counter no longer matches: docs/design.md, "Byte streams"): an error,
 * never a silent gap.
 */
import { CHUNK_FLAG_LAST, CHUNK_HEADER_BYTES, type ClientRequest, type ServerEvent } from '../../../protocol/ws.ts';
import { BridgeError } from '../../errors.ts';
import type { RealtimeConnection } from '../connection.ts';
import type { ByteStreamsRelay } from './byte-streams.ts';
import { DataQueue } from './data-queue.ts';
import { BoundedSet } from './numbers.ts';
import { RECEIPT_WINDOW_MS, type ReceiptsRelay } from './receipts.ts';
import { detachBytes, monotonicMs, type Participant, type ParticipantConnection, type RelayState, type RoomState } from './state.ts';

type Req<K extends ClientRequest['kind']> = Extract<ClientRequest, { kind: K }>;
type DroppedReason = Extract<ServerEvent, { type: 'byteStreamReceiverDropped' }>['reason'];

/** What a receiver's Bridge sends back to the sender's. */
export type ReceiverControl =
  | { kind: 'credit'; streamNo: number; connectionId: string; offset: number }
  | { kind: 'reject'; streamNo: number; connectionId: string }
  | { kind: 'receipt'; connectionId: string; request: Omit<Req<'byteStreamReceipt'>, 'kind' | 'id'> };

/** How the relay reaches other Bridges (bridge/cluster/room-fanout.ts). */
export interface ByteStreamWire {
  event(roomId: string, origin: string, connectionId: string, event: ServerEvent): void;
  chunk(roomId: string, origin: string, connectionId: string, seq: number, frame: Uint8Array): void;
  control(roomId: string, origin: string, message: ReceiverControl): void;
}

/** A stream from another Bridge, received here by one connection. */
interface Inbound {
  readonly localNo: number;
  readonly origin: string;
  readonly originNo: number;
  readonly roomId: string;
  readonly streamId: string;
  readonly p: Participant;
  sent: number;
  consumed: number;
  expectedSeq: number;
}

export interface RemoteByteStreamCounters {
  remoteChunks: number;
  /** Chunks lost between Bridges: the reader fails on the next one it gets. */
  remoteChunkGaps: number;
}

/** Ended streams from other Bridges whose receipts can still be routed back (the oldest go first). */
const RECEIPT_ROUTES = 4096;

export class RemoteByteStreams {
  readonly counters: RemoteByteStreamCounters = { remoteChunks: 0, remoteChunkGaps: 0 };
  wire: ByteStreamWire | undefined;
  /** Sender side: stand-ins of remote receivers, by connection id. */
  private readonly stubs = new Map<string, { p: Participant; origin: string; roomIds: Set<string>; seqs: Map<number, number> }>();
  /** Receiver side: streams from other Bridges by local streamNo, and by `${origin} ${originNo} ${connectionId}`. */
  private readonly inbound = new Map<number, Inbound>();
  private readonly routes = new Map<string, number>();
  /**
   * Local streamNos of ended inbound streams -> where their receipts go, and what this Bridge checks
   * before it sends one there (the receiver's connection, the window, one each): refusals are answered
   * here, as for a local stream (./receipts.ts), with no round trip to the sender's Bridge.
   */
  private readonly receiptRoutes = new Map<
    number,
    { origin: string; originNo: number; roomId: string; streamId: string; connectionId: string; until: number; sent: boolean }
  >();

  constructor(
    private readonly st: RelayState,
    private readonly byteStreams: ByteStreamsRelay,
    private readonly receipts: ReceiptsRelay,
  ) {
    st.remoteReceiversOf = (room) => this.receiversOf(room);
    st.remoteReceiver = (connectionId) => this.stubs.get(connectionId)?.p;
  }

  // ---- sender side

  /** The remote members of the room, as receivers of a stream opened here. */
  private receiversOf(room: RoomState): Participant[] {
    if (this.wire === undefined) return [];
    const out: Participant[] = [];
    for (const [connectionId, r] of this.st.remoteParticipants.get(room.id) ?? []) {
      let stub = this.stubs.get(connectionId);
      if (stub === undefined) {
        const seqs = new Map<number, number>();
        const p = remoteReceiver(r.userId, connectionId, {
          event: (event) => {
            if (event.type === 'byteStreamAborted') seqs.delete(event.streamNo);
            this.wire?.event(room.id, r.origin, connectionId, event);
          },
          binary: (frame) => {
            const streamNo = new DataView(frame.buffer, frame.byteOffset).getUint32(1);
            const seq = seqs.get(streamNo) ?? 0;
            if ((frame[5]! & CHUNK_FLAG_LAST) !== 0) seqs.delete(streamNo);
            else seqs.set(streamNo, seq + 1);
            this.wire?.chunk(room.id, r.origin, connectionId, seq, frame);
          },
        });
        this.stubs.set(connectionId, (stub = { p, origin: r.origin, roomIds: new Set(), seqs }));
      }
      stub.roomIds.add(room.id);
      out.push(stub.p);
    }
    return out;
  }

  /** A receiver's Bridge sent back what its receiver did. */
  control(message: ReceiverControl): void {
    const stub = this.stubs.get(message.connectionId);
    if (stub === undefined) return;
    if (message.kind === 'credit') this.byteStreams.credit(stub.p.conn, message.streamNo, message.offset);
    else if (message.kind === 'reject') this.byteStreams.reject(stub.p.conn, message.streamNo);
    else {
      try {
        this.receipts.receipt(stub.p.conn, { kind: 'byteStreamReceipt', id: 0, ...message.request });
      } catch {
        // Not a receiver of that stream, or a second receipt: dropped, as the local path refuses it.
      }
    }
  }

  /** A remote participant left the room (or its Bridge is gone): it stops receiving streams from here. */
  remoteLeft(room: RoomState, connectionId: string, reason: DroppedReason): void {
    const stub = this.stubs.get(connectionId);
    if (stub === undefined) return;
    this.byteStreams.receiverGone(room, stub.p, reason, undefined);
    stub.roomIds.delete(room.id);
    if (stub.roomIds.size === 0 && stub.p.receiving.size === 0) this.stubs.delete(connectionId);
  }

  // ---- receiver side

  /** An event of a stream from another Bridge to a connection here. */
  event(roomId: string, origin: string, connectionId: string, event: ServerEvent): void {
    const p = this.st.participants.get(connectionId);
    if (p === undefined || !p.rooms.has(roomId)) return;
    if (event.type === 'byteStreamOpened') {
      // Not a number whose receipts are still taken either (a receipt names the stream by it).
      const localNo = this.st.streamNos.take((n) => this.st.byteStreams.has(n) || this.inbound.has(n) || this.receiptRoutes.has(n) || this.receipts.has(n));
      const entry: Inbound = { localNo, origin, originNo: event.streamNo, roomId, streamId: event.streamId, p, sent: 0, consumed: 0, expectedSeq: 0 };
      this.inbound.set(localNo, entry);
      this.routes.set(`${origin} ${event.streamNo} ${connectionId}`, localNo);
      p.conn.event({ ...event, streamNo: localNo });
      return;
    }
    if (event.type === 'byteStreamAborted') {
      const entry = this.find(origin, event.streamNo, connectionId);
      if (entry === undefined) return;
      this.end(entry, false);
      p.conn.event({ ...event, streamNo: entry.localNo });
    }
  }

  /** A CHUNK frame (the sender Bridge's numbering) for a connection here. */
  chunk(origin: string, connectionId: string, seq: number, frame: Uint8Array): void {
    if (frame.length < CHUNK_HEADER_BYTES) return;
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const entry = this.find(origin, view.getUint32(1), connectionId);
    if (entry === undefined) return;
    this.counters.remoteChunks++;
    if (seq !== entry.expectedSeq) this.counters.remoteChunkGaps++;
    entry.expectedSeq = seq + 1;
    view.setUint32(1, entry.localNo);
    const payload = frame.length - CHUNK_HEADER_BYTES;
    entry.sent += payload;
    const unconsumed = (entry.p.unconsumedBytes += payload);
    if (unconsumed > entry.p.peakBytes) entry.p.peakBytes = unconsumed;
    const last = (frame[5]! & CHUNK_FLAG_LAST) !== 0;
    entry.p.conn.bulk(entry.localNo, frame);
    if (last) this.end(entry, true);
  }

  /** A receiver here credited a stream: true when the stream is one from another Bridge. */
  credit(conn: Pick<RealtimeConnection, 'id'>, streamNo: number, offset: number): boolean {
    const entry = this.inbound.get(streamNo);
    if (entry === undefined || entry.p.conn !== conn) return false;
    const consumed = Math.min(offset, entry.sent);
    if (consumed <= entry.consumed) return true;
    entry.p.unconsumedBytes -= consumed - entry.consumed;
    entry.consumed = consumed;
    this.wire?.control(entry.roomId, entry.origin, { kind: 'credit', streamNo: entry.originNo, connectionId: conn.id, offset: consumed });
    return true;
  }

  reject(conn: Pick<RealtimeConnection, 'id'>, streamNo: number): boolean {
    const entry = this.inbound.get(streamNo);
    if (entry === undefined || entry.p.conn !== conn) return false;
    this.end(entry, false);
    this.wire?.control(entry.roomId, entry.origin, { kind: 'reject', streamNo: entry.originNo, connectionId: conn.id });
    return true;
  }

  /**
   * A receipt for a stream from another Bridge: true when it was one (relayed to the sender's Bridge).
   * Refused here with the local path's codes when this connection did not read it to its end, the
   * window passed, or it already sent one. The sender's Bridge checks again; what it alone can know
   * (the sender gone, or its bound of remembered streams passed) drops the receipt there.
   */
  receipt(conn: Pick<RealtimeConnection, 'id' | 'userId'>, req: Req<'byteStreamReceipt'>): boolean {
    const route = this.receiptRoutes.get(req.streamNo);
    if (route === undefined) return false;
    if (route.connectionId !== conn.id || route.streamId !== req.streamId || route.until < monotonicMs()) {
      this.refused('NOT_A_RECEIVER');
      throw new BridgeError(
        'NOT_A_RECEIVER',
        `expected a receipt for a stream this connection received to its end within the last ${RECEIPT_WINDOW_MS} ms, got streamNo ${req.streamNo}`,
      );
    }
    if (route.sent) {
      this.refused('RECEIPT_EXISTS');
      throw BridgeError.conflict('RECEIPT_EXISTS', `expected one receipt per receiving connection, streamNo ${req.streamNo} already has this connection's`);
    }
    route.sent = true;
    const { kind: _kind, id: _id, ...request } = req;
    this.wire?.control(route.roomId, route.origin, { kind: 'receipt', connectionId: conn.id, request: { ...request, streamNo: route.originNo } });
    return true;
  }

  /** A Bridge is gone (silent too long): the streams it was sending to readers here end for them. */
  originGone(origin: string): void {
    for (const entry of [...this.inbound.values()]) {
      if (entry.origin !== origin) continue;
      this.end(entry, false);
      entry.p.conn.event({ type: 'byteStreamAborted', streamNo: entry.localNo, reason: 'sender_disconnected' });
    }
  }

  /** A connection here left the room (or was removed): its streams from other Bridges end for it. */
  localLeft(roomId: string, connectionId: string, removed: boolean): void {
    for (const entry of [...this.inbound.values()]) {
      if (entry.roomId !== roomId || entry.p.conn.id !== connectionId) continue;
      this.end(entry, false);
      if (removed) entry.p.conn.event({ type: 'byteStreamAborted', streamNo: entry.localNo, reason: 'removed' });
    }
  }

  private refused(code: 'NOT_A_RECEIVER' | 'RECEIPT_EXISTS'): void {
    const refused = this.st.counters.receipts.refused;
    refused[code] = (refused[code] ?? 0) + 1;
  }

  private find(origin: string, originNo: number, connectionId: string): Inbound | undefined {
    const localNo = this.routes.get(`${origin} ${originNo} ${connectionId}`);
    return localNo === undefined ? undefined : this.inbound.get(localNo);
  }

  private end(entry: Inbound, forReceipts: boolean): void {
    this.inbound.delete(entry.localNo);
    this.routes.delete(`${entry.origin} ${entry.originNo} ${entry.p.conn.id}`);
    // Aborted: its chunks still queued would arrive after the abort (docs/operations/realtime-priorities.md).
    if (!forReceipts) entry.p.conn.dropBulk(entry.localNo);
    // Its bytes count until they have left the Bridge (docs/protocol/byte-streams.md, "Accounting").
    detachBytes(entry.p, entry.sent - entry.consumed);
    if (!forReceipts) return;
    // Oldest first (a Map keeps insertion order): past the bound the oldest route is forgotten.
    this.receiptRoutes.set(entry.localNo, {
      origin: entry.origin,
      originNo: entry.originNo,
      roomId: entry.roomId,
      streamId: entry.streamId,
      connectionId: entry.p.conn.id,
      until: monotonicMs() + RECEIPT_WINDOW_MS,
      sent: false,
    });
    if (this.receiptRoutes.size > RECEIPT_ROUTES) this.receiptRoutes.delete(this.receiptRoutes.keys().next().value!);
  }
}

/**
 * A member of the room on another Bridge, receiving a stream from here: its `conn` sends to that
 * Bridge over the cluster and never pushes back (the receiver's own Bridge bounds its socket).
 */
function remoteReceiver(userId: string, connectionId: string, send: { event(e: ServerEvent): void; binary(frame: Uint8Array): void }): Participant {
  const conn: ParticipantConnection = {
    id: connectionId,
    userId,
    bufferedAmount: 0,
    softCapBytes: Number.POSITIVE_INFINITY,
    outboundCapBytes: Number.POSITIVE_INFINITY,
    event: send.event,
    // Such a receiver is in no room's participants, so no broadcast reaches it; were one to, it would
    // go on as the event it encodes.
    encodedEvent: (message: Buffer) => send.event((JSON.parse(message.toString('utf8')) as { event: ServerEvent }).event),
    binary: send.binary,
    bulk: (_streamNo: number, frame: Uint8Array) => {
      send.binary(frame);
      return -1;
    },
    dropBulk: () => undefined,
    afterBulk: (release: () => void) => release(),
    bulkWaiting: () => undefined,
    // A receive window is not carried across Bridges: the stream's window holds for this receiver.
    receiveWindowBytes: undefined,
  };
  const quiet = { closed: true, priorityBufferedAmount: 0, binary: () => undefined, event: () => undefined };
  return {
    conn,
    userId,
    rooms: new Map(),
    published: 0,
    data: new DataQueue(quiet, { queueBytes: 0, highWaterBytes: 0, reportIntervalMs: 1000, reportHoldBytes: 0 }),
    sending: new Map(),
    receiving: new Map(),
    unconsumedBytes: 0,
    endedBytes: 0,
    peakBytes: 0,
    retiredTracks: new BoundedSet(16),
    retiredStreams: new BoundedSet(16),
  };
}
