/**
 * Direct peer signalling (docs/protocol/peer-signalling.md): the Bridge passes a member's `peerSignal`
 * on to one other connection, only when both are joined to the room, at most
 * `PEER_SIGNALS_PER_SECOND` per sending connection and `PEER_SIGNALS_TO_ONE_PER_SECOND` per receiving one. It never reads the signal: offers and answers are
 * signed end to end, so all it could do by changing one is get it refused.
 *
 * Across Bridges (docs/operations/cluster.md): a target joined to the room on another Bridge (as this
 * Bridge knows the room's remote participants) gets the signal through the cluster, after the same
 * checks here; its own Bridge checks again that it is still joined, and that the sender is a member
 * of the room it knows on the sending Bridge, before it delivers the event unchanged.
 */
import type { ClientRequest, ServerEvent } from '../../../protocol/ws.ts';
import { RateLimiter } from '../../auth/rate-limit.ts';
import { BridgeError } from '../../errors.ts';
import type { RealtimeConnection } from '../connection.ts';

/** Signals one connection may send per second (an offer, an answer and a dozen candidates fit easily). */
export const PEER_SIGNALS_PER_SECOND = 50;
/**
 * Signals one connection may be sent per second, from all senders together (several peers setting up
 * at once fit). Without it, each of a user's connections in a room had its own 50 a second, and
 * together they could flood one member's socket until its outbound budget closed it.
 */
export const PEER_SIGNALS_TO_ONE_PER_SECOND = 100;

type PeerSignalEvent = Extract<ServerEvent, { type: 'peerSignal' }>;

export interface PeerSignalDeps {
  /** Whether the connection is joined to the room now (the relay's view). */
  joined(connectionId: string, roomId: string): boolean;
  connection(connectionId: string): RealtimeConnection | undefined;
}

/** How signals reach members on other Bridges (bridge/cluster/fanout.ts). */
export interface PeerSignalCluster {
  /** The member joined to the room on another Bridge with this connection id, as this Bridge knows it. */
  remote(roomId: string, connectionId: string): { userId: string; origin: string } | undefined;
  /** False while this Bridge is cut off from the others. */
  available(): boolean;
  send(roomId: string, origin: string, toConnectionId: string, event: PeerSignalEvent): void;
}

export class PeerSignals {
  /** relayed: to a connection here; sentRemote/receivedRemote: across Bridges; droppedRemote: arrived for a target gone meanwhile. */
  readonly counters = { relayed: 0, refused: 0, sentRemote: 0, receivedRemote: 0, droppedRemote: 0 };
  cluster: PeerSignalCluster | undefined;
  readonly #limiter: RateLimiter;
  readonly #toOne: RateLimiter;

  constructor(
    private readonly d: PeerSignalDeps,
    now: () => number = Date.now,
  ) {
    this.#limiter = new RateLimiter({ limit: PEER_SIGNALS_PER_SECOND, windowMs: 1000, maxKeys: 100_000, now });
    this.#toOne = new RateLimiter({ limit: PEER_SIGNALS_TO_ONE_PER_SECOND, windowMs: 1000, maxKeys: 100_000, now });
  }

  relay(from: RealtimeConnection, m: Extract<ClientRequest, { kind: 'peerSignal' }>): void {
    const retryAfter = this.#limiter.retryAfter(from.id);
    if (retryAfter > 0) {
      this.counters.refused++;
      throw BridgeError.rateLimited('RATE_LIMITED', `more than ${PEER_SIGNALS_PER_SECOND} peer signals a second`, retryAfter);
    }
    this.#limiter.hit(from.id);
    if (!this.d.joined(from.id, m.roomId)) {
      this.counters.refused++;
      throw BridgeError.conflict('NOT_JOINED', `expected a joined room, got "${m.roomId}", which this connection has not joined`);
    }
    const toRetryAfter = this.#toOne.retryAfter(m.toConnectionId);
    if (toRetryAfter > 0) {
      this.counters.refused++;
      throw BridgeError.rateLimited('RATE_LIMITED', `more than ${PEER_SIGNALS_TO_ONE_PER_SECOND} peer signals a second to one connection`, toRetryAfter);
    }
    this.#toOne.hit(m.toConnectionId);
    const event: PeerSignalEvent = { type: 'peerSignal', roomId: m.roomId, fromUserId: from.userId, fromConnectionId: from.id, signal: m.signal };
    const to = this.d.connection(m.toConnectionId);
    if (to === undefined && this.cluster !== undefined) {
      const remote = this.cluster.remote(m.roomId, m.toConnectionId);
      if (remote !== undefined) {
        if (!this.cluster.available()) {
          this.counters.refused++;
          throw new BridgeError('CLUSTER_UNAVAILABLE', 'this Bridge cannot reach the other Bridges (NATS); retry later', { retryAfter: 5 });
        }
        this.counters.sentRemote++;
        this.cluster.send(m.roomId, remote.origin, m.toConnectionId, event);
        return;
      }
    }
    if (to === undefined || to === from || to.session === undefined || !this.d.joined(to.id, m.roomId)) {
      this.counters.refused++;
      throw BridgeError.conflict('PEER_NOT_JOINED', `expected a connection joined to room "${m.roomId}", got "${m.toConnectionId}"`);
    }
    this.counters.relayed++;
    to.event(event);
  }

  /**
   * A signal another Bridge relayed to a connection here. Delivered only while the target is joined
   * to the room here and the sender is the member this Bridge knows on that Bridge; else dropped
   * (the sender already had its result: the target left or was cut meanwhile).
   */
  fromCluster(origin: string, toConnectionId: string, event: PeerSignalEvent): void {
    const to = this.d.connection(toConnectionId);
    const sender = this.cluster?.remote(event.roomId, event.fromConnectionId);
    if (
      to === undefined ||
      to.session === undefined ||
      !this.d.joined(to.id, event.roomId) ||
      sender?.origin !== origin ||
      sender.userId !== event.fromUserId
    ) {
      this.counters.droppedRemote++;
      return;
    }
    this.counters.receivedRemote++;
    to.event(event);
  }

  /** Forgets a closed connection's rate window. */
  disconnected(connectionId: string): void {
    this.#limiter.reset(connectionId);
    this.#toOne.reset(connectionId);
  }
}
