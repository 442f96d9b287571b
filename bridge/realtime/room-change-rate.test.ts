/**
 * Room changes are rate-limited per user (docs/operations/limits.md, "Users, sessions and rooms"):
 * a member who joins and leaves, or publishes and unpublishes, in a loop makes every other member of
 * the room receive an event per change. Past the burst, changes that start something are refused with
 * RATE_LIMITED over all the user's sockets; leaving is never refused, and other users are not touched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayKit, type RelayKit } from './test-client.ts';

const PER_SECOND = 4;
const BURST = 20;

let kit: RelayKit;
beforeAll(async () => {
  kit = await relayKit(['mallory', 'alice'], { realtime: { roomChangesPerSecond: PER_SECOND, roomChangesBurst: BURST } as never });
});
afterAll(() => kit.close());

describe('room changes per user', () => {
  it('a join-and-leave loop is refused past the burst on every socket of the user; leaving is not, nor is another user', async () => {
    const roomId = await kit.room('mallory', ['mallory', 'alice']);
    const alice = await kit.connect('alice');
    await alice.request('join', { roomId });
    const [looping, other] = [await kit.connect('mallory'), await kit.connect('mallory')];
    await other.request('join', { roomId });
    const refusedBefore = kit.t.bridge.realtime.roomChanges.refused;

    let joins = 0;
    let refusal = '';
    const started = Date.now();
    for (let i = 0; i < 4 * BURST && refusal === ''; i++) {
      try {
        await looping.request('join', { roomId });
        joins++;
        await looping.request('leave', { roomId });
      } catch (error) {
        refusal = (error as Error).message;
      }
    }
    // A join and its leave take a token each: about half the burst in pairs, plus what refilled meanwhile.
    expect(refusal).toMatch(/^RATE_LIMITED: more than 4 room changes a second/);
    expect(joins).toBeGreaterThanOrEqual(BURST / 2 - 1);
    expect(joins).toBeLessThanOrEqual(BURST / 2 + 1 + Math.ceil((((Date.now() - started) / 1000) * PER_SECOND) / 2));
    expect(kit.t.bridge.realtime.roomChanges.refused).toBe(refusedBefore + 1);
    // The user's other socket is held to the same rate; its leave still goes through.
    expect(await other.failure('publish', { roomId, streamId: 'cam', tracks: [{ trackId: 'd', kind: 'data' }] })).toBe('RATE_LIMITED');
    await other.request('leave', { roomId });
    // Another user is not touched, and saw at most as many joins as the burst allowed.
    const bob = await kit.connect('alice');
    await bob.request('join', { roomId });
    await bob.request('leave', { roomId });
    expect(alice.events('streamRoomJoined').filter((e) => e.userId === 'mallory').length).toBeLessThanOrEqual(BURST / 2 + 3);
  });

  it('the rate refills: a refused user gets in again after about one token per 1/rate s', async () => {
    const roomId = await kit.room('alice', ['mallory', 'alice']);
    const mallory = await kit.connect('mallory');
    const started = Date.now();
    for (;;) {
      try {
        await mallory.request('join', { roomId });
        break;
      } catch (error) {
        expect((error as Error).message).toMatch(/^RATE_LIMITED/);
        expect(Date.now() - started).toBeLessThan(5000);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
});
