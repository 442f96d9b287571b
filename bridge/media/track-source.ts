/**
 * One published audio or video track at the unit: RTP in from the publisher's receiver, out to each
 * subscriber's sender, and keyframe requests back, throttled.
 *
 * The packet path: werift has already decrypted SRTP and parsed the packet. The source counts it,
 * checks the bitrate bucket, strips every header extension the publisher sent (the subscriber's
 * sender adds the ones negotiated with that subscriber, `sdes:mid` only, with its own ids), and hands
 * the same packet to each sender; werift's `sendRtp` copies it before rewriting SSRC, payload type
 * and numbering. The payload, SFrame ciphertext, is never touched. A sender removed from `sinks`
 * gets nothing more from the next packet on: that is how cuts are immediate.
 */
import type { Logger } from 'pino';
import type { RTCRtpCodecParameters, RTCRtpReceiver, RTCRtpSender, RtpPacket } from 'werift';
import { BitrateBucket, KeyframeThrottle, MAX_PACKETS_PER_SECOND } from './limiters.ts';
import type { MediaCounters, MediaTrackInfo, MediaTrackStats } from './unit.ts';

export interface TrackSourceOptions {
  bitrateBps: number;
  keyframeIntervalMs: number;
  log: Logger;
  /** The unit's totals, counted along. */
  totals: MediaCounters;
}

export class TrackSource {
  readonly sinks = new Set<RTCRtpSender>();
  ended = false;
  packetsIn = 0;
  bytesIn = 0;
  packetsOut = 0;
  /** The SSRC the publisher sends with (learned from its packets); keyframe requests name it. */
  mediaSsrc: number | undefined;
  readonly #keyframes: KeyframeThrottle;
  readonly #bucket: BitrateBucket;
  readonly #onSendError: (error: unknown) => void;
  readonly #totals: MediaCounters;

  constructor(
    readonly info: MediaTrackInfo,
    /** The codec negotiated with the publisher; subscribers are offered exactly this one. */
    readonly codec: RTCRtpCodecParameters,
    private readonly receiver: RTCRtpReceiver,
    options: TrackSourceOptions,
  ) {
    this.#keyframes = new KeyframeThrottle(options.keyframeIntervalMs);
    this.#bucket = new BitrateBucket(options.bitrateBps, MAX_PACKETS_PER_SECOND[info.kind]);
    this.#totals = options.totals;
    this.#onSendError = (error: unknown) => options.log.debug({ err: error, trackNo: info.trackNo }, 'forwarding an RTP packet failed');
  }

  get kind(): 'audio' | 'video' {
    return this.info.kind;
  }

  /** One RTP packet from the publisher. */
  forward(rtp: RtpPacket): void {
    if (this.ended) return;
    this.packetsIn++;
    this.#totals.packetsIn++;
    this.bytesIn += rtp.payload.length;
    this.mediaSsrc = rtp.header.ssrc;
    if (!this.#bucket.take(rtp.payload.length)) {
      this.#totals.packetsOverBitrate++;
      return;
    }
    if (this.sinks.size === 0) return;
    this.#totals.packetsOut += this.sinks.size;
    const header = rtp.header;
    header.extensions.length = 0;
    header.extension = false;
    for (const sender of this.sinks) {
      this.packetsOut++;
      sender.sendRtp(rtp).catch(this.#onSendError);
    }
  }

  /**
   * A subscriber (or the unit, for a new subscriber) asks for a keyframe. Goes to the publisher as a
   * PLI at most once per interval; audio has no keyframes.
   */
  requestKeyframe(): void {
    if (this.ended || this.kind !== 'video' || this.mediaSsrc === undefined) return;
    this.#totals.keyframeRequestsReceived++;
    if (!this.#keyframes.request()) {
      this.#totals.keyframeRequestsSuppressed++;
      return;
    }
    this.#totals.keyframeRequestsForwarded++;
    void this.receiver.sendRtcpPLI(this.mediaSsrc).catch(this.#onSendError);
  }

  /** The track ended (unpublished, its publisher gone): nothing is forwarded from now on. */
  end(): void {
    this.ended = true;
    this.sinks.clear();
  }

  stats(): MediaTrackStats {
    const k = this.#keyframes;
    return {
      trackNo: this.info.trackNo,
      kind: this.kind,
      subscribers: this.sinks.size,
      packetsIn: this.packetsIn,
      bytesIn: this.bytesIn,
      packetsOut: this.packetsOut,
      packetsOverBitrate: this.#bucket.dropped,
      keyframeRequests: { received: k.received, forwarded: k.forwarded, suppressed: k.suppressed },
    };
  }
}
