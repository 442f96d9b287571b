/**
 * What a member, or anyone who can reach a transport's UDP port, may make the unit's ICE do
 * (docs/media/forwarding-unit.md, "What keeps the Bridge safe from its clients' media"). werift 0.25.2
 * answers every STUN Binding request without checking its MESSAGE-INTEGRITY, makes a peer-reflexive
 * candidate of every new source address without the candidate filter, and sends each candidate up
 * to five connectivity checks: a member (or a stranger) could make the Bridge send checks to any
 * address, and fill a transport with candidates that crowd out the real one. Per transport:
 *
 * - a Binding request is read only from an address inside `allowedRemoteNetworks` and with the
 *   MESSAGE-INTEGRITY of the transport's own ICE password (RFC 8445 section 7.3; RFC 8489 section
 *   14.5); other requests are dropped unanswered and counted as `stunRefused`;
 * - at most MAX_REMOTE_CANDIDATES remote candidates over the transport's life, from SDP, trickle
 *   and peer-reflexive sources alike (ICE restarts included); past it, counted as `candidatesRefused`;
 * - DTLS, RTP and RTCP only from the address of one of those candidates (werift took them from any
 *   source, so anyone who found the port could send DTLS records into a handshake under way); the
 *   rest is dropped and counted as `foreignDatagrams`.
 *
 * The ICE credentials of an offer or answer are bounded in `sdpShapeProblem` (sdp.ts): the remote
 * ufrag is echoed in every check the unit sends, so a 60 KB ufrag made 60 KB datagrams.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { BlockList } from 'node:net';
import type { RTCPeerConnection } from 'werift';

/** Remote candidates one transport may ever have: a browser offers a handful. */
export const MAX_REMOTE_CANDIDATES = 32;

const STUN_HEADER_BYTES = 20;
const MAGIC_COOKIE = 0x2112a442;
const USERNAME = 0x0006;
const MESSAGE_INTEGRITY = 0x0008;
const HMAC_SHA1_BYTES = 20;

export interface IceCounters {
  candidatesRefused: number;
  /** STUN Binding requests dropped unanswered: from outside the allowed networks, or without the transport's MESSAGE-INTEGRITY. */
  stunRefused: number;
  /** DTLS, RTP and RTCP datagrams dropped for coming from no remote candidate's address. */
  foreignDatagrams: number;
}

/** Whether `datagram` is a STUN request (RFC 8489 section 5: class bits 00, the magic cookie). */
export function isStunRequest(datagram: Buffer): boolean {
  return (
    datagram.length >= STUN_HEADER_BYTES &&
    (datagram[0]! & 0xc0) === 0 &&
    (datagram.readUInt16BE(0) & 0x0110) === 0 &&
    datagram.readUInt32BE(4) === MAGIC_COOKIE
  );
}

/** The value of the first attribute of `type` in a STUN message, and where its TLV starts; undefined if absent or malformed. */
function stunAttribute(message: Buffer, type: number): { at: number; value: Buffer } | undefined {
  for (let at = STUN_HEADER_BYTES; at + 4 <= message.length; ) {
    const length = message.readUInt16BE(at + 2);
    if (at + 4 + length > message.length) return undefined;
    if (message.readUInt16BE(at) === type) return { at, value: message.subarray(at + 4, at + 4 + length) };
    at += 4 + Math.ceil(length / 4) * 4;
  }
  return undefined;
}

/**
 * Whether the STUN message carries a MESSAGE-INTEGRITY made with `password` (short-term credentials:
 * HMAC-SHA1 keyed with the password, over the message up to the attribute, its header's length
 * counting up to the end of the attribute).
 */
export function stunIntegrityOk(message: Buffer, password: string): boolean {
  const integrity = stunAttribute(message, MESSAGE_INTEGRITY);
  if (integrity === undefined || integrity.value.length !== HMAC_SHA1_BYTES) return false;
  const header = Buffer.from(message.subarray(0, STUN_HEADER_BYTES));
  header.writeUInt16BE(integrity.at - STUN_HEADER_BYTES + 4 + HMAC_SHA1_BYTES, 2);
  const mac = createHmac('sha1', password).update(header).update(message.subarray(STUN_HEADER_BYTES, integrity.at)).digest();
  return timingSafeEqual(mac, integrity.value);
}

/** What guardIce reads of werift's RTCIceTransport, its ICE Connection and StunProtocols (werift 0.25.2). */
interface IceTransport {
  /** The entry of every remote candidate from a description or trickled (an instance property). */
  addRemoteCandidate(candidate: unknown): unknown;
  connection: IceConnection;
}
interface IceConnection {
  localPassword: string;
  /** Local passwords by local ufrag, the ones before an ICE restart included. */
  userHistory: Record<string, string>;
  remoteCandidates: Array<{ host: string; port: number }>;
  protocols: Array<{ datagramReceived(data: Buffer, addr: [string, number]): void }>;
  checkIncoming(message: unknown, addr: [string, number], protocol: unknown): void;
}

/** The local password a request's USERNAME ("ours:theirs") names, as werift picks it. */
function passwordFor(connection: IceConnection, request: Buffer): string {
  const username = stunAttribute(request, USERNAME)?.value.toString('utf8') ?? '';
  return connection.userHistory[username.split(':')[0] ?? ''] ?? connection.localPassword;
}

const guardedTransports = new WeakMap<object, { admitted: number }>();
const guardedProtocols = new WeakSet<object>();

/**
 * Puts the request check and the candidate cap in front of the ICE of every transport of `pc`
 * (call after each local description: werift binds its socket in the first).
 */
export function guardIce(pc: RTCPeerConnection, networks: BlockList, counters: IceCounters): void {
  for (const ice of pc.iceTransports as unknown as IceTransport[]) {
    const { connection } = ice;
    if (!guardedTransports.has(ice)) {
      // Candidates of the first remote description may be in already (sdp.ts bounds them).
      const cap = { admitted: connection.remoteCandidates.length };
      guardedTransports.set(ice, cap);
      const admit = () => {
        if (cap.admitted >= MAX_REMOTE_CANDIDATES) {
          counters.candidatesRefused++;
          return false;
        }
        cap.admitted++;
        return true;
      };
      // Counted here, not in the connection, so candidates werift then ignores (after an
      // end-of-candidates) use up the cap too. One it has already is not given again: werift would
      // keep it twice and pair it twice (a re-offer repeats every candidate).
      const add = ice.addRemoteCandidate.bind(ice);
      ice.addRemoteCandidate = (candidate) => {
        if (!candidate) return add(candidate);
        const { ip, port } = candidate as { ip?: string; port?: number };
        if (connection.remoteCandidates.some((c) => c.host === ip && c.port === port)) return undefined;
        return admit() ? add(candidate) : undefined;
      };
      const check = connection.checkIncoming.bind(connection);
      connection.checkIncoming = (message, addr, protocol) => {
        // A request werift took before the socket was guarded (an early check) is checked here too.
        if (!networks.check(addr[0], 'ipv4')) {
          counters.stunRefused++;
          return;
        }
        // A new source address becomes a peer-reflexive candidate.
        if (connection.remoteCandidates.some((c) => c.host === addr[0] && c.port === addr[1]) || admit()) check(message, addr, protocol);
      };
    }
    for (const protocol of connection.protocols) {
      if (guardedProtocols.has(protocol)) continue;
      guardedProtocols.add(protocol);
      const receive = protocol.datagramReceived.bind(protocol);
      // The source of the last datagram taken: media comes from one address, checked once.
      let known: [string, number] = ['', 0];
      protocol.datagramReceived = (data, addr) => {
        if (data.length > 0 && data[0]! < 4) {
          // STUN (RFC 7983): requests must come from an allowed network with the transport's integrity.
          if (isStunRequest(data) && !(networks.check(addr[0], 'ipv4') && stunIntegrityOk(data, passwordFor(connection, data)))) {
            counters.stunRefused++;
            return;
          }
        } else if (addr[0] !== known[0] || addr[1] !== known[1]) {
          if (!connection.remoteCandidates.some((c) => c.host === addr[0] && c.port === addr[1])) {
            counters.foreignDatagrams++;
            return;
          }
          known = addr;
        }
        receive(data, addr);
      };
    }
  }
}

/** Remote candidates `pc` may still take (a trickled one past this is refused). */
export function remoteCandidatesLeft(pc: RTCPeerConnection): number {
  let left = MAX_REMOTE_CANDIDATES;
  for (const ice of pc.iceTransports as unknown as IceTransport[]) {
    left = Math.min(left, MAX_REMOTE_CANDIDATES - (guardedTransports.get(ice)?.admitted ?? ice.connection.remoteCandidates.length));
  }
  return left;
}
