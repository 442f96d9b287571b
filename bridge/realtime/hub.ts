/**
 * The Bridge's WebSocket endpoint (`/v1/ws`): authenticates each socket with `hello`, dispatches
 * requests (every one answered once, with its id), routes binary frames to the relay, delivers room
 * events, and closes sockets whose session ends.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { SealroomError } from '../../protocol/errors.ts';
import {
  CHUNK_FLAG_LAST,
  CHUNK_HEADER_BYTES,
  CLOSE,
  clientMessageSchema,
  CREDIT_FLAG_STARVED,
  CREDIT_FRAME_BYTES,
  DATA_HEADER_BYTES,
  FRAME_CHUNK_UP,
  FRAME_CREDIT_UP,
  FRAME_DATA_UP,
  readCreditOffset,
  readU32,
  WS_PATH,
  type ClientMessage,
  type ClientRequest,
} from '../../protocol/ws.ts';
import type { AuthService } from '../auth/service.ts';
import type { MediaUnit } from '../media/unit.ts';
import { BridgeError } from '../errors.ts';
import type { OverloadMonitor } from '../overload/overload.ts';
import type { BridgeServices } from '../services.ts';
import { RealtimeConnection, type ConnectionHooks } from './connection.ts';
import { ConnectionIndex } from './connection-index.ts';
import { RoomChangeRate } from './room-change-rate.ts';
import { Deadlines } from './deadlines.ts';
import { PeerSignals } from './relay/peer-signals.ts';
import type { Relay } from './relay-types.ts';
import { RoomEvents } from './room-events.ts';

/**
 * Requests refused while NATS is down: a join or subscription would miss the other Bridges' removals
 * and events, streams would not reach their members there (docs/operations/cluster.md, "Faults").
 */
const NEEDS_CLUSTER: ReadonlySet<ClientRequest['kind']> = new Set([
  'join',
  'subscribe',
  'listStreams',
  'publish',
  'updateStream',
  'subscribeStreams',
  'byteStreamOpen',
]);

/**
 * Requests refused with OVERLOADED while the Bridge is saturated: they start new work (docs/operations/limits.md,
 * "Overload"). `hello` is refused too, before the socket is admitted. What ends work (leave, unpublish,
 * unsubscribe, a subscribeStreams that only removes, an updateStream that only removes tracks), finishes
 * admitted work (receipts, media offers, answers and candidates of a joined media session), reads (ping,
 * listStreams, event subscriptions) and peer signals (a direct connection takes traffic off the Bridge) go on.
 */
function startsNewWork(m: ClientRequest, relay: Relay, conn: RealtimeConnection): boolean {
  switch (m.kind) {
    case 'join':
    case 'publish':
    case 'byteStreamOpen':
    case 'mediaJoin':
      return true;
    case 'updateStream':
      return relay.updateAddsTracks(conn, m);
    case 'subscribeStreams':
      return m.add.length > 0;
    default:
      return false;
  }
}

/**
 * Whether a request changes a room for its other members (bridge/realtime/room-change-rate.ts): one
 * that starts something, one that ends something, or neither.
 */
function roomChange(m: ClientRequest, relay: Relay, conn: RealtimeConnection): 'start' | 'end' | undefined {
  switch (m.kind) {
    case 'join':
    case 'publish':
    case 'mediaJoin':
    // An offer that binds or ends tracks makes every media participant of the room renegotiate.
    case 'mediaOffer':
      return 'start';
    case 'leave':
    case 'unpublish':
    case 'mediaLeave':
      return 'end';
    case 'updateStream':
      return relay.updateChangesNothing(conn, m) ? undefined : relay.updateAddsTracks(conn, m) ? 'start' : 'end';
    case 'subscribeStreams':
      return m.add.length > 0 ? 'start' : m.remove.length > 0 ? 'end' : undefined;
    default:
      return undefined;
  }
}

/** A socket of this Bridge to close as replaced: past the cap of its session or user. */
export interface Replacement {
  connectionId: string;
  what: 'session' | 'user';
  max: number;
}

/**
 * With NATS, the socket caps count the user's and session's sockets on every Bridge
 * (bridge/cluster/socket-caps.ts, docs/operations/limits.md "Across Bridges").
 */
export interface SocketDirectory {
  /** A socket authenticated here; returns this Bridge's sockets to close (the oldest past a cap). */
  opened(conn: RealtimeConnection): Replacement[];
  closed(connectionId: string): void;
}

export class RealtimeHub {
  readonly connections = new Map<string, RealtimeConnection>();
  /** Refusals and cuts, for /metrics (connectionsRefused: TCP connections over the per-address cap). */
  readonly counters = { outboundOverflows: 0, socketsReplaced: 0, connectionsRefused: 0 };
  private readonly byTokenHash = new ConnectionIndex();
  /** Authenticated sockets by solution and user. */
  private readonly byUser = new ConnectionIndex();
  /** Each user's rate of room changes here (bridge/realtime/room-change-rate.ts). */
  readonly roomChanges: RoomChangeRate;
  private readonly wss: WebSocketServer;
  private readonly roomEvents: RoomEvents;
  private readonly pingTimer: NodeJS.Timeout;
  private closing = false;
  /** Direct peer signalling between two members' connections (docs/protocol/peer-signalling.md). */
  readonly peerSignals: PeerSignals;
  /**
   * With NATS (docs/operations/cluster.md): false while this Bridge is cut off from the other Bridges.
   * Requests that need them are refused then with CLUSTER_UNAVAILABLE (NEEDS_CLUSTER).
   */
  clusterAvailable: () => boolean = () => true;
  /** With NATS: resolves once the other Bridges told this one what they hold in the room. */
  clusterReady: ((roomId: string) => Promise<void>) | undefined;
  /** With NATS: the socket caps across Bridges; without, each Bridge counts its own sockets. */
  socketDirectory: SocketDirectory | undefined;
  /** The sockets' session expiries, on one timer (./deadlines.ts) rather than one per socket. */
  private readonly expiries = new Deadlines<RealtimeConnection>(
    (conn) => conn.close(CLOSE.sessionEnded, 'session expired'),
    () => this.s.now(),
  );
  /** One for every connection (RealtimeConnection): no closures per socket. */
  private readonly connectionHooks: ConnectionHooks = {
    streamBytesInFlight: (conn) => this.relay.streamBytesInFlight(conn),
    overflowed: (c) => {
      this.counters.outboundOverflows++;
      this.s.log.info({ connectionId: c.id, userId: c.session?.userId, buffered: c.bufferedAmount }, 'socket closed: outbound buffer over budget');
    },
    // After the current call returns (a close may come from inside a fan-out loop over the room that
    // releasing changes), still in this turn: nothing of the socket is read or sent meanwhile.
    closing: (conn) => queueMicrotask(() => this.release(conn)),
  };
  /** Connections whose rooms, media and signals have ended (at the Bridge's close, or the socket's). */
  private readonly released = new WeakSet<RealtimeConnection>();
  /** The overload gate (bridge/overload): new work is refused with OVERLOADED while the event loop is saturated. */
  overload: OverloadMonitor | undefined;

  constructor(
    private readonly s: BridgeServices,
    private readonly auth: AuthService,
    readonly relay: Relay,
    /** The media forwarding unit (bridge/media): it reads rooms from the relay and is told when they change. */
    readonly media: MediaUnit,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: s.config.realtime.maxMessageBytes, perMessageDeflate: false });
    this.roomEvents = new RoomEvents(s, () => this.connections.values());
    this.roomChanges = new RoomChangeRate(s.config.realtime.roomChangesPerSecond, s.config.realtime.roomChangesBurst, s.now);
    this.peerSignals = new PeerSignals({ joined: (c, roomId) => relay.joined(c, roomId), connection: (id) => this.connections.get(id) }, s.now);
    const log = (what: string) => (err: unknown) => s.log.error({ err }, `delivering ${what} failed`);
    s.events.on('roomCreated', (e) => void this.roomEvents.created(e).catch(log('roomCreated')));
    s.events.on('roomUpdated', (e) => {
      relay.roomUpdated(e);
      // Right after the relay cut removed members, in the same commit event: their media ends too.
      media.roomChanged(e.roomId);
      void this.roomEvents.updated(e).catch(log('roomUpdated'));
    });
    s.events.on('roomDeleted', (e) => {
      relay.roomDeleted(e);
      media.roomChanged(e.roomId);
      void this.roomEvents.deleted(e).catch(log('roomDeleted'));
    });
    s.events.on('sessionsEnded', ({ tokenHashes, reason }) => {
      for (const hash of tokenHashes) {
        for (const conn of this.byTokenHash.get(hash)) conn.close(CLOSE.sessionEnded, `session ended: ${reason}`);
      }
    });
    this.pingTimer = setInterval(() => this.ping(), s.config.realtime.pingIntervalMs);
    this.pingTimer.unref();
  }

  /** Takes over HTTP upgrades to the WebSocket path. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path !== WS_PATH || this.closing) {
        socket.end(`HTTP/1.1 ${this.closing ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\n\r\n`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req.socket.remoteAddress ?? 'unknown', socket));
    });
  }

  private accept(ws: WebSocket, address: string, raw: Duplex): void {
    const r = this.s.config.realtime;
    // The limits and hooks are shared by every connection: what one socket holds for as long as it is
    // open stays small (docs/operations/memory.md).
    const conn: RealtimeConnection = new RealtimeConnection(`conn_${randomBytes(12).toString('base64url')}`, ws, address, r, this.connectionHooks, raw);
    this.connections.set(conn.id, conn);
    ws.on('pong', (data: Buffer) => conn.pong(data));
    let helloTimer: NodeJS.Timeout | undefined = setTimeout(() => conn.close(CLOSE.helloTimeout, 'expected hello'), r.helloTimeoutMs);

    ws.on('message', (data: RawData, isBinary: boolean) => {
      // Closed by the Bridge: what the client still sends before it answers the close is not read.
      if (conn.closed) return;
      if (isBinary) return this.onBinary(conn, data);
      const text = data.toString();
      conn.schedule(() =>
        this.onText(conn, text, () => {
          clearTimeout(helloTimer);
          helloTimer = undefined; // not held for the socket's life
          const session = conn.session!;
          this.track(this.byTokenHash, session.tokenHash, conn, r.maxSocketsPerSession, 'session');
          this.track(this.byUser, userKey(session), conn, r.maxSocketsPerUser, 'user');
          for (const replaced of this.socketDirectory?.opened(conn) ?? []) this.replace(replaced);
          this.expiries.add(conn, session.expiresAt);
        }).catch((err: unknown) => this.s.log.error({ err, connectionId: conn.id }, 'handling a socket message failed')),
      );
    });
    ws.on('error', (err) => this.s.log.debug({ err, connectionId: conn.id }, 'socket error'));
    ws.on('close', () => {
      clearTimeout(helloTimer);
      conn.closed = true;
      this.release(conn);
    });
  }

  /** Ends what a closed connection holds, once: on the Bridge's close, or when the socket closes. */
  private release(conn: RealtimeConnection): void {
    if (this.released.has(conn)) return;
    this.released.add(conn);
    this.connections.delete(conn.id);
    if (conn.session === undefined) return;
    this.expiries.delete(conn, conn.session.expiresAt);
    this.byTokenHash.delete(conn.session.tokenHash, conn);
    this.byUser.delete(userKey(conn.session), conn);
    this.socketDirectory?.closed(conn.id);
    this.relay.disconnected(conn);
    this.media.connectionClosed(conn.id);
    this.peerSignals.disconnected(conn.id);
  }

  /**
   * Adds an authenticated socket to its session's or user's set; past `max`, the oldest socket of the
   * set is closed with 4410 (replaced) so the newest always gets in (docs/operations/limits.md).
   */
  private track(index: ConnectionIndex, key: string, conn: RealtimeConnection, max: number, what: 'session' | 'user'): void {
    index.add(key, conn);
    // Across Bridges the directory ranks every Bridge's sockets and names the ones to close here.
    if (this.socketDirectory !== undefined) return;
    while (index.count(key) > max) {
      let oldest: RealtimeConnection | undefined;
      for (const c of index.get(key)) if (c !== conn && (oldest === undefined || c.openedAt < oldest.openedAt)) oldest = c;
      if (oldest === undefined) break;
      index.delete(key, oldest);
      this.counters.socketsReplaced++;
      oldest.close(CLOSE.replaced, `replaced: more than ${max} sockets for this ${what}`);
    }
  }

  /** Closes a socket of this Bridge with 4410: past its session's or user's cap, counted across Bridges. */
  replace(r: Replacement): void {
    const conn = this.connections.get(r.connectionId);
    if (conn?.session === undefined || conn.closed) return;
    this.byTokenHash.delete(conn.session.tokenHash, conn);
    this.byUser.delete(userKey(conn.session), conn);
    this.counters.socketsReplaced++;
    conn.close(CLOSE.replaced, `replaced: more than ${r.max} sockets for this ${r.what}`);
  }

  private onBinary(conn: RealtimeConnection, data: RawData): void {
    if (conn.session === undefined) return conn.close(CLOSE.unauthenticated, 'expected hello');
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
    // Parsed in place (no decoded object per frame: this runs for every chunk the Bridge relays).
    const type = bytes[0];
    if (type === FRAME_CHUNK_UP && bytes.length >= CHUNK_HEADER_BYTES && (bytes[5]! & ~CHUNK_FLAG_LAST) === 0) {
      return this.relay.chunk(conn, readU32(bytes, 1), bytes[5] === CHUNK_FLAG_LAST, bytes.subarray(CHUNK_HEADER_BYTES), bytes);
    }
    if (type === FRAME_DATA_UP && bytes.length >= DATA_HEADER_BYTES) return this.relay.data(conn, readU32(bytes, 1), bytes.subarray(DATA_HEADER_BYTES), bytes);
    if (type === FRAME_CREDIT_UP && bytes.length === CREDIT_FRAME_BYTES) {
      const offset = readCreditOffset(bytes);
      if (offset >= 0) return this.relay.byteStreamCredit(conn, readU32(bytes, 1), offset, bytes[5] === CREDIT_FLAG_STARVED);
    }
    conn.close(CLOSE.protocolError, 'malformed binary frame');
  }

  private async onText(conn: RealtimeConnection, text: string, authenticated: () => void): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return conn.close(CLOSE.protocolError, 'malformed JSON');
    }
    const parsed = clientMessageSchema.safeParse(json);
    if (!parsed.success) {
      const id = (json as { id?: unknown } | null)?.id;
      if (typeof id === 'number' && conn.session !== undefined) {
        const issue = parsed.error.issues[0]!;
        return conn.error(id, 'VALIDATION_FAILED', `${issue.path.join('.') || 'message'}: ${issue.message}`);
      }
      return conn.close(CLOSE.protocolError, 'malformed message');
    }
    const message = parsed.data;
    if (message.kind === 'hello') {
      if (conn.hello !== undefined) return conn.error(message.id, 'VALIDATION_FAILED', 'hello was already sent');
      let done!: () => void;
      conn.hello = new Promise<void>((resolve) => (done = resolve));
      try {
        await this.handle(conn, message, authenticated);
      } finally {
        done();
      }
      return;
    }
    // A client may pipeline requests behind its hello; they wait for it rather than fail.
    if (conn.session === undefined && conn.hello !== undefined) await conn.hello;
    if (conn.session === undefined) return conn.close(CLOSE.unauthenticated, 'expected hello');
    if ('id' in message) {
      try {
        await this.handle(conn, message, authenticated);
      } catch (error) {
        if (error instanceof SealroomError) conn.error(message.id, error.code, error.message, error instanceof BridgeError ? error.retryAfter : undefined);
        else {
          this.s.log.error({ err: error, kind: message.kind }, 'realtime request failed');
          conn.error(message.id, 'INTERNAL', 'internal error');
        }
      }
    } else {
      this.notify(conn, message);
    }
  }

  /** Requests: exactly one result or error per id. */
  private async handle(conn: RealtimeConnection, m: ClientRequest, authenticated: () => void): Promise<void> {
    if (NEEDS_CLUSTER.has(m.kind) && !this.clusterAvailable()) {
      throw new BridgeError('CLUSTER_UNAVAILABLE', 'this Bridge cannot reach the other Bridges (NATS); retry later', { retryAfter: 5 });
    }
    // A socket admitted moments ago restores what it had (a reconnect's joins, republishes, subscriptions).
    if (this.overload?.overloaded === true && Date.now() - conn.openedAt >= this.overload.config.admitGraceMs && startsNewWork(m, this.relay, conn)) {
      this.overload.admit(m.kind);
    }
    const change = roomChange(m, this.relay, conn);
    if (change === 'start') this.roomChanges.start(userKey(conn.session!));
    else if (change === 'end') this.roomChanges.end(userKey(conn.session!));
    switch (m.kind) {
      case 'hello': {
        try {
          this.overload?.admit('hello');
        } catch (error) {
          const refused = error as BridgeError;
          conn.error(m.id, refused.code, refused.message, refused.retryAfter);
          return conn.close(CLOSE.tryAgainLater, 'overloaded: try again later');
        }
        try {
          conn.session = await this.auth.authenticate(m.token);
        } catch (error) {
          conn.error(m.id, (error as BridgeError).code ?? 'UNAUTHENTICATED', (error as Error).message);
          return conn.close(CLOSE.unauthenticated, 'unauthenticated');
        }
        authenticated();
        conn.batching = m.protocol >= 2;
        conn.startsFromAllowed = m.protocol >= 3;
        return conn.result<'hello'>(m.id, {
          connectionId: conn.id,
          userId: conn.session.userId,
          solutionId: conn.session.solutionId,
          sessionExpiresAt: conn.session.expiresAt,
        });
      }
      case 'ping':
        return conn.result<'ping'>(m.id, { now: this.s.now() });
      case 'subscribe':
        return conn.result<'subscribe'>(m.id, await this.roomEvents.subscribe(conn, m.queries));
      case 'unsubscribe':
        this.roomEvents.unsubscribe(conn, m.subscriptionIds);
        return conn.result<'unsubscribe'>(m.id, {});
      case 'join': {
        const joined = await this.relay.join(conn, m);
        if (this.clusterReady === undefined) return conn.result<'join'>(m.id, joined);
        // The first join of a room here waits for the other Bridges' participants and streams in it.
        await this.clusterReady(m.roomId);
        return conn.result<'join'>(m.id, this.relay.joinSnapshot(conn, m.roomId) ?? joined);
      }
      case 'leave': {
        const result = await this.relay.leave(conn, m);
        this.media.roomChanged(m.roomId);
        return conn.result<'leave'>(m.id, result);
      }
      case 'publish':
        return conn.result<'publish'>(m.id, await this.relay.publish(conn, m));
      case 'updateStream': {
        const result = await this.relay.updateStream(conn, m);
        // `change` is undefined for an update that changes nothing (roomChange): no resync.
        if (change !== undefined) this.media.roomChanged(m.roomId);
        return conn.result<'updateStream'>(m.id, result);
      }
      case 'unpublish': {
        const result = await this.relay.unpublish(conn, m);
        this.media.roomChanged(m.roomId);
        return conn.result<'unpublish'>(m.id, result);
      }
      case 'listStreams':
        return conn.result<'listStreams'>(m.id, await this.relay.listStreams(conn, m));
      case 'subscribeStreams': {
        const result = await this.relay.subscribeStreams(conn, m);
        // One that adds and removes nothing changes nothing to resync (roomChange).
        if (change !== undefined) this.media.roomChanged(m.roomId);
        return conn.result<'subscribeStreams'>(m.id, result);
      }
      case 'byteStreamOpen':
        return conn.result<'byteStreamOpen'>(m.id, await this.relay.byteStreamOpen(conn, m));
      case 'byteStreamReceiveWindow':
        this.relay.byteStreamReceiveWindow(conn, m.bytes ?? undefined);
        return conn.result<'byteStreamReceiveWindow'>(m.id, {});
      case 'byteStreamReceipt':
        this.relay.byteStreamReceipt(conn, m);
        return conn.result<'byteStreamReceipt'>(m.id, {});
      case 'mediaJoin':
        return conn.result<'mediaJoin'>(m.id, await this.media.join(conn, m.roomId));
      case 'mediaLeave':
        await this.media.leave(conn, m.roomId);
        return conn.result<'mediaLeave'>(m.id, {});
      case 'mediaOffer':
        return conn.result<'mediaOffer'>(m.id, await this.media.offer(conn, m.roomId, m.sdp, m.tracks));
      case 'mediaAnswer':
        await this.media.answer(conn, m.roomId, m.revision, m.sdp);
        return conn.result<'mediaAnswer'>(m.id, {});
      case 'mediaCandidate':
        return conn.result<'mediaCandidate'>(m.id, await this.media.candidate(conn, m.roomId, m.transport, m.candidate));
      case 'peerSignal':
        this.peerSignals.relay(conn, m);
        return conn.result<'peerSignal'>(m.id, {});
      default: {
        const never: never = m;
        throw new Error(`unhandled request ${(never as ClientRequest).kind}`);
      }
    }
  }

  /** Messages without an id: flow control, fire and forget. */
  private notify(conn: RealtimeConnection, m: Exclude<ClientMessage, ClientRequest>): void {
    switch (m.kind) {
      case 'byteStreamReject':
        return this.relay.byteStreamReject(conn, m.streamNo);
      default: {
        // One kind left (credits are binary frames): `m` is no union, so its kind is what narrows.
        const never: never = m.kind;
        throw new Error(`unhandled message ${String(never)}`);
      }
    }
  }

  private ping(): void {
    for (const conn of this.connections.values()) {
      if (conn.awaitingPong) {
        conn.socket.terminate();
        continue;
      }
      conn.heartbeat();
    }
  }

  /** Closes every socket with "going away" and waits until they are gone (bounded by `graceMs`). */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    clearInterval(this.pingTimer);
    this.expiries.close();
    for (const conn of this.connections.values()) conn.close(CLOSE.goingAway, 'Bridge shutting down');
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const conn of this.connections.values()) conn.socket.terminate();
    this.relay.close();
    await this.media.close();
    this.wss.close();
  }
}

function userKey(session: { solutionId: string; userId: string }): string {
  return `${session.solutionId}\n${session.userId}`;
}
