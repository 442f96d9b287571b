/**
 * werift's UDP sockets have no 'error' listener. Node emits a failed `send` without a callback (werift
 * sends that way) as an 'error' event on the socket, and an 'error' event nobody listens to is thrown:
 * one datagram the kernel refuses (an unreachable network, a broadcast address a client named as its
 * candidate) would take the whole Bridge down. The unit gives every socket of its transports a
 * listener that logs the error and keeps going.
 */
import type { Socket } from 'node:dgram';
import type { RTCPeerConnection } from 'werift';

/** Adds an 'error' listener to each UDP socket of the peer connection that has none. Returns how many. */
export function guardUdpSockets(pc: RTCPeerConnection, onError: (error: Error) => void): number {
  let guarded = 0;
  for (const ice of pc.iceTransports) {
    // `protocols` is private in werift's types; each StunProtocol holds a UdpTransport with its socket.
    const protocols = (ice.connection as unknown as { protocols?: Array<{ transport?: { socket?: Socket } }> }).protocols ?? [];
    for (const protocol of protocols) {
      const socket = protocol.transport?.socket;
      if (socket === undefined || typeof socket.listenerCount !== 'function' || socket.listenerCount('error') > 0) continue;
      socket.on('error', onError);
      guarded++;
    }
  }
  return guarded;
}
