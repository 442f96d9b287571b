/**
 * What a subscriber's NACKs may make the unit resend (docs/media/forwarding-unit.md, "What keeps the
 * Bridge safe from its clients' media"). werift answers a Generic NACK as it parses it: every
 * sequence number it names that is still in the sender's cache is sent again, with no dedupe and no
 * rate. One 1.2 KB SRTCP packet of 290 FCIs naming the same cached packet with a full bitmask made
 * about 4,900 retransmissions, 60-140 ms of the event loop and 5.5 MB of egress. Here each sender's
 * NACKs are cut before werift reads them: a sequence number once a packet, at most
 * MAX_NACKED_PER_PACKET a packet, and at most NACK_RESENDS_PER_SECOND a second (a token bucket).
 * A real receiver asks for a few packets a second per stream, far below both.
 */
import { GenericNack, RtcpTransportLayerFeedback, type RTCRtpSender } from 'werift';

/** Distinct sequence numbers one NACK packet may ask for. */
export const MAX_NACKED_PER_PACKET = 32;
/** Sequence numbers one sender resends at most a second (and at once). */
export const NACK_RESENDS_PER_SECOND = 300;

export interface NackCounters {
  /** Sequence numbers NACKs asked for that were not resent (repeats, over a packet's or the rate's cap). */
  nacksRefused: number;
}

/** Puts the caps in front of werift's NACK handling for one sender. */
export function guardNacks(sender: RTCRtpSender, counters: NackCounters, now: () => number = performance.now.bind(performance)): void {
  const handle = sender.handleRtcpPacket.bind(sender);
  let tokens = NACK_RESENDS_PER_SECOND;
  let at = now();
  sender.handleRtcpPacket = (packet) => {
    if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof GenericNack) {
      const t = now();
      tokens = Math.min(NACK_RESENDS_PER_SECOND, tokens + ((t - at) / 1000) * NACK_RESENDS_PER_SECOND);
      at = t;
      const asked = packet.feedback.lost;
      const kept = [...new Set(asked)].slice(0, Math.min(MAX_NACKED_PER_PACKET, Math.floor(tokens)));
      tokens -= kept.length;
      counters.nacksRefused += asked.length - kept.length;
      packet.feedback.lost = kept;
    }
    handle(packet);
  };
}
