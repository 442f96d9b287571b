/**
 * Helpers for the direct-peer tests (not part of the library): werift options that keep ICE on
 * 127.0.0.1, and a candidate filter to the same.
 */
import type { PeerOptions } from './types.ts';

export function loopbackPeers(extra: Partial<PeerOptions> = {}): PeerOptions {
  return {
    iceServers: [],
    allowCandidate: (address) => /^127\.\d+\.\d+\.\d+$/.test(address),
    node: { iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], iceInterfaceAddresses: { udp4: '127.0.0.1' } },
    connectTimeoutMs: 8000,
    ...extra,
  };
}
