/**
 * The media session of one joined room (docs/media/endpoint-media.md, "Session"): `mediaJoin` once,
 * then a publish peer connection while this client publishes audio or video there, and a receive peer
 * connection while it is subscribed to some. Publish changes run one at a time. When a transport
 * fails (on this side, or the unit's `mediaClosed`), the whole session restarts: `mediaLeave`, both
 * peers closed (remote tracks end), then after a backoff `mediaJoin` again, the same tracks offered
 * again, and the unit offers the subscribed ones again.
 */
import type { MediaReceiveTrack, MediaTransport, ResultPayloads } from '../../protocol/ws.ts';
import { reconnectDelayMs } from '../backoff.ts';
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import type { LocalMediaTrackRef } from './local-tracks.ts';
import type { PublishState } from '../realtime/types.ts';
import type { MediaE2ee } from './e2ee.ts';
import type { PeerDeps } from './peer.ts';
import { PublishPeer } from './publish-peer.ts';
import { ReceivePeer, type ReceivedTrack } from './receive-peer.ts';
import type { MediaOptions } from './types.ts';

/** How long a publish waits for its transport to connect, by default. Ms. */
export const DEFAULT_MEDIA_CONNECT_TIMEOUT_MS = 15_000;
/** Restart delays (full jitter, endpoint/backoff.ts). */
const RESTART_BACKOFF = { baseDelayMs: 500, maxDelayMs: 8_000 };
/** Restarts in a row that fail before the session gives up (the streams report `failed`). */
export const MAX_MEDIA_RESTARTS = 6;

export interface RoomMediaDeps {
  roomId: string;
  connection: Connection;
  e2ee(): MediaE2ee;
  options: MediaOptions;
  /** This connection's published audio/video tracks in the room. */
  localTracks(): LocalMediaTrackRef[];
  /** A state for the room's published media streams. */
  report(state: PublishState, error?: EndpointError): void;
  /** The tracks sent changed (audio levels follow). */
  localChanged(tracks: LocalMediaTrackRef[]): void;
  remoteAdded(track: ReceivedTrack): void;
  remoteEnded(track: ReceivedTrack): void;
}

export class RoomMedia {
  publish: PublishPeer | undefined;
  receive: ReceivePeer | undefined;
  /** Restarts after failures, in total. */
  restarts = 0;
  closed = false;
  #joined: Promise<ResultPayloads['mediaJoin']> | undefined;
  #queue: Promise<void> = Promise.resolve();
  #receiving = false;
  /** Restarts in a row without a transport connecting. */
  #failures = 0;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly d: RoomMediaDeps) {}

  get roomId(): string {
    return this.d.roomId;
  }

  /** Media is open here to receive (the app subscribed to audio or video). */
  get receiving(): boolean {
    return this.#receiving;
  }

  /** Brings the publish transport to the room's published tracks; resolves once it is connected. */
  syncPublish(): Promise<void> {
    const run = this.#queue.then(() => this.#syncPublish());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Opens media in the room so the unit offers the subscribed audio and video tracks. */
  ensureReceiving(): void {
    if (this.#receiving || this.closed) return;
    try {
      this.d.e2ee();
    } catch (error) {
      // Without frame encryption nothing is received (never undecrypted frames): no mediaJoin at all.
      this.d.connection.log.warn({ roomId: this.d.roomId, error: String(error) }, 'media cannot be received in this browser');
      return;
    }
    this.#receiving = true;
    this.#join().catch((error: unknown) => {
      this.#receiving = false;
      this.d.connection.log.warn({ roomId: this.d.roomId, error: String(error) }, 'media could not be opened to receive');
    });
  }

  /** The unit's offer for the receive transport (after the join it answers, in arrival order). */
  receiveOffer(offer: { revision: number; sdp: string; tracks: MediaReceiveTrack[] }): void {
    const joined = this.#joined;
    if (joined === undefined || this.closed) return;
    joined.then(
      ({ iceServers }) => {
        if (this.closed || this.#joined !== joined) return;
        try {
          this.receive ??= this.#watch(
            new ReceivePeer({ ...this.#peerDeps(iceServers), trackAdded: (t) => this.d.remoteAdded(t), trackEnded: (t) => this.d.remoteEnded(t) }),
          );
        } catch (error) {
          // No frame encryption here (or no peer connection): nothing is received, rather than frames undecrypted.
          this.d.connection.log.warn({ roomId: this.d.roomId, error: String(error) }, 'media cannot be received in this browser');
          return;
        }
        this.receive.offer(offer);
      },
      () => undefined,
    );
  }

  /** The unit closed a transport (`mediaClosed`). */
  unitClosed(transport: MediaTransport, reason: string): void {
    this.#restart(`the unit closed the ${transport} transport (${reason})`);
  }

  /** Media counters' transport part. */
  transports(): Array<{ transport: MediaTransport; state: RTCPeerConnectionState }> {
    return [
      { transport: 'publish', state: this.publish?.pc.connectionState ?? 'closed' },
      { transport: 'receive', state: this.receive?.pc.connectionState ?? 'closed' },
    ];
  }

  /** The room was left (or the socket dropped): everything ends here, without asking the Bridge. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.#restartTimer);
    this.#teardown();
  }

  async #syncPublish(): Promise<void> {
    this.#open();
    const tracks = this.d.localTracks();
    if (tracks.length === 0 && this.publish === undefined) return;
    const { iceServers } = await this.#join();
    this.#open();
    const peer = (this.publish ??= this.#watch(new PublishPeer(this.#peerDeps(iceServers))));
    const negotiated = await peer.sync(tracks);
    this.d.localChanged(peer.tracks());
    // A change that touched no media track (a data-only stream) does not wait for the transport.
    if (negotiated && tracks.length > 0) await peer.connected(this.d.options.connectTimeoutMs ?? DEFAULT_MEDIA_CONNECT_TIMEOUT_MS);
  }

  #join(): Promise<ResultPayloads['mediaJoin']> {
    this.#joined ??= this.d.connection.request('mediaJoin', { roomId: this.d.roomId }).catch((error: unknown) => {
      this.#joined = undefined;
      throw error;
    });
    return this.#joined;
  }

  #open(): void {
    if (this.closed) throw EndpointError.connectionLost(`media in room "${this.d.roomId}" ended: the room was left`);
  }

  #peerDeps(iceServers: ResultPayloads['mediaJoin']['iceServers']): PeerDeps {
    return {
      roomId: this.d.roomId,
      connection: this.d.connection,
      e2ee: this.d.e2ee(),
      iceServers,
      allowCandidate: this.d.options.allowCandidate,
      failed: (transport) => this.#restart(`the ${transport} transport failed`),
    };
  }

  /** A peer that connects resets the restart count. */
  #watch<P extends PublishPeer | ReceivePeer>(peer: P): P {
    peer.pc.addEventListener('connectionstatechange', () => {
      if (peer.pc.connectionState === 'connected') this.#failures = 0;
    });
    return peer;
  }

  #teardown(): void {
    this.publish?.close();
    this.receive?.close();
    this.publish = undefined;
    this.receive = undefined;
    this.#joined = undefined;
    this.d.localChanged([]);
  }

  #restart(why: string): void {
    if (this.closed || this.#restartTimer !== undefined) return;
    this.restarts++;
    const attempt = this.#failures++;
    this.d.connection.log.info({ roomId: this.d.roomId, why, attempt }, 'media session restarts');
    const receiving = this.#receiving;
    this.#receiving = false;
    this.#teardown();
    this.d.connection.request('mediaLeave', { roomId: this.d.roomId }).catch(() => undefined);
    const publishing = this.d.localTracks().length > 0;
    if (attempt >= MAX_MEDIA_RESTARTS) {
      const error = new EndpointError(
        'ConnectionLost',
        `media in room "${this.d.roomId}" failed ${attempt} times in a row (${why}); publish or subscribe again to retry`,
      );
      this.#failures = 0;
      if (publishing) this.d.report('failed', error);
      return;
    }
    if (publishing) this.d.report('connecting');
    this.#restartTimer = setTimeout(
      () => {
        this.#restartTimer = undefined;
        if (this.closed) return;
        if (receiving) this.ensureReceiving();
        this.syncPublish().then(
          () => {
            if (publishing) this.d.report('published');
          },
          (error: unknown) => this.#restart(String(error)),
        );
      },
      reconnectDelayMs(attempt, RESTART_BACKOFF),
    );
  }
}
