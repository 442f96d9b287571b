/**
 * werift's RTCPeerConnection options for the unit's transports, from the media configuration.
 *
 * - ICE: no STUN or TURN server for the unit itself (werift's default asks a public STUN server),
 *   no address from the machine's interfaces: one host candidate, `announcedAddress`, on a socket
 *   bound to `listenAddress`. Pairs with a remote address outside the allowed networks are never
 *   formed from candidates; werift forms peer-reflexive ones from incoming checks without this
 *   filter, so ice-guard.ts drops checks from outside those networks before werift reads them.
 * - RTP header extensions: only `sdes:mid` (BUNDLE demultiplexing). Never the audio-level extension
 *   (RFC 6464), which would tell the unit who speaks and how loud (docs/design.md, "Media frames").
 * - RTCP feedback: NACK and PLI. Not FIR: werift routes a FIR by the media SSRC of its common header,
 *   which RFC 5104 section 4.3.1.2 sets to 0, so a compliant FIR would never reach the sender it is
 *   for; without `ccm fir` browsers ask with PLI. No REMB or transport-cc, since the unit does no
 *   congestion control (docs/media/forwarding-unit.md, "What is missing").
 */
import type { BlockList } from 'node:net';
import { useAV1, useH264, useNACK, useOPUS, usePLI, useSdesMid, useVP8, useVP9, type RTCPeerConnectionConfig, type RTCRtpCodecParameters } from 'werift';
import type { MediaConfig, VideoCodecName } from './config.ts';

const feedback = () => [useNACK(), usePLI()];

const VIDEO: Record<VideoCodecName, () => RTCRtpCodecParameters> = {
  VP8: () => useVP8({ rtcpFeedback: feedback() }),
  VP9: () => useVP9({ rtcpFeedback: feedback() }),
  H264: () => useH264({ rtcpFeedback: feedback() }),
  AV1: () => useAV1({ rtcpFeedback: feedback() }),
};

export function unitCodecs(config: MediaConfig): { audio: RTCRtpCodecParameters[]; video: RTCRtpCodecParameters[] } {
  return { audio: [useOPUS()], video: config.videoCodecs.map((name) => VIDEO[name]()) };
}

export function unitPeerConfig(config: MediaConfig, networks: BlockList): RTCPeerConnectionConfig {
  return {
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceUseTcp: false,
    iceAdditionalHostAddresses: [config.announcedAddress ?? config.listenAddress],
    iceInterfaceAddresses: { udp4: config.listenAddress },
    icePortRange: config.portRange,
    iceFilterCandidatePair: (pair) => {
      const host = pair.remoteCandidate.host;
      return typeof host === 'string' && networks.check(host, 'ipv4');
    },
    codecs: unitCodecs(config),
    headerExtensions: { audio: [useSdesMid()], video: [useSdesMid()] },
    bundlePolicy: 'max-bundle',
  };
}
