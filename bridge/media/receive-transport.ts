/**
 * The receive transport of one connection in one room: the unit offers, the client answers. It
 * carries one send-only m-line per subscribed audio or video track that a publisher has bound.
 *
 * `sync(desired)` is called whenever the directory may have changed. It cuts at once: a sender whose
 * track is no longer wanted leaves its source's sinks before `sync` returns, so the next packet does
 * not reach it. Adding tracks needs a new offer; only one offer is outstanding at a time, and changes
 * made while the client has not answered yet are offered right after its answer (a newer revision).
 * A sender starts receiving packets once the client's answer is applied.
 */
import { RtcpPayloadSpecificFeedback, RTCPeerConnection, type RTCRtpCodecParameters, type RTCRtpTransceiver } from 'werift';
import type { MediaReceiveTrack } from '../../protocol/ws.ts';
import { MediaError } from './errors.ts';
import { addCandidate } from './publish-transport.ts';
import { guardNacks } from './nack-guard.ts';
import { filterCandidates, sdpShapeProblem } from './sdp.ts';
import type { TrackSource } from './track-source.ts';
import { connectDeadline, SerialQueue, setLocal, settles, type TransportContext } from './transport-context.ts';

/** FMT of a Full Intra Request in a payload-specific feedback packet (RFC 5104 section 4.3.1). */
const FIR_FMT = 4;

interface Sink {
  readonly source: TrackSource;
  readonly transceiver: RTCRtpTransceiver;
  /** In the source's sinks: negotiated and wanted. */
  live: boolean;
}

/** Answers to one receive offer the unit parses before it gives the transport up (`mediaClosed failed`). */
export const MAX_ANSWER_ATTEMPTS = 3;

export class ReceiveTransport {
  pc: RTCPeerConnection | undefined;
  /** The revision of the last offer sent. */
  revision = 0;
  closed = false;
  readonly #sinks = new Map<number, Sink>();
  #desired: readonly TrackSource[] = [];
  /** The revision whose answer is awaited, if any. */
  #awaiting: number | undefined;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  /** Answers to the outstanding offer that were refused. */
  #failedAnswers = 0;
  #connectTimer: NodeJS.Timeout | undefined;
  readonly #queue = new SerialQueue();

  constructor(private readonly ctx: TransportContext) {}

  /** Tracks the client receives or will receive (negotiated or offered). */
  get trackCount(): number {
    return this.#sinks.size;
  }

  /** Sets what this connection should receive; cuts what it should not, at once. */
  sync(desired: readonly TrackSource[]): void {
    if (this.closed) return;
    this.#desired = desired;
    const want = new Set(desired);
    let changed = false;
    for (const sink of this.#sinks.values()) {
      if (want.has(sink.source) && !sink.source.ended) continue;
      changed = true;
      if (sink.live) {
        sink.source.sinks.delete(sink.transceiver.sender);
        sink.live = false;
      }
    }
    const current = new Set([...this.#sinks.values()].map((s) => s.source));
    if (desired.some((s) => !current.has(s) && !s.ended)) changed = true;
    if (changed) this.schedule();
  }

  private schedule(): void {
    if (this.#awaiting !== undefined) {
      this.#dirty = true;
      return;
    }
    this.#queue
      .run(() => this.renegotiate())
      .catch((error: unknown) => {
        this.ctx.log.warn({ err: error, connectionId: this.ctx.client.id, roomId: this.ctx.roomId }, 'media: a receive offer failed');
        if (!this.closed) this.ctx.failed('receive', 'failed');
      });
  }

  private async renegotiate(): Promise<void> {
    if (this.closed) return;
    if (this.#awaiting !== undefined) {
      this.#dirty = true;
      return;
    }
    const want = new Set(this.#desired);
    let changed = false;
    for (const [trackNo, sink] of this.#sinks) {
      if (want.has(sink.source) && !sink.source.ended) continue;
      if (sink.live) sink.source.sinks.delete(sink.transceiver.sender);
      sink.transceiver.stop();
      this.#sinks.delete(trackNo);
      changed = true;
    }
    const present = new Set([...this.#sinks.values()].map((s) => s.source));
    for (const source of this.#desired) {
      if (present.has(source) || source.ended) continue;
      this.pc ??= this.createPeer();
      const transceiver = this.pc.addTransceiver(source.kind, { direction: 'sendonly' });
      const codec = this.localCodec(source.codec);
      if (codec !== undefined) transceiver.setCodecPreferences([codec]);
      const sink: Sink = { source, transceiver, live: false };
      const keyframe = () => {
        if (sink.live) source.requestKeyframe();
      };
      transceiver.sender.onPictureLossIndication.subscribe(keyframe);
      guardNacks(transceiver.sender, this.ctx.totals);
      // FIR is not negotiated (peer-config.ts); one that werift routes here all the same counts as a PLI.
      transceiver.sender.onRtcp.subscribe((packet) => {
        if (packet instanceof RtcpPayloadSpecificFeedback && packet.feedback.count === FIR_FMT) keyframe();
      });
      this.#sinks.set(source.info.trackNo, sink);
      changed = true;
    }
    if (!changed || this.pc === undefined) return;
    const pc = this.pc;
    const sdp = await setLocal(this.ctx, pc, this.revision === 0, () => pc.createOffer());
    if (this.closed) return;
    const revision = ++this.revision;
    this.#awaiting = revision;
    this.#failedAnswers = 0;
    this.#timer = setTimeout(() => {
      if (this.#awaiting === revision && !this.closed) this.ctx.failed('receive', 'timeout');
    }, this.ctx.config.negotiationTimeoutMs);
    this.#timer.unref();
    this.ctx.client.media({ type: 'mediaReceiveOffer', roomId: this.ctx.roomId, revision, sdp, tracks: this.describe() });
  }

  /** Applies the client's answer to offer `revision`; then the new tracks flow. */
  answer(revision: number, sdp: string): Promise<void> {
    return this.#queue.run(async () => {
      if (this.closed) throw this.ctx.gone();
      if (this.#awaiting === undefined || revision !== this.#awaiting || this.pc === undefined) {
        throw new MediaError('STALE_ANSWER', `expected an answer to receive offer ${this.#awaiting ?? '(none outstanding)'}, got one to ${revision}`);
      }
      // An offer takes MAX_ANSWER_ATTEMPTS answers that fail, each parsed in full; then the transport fails.
      const refused = (error: MediaError): MediaError => {
        if (++this.#failedAnswers >= MAX_ANSWER_ATTEMPTS && !this.closed) this.ctx.failed('receive', 'failed');
        return error;
      };
      const problem = sdpShapeProblem(sdp);
      if (problem !== undefined) throw refused(MediaError.badSdp(problem));
      const filtered = filterCandidates(sdp, this.ctx.networks);
      this.ctx.candidatesRefused(filtered.refused);
      try {
        await settles(this.ctx, 'applying the answer', this.pc.setRemoteDescription({ type: 'answer', sdp: filtered.sdp }));
      } catch (error) {
        if (this.closed) throw this.ctx.gone();
        throw refused(new MediaError('NEGOTIATION_FAILED', `the answer could not be applied: ${(error as Error).message}`, { cause: error }));
      }
      this.#failedAnswers = 0;
      if (this.closed) throw this.ctx.gone();
      this.#awaiting = undefined;
      clearTimeout(this.#timer);
      if (revision === 1) this.#connectTimer = connectDeadline(this.ctx, this.pc, 'receive', () => this.closed);
      const connected = this.pc.connectionState === 'connected';
      const want = new Set(this.#desired);
      for (const sink of this.#sinks.values()) {
        if (sink.live || !want.has(sink.source) || sink.source.ended) continue;
        sink.live = true;
        sink.source.sinks.add(sink.transceiver.sender);
        // A new receiver can decode nothing before a keyframe (throttled per track like any request).
        if (connected) sink.source.requestKeyframe();
      }
      if (this.#dirty) {
        this.#dirty = false;
        await this.renegotiate();
      }
    });
  }

  addCandidate(candidate: Parameters<typeof addCandidate>[1]): Promise<void> {
    return this.#queue.run(async () => {
      if (this.pc === undefined) throw MediaError.notStarted(this.ctx.roomId, 'a receive offer');
      await addCandidate(this.pc, candidate);
    });
  }

  /** Cuts every sender at once; the peer connection closes in the background. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#connectTimer);
    for (const sink of this.#sinks.values()) if (sink.live) sink.source.sinks.delete(sink.transceiver.sender);
    this.#sinks.clear();
    if (this.pc !== undefined) this.ctx.closePeer(this.pc);
  }

  private createPeer(): RTCPeerConnection {
    const pc = new RTCPeerConnection(this.ctx.peerConfig);
    pc.connectionStateChange.subscribe((state) => {
      if (this.closed) return;
      if (state === 'failed') this.ctx.failed('receive', 'failed');
      if (state === 'connected') for (const sink of this.#sinks.values()) if (sink.live) sink.source.requestKeyframe();
    });
    return pc;
  }

  /** The unit's own codec entry for a publisher's codec (same parameters as every transport). */
  private localCodec(codec: RTCRtpCodecParameters): RTCRtpCodecParameters | undefined {
    const local = this.ctx.peerConfig.codecs?.[codec.mimeType.toLowerCase().startsWith('audio/') ? 'audio' : 'video'] ?? [];
    return local.find((c) => c.mimeType.toLowerCase() === codec.mimeType.toLowerCase());
  }

  private describe(): MediaReceiveTrack[] {
    return [...this.#sinks.values()].map(({ source, transceiver }) => ({
      mid: transceiver.mid ?? '',
      trackNo: source.info.trackNo,
      kind: source.kind,
      streamId: source.info.streamId,
      trackId: source.info.trackId,
      userId: source.info.userId,
    }));
  }
}
