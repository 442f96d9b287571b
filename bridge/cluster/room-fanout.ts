/**
 * The room side of the cluster fan-out (docs/operations/cluster.md): while a Bridge has participants
 * in a room it listens to the room's subjects, tells the other Bridges what happens in the room there,
 * and mirrors what happens on theirs (bridge/realtime/relay/remote-streams.ts).
 *
 * - `<prefix>.room.<roomId>`: JSON `{ origin, event }` for the relay's broadcasts (join, leave, stream
 *   published, updated, unpublished), and `{ origin, present }`: who is there on that Bridge and what
 *   they publish, in answer to a sync.
 * - `<prefix>.sync`: `{ origin, roomId }` from a Bridge that starts holding a room (or is back on
 *   NATS). Every Bridge answers on the room subject, an empty `present` when it holds nothing there;
 *   the first join on the asking Bridge waits for the answers of every Bridge it knows (at most
 *   SYNC_WAIT_MS), so its snapshot already lists the others' participants and streams.
 * - `<prefix>.data.<roomId>`: DATA frames of the tracks published here, binary: origin length (1
 *   byte), origin, trackNo and sequence number (4 bytes each, big-endian), then the payload as the
 *   publisher sent it (ciphertext: docs/design.md, "Trust model").
 * - `<prefix>.bytes.<roomId>`: CHUNK frames of byte streams to a receiver on another Bridge, binary:
 *   origin and receiving connection id (length byte, then the id, each), a sequence number per stream
 *   and receiver (4 bytes), then the frame in the sender Bridge's numbering. The stream's events to
 *   that receiver (`{ origin, to, event }`) and its credits, rejections and receipts back
 *   (`{ origin, for, control }`) travel on the room subject (bridge/realtime/relay/remote-byte-streams.ts).
 *   So do direct peer signals to one member on another Bridge (`{ origin, to, event: peerSignal }`,
 *   bridge/realtime/relay/peer-signals.ts).
 * - `<prefix>.nodes`: a heartbeat of each Bridge; one silent for NODE_SILENT_MS is taken as gone and
 *   its participants and streams leave the rooms here.
 */
import { ROOM_ID_PATTERN } from '../../protocol/room-record.ts';
import type { ServerEvent, StreamInfo } from '../../protocol/ws.ts';
import type { ByteStreamWire, ReceiverControl } from '../realtime/relay/remote-byte-streams.ts';
import type { RoomPresence } from '../realtime/relay/remote-streams.ts';
import type { ClusterHooks, SealroomRelay } from '../realtime/relay.ts';
import type { NatsLink, NatsSubscription } from './nats.ts';

/** Relay broadcasts that cross to the room's participants on other Bridges. */
const CROSSING: ReadonlySet<ServerEvent['type']> = new Set(['streamRoomJoined', 'streamRoomLeft', 'streamPublished', 'streamUpdated', 'streamUnpublished']);
const HEARTBEAT_MS = 2000;
const NODE_SILENT_MS = 7000;
const DATA_HEADER_FIXED_BYTES = 1 + 4 + 4;
/** The longest a first join on this Bridge waits for the other Bridges' state of the room. Ms. */
const SYNC_WAIT_MS = 300;

interface PendingSync {
  readonly waiting: Set<string>;
  readonly done: Promise<void>;
  readonly finish: () => void;
}

type RoomMessage =
  | { origin: string; event: ServerEvent }
  | { origin: string; present: RoomPresence }
  | { origin: string; to: string; event: ServerEvent }
  | { origin: string; for: string; control: ReceiverControl };

/** Byte-stream events that go to one receiver on another Bridge. */
const TARGETED: ReadonlySet<ServerEvent['type']> = new Set(['byteStreamOpened', 'byteStreamAborted']);

export interface RoomFanoutCounters {
  roomMessagesPublished: number;
  roomMessagesReceived: number;
  dataFramesPublished: number;
  /** DATA frames not sent while NATS was down (a late frame is worse than none). */
  dataFramesNotSent: number;
  dataFramesReceived: number;
  chunksPublished: number;
  chunksReceived: number;
  malformed: number;
  nodesGone: number;
}

export class RoomFanout implements ClusterHooks, ByteStreamWire {
  readonly counters: RoomFanoutCounters = {
    roomMessagesPublished: 0,
    roomMessagesReceived: 0,
    dataFramesPublished: 0,
    dataFramesNotSent: 0,
    dataFramesReceived: 0,
    chunksPublished: 0,
    chunksReceived: 0,
    malformed: 0,
    nodesGone: 0,
  };
  private readonly subs = new Map<string, NatsSubscription[]>();
  /** The next sequence number of each local track (forgotten with the track). */
  private readonly seqs = new WeakMap<object, number>();
  private readonly lastSeen = new Map<string, number>();
  private readonly originBytes: Uint8Array;
  private readonly nodesSub: NatsSubscription;
  private readonly syncSub: NatsSubscription;
  /** Rooms whose first sync is still answered: their first joiners wait (`ready`). */
  private readonly pending = new Map<string, PendingSync>();
  private readonly timer: NodeJS.Timeout;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  /** A direct peer signal from a member on another Bridge to a connection here (bridge/realtime/relay/peer-signals.ts). */
  onPeerSignal: ((origin: string, to: string, event: Extract<ServerEvent, { type: 'peerSignal' }>) => void) | undefined;
  /** Another Bridge was silent too long: what else is kept per Bridge forgets it (./socket-caps.ts). */
  onOriginGone: ((origin: string) => void) | undefined;

  constructor(
    private readonly link: NatsLink,
    private readonly relay: SealroomRelay,
    private readonly prefix: string,
    /** This Bridge's id in the cluster, new on every start. */
    readonly origin: string,
  ) {
    this.originBytes = this.encoder.encode(origin);
    if (this.originBytes.length > 255) throw new RangeError('cluster origin id longer than 255 bytes');
    this.nodesSub = link.subscribe(`${prefix}.nodes`, (data) => {
      const origin = this.decoder.decode(data);
      if (origin === '' || origin === this.origin) return;
      // A Bridge just started: it hears from this one at once, not a heartbeat later.
      if (!this.lastSeen.has(origin)) this.heartbeat();
      this.lastSeen.set(origin, performance.now());
    });
    this.syncSub = link.subscribe(`${prefix}.sync`, (data) => this.onSync(data));
    this.heartbeat();
    this.timer = setInterval(() => this.tick(), HEARTBEAT_MS);
    this.timer.unref();
    relay.clusterHooks(this);
    relay.remoteBytes.wire = this;
  }

  // ---- ClusterHooks: what the relay tells us

  broadcast(roomId: string, event: ServerEvent): void {
    if (!CROSSING.has(event.type)) return;
    // A connection here left: its byte streams from other Bridges end for it.
    if (event.type === 'streamRoomLeft') this.relay.remoteBytes.localLeft(roomId, event.connectionId, event.reason === 'removed');
    this.publishRoom(roomId, { origin: this.origin, event });
  }

  roomOpened(roomId: string): void {
    if (!ROOM_ID_PATTERN.test(roomId) || this.subs.has(roomId)) return;
    this.subs.set(roomId, [
      this.link.subscribe(`${this.prefix}.room.${roomId}`, (data) => this.onRoom(roomId, data)),
      this.link.subscribe(`${this.prefix}.data.${roomId}`, (data) => this.onData(data)),
      this.link.subscribe(`${this.prefix}.bytes.${roomId}`, (data) => this.onChunk(data)),
    ]);
    const waiting = new Set(this.lastSeen.keys());
    if (waiting.size > 0) {
      let finish!: () => void;
      const done = new Promise<void>((resolve) => (finish = resolve));
      const timer = setTimeout(() => finish(), SYNC_WAIT_MS);
      timer.unref();
      this.pending.set(roomId, { waiting, done, finish });
      void done.then(() => {
        clearTimeout(timer);
        this.pending.delete(roomId);
      });
    }
    this.sync(roomId);
  }

  /**
   * A `listStreams` of a room not held here: asks every Bridge, waits for their answers (at most
   * SYNC_WAIT_MS) and lists what they publish (data tracks, with the publisher Bridge's trackNos:
   * a subscription after a join gets this Bridge's own).
   */
  async remoteStreams(roomId: string): Promise<StreamInfo[]> {
    if (!ROOM_ID_PATTERN.test(roomId)) return [];
    const waiting = new Set(this.lastSeen.keys());
    const streams = new Map<string, StreamInfo>();
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const sub = this.link.subscribe(`${this.prefix}.room.${roomId}`, (data) => {
      let message: RoomMessage;
      try {
        message = JSON.parse(this.decoder.decode(data)) as RoomMessage;
      } catch {
        return;
      }
      if (!('present' in message) || typeof message.origin !== 'string') return;
      for (const info of message.present.streams) streams.set(info.streamId, { ...info, tracks: info.tracks.filter((t) => t.kind === 'data') });
      waiting.delete(message.origin);
      if (waiting.size === 0) finish();
    });
    const timer = setTimeout(finish, SYNC_WAIT_MS);
    try {
      await this.link.flush().catch(() => undefined); // the subscription is in place before the question
      this.sync(roomId);
      if (waiting.size > 0) await done;
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
    return [...streams.values()];
  }

  /** Resolves once the other Bridges told this one what they hold in the room (or SYNC_WAIT_MS passed). */
  ready(roomId: string): Promise<void> {
    return this.pending.get(roomId)?.done ?? Promise.resolve();
  }

  roomClosed(roomId: string): void {
    for (const sub of this.subs.get(roomId) ?? []) sub.unsubscribe();
    this.subs.delete(roomId);
  }

  data(roomId: string, trackNo: number, payload: Uint8Array, track: object): void {
    if (!ROOM_ID_PATTERN.test(roomId)) return;
    const seq = this.seqs.get(track) ?? 0;
    this.seqs.set(track, (seq + 1) >>> 0);
    const frame = new Uint8Array(DATA_HEADER_FIXED_BYTES + this.originBytes.length + payload.length);
    const view = new DataView(frame.buffer);
    frame[0] = this.originBytes.length;
    frame.set(this.originBytes, 1);
    let at = 1 + this.originBytes.length;
    view.setUint32(at, trackNo);
    view.setUint32((at += 4), seq);
    frame.set(payload, at + 4);
    // Not buffered while down: the sequence number still moves on, so the receivers count the gap.
    if (this.link.publish(`${this.prefix}.data.${roomId}`, frame, 'drop')) this.counters.dataFramesPublished++;
    else this.counters.dataFramesNotSent++;
  }

  // ---- ByteStreamWire: byte streams to and from other Bridges

  event(roomId: string, _origin: string, connectionId: string, event: ServerEvent): void {
    this.publishRoom(roomId, { origin: this.origin, to: connectionId, event });
  }

  control(roomId: string, origin: string, control: ReceiverControl): void {
    this.publishRoom(roomId, { origin: this.origin, for: origin, control });
  }

  chunk(roomId: string, _origin: string, connectionId: string, seq: number, frame: Uint8Array): void {
    const to = this.encoder.encode(connectionId);
    const out = new Uint8Array(2 + this.originBytes.length + to.length + 4 + frame.length);
    let at = 0;
    out[at++] = this.originBytes.length;
    out.set(this.originBytes, at);
    at += this.originBytes.length;
    out[at++] = to.length;
    out.set(to, at);
    at += to.length;
    new DataView(out.buffer).setUint32(at, seq);
    out.set(frame, at + 4);
    // Buffered while down: credits bound what is in flight, and a late chunk still fits the stream.
    this.link.publish(`${this.prefix}.bytes.${roomId}`, out, 'buffer');
    this.counters.chunksPublished++;
  }

  /** After a reconnect: for every room held here, tells the others what it holds and asks what they hold. */
  resyncRooms(): void {
    const now = performance.now();
    for (const origin of this.lastSeen.keys()) this.lastSeen.set(origin, now);
    for (const roomId of this.subs.keys()) {
      // The others may have taken this Bridge as gone meanwhile: it tells them again what it holds.
      this.publishRoom(roomId, { origin: this.origin, present: this.relay.remote.localState(roomId) });
      this.sync(roomId);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.relay.clusterHooks(undefined);
    this.nodesSub.unsubscribe();
    this.syncSub.unsubscribe();
    for (const p of this.pending.values()) p.finish();
    for (const roomId of [...this.subs.keys()]) this.roomClosed(roomId);
  }

  // ---- what the other Bridges tell us

  private onRoom(roomId: string, data: Uint8Array): void {
    let message: RoomMessage;
    try {
      message = JSON.parse(this.decoder.decode(data)) as RoomMessage;
    } catch {
      this.counters.malformed++;
      return;
    }
    if (typeof message?.origin !== 'string' || message.origin === this.origin) return;
    this.counters.roomMessagesReceived++;
    this.lastSeen.set(message.origin, performance.now());
    if ('to' in message) {
      if (message.event?.type === 'peerSignal' && message.event.roomId === roomId) this.onPeerSignal?.(message.origin, message.to, message.event);
      else if (TARGETED.has(message.event?.type)) this.relay.remoteBytes.event(roomId, message.origin, message.to, message.event);
      else this.counters.malformed++;
    } else if ('for' in message) {
      if (message.for === this.origin) this.relay.remoteBytes.control(message.control);
    } else if ('present' in message) {
      const pending = this.pending.get(roomId);
      // While the first joiners wait, the state goes into their snapshot rather than into events.
      this.relay.remote.present(roomId, message.origin, message.present, pending !== undefined);
      pending?.waiting.delete(message.origin);
      if (pending?.waiting.size === 0) pending.finish();
    } else if ('event' in message && CROSSING.has(message.event?.type)) {
      this.relay.remote.event(roomId, message.origin, message.event);
    } else {
      this.counters.malformed++;
    }
  }

  private sync(roomId: string): void {
    this.counters.roomMessagesPublished++;
    this.link.publish(`${this.prefix}.sync`, this.encoder.encode(JSON.stringify({ origin: this.origin, roomId })), 'buffer');
  }

  /** Another Bridge asks what this one holds in a room: answered on the room subject, even when nothing. */
  private onSync(data: Uint8Array): void {
    let message: { origin?: unknown; roomId?: unknown };
    try {
      message = JSON.parse(this.decoder.decode(data)) as typeof message;
    } catch {
      this.counters.malformed++;
      return;
    }
    if (typeof message.origin !== 'string' || typeof message.roomId !== 'string' || !ROOM_ID_PATTERN.test(message.roomId)) {
      this.counters.malformed++;
      return;
    }
    if (message.origin === this.origin) return;
    this.lastSeen.set(message.origin, performance.now());
    this.publishRoom(message.roomId, { origin: this.origin, present: this.relay.remote.localState(message.roomId) });
  }

  private heartbeat(): void {
    this.link.publish(`${this.prefix}.nodes`, this.originBytes, 'drop');
  }

  private onData(data: Uint8Array): void {
    const originLength = data[0] ?? 0;
    if (data.length < DATA_HEADER_FIXED_BYTES + originLength || originLength === 0) {
      this.counters.malformed++;
      return;
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const origin = this.decoder.decode(data.subarray(1, 1 + originLength));
    const at = 1 + originLength;
    this.counters.dataFramesReceived++;
    this.relay.remote.data(origin, view.getUint32(at), view.getUint32(at + 4), data.subarray(at + 8));
  }

  private onChunk(data: Uint8Array): void {
    const originLength = data[0] ?? 0;
    const toLength = data[1 + originLength] ?? 0;
    const at = 2 + originLength + toLength;
    if (originLength === 0 || toLength === 0 || data.length < at + 4) {
      this.counters.malformed++;
      return;
    }
    this.counters.chunksReceived++;
    const origin = this.decoder.decode(data.subarray(1, 1 + originLength));
    const to = this.decoder.decode(data.subarray(2 + originLength, at));
    const seq = new DataView(data.buffer, data.byteOffset + at, 4).getUint32(0);
    this.relay.remoteBytes.chunk(origin, to, seq, data.subarray(at + 4));
  }

  private publishRoom(roomId: string, message: RoomMessage): void {
    this.counters.roomMessagesPublished++;
    this.link.publish(`${this.prefix}.room.${roomId}`, this.encoder.encode(JSON.stringify(message)), 'buffer');
  }

  /** Heartbeat out; Bridges silent too long are gone. Nothing is judged while this one is cut off. */
  private tick(): void {
    if (!this.link.up) return;
    this.heartbeat();
    const now = performance.now();
    for (const [origin, seen] of this.lastSeen) {
      if (now - seen < NODE_SILENT_MS) continue;
      this.lastSeen.delete(origin);
      this.counters.nodesGone++;
      this.relay.remote.forgetOrigin(origin);
      this.relay.remoteBytes.originGone(origin);
      this.onOriginGone?.(origin);
    }
  }
}
