/**
 * Direct peer signalling (docs/protocol/peer-signalling.md): the Bridge passes a member's `peerSignal`
 * on to one other connection, only when both are joined to the room, and at most
 * `PEER_SIGNALS_PER_SECOND` per sending connection. It never reads the signal: offers and answers are
 * signed end to end, so all it could do by changing one is get it refused.
 */
import type { ClientRequest } from '../../../protocol/ws.ts';
import { RateLimiter } from '../../auth/rate-limit.ts';
import { BridgeError } from '../../errors.ts';
import type { RealtimeConnection } from '../connection.ts';

/** Signals one connection may send per second (an offer, an answer and a dozen candidates fit easily). */
export const PEER_SIGNALS_PER_SECOND = 50;

export interface PeerSignalDeps {
  /** Whether the connection is joined to the room now (the relay's view). */
  joined(connectionId: string, roomId: string): boolean;
  connection(connectionId: string): RealtimeConnection | undefined;
}

export class PeerSignals {
  readonly counters = { relayed: 0, refused: 0 };
  readonly #limiter: RateLimiter;

  constructor(
    private readonly d: PeerSignalDeps,
    now: () => number = Date.now,
  ) {
    this.#limiter = new RateLimiter({ limit: PEER_SIGNALS_PER_SECOND, windowMs: 1000, maxKeys: 100_000, now });
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
    const to = this.d.connection(m.toConnectionId);
    if (to === undefined || to === from || to.session === undefined || !this.d.joined(to.id, m.roomId)) {
      this.counters.refused++;
      throw BridgeError.conflict('PEER_NOT_JOINED', `expected a connection joined to room "${m.roomId}", got "${m.toConnectionId}"`);
    }
    this.counters.relayed++;
    to.event({ type: 'peerSignal', roomId: m.roomId, fromUserId: from.userId, fromConnectionId: from.id, signal: m.signal });
  }

  /** Forgets a closed connection's rate window. */
  disconnected(connectionId: string): void {
    this.#limiter.reset(connectionId);
  }
}
