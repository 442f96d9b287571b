/**
 * The forwarding unit end to end without a browser: werift peers publish and receive through a real
 * Bridge, signalling over the real WebSocket. Payloads are SFrame ciphertexts (media keys); the unit
 * must deliver them byte for byte. All UDP stays on 127.0.0.1 (checked for every datagram).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useAudioLevelIndication, useOPUS, useSdesMid, useVP8 } from 'werift';
import { MAX_REMOTE_CANDIDATES } from './ice-guard.ts';
import { guardLoopbackUdp } from './test-peer.ts';
import {
  answerOffer,
  mediaKeys,
  mediaRoom,
  mediaWorld,
  member,
  peer,
  publishMedia,
  receiveMedia,
  sendFrames,
  unitStats,
  waitFor,
  type MediaWorld,
} from './test-kit.ts';

let w: MediaWorld;
const udp = guardLoopbackUdp();

beforeAll(async () => {
  w = await mediaWorld(['alice', 'bob', 'carol', 'dave']);
});
afterAll(async () => {
  await w.close();
  udp.restore();
  expect(udp.violations).toEqual([]);
});

describe('media forwarding unit', () => {
  it("forwards a publisher's SFrame-protected RTP to a subscriber byte for byte", async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video']);
    const sub = await receiveMedia(w, bob, roomId, 'cam');
    expect(sub.offer.tracks).toEqual([
      { mid: expect.any(String), trackNo: pub.tracks[0]!.trackNo, kind: 'video', streamId: 'cam', trackId: 'video0', userId: 'alice' },
    ]);

    // Keyframes are asked for with PLI only (docs/media/forwarding-unit.md, "Keyframes, NACK").
    for (const sdp of [pub.answer, sub.offer.sdp]) {
      expect(sdp).toMatch(/^a=rtcp-fb:\d+ nack pli$/m);
      expect(sdp).not.toContain('ccm fir');
    }
    const keys = await mediaKeys(roomId, 'alice');
    const sent = await sendFrames(keys, pub.tracks[0]!.track, 1, 50);
    await waitFor(() => sub.peer.received.length >= 50, '50 packets at bob');
    expect(sub.peer.payloads()).toEqual(sent);
    // bob's copy decrypts: the unit changed nothing it authenticates.
    const first = await keys.receiver.decrypt(new Uint8Array(0), sub.peer.payloads()[0]!);
    expect(new DataView(first.plaintext.buffer, first.plaintext.byteOffset).getUint32(0)).toBe(1);

    const track = unitStats(w).tracks.find((t) => t.trackNo === pub.tracks[0]!.trackNo)!;
    expect(track).toMatchObject({ kind: 'video', subscribers: 1, packetsIn: 50, packetsOut: 50, packetsOverBitrate: 0 });
    expect(udp.sends).toBeGreaterThan(100);
    // The unit's totals reach /metrics.
    const metrics = await w.t.bridge.metrics.text();
    expect(Number(/^sealroom_media_total\{name="packetsOut"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(50);
  });

  it('lets only joined members negotiate, and only for tracks they publish', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const announced = await alice.request('publish', { roomId, streamId: 'cam', tracks: [{ trackId: 'v', kind: 'video' }] });
    const trackNo = announced.stream.tracks[0]!.trackNo;
    const p = peer(w);
    const { transceiver } = p.addSendTrack('video');
    const sdp = await p.offer();
    const tracks = [{ mid: transceiver.mid!, trackNo }];

    // dave is no member: he cannot join, so he cannot open or negotiate media.
    const dave = await member(w, 'dave', roomId, false).catch((e: unknown) => e);
    expect(String(dave)).toMatch(/FORBIDDEN/);
    const outsider = w.clients.at(-1)!;
    expect(await outsider.failure('mediaJoin', { roomId })).toBe('NOT_JOINED');
    expect(await outsider.failure('mediaOffer', { roomId, sdp, tracks })).toBe('NOT_JOINED');
    expect(await outsider.failure('mediaAnswer', { roomId, revision: 1, sdp })).toBe('NOT_JOINED');
    expect(await outsider.failure('mediaCandidate', { roomId, transport: 'publish', candidate: null })).toBe('NOT_JOINED');

    // bob is a member who joined but never sent mediaJoin; then one who offers alice's track as his.
    const bob = await member(w, 'bob', roomId, false);
    expect(await bob.failure('mediaOffer', { roomId, sdp, tracks })).toBe('MEDIA_NOT_STARTED');
    await bob.request('mediaJoin', { roomId });
    expect(await bob.failure('mediaOffer', { roomId, sdp, tracks })).toBe('TRACK_NOT_FOUND');
    // A mid the offer does not have, and a kind that does not match.
    expect(await alice.failure('mediaOffer', { roomId, sdp, tracks: [{ mid: 'nope', trackNo }] })).toBe('BAD_SDP');
    const audio = await alice.request('updateStream', {
      roomId,
      streamId: 'cam',
      tracks: [
        { trackId: 'v', kind: 'video' },
        { trackId: 'a', kind: 'audio' },
      ],
    });
    const audioNo = audio.stream.tracks.find((t) => t.kind === 'audio')!.trackNo;
    expect(await alice.failure('mediaOffer', { roomId, sdp, tracks: [{ mid: transceiver.mid!, trackNo: audioNo }] })).toBe('BAD_SDP');
    // Validation at the socket: an SDP over the limit never reaches the unit.
    expect(await alice.failure('mediaOffer', { roomId, sdp: 'v=0\r\n'.padEnd(64 * 1024 + 1, 'x'), tracks })).toBe('VALIDATION_FAILED');
    // A data channel does not go through the unit.
    const dc = peer(w);
    dc.pc.createDataChannel('x');
    expect(await alice.failure('mediaOffer', { roomId, sdp: await dc.offer(), tracks: [] })).toBe('BAD_SDP');
    // The owner with the right mapping gets an answer.
    const ok = await alice.request('mediaOffer', { roomId, sdp, tracks });
    expect(ok.tracks).toEqual(tracks);
    expect(ok.sdp).toMatch(/^b=TIAS:4000000$/m);
    // A candidate outside the allowed networks (loopback in tests) or an mDNS name is dropped.
    const refusedBefore = unitStats(w).candidatesRefused;
    const foreign = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.7 50000 typ host', sdpMid: transceiver.mid!, sdpMLineIndex: 0 };
    expect(await alice.request('mediaCandidate', { roomId, transport: 'publish', candidate: foreign })).toEqual({ accepted: false });
    const mdns = { ...foreign, candidate: 'candidate:1 1 udp 2122260223 0f1e2d3c.local 50000 typ host' };
    expect(await alice.request('mediaCandidate', { roomId, transport: 'publish', candidate: mdns })).toEqual({ accepted: false });
    expect(unitStats(w).candidatesRefused).toBe(refusedBefore + 2);
    expect(await alice.failure('mediaCandidate', { roomId, transport: 'receive', candidate: null })).toBe('MEDIA_NOT_STARTED');
    // A transport takes MAX_REMOTE_CANDIDATES over its life, its offer's included (werift keeps each
    // and sorts its checks on every one).
    const inOffer = (sdp.match(/^a=candidate:/gm) ?? []).length;
    expect(inOffer).toBeGreaterThan(0);
    const loopback = (port: number) => ({ candidate: `candidate:9 1 udp 2122260223 127.0.0.1 ${port} typ host`, sdpMid: transceiver.mid!, sdpMLineIndex: 0 });
    // Ports none of the offer's candidates has: one the transport has already is taken without counting.
    const offered = new Set([...sdp.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ \S+ (\d+) /gm)].map((m) => Number(m[1])));
    const ports = Array.from({ length: 100 }, (_, i) => 41000 + i).filter((port) => !offered.has(port));
    expect(offered.size).toBeGreaterThan(0);
    // A candidate the offer had is taken again and does not use up the cap.
    const again = await alice.request('mediaCandidate', { roomId, transport: 'publish', candidate: loopback([...offered][0]!) });
    expect(again).toEqual({ accepted: true });
    const answers = [];
    for (let i = 0; i < MAX_REMOTE_CANDIDATES + 2; i++)
      answers.push(await alice.request('mediaCandidate', { roomId, transport: 'publish', candidate: loopback(ports[i]!) }));
    expect(answers.filter((a) => a.accepted)).toHaveLength(MAX_REMOTE_CANDIDATES - inOffer);
    expect(answers.slice(MAX_REMOTE_CANDIDATES - inOffer)).toEqual(Array.from({ length: inOffer + 2 }, () => ({ accepted: false })));
    expect(unitStats(w).candidatesRefused).toBe(refusedBefore + 4 + inOffer);
  });

  it('never negotiates the audio-level header extension', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    // A publisher that offers audio level (as browsers do by default).
    const loud = peer(w, {
      codecs: { audio: [useOPUS()], video: [useVP8()] },
      headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()], video: [useSdesMid()] },
    });
    const pub = await publishMedia(w, alice, roomId, 'mic', ['audio'], loud);
    expect(loud.pc.localDescription!.sdp).toContain('ssrc-audio-level');
    expect(pub.answer).not.toContain('audio-level');
    const sub = await receiveMedia(w, bob, roomId, 'mic');
    expect(sub.offer.sdp).not.toContain('audio-level');
    const keys = await mediaKeys(roomId, 'alice');
    const sent = await sendFrames(keys, pub.tracks[0]!.track, 1, 10, 60);
    await waitFor(() => sub.peer.received.length >= 10, '10 audio packets at bob');
    expect(sub.peer.payloads()).toEqual(sent);
  });

  it('renegotiates when the publisher adds and removes tracks', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video']);
    const sub = await receiveMedia(w, bob, roomId, 'cam');
    expect(sub.offer.revision).toBe(1);

    // alice adds a microphone: the relay announces it, her peer offers it, bob is offered it.
    const updated = await alice.request('updateStream', {
      roomId,
      streamId: 'cam',
      tracks: [
        { trackId: 'video0', kind: 'video' },
        { trackId: 'mic', kind: 'audio' },
      ],
    });
    const micNo = updated.stream.tracks.find((t) => t.trackId === 'mic')!.trackNo;
    const mic = pub.peer.addSendTrack('audio');
    const offer2 = await pub.peer.offer();
    const bound = [
      { mid: pub.tracks[0]!.mid, trackNo: pub.tracks[0]!.trackNo },
      { mid: mic.transceiver.mid!, trackNo: micNo },
    ];
    const answer2 = await alice.request('mediaOffer', { roomId, sdp: offer2, tracks: bound });
    await pub.peer.acceptAnswer(answer2.sdp);
    const second = await answerOffer(bob, roomId, sub.peer, 2);
    expect(second.tracks.map((t) => [t.kind, t.trackId])).toEqual([
      ['video', 'video0'],
      ['audio', 'mic'],
    ]);
    const keys = await mediaKeys(roomId, 'alice');
    const sentAudio = await sendFrames(keys, mic.track, 1, 5, 60);
    const audioMid = second.tracks.find((t) => t.kind === 'audio')!.mid;
    await waitFor(() => sub.peer.payloads(audioMid).length >= 5, 'audio at bob after renegotiation');
    expect(sub.peer.payloads(audioMid)).toEqual(sentAudio);

    // alice drops the camera from her stream: bob's video m-line is stopped in offer 3; audio goes on.
    await alice.request('updateStream', { roomId, streamId: 'cam', tracks: [{ trackId: 'mic', kind: 'audio' }] });
    const third = await answerOffer(bob, roomId, sub.peer, 3);
    expect(third.tracks.map((t) => t.kind)).toEqual(['audio']);
    expect(unitStats(w).tracks.find((t) => t.trackNo === pub.tracks[0]!.trackNo)).toBeUndefined();
    const videoBefore = sub.peer.payloads(second.tracks[0]!.mid).length;
    await sendFrames(keys, pub.tracks[0]!.track, 100, 5);
    const more = await sendFrames(keys, mic.track, 6, 5, 60);
    await waitFor(() => sub.peer.payloads(audioMid).length >= 10, 'audio after the video ended');
    expect(sub.peer.payloads(audioMid).slice(5)).toEqual(more);
    expect(sub.peer.payloads(second.tracks[0]!.mid).length).toBe(videoBefore);
  });

  it('recovers lost packets with NACK on both hops (publisher to unit, unit to subscriber)', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    // werift drops a packet when loss / 100 < Math.random(): 90 here loses about 10% (RTP and RTCP).
    const lossyOut = peer(w, { debug: { outboundPacketLoss: 90 } });
    const lossyIn = peer(w, { debug: { inboundPacketLoss: 90 } });
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video'], lossyOut);
    const sub = await receiveMedia(w, bob, roomId, 'cam', lossyIn);
    let unitAsked = 0;
    let subscriberAsked = 0;
    pub.tracks[0]!.transceiver.sender.onGenericNack.subscribe(() => unitAsked++);
    sub.peer.pc.getTransceivers()[0]!.receiver.onPacketLost.subscribe(() => subscriberAsked++);
    const keys = await mediaKeys(roomId, 'alice');
    // A receiver detects a loss from a gap in sequence numbers, so not before its first packet: a few
    // packets go first (as a keyframe request would cover a lost start in a real call).
    await sendFrames(keys, pub.tracks[0]!.track, 1, 5);
    await waitFor(() => sub.peer.received.length > 0, 'a first packet at bob');
    const sent = await sendFrames(keys, pub.tracks[0]!.track, 6, 100);
    // Packets after the last ones let both receivers see those gaps too.
    let next = 106;
    const tail = setInterval(() => void sendFrames(keys, pub.tracks[0]!.track, next++, 1), 20);
    try {
      const have = () => new Set(sub.peer.payloads().map((p) => Buffer.from(p).toString('hex')));
      await waitFor(() => sent.every((p) => have().has(Buffer.from(p).toString('hex'))), 'all 100 payloads at bob', 15_000);
    } finally {
      clearInterval(tail);
    }
    expect(unitAsked).toBeGreaterThan(0);
    expect(subscriberAsked).toBeGreaterThan(0);
  });
});
