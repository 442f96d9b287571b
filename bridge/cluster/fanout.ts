/**
 * Real-time fan-out between Bridges over core NATS (docs/operations/cluster.md). Several
 * Bridges share one PostgreSQL; what one of them commits or relays reaches the clients of the others
 * through two kinds of subjects under the prefix (default `sealroom`):
 *
 * - `<prefix>.events`: the Bridge's own event bus (bridge/events.ts): rooms created, updated (with the
 *   members removed) and deleted, sessions ended. Every Bridge subscribes; a Bridge re-emits what it
 *   receives on its own bus, so the same handlers run as for its own commits: the relay cuts removed
 *   members and ends their streams, the media unit drops them (`roomChanged`), room-event
 *   subscribers hear `streamRoomUpdated`, sockets of ended sessions close.
 * - `<prefix>.room.<roomId>`, `<prefix>.data.<roomId>`, `<prefix>.nodes`: what happens in the rooms
 *   (join, leave, streams published and their data tracks), while a Bridge has participants there
 *   (./room-fanout.ts).
 *
 * Core NATS delivers at most once. A Bridge's own publishes wait in the client while its connection is
 * down and go out when it is back; what a Bridge may have missed while it was cut off, it reads from
 * the store when it reconnects (`resync`): every joined member is checked again, every socket's
 * session too. The payloads are the events the Bridge already has: room ids, user ids, versions,
 * never content (docs/design.md, "Trust model": NATS is on the server side and sees what a Bridge sees).
 */
import { randomBytes } from 'node:crypto';
import { CLOSE } from '../../protocol/ws.ts';
import type { BridgeEventMap } from '../events.ts';
import type { MediaUnit } from '../media/unit.ts';
import type { RealtimeHub } from '../realtime/hub.ts';
import type { SealroomRelay } from '../realtime/relay.ts';
import type { RemoteByteStreamCounters } from '../realtime/relay/remote-byte-streams.ts';
import type { RemoteCounters } from '../realtime/relay/remote-streams.ts';
import type { BridgeServices } from '../services.ts';
import type { NatsLink, NatsSubscription } from './nats.ts';
import { RoomFanout, type RoomFanoutCounters } from './room-fanout.ts';
import { ClusterRoomSlots } from './room-slots.ts';
import { ClusterSocketCaps, type SocketCapCounters } from './socket-caps.ts';

/** Bridge events that cross: all of them. */
const BUS_EVENTS = ['roomCreated', 'roomUpdated', 'roomDeleted', 'sessionsEnded'] as const satisfies ReadonlyArray<keyof BridgeEventMap>;
type BusEvent = (typeof BUS_EVENTS)[number];

/** A resync that failed (the store down too) is tried again after this. Ms. */
const RESYNC_RETRY_MS = 1000;
/**
 * While NATS is down this Bridge cannot hear the others' removals: it reads its joined members and
 * sessions from the store this often instead, so a removed member is cut within about this long
 * (plus the time to notice the outage). Ms.
 */
const DOWN_CHECK_INTERVAL_MS = 2000;

export interface ClusterCounters {
  busPublished: number;
  busReceived: number;
  /** Messages that did not parse (never expected: only Bridges publish there). */
  malformed: number;
  /** Resyncs after a reconnect, and what they cut. */
  resyncs: number;
  resyncRemoved: number;
  resyncSessionsClosed: number;
}

export class ClusterFanout {
  readonly counters: ClusterCounters = {
    busPublished: 0,
    busReceived: 0,
    malformed: 0,
    resyncs: 0,
    resyncRemoved: 0,
    resyncSessionsClosed: 0,
  };
  /** Events this Bridge received from NATS and re-emitted: not published again. */
  private readonly fromCluster = new WeakSet<object>();
  private readonly subs: NatsSubscription[] = [];
  private readonly busListeners: Array<() => void> = [];
  /** Rooms, streams and data tracks across Bridges. */
  readonly rooms: RoomFanout;
  /** The socket caps across Bridges. */
  readonly sockets: ClusterSocketCaps;
  /** The room caps across Bridges (with a shared store). */
  readonly slots: ClusterRoomSlots | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private downTimer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private closed = false;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(
    readonly link: NatsLink,
    private readonly s: BridgeServices,
    private readonly hub: RealtimeHub,
    private readonly relay: SealroomRelay,
    private readonly media: MediaUnit,
    private readonly prefix: string,
  ) {
    for (const kind of BUS_EVENTS) {
      const listener = (event: BridgeEventMap[BusEvent][0]) => {
        if (this.fromCluster.has(event)) return;
        this.counters.busPublished++;
        // Buffered while down: a removal that reaches the others late still cuts (and resync covers the rest).
        this.link.publish(this.busSubject, this.encode({ kind, event }), 'buffer');
      };
      s.events.on(kind, listener as never);
      this.busListeners.push(() => s.events.off(kind, listener as never));
    }
    this.subs.push(link.subscribe(this.busSubject, (data) => this.onBus(data)));
    this.rooms = new RoomFanout(link, relay, prefix, randomBytes(12).toString('base64url'));
    // Direct peer signals to members on other Bridges go with the room's messages, one receiver each.
    hub.peerSignals.cluster = {
      remote: (roomId, connectionId) => relay.remoteParticipant(roomId, connectionId),
      available: () => this.available,
      send: (roomId, origin, to, event) => this.rooms.event(roomId, origin, to, event),
    };
    this.rooms.onPeerSignal = (origin, to, event) => hub.peerSignals.fromCluster(origin, to, event);
    // The per-user and per-session socket caps count every Bridge's sockets.
    this.sockets = new ClusterSocketCaps(link, `${prefix}.sockets`, this.rooms.origin, s.config.realtime, (r) => hub.replace(r));
    hub.socketDirectory = this.sockets;
    // The room caps count every Bridge's joins through the shared store's room slots.
    const slotStore = s.store.roomSlots;
    this.slots = slotStore === undefined ? undefined : new ClusterRoomSlots(slotStore, this.rooms.origin, s.config.realtime, () => relay.heldSlots(), s.log);
    relay.useRoomSlots(this.slots);
    this.rooms.onOriginGone = (origin) => {
      this.sockets.originGone(origin);
      this.slots?.originGone(origin);
    };
    link.onChange((up) => {
      if (!up) {
        // A check still running (a slow store) is not piled on.
        this.downTimer ??= setInterval(() => void (this.checking ?? this.check()).catch(() => undefined), DOWN_CHECK_INTERVAL_MS);
        this.downTimer.unref();
        return;
      }
      clearInterval(this.downTimer);
      this.downTimer = undefined;
      this.rooms.resyncRooms();
      this.resync();
    });
  }

  /** Every counter of the fan-out, for /metrics and tests. */
  stats(): ClusterCounters & RoomFanoutCounters & RemoteCounters & RemoteByteStreamCounters & SocketCapCounters & { roomSlotFallbacks: number } {
    return {
      ...this.counters,
      ...this.rooms.counters,
      ...this.relay.remote.counters,
      ...this.relay.remoteBytes.counters,
      ...this.sockets.counters,
      roomSlotFallbacks: this.slots?.counters.roomSlotFallbacks ?? 0,
    };
  }

  /** True while NATS is connected: what needs the other Bridges may go on. */
  get available(): boolean {
    return this.link.up && !this.closed;
  }

  private get busSubject(): string {
    return `${this.prefix}.events`;
  }

  private encode(value: unknown): Uint8Array {
    return this.encoder.encode(JSON.stringify(value));
  }

  private decode(data: Uint8Array): unknown {
    try {
      return JSON.parse(this.decoder.decode(data));
    } catch {
      this.counters.malformed++;
      return undefined;
    }
  }

  private onBus(data: Uint8Array): void {
    const message = this.decode(data) as { kind?: unknown; event?: unknown } | undefined;
    if (message === undefined || !BUS_EVENTS.includes(message.kind as BusEvent) || typeof message.event !== 'object' || message.event === null) {
      if (message !== undefined) this.counters.malformed++;
      return;
    }
    this.counters.busReceived++;
    this.fromCluster.add(message.event);
    // The same handlers as for this Bridge's own commits (bridge/realtime/hub.ts).
    this.s.events.emit(message.kind as BusEvent, message.event as never);
  }

  /**
   * After a reconnect: reads from the store what this Bridge may have missed. Members removed (or rooms
   * deleted) meanwhile are cut as removed; sockets whose session ended are closed.
   */
  private resync(): void {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
    if (this.closed) return;
    this.counters.resyncs++;
    this.check().catch((err: unknown) => {
      this.s.log.warn({ err }, 'cluster resync failed; trying again');
      this.resyncTimer = setTimeout(() => this.resync(), RESYNC_RETRY_MS);
      this.resyncTimer.unref();
    });
  }

  /** One resync at a time: a check asked for while one runs waits for it and runs after it. */
  private async check(): Promise<void> {
    const previous = this.checking;
    const run = (async () => {
      await previous?.catch(() => undefined);
      await this.resyncOnce();
    })();
    this.checking = run;
    try {
      await run;
    } finally {
      if (this.checking === run) this.checking = undefined;
    }
  }

  private async resyncOnce(): Promise<void> {
    const store = this.s.store;
    for (const [roomId, userIds] of this.relay.joinedUsers()) {
      const room = await store.getRoom(roomId);
      const gone: string[] = [];
      for (const userId of userIds) if (room === undefined || (await store.getRoomMember(roomId, userId)) === undefined) gone.push(userId);
      if (gone.length === 0) continue;
      this.counters.resyncRemoved += gone.length;
      this.relay.removeUsers(roomId, gone);
      this.media.roomChanged(roomId);
    }
    const now = this.s.now();
    for (const conn of [...this.hub.connections.values()]) {
      if (conn.session === undefined || conn.closed) continue;
      if ((await store.findSession(conn.session.tokenHash, now)) !== undefined) continue;
      this.counters.resyncSessionsClosed++;
      conn.close(CLOSE.sessionEnded, 'session ended');
    }
    this.s.log.debug({ resync: this.counters }, 'cluster resync done');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.hub.peerSignals.cluster = undefined;
    this.hub.socketDirectory = undefined;
    this.sockets.close();
    this.relay.useRoomSlots(undefined);
    this.slots?.close();
    clearTimeout(this.resyncTimer);
    clearInterval(this.downTimer);
    this.rooms.close();
    for (const off of this.busListeners) off();
    for (const sub of this.subs) sub.unsubscribe();
    await this.link.flush().catch(() => undefined);
    await this.link.close();
  }
}
