/**
 * Media on a direct peer connection (docs/protocol/peer-signalling.md, "Media"): `share` / `unshare` of
 * a MediaStream's tracks, each frame end-to-end encrypted by the same SFrame transform as through the
 * forwarding unit (endpoint/media/e2ee.ts: the room's keys, the sender's own key, the same worker).
 *
 * Adding or removing tracks renegotiates the connection. Those descriptions travel on the default
 * channel (a RENEGOTIATE frame, authenticated by the DTLS connection whose certificate was checked
 * against the signed fingerprint), not through the Bridge; each must carry exactly the signed DTLS
 * fingerprints (else `FingerprintMismatch` and the peer closes), so a renegotiation cannot bring in
 * another certificate. Collisions follow WebRTC's "perfect negotiation": the callee is polite.
 */
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import type { Logger } from '../logger.ts';
import type { MediaE2ee } from '../media/e2ee.ts';
import { PeerError } from './errors.ts';
import { sameFingerprints, sdpFingerprints } from './signature.ts';

/** On the default channel: a renegotiated description, `[0x07][UTF-8 JSON {type, sdp}]`. */
export const RENEGOTIATE = 0x07;
/** Largest RENEGOTIATE frame accepted, in bytes. */
const RENEGOTIATE_MAX_BYTES = 64 * 1024;
/**
 * Renegotiations of the other side waiting here at most: an honest peer sends one and waits for the
 * answer (perfect negotiation). Past this, the peer closes with `Overloaded`: each could add hundreds
 * of m-lines, each a receiver with a frame transform.
 */
export const RENEGOTIATIONS_PENDING_MAX = 4;
/**
 * m-lines a renegotiation may carry: at most RENEGOTIATION_MLINES_MAX on which the other side sends
 * (each becomes a receiver with a frame transform here: port not 0 or `bundle-only`, and its last
 * direction sendrecv, sendonly or none), and RENEGOTIATION_MLINES_TOTAL_MAX in all. A track that stops
 * being shared leaves an m-line behind (inactive on the side that shared it, recvonly on the other),
 * so a long call that toggles screen sharing piles them up; each still costs a transceiver, hence the
 * second bound.
 */
export const RENEGOTIATION_MLINES_MAX = 32;
export const RENEGOTIATION_MLINES_TOTAL_MAX = 512;

/** The m-lines of an SDP: all, and those on which its author sends. */
function mLines(sdp: string): { all: number; live: number } {
  const sections = sdp.split(/\r?\nm=/).slice(1);
  const live = sections.filter((section) => {
    const active = !/^\S+ 0 /.test(section) || /\r?\na=bundle-only\r?$/m.test(section);
    const directions = section.match(/^a=(sendrecv|sendonly|recvonly|inactive)\r?$/gm) ?? [];
    const last = directions.at(-1)?.slice(2).trim();
    return active && (last === undefined || last === 'sendrecv' || last === 'sendonly');
  }).length;
  return { all: sections.length, live };
}

export interface PeerMediaDeps {
  pc: RTCPeerConnection;
  roomId: string;
  /** The remote member (its frames are opened with its key). */
  userId: string;
  /** The callee yields on a collision. */
  polite: boolean;
  /**
   * The DTLS fingerprints the other side signed, once the connection's certificate was checked
   * against them: a renegotiation that arrives before (the callee shared at once) waits for it.
   */
  fingerprints(): Promise<string[]>;
  /** Sends a frame on the default channel. */
  control(frame: Uint8Array): void;
  e2ee(): Promise<MediaE2ee>;
  /** A remote track arrived (decrypting already installed). */
  track(event: { track: MediaStreamTrack; stream: MediaStream | undefined }): void;
  fail(error: PeerError): void;
  log: Logger;
}

export class PeerMedia {
  readonly #d: PeerMediaDeps;
  readonly #shared = new Map<MediaStream, RTCRtpSender[]>();
  readonly #remote = new Set<MediaStream>();
  #e2ee: MediaE2ee | undefined;
  #making = false;
  #negotiating = false;
  /** Descriptions handled one at a time, in order. */
  #tail: Promise<void> = Promise.resolve();
  /** The other side's renegotiations queued on #tail (RENEGOTIATIONS_PENDING_MAX). */
  #pending = 0;

  constructor(deps: PeerMediaDeps) {
    this.#d = deps;
    deps.pc.ontrack = (e: RTCTrackEvent) => this.#track(e);
  }

  /** Remote streams shared with this side. */
  get streams(): MediaStream[] {
    return [...this.#remote];
  }

  async share(stream: MediaStream): Promise<void> {
    if (typeof MediaStream === 'undefined' || !(stream instanceof MediaStream))
      throw new PeerError('InvalidArgument', '"stream" expected a MediaStream (getUserMedia, getDisplayMedia, captureStream)');
    if (this.#shared.has(stream)) return;
    const e2ee = await this.#frames();
    this.#listen();
    const senders: RTCRtpSender[] = [];
    for (const track of stream.getTracks()) {
      // Send-only, never addTrack: a transceiver addTrack made is taken over by the other side's offer
      // for its own track (JSEP), and one transceiver then carries a protected sender and receiver.
      const sender = this.#d.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] }).sender;
      // Before the description that carries it is made: no frame leaves unencrypted.
      e2ee.protectSender(sender, { roomId: this.#d.roomId, streamId: stream.id, trackId: track.id, kind: track.kind as 'audio' | 'video' });
      senders.push(sender);
    }
    this.#shared.set(stream, senders);
  }

  unshare(stream: MediaStream): void {
    const senders = this.#shared.get(stream);
    if (senders === undefined) return;
    this.#shared.delete(stream);
    for (const sender of senders) this.#d.pc.removeTrack(sender);
  }

  /** A RENEGOTIATE frame from the default channel. */
  message(bytes: Uint8Array): void {
    if (++this.#pending > RENEGOTIATIONS_PENDING_MAX) {
      this.#d.fail(new PeerError('Overloaded', `more than ${RENEGOTIATIONS_PENDING_MAX} renegotiations from "${this.#d.userId}" waiting`));
      return;
    }
    this.#tail = this.#tail
      .then(() => this.#description(bytes))
      .catch((error: unknown) => this.#d.fail(asPeerError(error)))
      .finally(() => this.#pending--);
  }

  close(): void {
    this.#shared.clear();
    this.#remote.clear();
  }

  async #frames(): Promise<MediaE2ee> {
    this.#e2ee ??= await this.#d.e2ee();
    return this.#e2ee;
  }

  /** From the first share on, this side offers whenever its tracks change. */
  #listen(): void {
    if (this.#negotiating) return;
    this.#negotiating = true;
    const pc = this.#d.pc;
    pc.onnegotiationneeded = () => {
      this.#tail = this.#tail
        .then(async () => {
          this.#making = true;
          try {
            await pc.setLocalDescription();
            this.#send(pc.localDescription!);
          } finally {
            this.#making = false;
          }
        })
        .catch((error: unknown) => this.#d.fail(asPeerError(error)));
    };
  }

  async #description(bytes: Uint8Array): Promise<void> {
    if (bytes.length > RENEGOTIATE_MAX_BYTES) throw new PeerError('InvalidArgument', `a renegotiation expected at most ${RENEGOTIATE_MAX_BYTES} bytes`);
    let parsed: { type?: unknown; sdp?: unknown };
    try {
      parsed = JSON.parse(fromUtf8(bytes.subarray(1))) as typeof parsed;
    } catch (cause) {
      throw new PeerError('InvalidArgument', 'a renegotiation is not UTF-8 JSON', { cause });
    }
    if (typeof parsed !== 'object' || parsed === null || (parsed.type !== 'offer' && parsed.type !== 'answer') || typeof parsed.sdp !== 'string')
      throw new PeerError('InvalidArgument', 'a renegotiation expected {type: "offer" | "answer", sdp}');
    const lines = mLines(parsed.sdp);
    if (lines.live > RENEGOTIATION_MLINES_MAX || lines.all > RENEGOTIATION_MLINES_TOTAL_MAX) {
      throw new PeerError(
        'InvalidArgument',
        `a renegotiation expected at most ${RENEGOTIATION_MLINES_MAX} m-lines that carry media and ${RENEGOTIATION_MLINES_TOTAL_MAX} in all, got ${lines.live} and ${lines.all}`,
      );
    }
    if (!sameFingerprints(sdpFingerprints(parsed.sdp), await this.#d.fingerprints()))
      throw new PeerError('FingerprintMismatch', `a renegotiation from "${this.#d.userId}" carries other DTLS fingerprints than the signed ones`);
    const pc = this.#d.pc;
    const collision = parsed.type === 'offer' && (this.#making || pc.signalingState !== 'stable');
    if (collision && !this.#d.polite) return;
    // Receivers are protected in `ontrack`, synchronously: the transform must be loaded first.
    if (parsed.type === 'offer') await this.#frames();
    await pc.setRemoteDescription({ type: parsed.type, sdp: parsed.sdp });
    if (parsed.type === 'offer') {
      await pc.setLocalDescription();
      this.#send(pc.localDescription!);
    }
  }

  #send(description: RTCSessionDescription): void {
    const json = utf8(JSON.stringify({ type: description.type, sdp: description.sdp }));
    const frame = new Uint8Array(1 + json.length);
    frame[0] = RENEGOTIATE;
    frame.set(json, 1);
    this.#d.control(frame);
  }

  #track(e: RTCTrackEvent): void {
    const stream = e.streams[0];
    const e2ee = this.#e2ee;
    if (e2ee === undefined) {
      // Not reachable through `message` (it loads the transform first): refuse rather than play clear frames.
      this.#d.log.warn({ userId: this.#d.userId }, 'a direct media track arrived before frame decryption was ready; stopped');
      e.track.stop();
      return;
    }
    e2ee.protectReceiver(e.receiver, {
      roomId: this.#d.roomId,
      streamId: stream?.id ?? 'direct',
      trackId: e.track.id,
      kind: e.track.kind as 'audio' | 'video',
      userId: this.#d.userId,
    });
    if (stream !== undefined) {
      this.#remote.add(stream);
      stream.onremovetrack = () => {
        if (stream.getTracks().length === 0) this.#remote.delete(stream);
      };
    }
    this.#d.track({ track: e.track, stream });
  }
}

function asPeerError(error: unknown): PeerError {
  return error instanceof PeerError ? error : new PeerError('ConnectionFailed', 'renegotiating the direct connection failed', { cause: error });
}
