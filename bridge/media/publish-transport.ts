/**
 * The publish transport of one connection in one room: the client offers, the unit answers. Each
 * sending m-line the client maps to one of its announced audio or video tracks (`publish` result's
 * trackNo) becomes a TrackSource; the rest of the offer is accepted and ignored. Every offer carries
 * the whole mapping: a track missing from a renegotiation ends, a new one starts.
 */
import type { RTCRtpTransceiver } from 'werift';
import { RTCPeerConnection, type RtpPacket } from 'werift';
import type { MediaBinding } from '../../protocol/ws.ts';
import { MediaError } from './errors.ts';
import { guardNackGenerator } from './nack-guard.ts';
import { filterCandidates, mediaSections, sdpShapeProblem, withBandwidth } from './sdp.ts';
import { connectDeadline, SerialQueue, setLocal, settles, type TransportContext } from './transport-context.ts';
import { TrackSource } from './track-source.ts';

/** m-sections an offer may have at all, stopped ones included (they stay in the SDP). */
export const MAX_OFFER_SECTIONS = 64;

export class PublishTransport {
  readonly pc: RTCPeerConnection;
  /** Bound sources, by the mid of the m-line that carries them. */
  readonly sources = new Map<string, TrackSource>();
  closed = false;
  readonly #queue = new SerialQueue();
  #answered = 0;
  #connectTimer: NodeJS.Timeout | undefined;
  /** Per mid, where its packets go (set once per transceiver; its source changes with bindings). */
  readonly #slots = new Map<string, { source: TrackSource | undefined }>();
  /** Every mid offered on this transport so far. */
  readonly #mids = new Set<string>();

  /** Whether an answer was ever given (the transport has a socket and may carry media). */
  get established(): boolean {
    return this.#answered > 0;
  }

  constructor(private readonly ctx: TransportContext) {
    this.pc = new RTCPeerConnection(ctx.peerConfig);
    this.pc.connectionStateChange.subscribe((state) => {
      // Before its first answer, a failure (no port) is the offer's error, not an event.
      if (state === 'failed' && !this.closed && this.established) ctx.failed('publish', 'failed');
    });
  }

  /** Applies an offer and its track mapping; resolves with the unit's answer. */
  negotiate(sdp: string, bindings: MediaBinding[]): Promise<{ sdp: string; tracks: MediaBinding[] }> {
    return this.#queue.run(async () => {
      const checked = this.check(sdp, bindings);
      const filtered = filterCandidates(sdp, this.ctx.networks);
      this.ctx.candidatesRefused(filtered.refused);
      let answer: string;
      const first = this.#answered === 0;
      try {
        await settles(this.ctx, 'applying the offer', this.pc.setRemoteDescription({ type: 'offer', sdp: filtered.sdp }));
        answer = await setLocal(this.ctx, this.pc, first, () => this.pc.createAnswer());
      } catch (error) {
        if (this.closed) throw this.ctx.gone();
        // Back to the last stable state, so the client may offer again (RFC 8829 section 4.1.10).
        if (this.pc.signalingState === 'have-remote-offer') {
          await settles(this.ctx, 'the rollback', this.pc.setLocalDescription({ type: 'rollback' })).catch(() => undefined);
        }
        if (error instanceof MediaError) throw error;
        throw new MediaError('NEGOTIATION_FAILED', `the offer could not be applied: ${(error as Error).message}`, { cause: error });
      }
      if (this.#answered++ === 0) this.#connectTimer = connectDeadline(this.ctx, this.pc, 'publish', () => this.closed);
      if (this.closed) throw this.ctx.gone();
      this.rebind(checked);
      return {
        sdp: withBandwidth(answer, { audio: this.ctx.config.maxAudioBitrateBps, video: this.ctx.config.maxVideoBitrateBps }),
        tracks: [...this.sources].map(([mid, source]) => ({ mid, trackNo: source.info.trackNo })),
      };
    });
  }

  /** Validates the mapping against the offer and the directory before werift sees anything. */
  private check(sdp: string, bindings: MediaBinding[]): MediaBinding[] {
    const sections = mediaSections(sdp);
    if (sections.length > MAX_OFFER_SECTIONS) {
      throw new MediaError('TOO_MANY_TRACKS', `expected at most ${MAX_OFFER_SECTIONS} m-lines in an offer, got ${sections.length}`);
    }
    const problem = sdpShapeProblem(sdp);
    if (problem !== undefined) throw MediaError.badSdp(problem);
    // werift keeps a transceiver for every mid it was ever offered: the mids over the transport's life
    // are bounded as one offer's m-lines are.
    const mids = sections.flatMap((s) => (s.mid === undefined || this.#mids.has(s.mid) ? [] : [s.mid]));
    if (this.#mids.size + new Set(mids).size > MAX_OFFER_SECTIONS) {
      throw new MediaError(
        'TOO_MANY_TRACKS',
        `expected at most ${MAX_OFFER_SECTIONS} mids over this transport's life; publish again on a new transport (mediaLeave, mediaJoin)`,
      );
    }
    if (sections.some((s) => s.kind === 'application' && s.port !== 0)) {
      throw MediaError.badSdp('expected audio and video m-lines only, got a data channel (data goes over data tracks, not through the unit)');
    }
    const max = this.ctx.config.maxPublishedTracksPerConnection;
    const elsewhere = this.ctx.publishedElsewhere();
    if (elsewhere + bindings.length > max) {
      throw new MediaError('TOO_MANY_TRACKS', `expected at most ${max} published media tracks per connection, this would be ${elsewhere + bindings.length}`);
    }
    const bound = new Set<string>();
    const trackNos = new Set<number>();
    for (const b of bindings) {
      if (bound.has(b.mid) || trackNos.has(b.trackNo))
        throw MediaError.badSdp(`tracks: expected each mid and trackNo once, got mid "${b.mid}" / trackNo ${b.trackNo} twice`);
      bound.add(b.mid);
      trackNos.add(b.trackNo);
      const section = sections.find((s) => s.mid === b.mid);
      if (section === undefined || section.port === 0) throw MediaError.badSdp(`tracks: expected an active m-line with mid "${b.mid}" in the offer, got none`);
      if (section.direction !== 'sendonly' && section.direction !== 'sendrecv') {
        throw MediaError.badSdp(`tracks: expected m-line "${b.mid}" to send (sendonly or sendrecv), got ${section.direction}`);
      }
      const info = this.ctx.directory.track(b.trackNo);
      if (info === undefined || info.connectionId !== this.ctx.client.id || info.roomId !== this.ctx.roomId) {
        throw new MediaError(
          'TRACK_NOT_FOUND',
          `expected an audio or video track this connection publishes in room "${this.ctx.roomId}", got trackNo ${b.trackNo}`,
        );
      }
      if (info.kind !== section.kind) throw MediaError.badSdp(`tracks: trackNo ${b.trackNo} is ${info.kind}, but m-line "${b.mid}" is ${section.kind}`);
    }
    for (const mid of mids) this.#mids.add(mid);
    return bindings;
  }

  /** Sources for the new mapping; those of the old one that are not in it end. */
  private rebind(bindings: MediaBinding[]): void {
    const next = new Map<string, TrackSource>();
    for (const b of bindings) {
      const transceiver = this.pc.getTransceivers().find((t) => t.mid === b.mid);
      const codec = transceiver?.codecs[0];
      if (transceiver === undefined || codec === undefined) continue; // rejected by werift: no common codec
      const old = this.sources.get(b.mid);
      if (old !== undefined && old.info.trackNo === b.trackNo && !old.ended) {
        next.set(b.mid, old);
        continue;
      }
      // Checked before negotiating, but the track may have been unpublished while werift worked.
      const info = this.ctx.directory.track(b.trackNo);
      if (info === undefined || info.connectionId !== this.ctx.client.id) continue;
      const source = new TrackSource(info, codec, transceiver.receiver, {
        bitrateBps: info.kind === 'video' ? this.ctx.config.maxVideoBitrateBps : this.ctx.config.maxAudioBitrateBps,
        keyframeIntervalMs: this.ctx.config.keyframeRequestIntervalMs,
        log: this.ctx.log,
        totals: this.ctx.totals,
      });
      next.set(b.mid, source);
      this.hook(transceiver);
    }
    // Ended first, then added: a trackNo that moved to another mid is ended and added again.
    for (const [mid, source] of this.sources) {
      if (next.get(mid) === source) continue;
      source.end();
      this.ctx.sourceEnded(source);
    }
    for (const [mid, slot] of this.#slots) slot.source = next.get(mid);
    for (const [mid, source] of next) if (this.sources.get(mid) !== source) this.ctx.sourceAdded(source);
    this.sources.clear();
    for (const [mid, source] of next) this.sources.set(mid, source);
  }

  /** Routes the transceiver's RTP to whatever source its mid is bound to (hooked once per transceiver). */
  private hook(transceiver: RTCRtpTransceiver): void {
    const mid = transceiver.mid!;
    if (this.#slots.has(mid)) return;
    const created: { source: TrackSource | undefined } = { source: undefined };
    this.#slots.set(mid, created);
    const hooked = new WeakSet<object>();
    const attach = (track: { onReceiveRtp: { subscribe(f: (rtp: RtpPacket) => void): unknown } }) => {
      if (hooked.has(track)) return;
      hooked.add(track);
      track.onReceiveRtp.subscribe((rtp) => created.source?.forward(rtp));
    };
    for (const track of transceiver.receiver.tracks) attach(track);
    transceiver.onTrack.subscribe((track) => attach(track));
    guardNackGenerator(transceiver.receiver as unknown as { nack: unknown });
  }

  /** Ends one source (its track was unpublished on the relay); the m-line stays, unbound. */
  unbind(source: TrackSource): void {
    for (const [mid, s] of this.sources) {
      if (s !== source) continue;
      this.sources.delete(mid);
      const slot = this.#slots.get(mid);
      if (slot !== undefined) slot.source = undefined;
    }
    source.end();
    this.ctx.sourceEnded(source);
  }

  async addCandidate(candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | null): Promise<void> {
    await this.#queue.run(() => addCandidate(this.pc, candidate));
  }

  /** Ends every source at once; the peer connection closes in the background. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.#connectTimer);
    for (const source of this.sources.values()) {
      source.end();
      this.ctx.sourceEnded(source);
    }
    this.sources.clear();
    for (const slot of this.#slots.values()) slot.source = undefined;
    this.ctx.closePeer(this.pc);
  }
}

/** Hands a client's candidate to werift (null: end of candidates). */
export async function addCandidate(
  pc: RTCPeerConnection,
  candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | null,
): Promise<void> {
  if (candidate === null) return;
  await pc.addIceCandidate({
    candidate: candidate.candidate,
    ...(candidate.sdpMid == null ? {} : { sdpMid: candidate.sdpMid }),
    ...(candidate.sdpMLineIndex == null ? {} : { sdpMLineIndex: candidate.sdpMLineIndex }),
  });
}
