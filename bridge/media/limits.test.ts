/**
 * Every limit of the forwarding unit, broken on purpose (STYLE.md: every limit has a test that
 * breaks it): published and received tracks per connection, rooms with media per connection, the
 * per-track bitrate, an unanswered receive offer, a full UDP port range. All UDP on 127.0.0.1.
 */
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenericNack, RTCPeerConnection, RtcpTransportLayerFeedback } from 'werift';
import { MAX_REMOTE_CANDIDATES } from './ice-guard.ts';
import type { LazyMediaUnit } from './lazy-unit.ts';
import { MAX_NACKED_PER_PACKET } from './nack-guard.ts';
import { MAX_ANSWER_ATTEMPTS } from './receive-transport.ts';
import { guardLoopbackUdp, rtpPacket } from './test-peer.ts';
import { mediaKeys, mediaRoom, mediaWorld, member, peer, publishMedia, receiveMedia, sendFrames, unitStats, waitFor, type MediaWorld } from './test-kit.ts';

const udp = guardLoopbackUdp();
let w: MediaWorld;

beforeAll(async () => {
  w = await mediaWorld(['alice', 'bob'], {
    media: {
      maxPublishedTracksPerConnection: 2,
      maxReceivedTracksPerConnection: 1,
      maxSessionsPerConnection: 1,
      maxVideoBitrateBps: 80_000,
      // Long enough for ICE and DTLS on a loaded machine; the timeout tests wait this long.
      negotiationTimeoutMs: 1500,
    },
  });
});
afterAll(async () => {
  await w.close();
  udp.restore();
  expect(udp.violations).toEqual([]);
});

describe('media limits', () => {
  it('refuses more published tracks per connection than maxPublishedTracksPerConnection', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice']);
    const alice = await member(w, 'alice', roomId);
    const kinds = ['video', 'video', 'audio'] as const;
    const announced = await alice.request('publish', { roomId, streamId: 's', tracks: kinds.map((kind, i) => ({ trackId: `t${i}`, kind })) });
    const p = peer(w);
    const sending = kinds.map((k) => p.addSendTrack(k));
    const sdp = await p.offer();
    const tracks = sending.map((s, i) => ({ mid: s.transceiver.mid!, trackNo: announced.stream.tracks[i]!.trackNo }));
    expect(await alice.failure('mediaOffer', { roomId, sdp, tracks })).toBe('TOO_MANY_TRACKS');
    expect((await alice.request('mediaOffer', { roomId, sdp, tracks: tracks.slice(0, 2) })).tracks).toHaveLength(2);
  });

  it('refuses what werift would keep a socket, a track or a quadratic search for: unbundled m-lines, simulcast, piles of ssrc and candidate lines, endless new mids', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice']);
    const alice = await member(w, 'alice', roomId);
    const announced = await alice.request('publish', { roomId, streamId: 'shape', tracks: [{ trackId: 'v', kind: 'video' }] });
    const p = peer(w);
    const sending = p.addSendTrack('video');
    const sdp = await p.offer();
    const tracks = [{ mid: sending.transceiver.mid!, trackNo: announced.stream.tracks[0]!.trackNo }];
    expect(sdp).toMatch(/^a=group:BUNDLE /m);
    const lines = sdp.split('\r\n');
    const at = lines.findIndex((l) => l.startsWith('a=mid:'));
    const withLines = (extra: string[]) => [...lines.slice(0, at + 1), ...extra, ...lines.slice(at + 1)].join('\r\n');
    const refused = async (offer: string, message: RegExp) => {
      const error = await alice.request('mediaOffer', { roomId, sdp: offer, tracks }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(message);
    };
    await refused(lines.filter((l) => !l.startsWith('a=group:BUNDLE')).join('\r\n'), /^BAD_SDP: expected the audio and video m-lines in one a=group:BUNDLE/);
    await refused(withLines(['a=rid:h send', 'a=rid:l send', 'a=simulcast:send h;l']), /^BAD_SDP: expected one encoding per track/);
    await refused(withLines(Array.from({ length: 17 }, (_, i) => `a=ssrc:${1000 + i} cname:x`)), /^BAD_SDP: expected at most 16 a=ssrc lines/);
    await refused(
      withLines(Array.from({ length: MAX_REMOTE_CANDIDATES + 1 }, (_, i) => `a=candidate:${i} 1 udp 1 127.0.0.1 ${20000 + i} typ host`)),
      /^BAD_SDP: expected at most 32 a=candidate/,
    );
    // ICE credentials werift would echo in every check it sends, or that are not ICE's at all.
    const credential = (name: string, value: string) => sdp.replace(new RegExp(`^a=${name}:.*$`, 'gm'), `a=${name}:${value}`);
    await refused(credential('ice-ufrag', 'u'.repeat(257)), /^BAD_SDP: expected an a=ice-ufrag of 4-256 ICE characters/);
    await refused(credential('ice-ufrag', 'a:b c'), /^BAD_SDP: expected an a=ice-ufrag of 4-256/);
    await refused(credential('ice-pwd', 'p'.repeat(21)), /^BAD_SDP: expected an a=ice-pwd of 22-256 ICE characters/);
    // The offer as the peer made it is taken.
    expect((await alice.request('mediaOffer', { roomId, sdp, tracks })).tracks).toHaveLength(1);
    // A re-offer renaming its m-line's mid each time: werift would keep a transceiver per mid for good.
    const mid = tracks[0]!.mid;
    let accepted = 1;
    let refusal = '';
    for (let i = 0; i < 70 && refusal === ''; i++) {
      const renamed = sdp.replaceAll(`a=mid:${mid}`, `a=mid:m${i}`).replace(/^a=group:BUNDLE .*$/m, `a=group:BUNDLE m${i}`);
      try {
        await alice.request('mediaOffer', { roomId, sdp: renamed, tracks: [{ ...tracks[0]!, mid: `m${i}` }] });
        accepted++;
      } catch (error) {
        refusal = (error as Error).message;
      }
    }
    expect(refusal).toMatch(/^TOO_MANY_TRACKS: expected at most 64 mids over this transport's life/);
    expect(accepted).toBe(64);
  });

  it('gives up on a werift description call that never settles after negotiationTimeoutMs, and the socket goes on', async () => {
    // werift never settles setRemoteDescription on a connection closed between two of its steps;
    // here it is made to hang for an offer carrying a marker line.
    const roomId = await mediaRoom(w, 'alice', ['alice']);
    const alice = await member(w, 'alice', roomId);
    const announced = await alice.request('publish', { roomId, streamId: 'hang', tracks: [{ trackId: 'v', kind: 'video' }] });
    const p = peer(w);
    const sending = p.addSendTrack('video');
    const sdp = `${await p.offer()}a=x-sealroom-hang\r\n`;
    const apply = RTCPeerConnection.prototype.setRemoteDescription;
    RTCPeerConnection.prototype.setRemoteDescription = function (this: RTCPeerConnection, description) {
      return description.sdp?.includes('a=x-sealroom-hang') ? new Promise(() => undefined) : apply.call(this, description);
    };
    try {
      const tracks = [{ mid: sending.transceiver.mid!, trackNo: announced.stream.tracks[0]!.trackNo }];
      const error = await alice.request('mediaOffer', { roomId, sdp, tracks }).catch((e: Error) => e);
      expect((error as Error).message).toMatch(/^NEGOTIATION_FAILED: applying the offer did not finish within 1500 ms/);
    } finally {
      RTCPeerConnection.prototype.setRemoteDescription = apply;
    }
    await alice.request('mediaLeave', { roomId });
    await alice.request('mediaJoin', { roomId });
  });

  it('an offer that keeps its sources, and a mediaLeave without media, resync nothing and make no subscriber renegotiate', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    const announced = await alice.request('publish', { roomId, streamId: 'same', tracks: [{ trackId: 'v', kind: 'video' }] });
    const p = peer(w);
    const sending = p.addSendTrack('video');
    const sdp = await p.offer();
    const tracks = [{ mid: sending.transceiver.mid!, trackNo: announced.stream.tracks[0]!.trackNo }];
    await p.acceptAnswer((await alice.request('mediaOffer', { roomId, sdp, tracks })).sdp);
    await receiveMedia(w, bob, roomId, 'same');
    const other = await member(w, 'alice', roomId, false);
    const offers = () => bob.mediaLog.filter((e) => e.type === 'mediaReceiveOffer').length;
    const before = offers();
    // Each resync walks every session and source of the room: counted where the unit does it.
    const unit = (w.t.bridge.realtime.media as LazyMediaUnit).unit as { roomChanged(roomId: string): void };
    const resync = unit.roomChanged.bind(unit);
    let resyncs = 0;
    unit.roomChanged = (id) => {
      resyncs++;
      resync(id);
    };
    try {
      for (let i = 0; i < 5; i++) await alice.request('mediaOffer', { roomId, sdp, tracks });
      await other.request('mediaLeave', { roomId });
    } finally {
      unit.roomChanged = resync;
    }
    expect(resyncs).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(offers()).toBe(before);
    // One that ends the source does.
    await alice.request('mediaOffer', { roomId, sdp, tracks: [] });
    await bob.mediaEvent('mediaReceiveOffer', (e) => e.roomId === roomId && e.revision > 1);
  });

  it(`resends at most ${MAX_NACKED_PER_PACKET} distinct packets for one NACK, and counts what it refused`, async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video']);
    const sub = await receiveMedia(w, bob, roomId, 'cam');
    const keys = await mediaKeys(roomId, 'alice');
    await sendFrames(keys, pub.tracks[0]!.track, 0, 40, 100);
    await waitFor(() => sub.peer.received.length === 40, 'the 40 packets at bob');
    const { ssrc } = sub.peer.received[0]!;
    const seqs = sub.peer.received.map((r) => r.seq);
    // One packet asking for every one of them 100 times over: werift alone resent each every time.
    const lost = Array.from({ length: 100 }, () => seqs).flat();
    const transceiver = sub.peer.pc.getTransceivers().find((t) => t.mid === sub.peer.received[0]!.mid)!;
    const refusedBefore = w.t.bridge.realtime.media.counters.nacksRefused;
    const nack = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: ssrc, lost }) });
    await (transceiver.receiver as unknown as { dtlsTransport: { sendRtcp(p: unknown[]): Promise<unknown> } }).dtlsTransport.sendRtcp([nack]);
    await waitFor(() => sub.peer.received.length > 40, 'resent packets at bob');
    await new Promise((r) => setTimeout(r, 300));
    const resent = sub.peer.received.length - 40;
    expect(resent).toBeGreaterThan(0);
    expect(resent).toBeLessThanOrEqual(MAX_NACKED_PER_PACKET);
    expect(w.t.bridge.realtime.media.counters.nacksRefused - refusedBefore).toBe(lost.length - resent);
  });

  it('opens media in at most maxSessionsPerConnection rooms per connection', async () => {
    const first = await mediaRoom(w, 'alice', ['alice']);
    const second = await mediaRoom(w, 'alice', ['alice']);
    const alice = await member(w, 'alice', first);
    await alice.request('join', { roomId: second });
    expect(await alice.failure('mediaJoin', { roomId: second })).toBe('TOO_MANY_MEDIA_SESSIONS');
    await alice.request('mediaLeave', { roomId: first });
    await alice.request('mediaJoin', { roomId: second });
  });

  it('offers at most maxReceivedTracksPerConnection tracks to one connection', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    await publishMedia(w, alice, roomId, 'cam', ['video', 'audio']);
    const { offer } = await receiveMedia(w, bob, roomId, 'cam');
    expect(offer.tracks.map((t) => t.trackId)).toEqual(['video0']);
  });

  it('drops what a publisher sends over maxVideoBitrateBps, and says the limit in its answer', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video']);
    expect(pub.answer).toMatch(/^b=TIAS:80000$/m);
    const sub = await receiveMedia(w, bob, roomId, 'cam');
    // 40 packets of 1,000 bytes at once (encrypted first, then written in one loop): the bucket
    // holds one second at 80 kbit/s, 10,000 bytes, and refills 10 bytes per millisecond.
    const keys = await mediaKeys(roomId, 'alice');
    const frames = await Promise.all(Array.from({ length: 40 }, () => keys.sender.encrypt(keys.kid, new Uint8Array(0), new Uint8Array(1000 - 20))));
    for (const [i, frame] of frames.entries()) pub.tracks[0]!.track.writeRtp(rtpPacket(i, frame));
    const track = () => unitStats(w).tracks.find((t) => t.trackNo === pub.tracks[0]!.trackNo)!;
    await waitFor(() => track().packetsIn === 40, 'all 40 packets at the unit');
    expect(track().packetsOverBitrate).toBeGreaterThanOrEqual(28);
    await waitFor(() => sub.peer.received.length === 40 - track().packetsOverBitrate, 'the packets within the limit at bob');
  });

  it(`gives a receive transport up after ${MAX_ANSWER_ATTEMPTS} refused answers to one offer, each of which it parses in full`, async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    await publishMedia(w, alice, roomId, 'cam', ['video']);
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'cam' }], remove: [] });
    const offer = await bob.mediaEvent('mediaReceiveOffer', (e) => e.roomId === roomId);
    const codes = [];
    for (let i = 0; i < MAX_ANSWER_ATTEMPTS; i++)
      codes.push(await bob.failure('mediaAnswer', { roomId, revision: offer.revision, sdp: 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n' }));
    expect(codes.every((c) => c === 'NEGOTIATION_FAILED' || c === 'BAD_SDP')).toBe(true);
    expect(await bob.mediaEvent('mediaClosed', (e) => e.roomId === roomId)).toEqual({ type: 'mediaClosed', roomId, transport: 'receive', reason: 'failed' });
    expect(await bob.failure('mediaAnswer', { roomId, revision: offer.revision, sdp: 'v=0' })).toBe('MEDIA_NOT_STARTED');
  });

  it('closes a receive transport whose offer is not answered within negotiationTimeoutMs', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    await publishMedia(w, alice, roomId, 'cam', ['video']);
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'cam' }], remove: [] });
    const offer = await bob.mediaEvent('mediaReceiveOffer', (e) => e.roomId === roomId);
    expect(await bob.mediaEvent('mediaClosed', (e) => e.roomId === roomId)).toEqual({ type: 'mediaClosed', roomId, transport: 'receive', reason: 'timeout' });
    expect(await bob.failure('mediaAnswer', { roomId, revision: offer.revision, sdp: 'v=0' })).toBe('MEDIA_NOT_STARTED');
    // mediaJoin again: a new offer.
    await bob.request('mediaJoin', { roomId });
    await bob.mediaEvent('mediaReceiveOffer', (e) => e.roomId === roomId && e !== offer);
  });

  it('closes a publish transport that does not connect within negotiationTimeoutMs, and ends its tracks', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice']);
    const alice = await member(w, 'alice', roomId);
    const announced = await alice.request('publish', { roomId, streamId: 'cam', tracks: [{ trackId: 'v', kind: 'video' }] });
    const p = peer(w);
    const { transceiver } = p.addSendTrack('video');
    const trackNo = announced.stream.tracks[0]!.trackNo;
    // The answer is never applied: no ICE from this side, the unit's checks go unanswered.
    await alice.request('mediaOffer', { roomId, sdp: await p.offer(), tracks: [{ mid: transceiver.mid!, trackNo }] });
    expect(unitStats(w).tracks.some((t) => t.trackNo === trackNo)).toBe(true);
    expect(await alice.mediaEvent('mediaClosed', (e) => e.roomId === roomId)).toEqual({ type: 'mediaClosed', roomId, transport: 'publish', reason: 'timeout' });
    expect(unitStats(w).tracks.some((t) => t.trackNo === trackNo)).toBe(false);
  });
});

describe('media port range', () => {
  it('refuses a transport with MEDIA_UNAVAILABLE once every port of portRange is taken', async () => {
    const [low, high] = await twoFreePorts();
    const small = await mediaWorld(['alice', 'bob'], { media: { portRange: [low, high] } });
    try {
      const roomId = await mediaRoom(small, 'alice', ['alice', 'bob']);
      const alice = await member(small, 'alice', roomId);
      const bob = await member(small, 'bob', roomId);
      const pub = await publishMedia(small, alice, roomId, 'cam', ['video']);
      const sub = await receiveMedia(small, bob, roomId, 'cam');
      const ports = [pub.answer, sub.offer.sdp].map((sdp) => Number(/^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+)/m.exec(sdp)![1]));
      for (const port of ports) expect(port === low || port === high).toBe(true);
      const bobPub = await bob.request('publish', { roomId, streamId: 'b', tracks: [{ trackId: 'v', kind: 'video' }] });
      const p = peer(small);
      const { transceiver } = p.addSendTrack('video');
      const sdp = await p.offer();
      expect(await bob.failure('mediaOffer', { roomId, sdp, tracks: [{ mid: transceiver.mid!, trackNo: bobPub.stream.tracks[0]!.trackNo }] })).toBe(
        'MEDIA_UNAVAILABLE',
      );
    } finally {
      await small.close();
    }
  });
});

/** Two consecutive UDP ports free on loopback now (bound and released). */
async function twoFreePorts(): Promise<[number, number]> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const low = 40_000 + Math.floor(Math.random() * 20_000);
    const ok = await Promise.all([low, low + 1].map((port) => canBind(port)));
    if (ok.every(Boolean)) return [low, low + 1];
  }
  throw new Error('no two consecutive free UDP ports found');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}
