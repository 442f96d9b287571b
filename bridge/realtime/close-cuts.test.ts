/**
 * A socket the Bridge closes is cut at once (docs/operations/limits.md, "Users, sessions and rooms"):
 * its rooms, streams and media end when the Bridge sends the close, not when the client answers it. A
 * client that ignores the close frame (here: one that stops reading its socket) kept its place in its
 * rooms, and kept sending to them, until ws gave up on the handshake 30 s later.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE } from '../../protocol/ws.ts';
import { relayKit, type RelayKit } from './test-client.ts';

let kit: RelayKit;
beforeAll(async () => {
  kit = await relayKit(['alice', 'bob'], { realtime: { maxSocketsPerSession: 1 } as never });
});
afterAll(() => kit.close());

describe('a socket the Bridge closes', () => {
  it('leaves its rooms and stops relaying at once, though the client never answers the close', async () => {
    const roomId = await kit.room('alice', ['alice', 'bob']);
    const alice = await kit.connect('alice');
    await alice.request('join', { roomId });
    const bob = await kit.connect('bob');
    await bob.request('join', { roomId });
    const { stream } = await bob.request('publish', { roomId, streamId: 'cam', tracks: [{ trackId: 'd', kind: 'data' }] });
    const own = stream.tracks[0]!.trackNo;
    const trackNo = (await alice.request('subscribeStreams', { roomId, add: [{ streamId: 'cam' }], remove: [] })).tracks[0]!.trackNo;
    bob.sendData(own, new Uint8Array([1]));
    await alice.until(() => alice.dataFrames(trackNo).length === 1, 'the first frame');

    // bob stops reading: he will never see the close frame. A second socket of his session replaces this one.
    bob.pause();
    const closedAt = Date.now();
    const replacement = await kit.connect('bob');
    const left = await alice.event('streamRoomLeft', (e) => e.connectionId === bob.connectionId, 3000);
    expect(left).toMatchObject({ userId: 'bob', reason: 'disconnected' });
    expect(Date.now() - closedAt).toBeLessThan(3000);
    // What the old socket still sends reaches no one.
    for (let i = 0; i < 5; i++) bob.sendData(own, new Uint8Array([2]));
    await replacement.request('ping', {});
    await alice.request('ping', {});
    await new Promise((r) => setTimeout(r, 200));
    expect(alice.dataFrames(trackNo)).toHaveLength(1);
    bob.resume();
    expect((await bob.closed).code).toBe(CLOSE.replaced);
  });
});
