/**
 * Baseline for the media forwarding unit (bench/scenarios/media-forwarding.ts): a plain UDP forwarder
 * on 127.0.0.1, no ICE, no DTLS, no SRTP. A subscriber registers by sending one byte (0x01); every
 * other datagram is a packet from the publisher, copied for each subscriber with that subscriber's
 * SSRC written into the RTP header (what a forwarding unit does per subscriber), and sent. The cost
 * left is the floor of forwarding in Node: one receive and one `dgram` send per packet per subscriber.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { serve } from '../lib/worker.ts';

export interface UdpForwarderStats {
  packetsIn: number;
  packetsOut: number;
}

/** The datagram a subscriber sends to register. */
export const SUBSCRIBE = 0x01;

const socket = dgram.createSocket('udp4');
await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
let subscribers: number[] = [];
const stats: UdpForwarderStats = { packetsIn: 0, packetsOut: 0 };

socket.on('message', (message, from) => {
  if (message.length === 1 && message[0] === SUBSCRIBE) {
    subscribers.push(from.port);
    return;
  }
  stats.packetsIn++;
  for (let i = 0; i < subscribers.length; i++) {
    const out = Buffer.from(message);
    if (out.length >= 12) out.writeUInt32BE(0x1000 + i, 8);
    socket.send(out, subscribers[i]!, '127.0.0.1');
    stats.packetsOut++;
  }
});

serve(
  {
    stats: () => ({ ...stats }),
    /** Forgets every subscriber (between cases). */
    reset: () => {
      subscribers = [];
      return null;
    },
  },
  { port: (socket.address() as AddressInfo).port, pid: process.pid },
  () => new Promise<void>((resolve) => socket.close(() => resolve())),
);
