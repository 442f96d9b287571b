/**
 * What a media transport needs from its session and the unit, and a queue that runs one
 * negotiation step at a time per transport (werift's peer connection is not reentrant: an offer
 * applied while another is half done would interleave their state changes).
 */
import type { BlockList } from 'node:net';
import type { Logger } from 'pino';
import type { RTCPeerConnection, RTCPeerConnectionConfig } from 'werift';
import type { MediaTransport } from '../../protocol/ws.ts';
import type { MediaConfig } from './config.ts';
import type { MediaError } from './errors.ts';
import type { TrackSource } from './track-source.ts';
import type { MediaClient, MediaDirectory } from './unit.ts';

export interface TransportContext {
  readonly client: MediaClient;
  readonly roomId: string;
  readonly config: MediaConfig;
  readonly peerConfig: RTCPeerConnectionConfig;
  readonly networks: BlockList;
  readonly directory: MediaDirectory;
  readonly log: Logger;
  /** Media tracks this connection publishes through its other sessions (for the per-connection limit). */
  publishedElsewhere(): number;
  sourceAdded(source: TrackSource): void;
  sourceEnded(source: TrackSource): void;
  /** ICE or DTLS failed, or an offer went unanswered: the session closes that transport. */
  failed(transport: MediaTransport, reason: 'failed' | 'timeout'): void;
  candidatesRefused(count: number): void;
  /** The error for a request whose session closed while it ran (left, removed, disconnected). */
  gone(): MediaError;
  /** Closes a peer connection in the background, logging a failure. */
  closePeer(pc: RTCPeerConnection): void;
}

export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(task, task);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
