/**
 * The part of direct peers that loads with the Endpoint: it routes `peerSignal` events and loads the
 * rest (./peers-api.ts, WebRTC, the stream sealing) on first use, as a lazy chunk (docs/package.md).
 */
import type { ServerEvent } from '../../protocol/ws.ts';
import type { PeerRefusals, PeersApi, PeersDeps, RemotePeerListener } from './peers-api.ts';
import type { PathChoice, PathOptions } from './types.ts';

/**
 * Whether a StreamApi stream may go direct (docs/protocol/peer-signalling.md, "Path selection"): its
 * `path` is not `relay` and it goes to exactly one member (`direct` with another count fails later,
 * with its reason). Otherwise it takes the relay without loading direct peers at all.
 */
export function mayGoDirect(o: (PathOptions & { destinationIdentities?: string[] }) | undefined): boolean {
  if (typeof o !== 'object' || o === null) return false;
  const path = o.path ?? 'auto';
  return path !== 'relay' && (path !== 'auto' || (Array.isArray(o.destinationIdentities) && o.destinationIdentities.length === 1));
}

/**
 * Peer signals waiting for their turn, at most this many; the rest are dropped unread and counted as
 * `Overloaded` (docs/protocol/peer-signalling.md, "Checks"). An honest Bridge passes at most 50 a
 * second from each member (bridge/realtime/relay/peer-signals.ts), and an offer's checks take
 * milliseconds, so only a Bridge that floods one receiver reaches it.
 */
export const PEER_SIGNALS_PENDING_MAX = 1024;

export class PeersLoader {
  #api: Promise<PeersApi> | undefined;
  #loaded: PeersApi | undefined;
  /** Signals are handled in arrival order, also while the chunk loads. */
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  /** Signals dropped because PEER_SIGNALS_PENDING_MAX were waiting. */
  #overloaded = 0;

  constructor(private readonly deps: () => PeersDeps) {}

  load(): Promise<PeersApi> {
    this.#api ??= import('./peers-api.ts').then((m) => (this.#loaded = new m.PeersApi(this.deps())));
    return this.#api;
  }

  event(event: ServerEvent): void {
    if (event.type !== 'peerSignal') return;
    if (this.#pending >= PEER_SIGNALS_PENDING_MAX) {
      if (this.#overloaded++ % PEER_SIGNALS_PENDING_MAX === 0) {
        this.deps().connection.log.warn(
          { roomId: event.roomId, fromUserId: event.fromUserId, dropped: this.#overloaded },
          'dropped peer signals: too many waiting',
        );
      }
      return;
    }
    this.#pending++;
    this.#tail = this.#tail
      .then(async () => (await this.load()).signal(event))
      .catch((error: unknown) => this.deps().connection.log.warn({ error: String(error) }, 'handling a peer signal failed'))
      .finally(() => this.#pending--);
  }

  addRemotePeerListener(listener: RemotePeerListener): () => void {
    let removed = false;
    let remove: (() => void) | undefined;
    void this.load().then((api) => {
      if (!removed) remove = api.addRemotePeerListener(listener);
    });
    return () => {
      removed = true;
      remove?.();
    };
  }

  roomLeft(roomId: string, reason: string): void {
    this.#loaded?.roomLeft(roomId, reason);
  }

  disconnected(): void {
    this.#loaded?.disconnected();
  }

  socketClosed(): void {
    this.#loaded?.socketClosed();
  }

  refusals(): PeerRefusals {
    return { ...(this.#loaded?.refusals ?? {}), ...(this.#overloaded === 0 ? {} : { Overloaded: this.#overloaded }) };
  }

  paths(): { direct: number; relay: number } {
    return { ...(this.#loaded?.paths.counts ?? { direct: 0, relay: 0 }) };
  }

  choices(): PathChoice[] {
    return [...(this.#loaded?.paths.choices ?? [])];
  }
}
