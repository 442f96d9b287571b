/**
 * What a member's SRTCP may cost the unit (docs/media/forwarding-unit.md, "What keeps the Bridge safe
 * from its clients' media"). werift 0.25.2 parses a whole compound RTCP datagram before anything is
 * routed, and hands each packet in it everything left in the datagram instead of its own declared
 * length: a Generic NACK then reads the following packets' bytes as its own entries. A datagram of
 * 4-byte NACK headers whose length field is 0 was parsed once per header, each time to its end, so the
 * work grew with the square of the datagram: 16 KB took about a second of the event loop and 64 KB
 * would have held some 134 million entries at once. Two guards:
 *
 * - `fixRtcpParser` (once per process, when a unit starts): each packet of a compound is parsed from its own bytes, so
 *   parsing is linear in the datagram. It reuses werift's parser per packet (padding included).
 * - `guardRtcp` (per transport): before werift decrypts an SRTCP datagram it must be at most
 *   MAX_SRTCP_DATAGRAM_BYTES and within the transport's rate (RTCP_DATAGRAMS_PER_SECOND); after, the
 *   compound must have the shape RFC 3550 section 6.1 gives it (`rtcpShapeProblem`). A datagram that
 *   fails is dropped whole and counted as `rtcpRefused`; werift then parses nothing of it.
 */
import { RtcpPacketConverter, type RTCPeerConnection, SrtpAuthenticationError } from 'werift';

/** An encrypted RTCP datagram at most (a browser keeps its compounds within the path MTU). */
export const MAX_SRTCP_DATAGRAM_BYTES = 1500;
/** Packets in one compound at most (a real one has a report, an SDES and a few feedback packets). */
export const MAX_RTCP_PACKETS = 16;
/** RTCP datagrams one transport may send a second (and at once): reports, NACKs and PLIs of many tracks fit. */
export const RTCP_DATAGRAMS_PER_SECOND = 500;

const RTCP_HEADER_BYTES = 4;
/** The smallest packet of each type, header included (RFC 3550 section 6.4-6.6, RFC 4585 section 6.1). */
const MIN_PACKET_BYTES: Record<number, (count: number) => number> = {
  200: (count) => 28 + 24 * count, // SR: sender SSRC and sender info, then report blocks
  201: (count) => 8 + 24 * count, // RR: sender SSRC, then report blocks
  205: () => 12, // RTPFB (NACK): sender and media SSRC
  206: () => 12, // PSFB (PLI, FIR): sender and media SSRC
};

/** Why `compound` is not a well-formed RTCP compound packet the unit reads, or undefined. */
export function rtcpShapeProblem(compound: Uint8Array): string | undefined {
  let offset = 0;
  let packets = 0;
  while (offset < compound.length) {
    if (++packets > MAX_RTCP_PACKETS) return `more than ${MAX_RTCP_PACKETS} packets in one compound`;
    if (compound.length - offset < RTCP_HEADER_BYTES) return `a truncated header at byte ${offset}`;
    const first = compound[offset]!;
    if (first >> 6 !== 2) return `version ${first >> 6} at byte ${offset}, expected 2`;
    const type = compound[offset + 1]!;
    const bytes = RTCP_HEADER_BYTES + 4 * ((compound[offset + 2]! << 8) | compound[offset + 3]!);
    if (offset + bytes > compound.length) return `a packet of ${bytes} bytes at byte ${offset} runs past the end (${compound.length})`;
    const min = MIN_PACKET_BYTES[type]?.(first & 0x1f) ?? RTCP_HEADER_BYTES;
    if (bytes < min) return `a packet of type ${type} of ${bytes} bytes at byte ${offset}, expected at least ${min}`;
    offset += bytes;
  }
  return packets === 0 ? 'no packets' : undefined;
}

let parserFixed = false;

/**
 * Makes werift's compound parser read each packet from its own bytes (werift 0.25.2 gives each the
 * rest of the datagram). Idempotent; a werift upgrade must keep `RtcpPacketConverter.deSerialize` as
 * the one entry its DTLS transport calls, or fix the slicing itself.
 */
export function fixRtcpParser(): void {
  if (parserFixed) return;
  parserFixed = true;
  const parse = RtcpPacketConverter.deSerialize.bind(RtcpPacketConverter);
  RtcpPacketConverter.deSerialize = (data: Buffer) => {
    const packets: ReturnType<typeof parse> = [];
    for (let offset = 0; offset + RTCP_HEADER_BYTES <= data.length; ) {
      const end = offset + RTCP_HEADER_BYTES + 4 * data.readUInt16BE(offset + 2);
      if (end > data.length) break; // a truncated last packet is not read
      packets.push(...parse(data.subarray(offset, end)));
      offset = end;
    }
    return packets;
  };
}

export interface RtcpCounters {
  /** SRTCP datagrams dropped unread: too large, over the transport's rate, or malformed. */
  rtcpRefused: number;
}

/** What guardRtcp reads of werift's RTCDtlsTransport (werift 0.25.2). */
interface DtlsTransport {
  srtcp?: { decrypt(data: Buffer): Buffer };
  updateSrtpSession(): void;
}

const guarded = new WeakSet<object>();
const EMPTY = Buffer.alloc(0);

/**
 * Puts the size, rate and shape checks in front of the SRTCP of every DTLS transport of `pc` not yet
 * guarded (call after each local description: a transport's DTLS transport exists by then).
 */
export function guardRtcp(pc: RTCPeerConnection, counters: RtcpCounters, now: () => number = performance.now.bind(performance)): void {
  for (const dtls of pc.dtlsTransports as unknown as DtlsTransport[]) {
    if (guarded.has(dtls)) continue;
    guarded.add(dtls);
    let tokens = RTCP_DATAGRAMS_PER_SECOND;
    let at = now();
    /** Refunds for datagrams that failed to authenticate, at the same rate. */
    let forgedTokens = RTCP_DATAGRAMS_PER_SECOND;
    let forgedAt = at;
    const refuse = () => {
      counters.rtcpRefused++;
      return EMPTY; // werift parses no packet of an empty compound
    };
    const wrap = () => {
      const session = dtls.srtcp;
      if (session === undefined) return;
      const decrypt = session.decrypt.bind(session);
      session.decrypt = (data) => {
        const t = now();
        tokens = Math.min(RTCP_DATAGRAMS_PER_SECOND, tokens + ((t - at) / 1000) * RTCP_DATAGRAMS_PER_SECOND);
        at = t;
        forgedTokens = Math.min(RTCP_DATAGRAMS_PER_SECOND, forgedTokens + ((t - forgedAt) / 1000) * RTCP_DATAGRAMS_PER_SECOND);
        forgedAt = t;
        if (data.length > MAX_SRTCP_DATAGRAM_BYTES || tokens < 1) return refuse();
        tokens--;
        let compound: Buffer;
        try {
          compound = decrypt(data);
        } catch (error) {
          // One that fails to authenticate (werift drops it) gives its token back, up to a rate of its
          // own: forged datagrams from the client's address must not use up the client's rate, and the
          // work of checking them stays bounded.
          if (error instanceof SrtpAuthenticationError && forgedTokens >= 1) {
            forgedTokens--;
            tokens++;
          }
          throw error;
        }
        return rtcpShapeProblem(compound) === undefined ? compound : refuse();
      };
    };
    // werift makes a new SRTCP session when DTLS connects (and again after a DTLS restart).
    const update = dtls.updateSrtpSession.bind(dtls);
    dtls.updateSrtpSession = () => {
      update();
      wrap();
    };
    wrap();
  }
}
