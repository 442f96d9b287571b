/**
 * A subscriber's receive budget (`maxReceivedTracksPerConnection`) shared round the publishers
 * (fair-share.ts): one member who publishes as many tracks as the budget, subscribed
 * first, no longer takes every place. All UDP on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardLoopbackUdp } from './test-peer.ts';
import { answerOffer, mediaRoom, mediaWorld, member, peer, publishMedia, type MediaWorld } from './test-kit.ts';
import { fairShare } from './fair-share.ts';

describe('fairShare', () => {
  it('takes one from each list in turn, each in its order, up to the budget', () => {
    expect(fairShare([[1, 2, 3, 4], [10], [20, 21]], 4)).toEqual([1, 10, 20, 2]);
    expect(fairShare([[1, 2, 3, 4], [10]], 10)).toEqual([1, 10, 2, 3, 4]);
    expect(fairShare([[1, 2]], 0)).toEqual([]);
    expect(fairShare([], 3)).toEqual([]);
  });
});

describe('the receive budget, with one member publishing as much as it holds', () => {
  const udp = guardLoopbackUdp();
  let w: MediaWorld;
  beforeAll(async () => {
    w = await mediaWorld(['alice', 'bob', 'carol'], { media: { maxReceivedTracksPerConnection: 2, maxPublishedTracksPerConnection: 4 } });
  });
  afterAll(async () => {
    await w.close();
    udp.restore();
    expect(udp.violations).toEqual([]);
  });

  it("gives carol's track a place although alice's two, subscribed first, would fill it", async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob', 'carol']);
    const alice = await member(w, 'alice', roomId);
    const carol = await member(w, 'carol', roomId);
    const bob = await member(w, 'bob', roomId);
    await publishMedia(w, alice, roomId, 'flood', ['video', 'video']);
    await publishMedia(w, carol, roomId, 'cam', ['video']);
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'flood' }, { streamId: 'cam' }], remove: [] });
    const offer = await answerOffer(bob, roomId, peer(w));
    // Before: alice's video0 and video1, and carol was never seen.
    expect(offer.tracks.map((t) => `${t.streamId}/${t.trackId}`).sort()).toEqual(['cam/video0', 'flood/video0']);
  });
});
