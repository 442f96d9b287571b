/**
 * The part of direct peers that loads with the Endpoint: it routes `peerSignal` events and loads the
 * rest (./peers-api.ts, WebRTC, the stream sealing) on first use, as a lazy chunk (docs/package.md).
 */
import type { ServerEvent } from '../../protocol/ws.ts';
import type { PeerRefusals, PeersApi, PeersDeps, RemotePeerListener } from './peers-api.ts';

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
    return { ...(this.#loaded?.paths ?? { direct: 0, relay: 0 }) };
  }
}
