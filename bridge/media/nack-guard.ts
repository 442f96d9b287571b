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

/** Sequence numbers a publisher's packet may skip and still count as lost (and be asked for again). */
export const MAX_NACK_GAP = 64;

/** What guardNackGenerator reads of werift's NackHandler (receiver/nack.js, werift 0.25.2). */
interface NackGenerator {
  newEstSeqNum: number;
  lostSeqNumbers: number[];
  mediaSourceSsrc?: number;
  getLost(seq: number): number | undefined;
  addPacket(packet: { header: { sequenceNumber: number; ssrc: number } }): void;
  sendNack: () => Promise<void>;
}

/**
 * Puts two fixes in front of werift's NACK generator for one publisher's receiver. werift compares
 * sequence numbers as plain numbers and marks every number between the last and a higher one as lost,
 * each with a string sort: a packet far ahead, or one just behind across the 65,535 wrap, made it walk
 * up to 65,535 of them, so 1, 65535, 0, 1, ... at 190 packets a second filled the event loop.
 * - Only a packet at most MAX_NACK_GAP ahead of the last, without a wrap in between, reaches it as
 *   a packet after a loss; one behind reaches it only if it is one it asked for again. Anything else is
 *   a new start (nothing asked for again), or a late packet it has nothing to do with.
 * - With nothing lost, werift's `sendNack` returned a promise that never settles, so its 5 ms timer,
 *   which waits for it before it can stop, ran for the transport's life: it now settles at once.
 */
export function guardNackGenerator(receiver: { nack: unknown }): void {
  const nack = receiver.nack as NackGenerator;
  const add = nack.addPacket.bind(nack);
  nack.addPacket = (packet) => {
    const seq = packet.header.sequenceNumber;
    const last = nack.newEstSeqNum;
    const ahead = (seq - last + 65536) % 65536;
    if (last === 0 || ahead === 0 || (ahead <= MAX_NACK_GAP && seq > last)) add(packet);
    else if (65536 - ahead <= MAX_NACK_GAP) {
      if (nack.getLost(seq) !== undefined) add(packet);
    } else nack.newEstSeqNum = seq;
  };
  const send = nack.sendNack;
  nack.sendNack = () => (nack.lostSeqNumbers.length > 0 && nack.mediaSourceSsrc !== undefined ? send() : Promise.resolve());
}
