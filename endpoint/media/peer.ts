/**
 * What the publish and receive peer connections share: their configuration, ICE candidate trickling
 * to the unit (`mediaCandidate`, after the transport exists on the unit), and waiting for a state.
 */
import type { MediaTransport } from '../../protocol/ws.ts';
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import { type MediaE2ee, mediaE2eePeerConnectionConfig } from './e2ee.ts';
import { unitCandidate } from './sdp.ts';

export interface PeerDeps {
  roomId: string;
  connection: Connection;
  e2ee: MediaE2ee;
  iceServers: RTCIceServer[];
  allowCandidate: ((address: string) => boolean) | undefined;
  /** The peer connection failed on this side (ICE or DTLS), or closed unasked. */
  failed(transport: MediaTransport): void;
}

/**
 * The configuration of both peer connections: one transport for all m-lines (the unit bundles), and
 * what the frame encryption needs at construction (`encodedInsertableStreams` for its fallback).
 */
export function peerConfiguration(iceServers: RTCIceServer[]): RTCConfiguration {
  return { ...mediaE2eePeerConnectionConfig(), iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' };
}

export abstract class MediaPeer {
  readonly pc: RTCPeerConnection;
  closed = false;
  /** The unit knows this transport (it answered or offered): candidates can go. */
  #ready = false;
  readonly #queued: RTCIceCandidate[] = [];
  /** `connected()` calls in progress, told when this peer closes (close() fires no state event). */
  readonly #waiters = new Set<() => boolean>();

  constructor(
    protected readonly d: PeerDeps,
    readonly transport: MediaTransport,
  ) {
    this.pc = new RTCPeerConnection(peerConfiguration(d.iceServers));
    this.pc.addEventListener('icecandidate', (e) => this.#candidate(e.candidate));
    this.pc.addEventListener('connectionstatechange', () => {
      if (!this.closed && this.pc.connectionState === 'failed') d.failed(transport);
    });
  }

  /** The unit holds this transport now: trickle what was gathered meanwhile. */
  protected unitReady(): void {
    if (this.#ready) return;
    this.#ready = true;
    for (const c of this.#queued.splice(0)) this.#send(c);
  }

  #candidate(candidate: RTCIceCandidate | null): void {
    // End of candidates needs no message: the unit's ICE goes on with what it has.
    if (candidate === null || candidate.candidate === '' || this.closed) return;
    if (!unitCandidate(candidate.candidate, this.d.allowCandidate)) return;
    if (this.#ready) this.#send(candidate);
    else this.#queued.push(candidate);
  }

  #send(c: RTCIceCandidate): void {
    const candidate = { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment };
    this.d.connection.request('mediaCandidate', { roomId: this.d.roomId, transport: this.transport, candidate }).catch((error: unknown) => {
      this.d.connection.log.debug({ roomId: this.d.roomId, error: String(error) }, 'a media candidate was not taken');
    });
  }

  /** Resolves once connected; rejects when the connection fails, closes, or `timeoutMs` passes. */
  connected(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): boolean => {
        const state = this.pc.connectionState;
        if (state === 'connected') done();
        else if (state === 'failed' || state === 'closed' || this.closed)
          done(new EndpointError('ConnectionLost', `media ${this.transport} transport in room "${this.d.roomId}": ${this.closed ? 'closed' : state}`));
        else return false;
        return true;
      };
      const timer = setTimeout(
        () => done(EndpointError.timeout(`media ${this.transport} transport in room "${this.d.roomId}" connecting`, timeoutMs)),
        timeoutMs,
      );
      const done = (error?: EndpointError): void => {
        clearTimeout(timer);
        this.pc.removeEventListener('connectionstatechange', check);
        this.#waiters.delete(check);
        if (error === undefined) resolve();
        else reject(error);
      };
      if (check()) return;
      this.pc.addEventListener('connectionstatechange', check);
      this.#waiters.add(check);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pc.close();
    for (const check of [...this.#waiters]) check();
  }
}
