/**
 * Helpers for the direct-peer tests (not part of the library): werift options that keep ICE on
 * 127.0.0.1, and a candidate filter to the same.
 */
import { streamApiInternals } from '../internal.ts';
import { until, type Client } from '../realtime/test-kit.ts';
import { PeerError } from './errors.ts';
import type { PeerOptions } from './types.ts';

/** Waits until every member's Endpoint knows every other member as joined (the Bridge's join events). */
export async function sawEachOther(roomId: string, members: Client[]): Promise<void> {
  const userIds = (c: Client) => new Set(streamApiInternals(c.streamApi).realtime.participants(roomId)?.values() ?? []);
  await until(() => members.every((c) => members.every((o) => o === c || userIds(c).has(o.connection.userId))), 'members to see each other joined');
}

export function loopbackPeers(extra: Partial<PeerOptions> = {}): PeerOptions {
  return {
    iceServers: [],
    allowCandidate: (address) => /^127\.\d+\.\d+\.\d+$/.test(address),
    node: { iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], iceInterfaceAddresses: { udp4: '127.0.0.1' } },
    connectTimeoutMs: 8000,
    ...extra,
  };
}

/** The `PeerError` a call fails with; fails the test when it succeeds or fails otherwise. */
export async function peerFailure(promise: PromiseLike<unknown>): Promise<PeerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PeerError) return error;
    throw error;
  }
  throw new Error('expected a PeerError, the call succeeded');
}
