import { BlockList } from 'node:net';
import { describe, expect, it } from 'vitest';
import { allowedNetworks, mediaSchema } from './config.ts';
import { candidateAllowed, extensionUris, filterCandidates, mediaSections, withBandwidth } from './sdp.ts';

const SDP = [
  'v=0',
  'o=- 1 1 IN IP4 0.0.0.0',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=sendonly',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host',
  'a=candidate:2 1 udp 2122260223 192.0.2.7 50001 typ host',
  'a=candidate:3 1 udp 2122260223 abcd-1234.local 50002 typ host',
  'm=audio 0 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'b=AS:64',
  'a=mid:1',
  'a=inactive',
  'a=extmap:2/sendonly urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  '',
].join('\r\n');

const loopback = allowedNetworks(mediaSchema.parse({}));

describe('media SDP helpers', () => {
  it('reads m-sections with kind, port, mid and direction', () => {
    expect(mediaSections(SDP)).toEqual([
      { kind: 'video', port: 9, mid: '0', direction: 'sendonly' },
      { kind: 'audio', port: 0, mid: '1', direction: 'inactive' },
    ]);
  });

  it('keeps only UDP candidates with an IPv4 address in the allowed networks', () => {
    expect(candidateAllowed('candidate:1 1 udp 1 127.0.0.1 5 typ host', loopback)).toBe(true);
    expect(candidateAllowed('a=candidate:1 1 UDP 1 127.9.9.9 5 typ host', loopback)).toBe(true);
    expect(candidateAllowed('candidate:1 1 udp 1 192.0.2.7 5 typ host', loopback)).toBe(false);
    expect(candidateAllowed('candidate:1 1 udp 1 abcd.local 5 typ host', loopback)).toBe(false);
    expect(candidateAllowed('candidate:1 1 tcp 1 127.0.0.1 5 typ host tcptype passive', loopback)).toBe(false);
    expect(candidateAllowed('candidate:1 1 udp 1 ::1 5 typ host', loopback)).toBe(false);
    expect(candidateAllowed('garbage', loopback)).toBe(false);
    const any = allowedNetworks(mediaSchema.parse({ listenAddress: '0.0.0.0' }));
    expect(candidateAllowed('candidate:1 1 udp 1 192.0.2.7 5 typ host', any)).toBe(true);
    expect(candidateAllowed('candidate:1 1 udp 1 10.1.2.3 5 typ host', any)).toBe(true);
    // Beyond loopback, by default never this host's loopback or a link-local address (the cloud
    // metadata service): no remote peer has one. An operator who names them gets them.
    for (const address of ['127.0.0.1', '127.8.9.10', '169.254.169.254']) {
      expect(candidateAllowed(`candidate:1 1 udp 1 ${address} 5 typ host`, any), address).toBe(false);
    }
    const named = allowedNetworks(mediaSchema.parse({ listenAddress: '0.0.0.0', allowedRemoteNetworks: ['0.0.0.0/0'] }));
    expect(candidateAllowed('candidate:1 1 udp 1 127.0.0.1 5 typ host', named)).toBe(true);
    // Never a broadcast, multicast, reserved or "this network" address, whatever the networks allow.
    for (const address of ['255.255.255.255', '224.0.0.251', '239.1.2.3', '240.0.0.1', '0.0.0.0']) {
      expect(candidateAllowed(`candidate:1 1 udp 1 ${address} 5 typ host`, any), address).toBe(false);
    }
    const custom = new BlockList();
    custom.addSubnet('10.0.0.0', 8, 'ipv4');
    expect(candidateAllowed('candidate:1 1 udp 1 10.1.2.3 5 typ host', custom)).toBe(true);
    expect(candidateAllowed('candidate:1 1 udp 1 11.1.2.3 5 typ host', custom)).toBe(false);
  });

  it('drops refused candidate lines from an SDP and counts them', () => {
    const { sdp, refused } = filterCandidates(SDP, loopback);
    expect(refused).toBe(2);
    expect(sdp).toContain('127.0.0.1 50000');
    expect(sdp).not.toContain('192.0.2.7');
    expect(sdp).not.toContain('.local');
    expect(sdp.endsWith('\r\n')).toBe(true);
  });

  it('adds b=AS and b=TIAS after c= where a section has no bandwidth line', () => {
    const out = withBandwidth(SDP, { audio: 32_000, video: 2_500_000 });
    const lines = out.split('\r\n');
    const video = lines.indexOf('m=video 9 UDP/TLS/RTP/SAVPF 96');
    expect(lines.slice(video + 1, video + 4)).toEqual(['c=IN IP4 0.0.0.0', 'b=AS:2500', 'b=TIAS:2500000']);
    expect(out.match(/b=TIAS/g)).toHaveLength(1); // the audio section had b=AS already
  });

  it('lists extension URIs', () => {
    expect(extensionUris(SDP)).toEqual(['urn:ietf:params:rtp-hdrext:sdes:mid', 'urn:ietf:params:rtp-hdrext:ssrc-audio-level']);
  });
});
