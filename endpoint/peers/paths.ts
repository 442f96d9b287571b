/**
 * Path selection (docs/protocol/peer-signalling.md, "Path selection"): which way `send`, `sendFile` and
 * `streamBytes` to exactly one member go. `auto` (the default) uses a connected peer to that member, or
 * connects within `directTimeoutMs`, else the relay; `direct` fails with the PeerError instead; `relay`
 * never goes direct. The choice is made before the first byte, so a stream never switches path.
 */
import type { Logger } from '../logger.ts';
import type { FileInput } from '../data-streams/outgoing/send-file.ts';
import type { ByteStreamWriter, DeliveryReport, PathOptions, SendFileOptions, StreamBytesOptions } from '../data-streams/types.ts';
import type { SendData, SendOptions, SendResult, Transfer, TransferProgress } from '../data-streams/web-streams/types.ts';
import { sendDirect, sendFileDirect, streamBytesDirect } from './app-streams.ts';
import { PeerError } from './errors.ts';
import type { RemotePeer } from './remote-peer.ts';
import type { ConnectPeerOptions, PathChoice } from './types.ts';

/** `path: 'auto'`: how long a new direct connection may take before the relay is used. */
export const DEFAULT_DIRECT_TIMEOUT_MS = 2000;
/** Largest `directTimeoutMs` accepted. */
const DIRECT_TIMEOUT_MAX_MS = 60_000;
/** `path: 'auto'`: after a member declined (or connecting failed), how long auto sends to it skip asking again. */
export const DIRECT_RETRY_MS = 60_000;
/** Path choices kept for `peerStats().streams` (the newest). */
const PATH_CHOICES_KEPT = 100;

export interface PathDeps {
  connectPeer(roomId: string, userId: string, options: ConnectPeerOptions): Promise<RemotePeer>;
  connectedPeer(roomId: string, userId: string): RemotePeer | undefined;
  participants(roomId: string): ReadonlyMap<string, string> | undefined;
  log: Logger;
}

type Transferring = { source: UnderlyingDefaultSource<TransferProgress>; result: Promise<SendResult> };

export class PathChooser {
  readonly #d: PathDeps;
  /** Streams to exactly one member per path they took. */
  readonly counts = { direct: 0, relay: 0 };
  /** The newest path choices, one per stream (`peerStats().streams`). */
  readonly choices: PathChoice[] = [];
  /** `room \n user \n connection` -> until when `auto` does not ask that member again. */
  readonly #noDirect = new Map<string, number>();
  /** `auto` attempts under way, shared by the sends that wait for them. */
  readonly #connecting = new Map<string, Promise<RemotePeer>>();

  constructor(deps: PathDeps) {
    this.#d = deps;
  }

  /** The peer a stream to one member goes over; undefined: the relay. */
  async choose(o: PathOptions & { roomId: string; destinationIdentities?: string[]; signal?: AbortSignal }): Promise<RemotePeer | undefined> {
    const path = o.path ?? 'auto';
    if (path !== 'auto' && path !== 'relay' && path !== 'direct')
      throw new PeerError('InvalidArgument', `"path" expected "auto", "relay" or "direct", got ${JSON.stringify(path)}`);
    const timeoutMs = o.directTimeoutMs ?? DEFAULT_DIRECT_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > DIRECT_TIMEOUT_MAX_MS)
      throw new PeerError('InvalidArgument', `"directTimeoutMs" expected an integer from 0 to ${DIRECT_TIMEOUT_MAX_MS}, got ${JSON.stringify(timeoutMs)}`);
    const destinations = o.destinationIdentities ?? [];
    if (path === 'relay') return undefined;
    if (destinations.length !== 1) {
      if (path === 'direct') throw new PeerError('InvalidArgument', `path "direct" expects exactly one destination, got ${destinations.length}`);
      return undefined;
    }
    const userId = destinations[0]!;
    const connected = this.#d.connectedPeer(o.roomId, userId);
    if (connected !== undefined) return connected;
    if (path === 'direct') return this.#d.connectPeer(o.roomId, userId, o.signal === undefined ? {} : { signal: o.signal });
    const connectionId = [...(this.#d.participants(o.roomId) ?? [])].find(([, u]) => u === userId)?.[0];
    if (connectionId === undefined) return undefined;
    const key = `${o.roomId}\n${userId}\n${connectionId}`;
    if ((this.#noDirect.get(key) ?? 0) > Date.now()) return undefined;
    let connecting = this.#connecting.get(key);
    if (connecting === undefined) {
      // Not cut at `directTimeoutMs`: a connection still coming up then serves the next streams, while
      // this one takes the relay (the attempt is bounded by `connectTimeoutMs`).
      connecting = this.#d.connectPeer(o.roomId, userId, {});
      this.#connecting.set(key, connecting);
      connecting.then(
        () => this.#connecting.delete(key),
        (error: unknown) => {
          this.#connecting.delete(key);
          this.#noDirect.set(key, Date.now() + DIRECT_RETRY_MS);
          this.#d.log.debug({ roomId: o.roomId, userId, error: String(error) }, 'no direct connection: the relay carries streams to this member for now');
        },
      );
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, timeoutMs, undefined);
      o.signal?.addEventListener('abort', () => resolve(undefined), { once: true });
    });
    const peer = await Promise.race([connecting.catch(() => undefined), late]);
    clearTimeout(timer);
    if (o.signal?.aborted === true) throw o.signal.reason instanceof Error ? o.signal.reason : new PeerError('Closed', 'the send was aborted');
    return peer;
  }

  /** `streamApi.send` to one member: direct or over `relay()`, with the same result. */
  async send(data: SendData, o: SendOptions, relay: () => Transfer): Promise<Transferring> {
    const peer = await this.choose(o);
    const t = peer === undefined ? forward(relay()) : sendDirect(peer, data, o);
    t.result.then(
      (r) => this.#chose(r.id, o, peer === undefined ? 'relay' : 'direct'),
      () => undefined,
    );
    return t;
  }

  /** `streamApi.sendFile` to one member: direct or over `relay()`. */
  async sendFile(
    file: FileInput,
    o: SendFileOptions,
    relay: () => Promise<{ id: string; delivery?: Promise<DeliveryReport> }>,
  ): Promise<{ id: string; delivery?: Promise<DeliveryReport> }> {
    const peer = await this.choose(o);
    const sent = peer === undefined ? await relay() : await sendFileDirect(peer, file, o);
    this.#chose(sent.id, o, peer === undefined ? 'relay' : 'direct');
    return sent;
  }

  /** `streamApi.streamBytes` to one member: a writer on the direct path or over `relay()`. */
  async streamBytes(o: StreamBytesOptions, relay: () => Promise<ByteStreamWriter>): Promise<ByteStreamWriter> {
    const peer = await this.choose(o);
    const writer = peer === undefined ? await relay() : await streamBytesDirect(peer, o);
    this.#chose(writer.info.id, o, peer === undefined ? 'relay' : 'direct');
    return writer;
  }

  #chose(id: string, o: { roomId: string; destinationIdentities?: string[] }, path: 'direct' | 'relay'): void {
    if (o.destinationIdentities?.length !== 1) return;
    this.counts[path]++;
    this.choices.push({ id, roomId: o.roomId, userId: o.destinationIdentities[0]!, path });
    if (this.choices.length > PATH_CHOICES_KEPT) this.choices.shift();
  }
}

/** A Transfer as the source and result `lazyTransfer` wraps (awaiting a Transfer gives its result). */
function forward(transfer: Transfer): Transferring {
  const reader = transfer.getReader();
  return {
    source: {
      async pull(controller) {
        const step = await reader.read();
        if (step.done) controller.close();
        else controller.enqueue(step.value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    result: Promise.resolve(transfer),
  };
}
