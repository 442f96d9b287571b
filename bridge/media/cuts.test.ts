/**
 * What the unit cuts and what it holds back: a member removed by a room update stops receiving and
 * publishing when the update commits; a closed socket ends its media; one subscriber's keyframe
 * requests reach the publisher at most once a second per track. All UDP on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rest } from '../../test/harness.ts';
import { successor, verifiedHead } from '../../test/rooms.ts';
import { createRoom } from '../realtime/test-client.ts';
import { guardLoopbackUdp } from './test-peer.ts';
import { answerOffer, mediaKeys, mediaWorld, member, publishMedia, receiveMedia, sendFrames, unitStats, waitFor, type MediaWorld } from './test-kit.ts';

let w: MediaWorld;
const udp = guardLoopbackUdp();

beforeAll(async () => {
  w = await mediaWorld(['alice', 'bob', 'carol']);
});
afterAll(async () => {
  await w.close();
  udp.restore();
  expect(udp.violations).toEqual([]);
});

const u = (id: string) => w.tenant.users[id]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('media cuts', () => {
  it('cuts a removed member when the room update commits: it receives nothing more, its tracks end', async () => {
    const built = await createRoom(w.t.bridge, w.tenant, w.tokens.alice!, u('alice'), [u('alice'), u('bob'), u('carol')], [u('alice')]);
    const roomId = built.record.roomId;
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    const carol = await member(w, 'carol', roomId);
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video']);
    const atBob = await receiveMedia(w, bob, roomId, 'cam');
    const atCarol = await receiveMedia(w, carol, roomId, 'cam');
    // carol publishes too, and bob receives her.
    const carolPub = await publishMedia(w, carol, roomId, 'carol-mic', ['audio']);
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'carol-mic' }], remove: [] });
    await answerOffer(bob, roomId, atBob.peer, 2);

    const keys = await mediaKeys(roomId, 'alice');
    await sendFrames(keys, pub.tracks[0]!.track, 1, 10);
    await waitFor(() => atBob.peer.received.length >= 10 && atCarol.peer.received.length >= 10, 'both subscribers receiving');
    expect(unitStats(w).tracks.find((t) => t.trackNo === pub.tracks[0]!.trackNo)?.subscribers).toBe(2);

    const head = await verifiedHead(w.t.bridge.url, w.tokens.alice!, roomId);
    const next = await successor(head, built.epochKey, u('alice'), { users: [u('alice'), u('bob')], managers: [u('alice')] });
    const reply = await rest(w.t.bridge.url, w.tokens.alice).put(`/v1/rooms/${roomId}`, { ...next.request, version: 1 });
    expect(reply.status).toBe(200);

    // Done by the time the REST reply came back: one subscriber left, carol's track gone.
    const stats = unitStats(w);
    expect(stats.tracks.find((t) => t.trackNo === pub.tracks[0]!.trackNo)?.subscribers).toBe(1);
    expect(stats.tracks.find((t) => t.trackNo === carolPub.tracks[0]!.trackNo)).toBeUndefined();
    const carolHad = atCarol.peer.received.length;
    const more = await sendFrames(keys, pub.tracks[0]!.track, 11, 20);
    await waitFor(() => atBob.peer.received.length >= 30, 'bob gets the rest');
    expect(atBob.peer.payloads().slice(10)).toEqual(more);
    await sleep(100);
    expect(atCarol.peer.received.length).toBe(carolHad);
    // carol can do nothing with media in the room any more.
    expect(await carol.failure('mediaJoin', { roomId })).toBe('NOT_JOINED');
  });

  it('ends the media of a connection that closes', async () => {
    const built = await createRoom(w.t.bridge, w.tenant, w.tokens.alice!, u('alice'), [u('alice'), u('bob')], [u('alice')]);
    const roomId = built.record.roomId;
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video']);
    const atBob = await receiveMedia(w, bob, roomId, 'cam');
    const before = unitStats(w).sessions;
    await bob.close();
    await waitFor(() => unitStats(w).sessions === before - 1, "bob's session closed");
    expect(unitStats(w).tracks.find((t) => t.trackNo === pub.tracks[0]!.trackNo)?.subscribers).toBe(0);
    await alice.close();
    await waitFor(() => unitStats(w).tracks.every((t) => t.trackNo !== pub.tracks[0]!.trackNo), "alice's track ended");
    expect(atBob.peer.received.length).toBe(0);
  });

  it('throttles keyframe requests: a subscriber asking 40 times gets the publisher asked at most once a second', async () => {
    const built = await createRoom(w.t.bridge, w.tenant, w.tokens.alice!, u('alice'), [u('alice'), u('bob')], [u('alice')]);
    const roomId = built.record.roomId;
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video']);
    const atBob = await receiveMedia(w, bob, roomId, 'cam');
    const keys = await mediaKeys(roomId, 'alice');
    await sendFrames(keys, pub.tracks[0]!.track, 1, 5);
    await waitFor(() => atBob.peer.received.length >= 5, 'packets at bob');

    // bob cannot decrypt (say) and asks for a keyframe every 25 ms for a second.
    const receiver = atBob.peer.pc.getTransceivers()[0]!.receiver;
    const ssrc = atBob.peer.received[0]!.ssrc;
    const started = performance.now();
    for (let i = 0; i < 40; i++) {
      await receiver.sendRtcpPLI(ssrc);
      await sleep(25);
    }
    const elapsedMs = performance.now() - started;
    const track = () => unitStats(w).tracks.find((t) => t.trackNo === pub.tracks[0]!.trackNo)!;
    await waitFor(() => track().keyframeRequests.received >= 40, 'the unit saw every request');
    await sleep(50);
    const k = track().keyframeRequests;
    // At most one per started second, plus the one the unit asks for itself when bob connects.
    const bound = Math.ceil(elapsedMs / 1000) + 1;
    expect(k.forwarded).toBeLessThanOrEqual(bound);
    expect(k.suppressed).toBeGreaterThanOrEqual(40 - bound);
    expect(pub.peer.keyframeRequests).toBeGreaterThanOrEqual(1);
    expect(pub.peer.keyframeRequests).toBeLessThanOrEqual(k.forwarded);
  });
});
