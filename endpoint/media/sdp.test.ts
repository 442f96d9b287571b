/** The media session's SDP helpers (endpoint/media/sdp.ts): candidate addresses and filters, audio-level extensions. */
import { describe, expect, it } from 'vitest';
import { candidateAddress, candidateTransport, filterCandidates, filterUnitCandidates, hasAudioLevelExtension, unitCandidate } from './sdp.ts';

const LOOPBACK = 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0';
const LAN = 'candidate:2 1 udp 2122194687 192.168.1.20 50001 typ host generation 0';
const MDNS = 'candidate:3 1 udp 2122129151 0d5c7a8e-2a4f-4c1e-9f2b-1a2b3c4d5e6f.local 50002 typ host';
/** What Chromium gathers beside its UDP candidates: the unit takes UDP only. */
const TCP = 'candidate:4 1 tcp 1518214911 127.0.0.1 9 typ host tcptype active generation 0';
const loopbackOnly = (address: string) => address.startsWith('127.');

describe('candidate addresses', () => {
  it('reads the address field, with or without a=, and nothing from a line that is not a candidate', () => {
    expect(candidateAddress(LOOPBACK)).toBe('127.0.0.1');
    expect(candidateAddress(`a=${LAN}`)).toBe('192.168.1.20');
    expect(candidateAddress(MDNS)).toBe('0d5c7a8e-2a4f-4c1e-9f2b-1a2b3c4d5e6f.local');
    expect(candidateAddress('candidate:1 1 udp 2122260223 127.0.0.1')).toBeUndefined();
    expect(candidateAddress('a=mid:0')).toBeUndefined();
  });

  it('keeps only the allowed candidate lines of an SDP, and every other line as it was', () => {
    const sdp = ['v=0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', `a=${LOOPBACK}`, `a=${LAN}`, `a=${MDNS}`, 'a=candidate:broken', 'a=end-of-candidates', ''].join(
      '\r\n',
    );
    expect(filterCandidates(sdp, loopbackOnly)).toBe(['v=0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', `a=${LOOPBACK}`, 'a=end-of-candidates', ''].join('\r\n'));
    expect(filterCandidates(sdp, undefined)).toBe(sdp);
  });

  it('offers the forwarding unit only UDP candidates the app allows, TCP ones never', () => {
    expect(candidateTransport(TCP)).toBe('tcp');
    expect(candidateTransport(`a=${LOOPBACK}`)).toBe('udp');
    expect(candidateTransport('a=candidate:broken')).toBeUndefined();
    expect(unitCandidate(LOOPBACK, loopbackOnly)).toBe(true);
    expect(unitCandidate(TCP, loopbackOnly)).toBe(false);
    expect(unitCandidate(TCP, undefined)).toBe(false);
    expect(unitCandidate(LAN, loopbackOnly)).toBe(false);
    expect(unitCandidate(LAN, undefined)).toBe(true);
    const sdp = ['v=0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', `a=${TCP}`, `a=${LOOPBACK}`, `a=${LAN}`, 'a=end-of-candidates', ''].join('\r\n');
    expect(filterUnitCandidates(sdp, loopbackOnly)).toBe(['v=0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', `a=${LOOPBACK}`, 'a=end-of-candidates', ''].join('\r\n'));
    expect(filterUnitCandidates(sdp, undefined)).toBe(
      ['v=0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', `a=${LOOPBACK}`, `a=${LAN}`, 'a=end-of-candidates', ''].join('\r\n'),
    );
    // Direct peer paths keep TCP: between two browsers it may be the path that works.
    expect(filterCandidates(sdp, loopbackOnly)).toContain(TCP);
  });

  it('finds an audio-level extension left in a description', () => {
    expect(hasAudioLevelExtension('a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n')).toBe(true);
    expect(hasAudioLevelExtension('a=extmap:2 urn:ietf:params:rtp-hdrext:csrc-audio-level\r\n')).toBe(true);
    expect(hasAudioLevelExtension('a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n')).toBe(false);
  });
});
