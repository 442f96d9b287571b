/**
 * The ICE guards (ice-guard.ts): STUN MESSAGE-INTEGRITY checked as RFC 8489 computes it, and an
 * attacker with plain UDP sockets on 127.0.0.1 against a connected transport: Binding requests
 * without the transport's integrity, from outside the allowed networks, or from more source
 * addresses than a transport may have candidates, all of which werift answered and turned into
 * connectivity checks; and DTLS from an address that is no candidate. All UDP on 127.0.0.0/8.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classes, Message, methods } from 'werift';
import { isStunRequest, MAX_REMOTE_CANDIDATES, stunIntegrityOk } from './ice-guard.ts';
import { guardLoopbackUdp } from './test-peer.ts';
import { mediaRoom, mediaWorld, member, publishMedia, waitFor, type MediaWorld } from './test-kit.ts';

const PASSWORD = 'abcdefghijklmnopqrstuvwx';

/** A Binding request as a controlling ICE agent sends it, with MESSAGE-INTEGRITY when `password` is given. */
function bindingRequest(username: string, password?: string): Buffer {
  const m = new Message(methods.BINDING, classes.REQUEST)
    .setAttribute('USERNAME', username)
    .setAttribute('PRIORITY', 1_853_824_767)
    .setAttribute('ICE-CONTROLLING', 1234n);
  if (password !== undefined) m.addMessageIntegrity(Buffer.from(password, 'utf8'));
  return m.addFingerprint().bytes;
}

describe('stunIntegrityOk', () => {
  it("accepts werift's own MESSAGE-INTEGRITY and nothing that differs from it", () => {
    const request = bindingRequest('unit:peer', PASSWORD);
    expect(isStunRequest(request)).toBe(true);
    expect(stunIntegrityOk(request, PASSWORD)).toBe(true);
    expect(stunIntegrityOk(request, `${PASSWORD}x`)).toBe(false);
    const tampered = Buffer.from(request);
    tampered[25] = tampered[25]! ^ 1; // inside USERNAME
    expect(stunIntegrityOk(tampered, PASSWORD)).toBe(false);
    expect(stunIntegrityOk(bindingRequest('unit:peer'), PASSWORD)).toBe(false);
    // A truncated attribute is not read past the datagram.
    expect(stunIntegrityOk(request.subarray(0, 40), PASSWORD)).toBe(false);
    const response = new Message(methods.BINDING, classes.RESPONSE).bytes;
    expect(isStunRequest(response)).toBe(false);
    expect(isStunRequest(Buffer.from([0x80, 0xc8, 0, 1]))).toBe(false);
  });
});

describe('an attacker sending STUN to a connected transport', () => {
  const udp = guardLoopbackUdp();
  let w: MediaWorld;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // 127.0.0.2 is outside the allowed networks here.
    w = await mediaWorld(['alice', 'bob'], { media: { allowedRemoteNetworks: ['127.0.0.1/32'] } });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await w.close();
    udp.restore();
    expect(udp.violations).toEqual([]);
  });

  /** A UDP socket on `address` that records every datagram it gets. */
  async function attacker(address = '127.0.0.1'): Promise<{ socket: Socket; got: Buffer[] }> {
    const socket = createSocket('udp4');
    sockets.push(socket);
    const got: Buffer[] = [];
    socket.on('message', (m) => got.push(m));
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return { socket, got };
  }

  it('gets no answer and no check without the transport’s integrity or from outside the allowed networks, and no more candidates than the cap', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice']);
    const alice = await member(w, 'alice', roomId);
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video']);
    const port = Number(/^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+)/m.exec(pub.answer)![1]);
    const unitUfrag = /^a=ice-ufrag:(\S+)/m.exec(pub.answer)![1]!;
    const unitPwd = /^a=ice-pwd:(\S+)/m.exec(pub.answer)![1]!;
    const username = `${unitUfrag}:${/^a=ice-ufrag:(\S+)/m.exec(pub.peer.pc.localDescription!.sdp)![1]}`;
    const counters = w.t.bridge.realtime.media.counters;
    const send = (s: Socket, datagram: Buffer) =>
      new Promise<void>((resolve, reject) => s.send(datagram, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));

    // Without MESSAGE-INTEGRITY, with the wrong one, and with the right one from 127.0.0.2.
    const stunRefused = counters.stunRefused;
    const stranger = await attacker();
    await send(stranger.socket, bindingRequest(username));
    await send(stranger.socket, bindingRequest(username, `${unitPwd}x`));
    const outside = await attacker('127.0.0.2');
    await send(outside.socket, bindingRequest(username, unitPwd));
    await waitFor(() => counters.stunRefused === stunRefused + 3, 'the three requests refused');

    // The member itself, with the right integrity, from 40 source ports: each new one becomes a
    // peer-reflexive candidate, which werift answers and checks.
    const candidatesRefused = counters.candidatesRefused;
    const spoofed = await Promise.all(Array.from({ length: 40 }, () => attacker()));
    for (const s of spoofed) await send(s.socket, bindingRequest(username, unitPwd));
    // The publisher's own candidates, from its offer, are in already.
    const room = MAX_REMOTE_CANDIDATES - (pub.peer.pc.localDescription!.sdp.match(/^a=candidate:/gm) ?? []).length;
    await waitFor(() => counters.candidatesRefused === candidatesRefused + 40 - room, 'the sources past the cap refused');
    await new Promise((r) => setTimeout(r, 500));
    // Answered (the requests had the integrity), but only the admitted sources are checked back.
    const checked = spoofed.filter((s) => s.got.some((d) => isStunRequest(d)));
    expect(checked.length).toBeGreaterThan(0);
    expect(checked.length).toBeLessThanOrEqual(room);
    expect([...stranger.got, ...outside.got]).toEqual([]);

    // DTLS from an address that is no candidate of the transport (a DTLS alert record here) never
    // reaches werift; the publisher's own media still does.
    const foreign = counters.foreignDatagrams;
    const dtlsAlert = Buffer.from([21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40]);
    await send(stranger.socket, dtlsAlert);
    await waitFor(() => counters.foreignDatagrams === foreign + 1, 'the foreign datagram refused');
    expect(pub.peer.pc.connectionState).toBe('connected');
  });

  it(`takes at most ${MAX_REMOTE_CANDIDATES} trickled candidates before the receive offer is answered too`, async () => {
    // werift holds candidates that come before the remote description in a list of its own.
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    await publishMedia(w, alice, roomId, 'cam', ['video']);
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'cam' }], remove: [] });
    await bob.mediaEvent('mediaReceiveOffer', (e) => e.roomId === roomId);
    const answers = [];
    for (let i = 0; i < MAX_REMOTE_CANDIDATES + 2; i++) {
      const candidate = { candidate: `candidate:9 1 udp 2122260223 127.0.0.1 ${42000 + i} typ host`, sdpMid: '0', sdpMLineIndex: 0 };
      answers.push(await bob.request('mediaCandidate', { roomId, transport: 'receive', candidate }));
    }
    expect(answers.filter((a) => a.accepted)).toHaveLength(MAX_REMOTE_CANDIDATES);
    expect(answers.slice(MAX_REMOTE_CANDIDATES)).toEqual([{ accepted: false }, { accepted: false }]);
  });
});
