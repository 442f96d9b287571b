/**
 * What a media transport needs from its session and the unit, and a queue that runs one
 * negotiation step at a time per transport (werift's peer connection is not reentrant: an offer
 * applied while another is half done would interleave their state changes).
 */
import type { BlockList } from 'node:net';
import type { Logger } from 'pino';
import type { RTCPeerConnection, RTCPeerConnectionConfig, RTCSessionDescriptionInit } from 'werift';
import type { MediaTransport } from '../../protocol/ws.ts';
import type { MediaConfig } from './config.ts';
import { MediaError } from './errors.ts';
import { guardIce } from './ice-guard.ts';
import { guardRtcp } from './rtcp-guard.ts';
import { guardUdpSockets } from './sockets.ts';
import type { TrackSource } from './track-source.ts';
import type { MediaClient, MediaCounters, MediaDirectory } from './unit.ts';

export interface TransportContext {
  readonly client: MediaClient;
  readonly roomId: string;
  readonly config: MediaConfig;
  readonly peerConfig: RTCPeerConnectionConfig;
  readonly networks: BlockList;
  readonly directory: MediaDirectory;
  readonly log: Logger;
  readonly totals: MediaCounters;
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

/**
 * Sets the local description; the first time (where werift binds the transport's socket, udp-bind.ts)
 * it then checks that a socket was bound: werift logs a bind failure (no free port in `portRange`)
 * and answers without candidates, which would only fail later, in ICE. Each time, the transport's
 * ICE and SRTCP are guarded (ice-guard.ts, rtcp-guard.ts) before the client has the description to
 * send anything to.
 */
export async function setLocal(
  ctx: TransportContext,
  pc: RTCPeerConnection,
  first: boolean,
  create: () => Promise<RTCSessionDescriptionInit>,
): Promise<string> {
  const apply = async () => {
    await settles(ctx, 'setting the local description', (async () => pc.setLocalDescription(await create()))());
    guardIce(pc, ctx.networks, ctx.totals);
    guardRtcp(pc, ctx.totals);
    return pc.localDescription!.sdp;
  };
  if (!first) return apply();
  const sdp = await apply();
  if (!/^a=candidate:/m.test(sdp)) throw new MediaError('MEDIA_UNAVAILABLE', 'no UDP port could be bound for this transport (media.portRange is full)');
  guardUdpSockets(pc, (error) => ctx.log.debug({ err: error, connectionId: ctx.client.id }, 'media: a UDP socket error'));
  return sdp;
}

/**
 * Closes the transport (as `timeout`) unless its peer connection is connected within
 * `negotiationTimeoutMs`: a client that negotiates and never connects would otherwise hold a UDP
 * socket (and a port of `portRange`) for as long as its session lasts.
 */
export function connectDeadline(ctx: TransportContext, pc: RTCPeerConnection, transport: MediaTransport, isClosed: () => boolean): NodeJS.Timeout {
  const timer = setTimeout(() => {
    if (!isClosed() && pc.connectionState !== 'connected') ctx.failed(transport, 'timeout');
  }, ctx.config.negotiationTimeoutMs);
  timer.unref();
  return timer;
}

/**
 * `work` (a werift description call), or NEGOTIATION_FAILED once `negotiationTimeoutMs` has passed
 * without it settling. werift 0.25.2 returns a promise that never settles when its peer connection is
 * closed between two of its own steps (`waitForPendingDescriptionTask`): the request, and every step
 * queued behind it on the transport, would otherwise wait for as long as the socket lives.
 */
export async function settles<T>(ctx: TransportContext, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new MediaError('NEGOTIATION_FAILED', `${what} did not finish within ${ctx.config.negotiationTimeoutMs} ms`)),
      ctx.config.negotiationTimeoutMs,
    );
    timer.unref();
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(task, task);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
