/**
 * The little SDP the unit reads and writes itself, on untrusted text from clients (bounded by the
 * socket schema: MEDIA_SDP_MAX_BYTES): m-sections with their mid and direction, ICE candidate
 * lines checked against the allowed networks, and bandwidth lines (RFC 3890 b=TIAS, RFC 4566 b=AS)
 * that tell a publisher's browser the unit's bitrate limit. werift parses the rest.
 */
import { BlockList, isIPv4 } from 'node:net';
import { MAX_REMOTE_CANDIDATES } from './ice-guard.ts';

export interface MediaSection {
  kind: string;
  /** 0: the m-line is rejected or stopped. */
  port: number;
  mid: string | undefined;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
}

const DIRECTIONS = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

/** The m-sections of an SDP, in order. */
export function mediaSections(sdp: string): MediaSection[] {
  const out: MediaSection[] = [];
  let sessionDirection: MediaSection['direction'] = 'sendrecv';
  let current: MediaSection | undefined;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      const [kind = '', port = ''] = line.slice(2).split(' ');
      current = { kind, port: Number.parseInt(port, 10) || 0, mid: undefined, direction: sessionDirection };
      out.push(current);
    } else if (line.startsWith('a=mid:') && current !== undefined) {
      current.mid = line.slice(6).trim();
    } else if (line.startsWith('a=') && DIRECTIONS.has(line.slice(2).trim())) {
      const direction = line.slice(2).trim() as MediaSection['direction'];
      if (current === undefined) sessionDirection = direction;
      else current.direction = direction;
    }
  }
  return out;
}

/**
 * Whether a remote ICE candidate may be used: UDP, an IPv4 literal inside the allowed networks.
 * Host names and mDNS names (`*.local`) are refused, since resolving them sends queries; TCP
 * candidates are refused because the unit gathers UDP only.
 */
export function candidateAllowed(candidate: string, networks: BlockList): boolean {
  const fields = candidate
    .trim()
    .replace(/^a=/, '')
    .replace(/^candidate:/, '')
    .split(/\s+/);
  // foundation component transport priority address port "typ" type ...
  if (fields.length < 8 || fields[6] !== 'typ') return false;
  if (fields[2]?.toLowerCase() !== 'udp') return false;
  const address = fields[4] ?? '';
  return isIPv4(address) && !NOT_UNICAST.check(address, 'ipv4') && networks.check(address, 'ipv4');
}

/** "This network", multicast and reserved (with broadcast): never a peer's address (RFC 6890). */
const NOT_UNICAST = new BlockList();
NOT_UNICAST.addSubnet('0.0.0.0', 8, 'ipv4');
NOT_UNICAST.addSubnet('224.0.0.0', 4, 'ipv4');
NOT_UNICAST.addSubnet('240.0.0.0', 4, 'ipv4');

/** Drops every `a=candidate` line whose candidate is not allowed; returns the SDP and how many went. */
export function filterCandidates(sdp: string, networks: BlockList): { sdp: string; refused: number } {
  let refused = 0;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/).filter((line) => {
    if (!line.startsWith('a=candidate:')) return true;
    if (candidateAllowed(line, networks)) return true;
    refused++;
    return false;
  });
  return { sdp: lines.join(eol), refused };
}

/**
 * Adds `b=AS` (kbit/s) and `b=TIAS` (bit/s) to every audio and video m-section that has none, after
 * its `c=` line (RFC 4566 section 5: b= follows c=). A browser that sets this as its remote
 * description keeps its send bitrate under it.
 */
export function withBandwidth(sdp: string, bps: { audio: number; video: number }): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  // Each m-section runs from its m= line to the next one; a section with a b= line anywhere is left as is.
  const starts = lines.flatMap((line, i) => (line.startsWith('m=') ? [i] : []));
  const out = lines.slice(0, starts[0] ?? lines.length);
  starts.forEach((start, n) => {
    const section = lines.slice(start, starts[n + 1] ?? lines.length);
    const kind = section[0]!.slice(2).split(' ')[0];
    const c = section.findIndex((line) => line.startsWith('c='));
    if ((kind === 'audio' || kind === 'video') && c >= 0 && !section.some((line) => line.startsWith('b='))) {
      const limit = bps[kind];
      section.splice(c + 1, 0, `b=AS:${Math.max(1, Math.floor(limit / 1000))}`, `b=TIAS:${limit}`);
    }
    out.push(...section);
  });
  return out.join(eol);
}

/** RTP header extensions the unit never negotiates: they carry data derived from the content. */
export const CONTENT_REVEALING_EXTENSIONS = ['urn:ietf:params:rtp-hdrext:ssrc-audio-level', 'urn:ietf:params:rtp-hdrext:csrc-audio-level'];

/** The extension URIs of an SDP's `a=extmap` lines. */
export function extensionUris(sdp: string): string[] {
  const out: string[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    const match = /^a=extmap:\d+(?:\/\w+)?\s+(\S+)/.exec(line);
    if (match !== null) out.push(match[1]!);
  }
  return out;
}

/** `a=ssrc:` lines one m-section may carry: a track's SSRC and its retransmission SSRC, a few attributes each. */
export const MAX_SSRC_LINES_PER_SECTION = 16;
/** `a=ssrc-group:` lines one m-section may carry (FID for retransmissions). */
export const MAX_SSRC_GROUPS_PER_SECTION = 4;
/** ICE credentials (RFC 8839 section 5.4): ice-chars, a ufrag of 4-256 and a password of 22-256. */
const ICE_UFRAG = /^[A-Za-z0-9+/]{4,256}$/;
const ICE_PWD = /^[A-Za-z0-9+/]{22,256}$/;

/**
 * What werift must not be shown in a client's offer or answer, checked before it parses it
 * (docs/media/forwarding-unit.md, "Limits"):
 * - every active audio or video m-line has a mid and sits in one `a=group:BUNDLE` with the others:
 *   werift gives an m-line outside a bundle its own ICE/DTLS transport and UDP socket, and never stops
 *   it, so an offer of 64 unbundled m-lines bound 64 sockets, and each re-offer more;
 * - no `a=rid` or `a=simulcast` (the unit forwards one encoding a track): werift keeps a track per rid
 *   for the transport's life, about 5 KB each, 3,000 of them in one offer;
 * - at most MAX_SSRC_LINES_PER_SECTION `a=ssrc` and MAX_SSRC_GROUPS_PER_SECTION `a=ssrc-group` lines
 *   an m-section (werift's SSRC search is quadratic in them), MAX_REMOTE_CANDIDATES candidates in all
 *   (what a transport takes over its life, ice-guard.ts);
 * - ICE credentials within RFC 8839's bounds: werift echoes the remote ufrag in every connectivity
 *   check it sends, so a 60 KB ufrag made every check a 60 KB datagram.
 * Returns what is wrong, or undefined.
 */
export function sdpShapeProblem(sdp: string): string | undefined {
  const bundled = new Set<string>();
  const active: string[] = [];
  let bundleGroups = 0;
  let candidates = 0;
  let ssrcLines = 0;
  let ssrcGroups = 0;
  let section: { kind: string; port: number; mid: string | undefined } | undefined;
  const closeSection = () => {
    if (section !== undefined && section.port !== 0 && (section.kind === 'audio' || section.kind === 'video')) active.push(section.mid ?? '');
  };
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      closeSection();
      const [kind = '', port = ''] = line.slice(2).split(' ');
      section = { kind, port: Number.parseInt(port, 10) || 0, mid: undefined };
      ssrcLines = 0;
      ssrcGroups = 0;
    } else if (line.startsWith('a=mid:')) {
      if (section !== undefined) section.mid = line.slice(6).trim();
    } else if (line.startsWith('a=group:BUNDLE')) {
      bundleGroups++;
      for (const mid of line.slice('a=group:BUNDLE'.length).trim().split(/\s+/)) if (mid !== '') bundled.add(mid);
    } else if (line.startsWith('a=rid:') || line.startsWith('a=simulcast:')) {
      return 'expected one encoding per track: simulcast (a=rid, a=simulcast) is not supported by the unit';
    } else if (line.startsWith('a=ssrc:')) {
      if (++ssrcLines > MAX_SSRC_LINES_PER_SECTION) return `expected at most ${MAX_SSRC_LINES_PER_SECTION} a=ssrc lines in an m-section`;
    } else if (line.startsWith('a=ssrc-group:')) {
      if (++ssrcGroups > MAX_SSRC_GROUPS_PER_SECTION) return `expected at most ${MAX_SSRC_GROUPS_PER_SECTION} a=ssrc-group lines in an m-section`;
    } else if (line.startsWith('a=candidate:')) {
      if (++candidates > MAX_REMOTE_CANDIDATES) return `expected at most ${MAX_REMOTE_CANDIDATES} a=candidate lines`;
    } else if (line.startsWith('a=ice-ufrag:')) {
      if (!ICE_UFRAG.test(line.slice(12).trim())) return 'expected an a=ice-ufrag of 4-256 ICE characters (RFC 8839 section 5.4)';
    } else if (line.startsWith('a=ice-pwd:')) {
      if (!ICE_PWD.test(line.slice(10).trim())) return 'expected an a=ice-pwd of 22-256 ICE characters (RFC 8839 section 5.4)';
    }
  }
  closeSection();
  if (active.length === 0) return undefined;
  if (bundleGroups !== 1) return `expected the audio and video m-lines in one a=group:BUNDLE, got ${bundleGroups} BUNDLE groups`;
  const outside = active.find((mid) => mid === '' || !bundled.has(mid));
  if (outside !== undefined)
    return `expected every active audio and video m-line in the BUNDLE group, with a mid; got ${outside === '' ? 'one without a mid' : `mid "${outside}" outside it`}`;
  return undefined;
}
