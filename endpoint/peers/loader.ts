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

export class PeersLoader {
  #api: Promise<PeersApi> | undefined;
  #loaded: PeersApi | undefined;
  /** Signals are handled in arrival order, also while the chunk loads. */
  #tail: Promise<void> = Promise.resolve();

  constructor(private readonly deps: () => PeersDeps) {}

  load(): Promise<PeersApi> {
    this.#api ??= import('./peers-api.ts').then((m) => (this.#loaded = new m.PeersApi(this.deps())));
    return this.#api;
  }

  event(event: ServerEvent): void {
    if (event.type !== 'peerSignal') return;
    this.#tail = this.#tail
      .then(async () => (await this.load()).signal(event))
      .catch((error: unknown) => this.deps().connection.log.warn({ error: String(error) }, 'handling a peer signal failed'));
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
    return { ...(this.#loaded?.refusals ?? {}) };
  }

  paths(): { direct: number; relay: number } {
    return { ...(this.#loaded?.paths.counts ?? { direct: 0, relay: 0 }) };
  }

  choices(): PathChoice[] {
    return [...(this.#loaded?.paths.choices ?? [])];
  }
}
