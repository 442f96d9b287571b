/**
 * werift on this project's Node: the package declares `engines: node >=22` and the project supports
 * Node 20.19+ (package.json). This runs two werift peers in one process over loopback (ICE, DTLS,
 * SRTP) and checks that RTP payloads arrive intact, so CI on Node 20 proves the pinned version works.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { guardLoopbackUdp, rtpPacket, TestPeer, waitFor } from './test-peer.ts';

const peers: TestPeer[] = [];
const udp = guardLoopbackUdp();
afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
  udp.restore();
});

describe('werift runtime', () => {
  it('is pinned to an exact version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies.werift).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it(`carries RTP between two peers on loopback on Node ${process.versions.node}`, async () => {
    const [a, b] = [new TestPeer(), new TestPeer()];
    peers.push(a, b);
    const { track } = a.addSendTrack('video');
    const offer = await a.offer();
    const answer = await b.answer(offer);
    await a.acceptAnswer(answer);
    // Only loopback candidates were gathered (no interface address, no STUN server).
    for (const sdp of [a.pc.localDescription!.sdp, b.pc.localDescription!.sdp]) {
      const candidates = sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
      expect(candidates.length).toBeGreaterThan(0);
      for (const line of candidates) expect(line.split(' ')[4]).toBe('127.0.0.1');
    }
    await Promise.all([a.connected(), b.connected()]);

    const sent: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) {
      const payload = new Uint8Array(100 + i).fill(i);
      sent.push(payload);
      track.writeRtp(rtpPacket(i, payload));
    }
    await waitFor(() => b.received.length >= 20, '20 RTP packets at the receiver');
    expect(b.payloads()).toEqual(sent);
    // Every UDP socket bound and every datagram sent stayed on loopback.
    expect(udp.sends).toBeGreaterThan(20);
    expect(udp.violations).toEqual([]);
  });
});

describe('werift UDP sockets', () => {
  it('throw an unlistened socket error unless guarded; guarded, the error is only reported', async () => {
    const { guardUdpSockets } = await import('./sockets.ts');
    const [a, b] = [new TestPeer(), new TestPeer()];
    peers.push(a, b);
    a.addSendTrack('audio');
    await a.acceptAnswer(await b.answer(await a.offer()));
    const socketOf = (p: TestPeer) =>
      (p.pc.iceTransports[0]!.connection as unknown as { protocols: Array<{ transport: { socket: import('node:dgram').Socket } }> }).protocols[0]!.transport
        .socket;
    // What Node does with a failed send nobody listens for: the Bridge would crash.
    expect(() => socketOf(b).emit('error', new Error('EACCES'))).toThrow('EACCES');
    const errors: Error[] = [];
    expect(guardUdpSockets(a.pc, (e) => errors.push(e))).toBe(1);
    expect(guardUdpSockets(a.pc, (e) => errors.push(e))).toBe(0); // once per socket
    socketOf(a).emit('error', new Error('ENETUNREACH'));
    expect(errors.map((e) => e.message)).toEqual(['ENETUNREACH']);
  });
});
