/**
 * The forwarding unit loads at the first `mediaJoin` (lazy-unit.ts): a Bridge that carries no media
 * never loads werift, and what arrives while the unit loads keeps its order.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRoom } from '../realtime/test-client.ts';
import { LazyMediaUnit } from './lazy-unit.ts';
import { member, mediaWorld, unitStats, waitFor, type MediaWorld } from './test-kit.ts';

let w: MediaWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

async function freshRoom(world: MediaWorld): Promise<string> {
  const u = (id: string) => world.tenant.users[id]!;
  const built = await createRoom(world.t.bridge, world.tenant, world.tokens.alice!, u('alice'), [u('alice'), u('bob')], [u('alice')]);
  return built.record.roomId;
}

describe('the lazily loaded forwarding unit', () => {
  it('is not loaded by rooms and joins without media, and a leave sent behind the first mediaJoin closes its session', async () => {
    w = await mediaWorld(['alice', 'bob']);
    const unit = w.t.bridge.realtime.media;
    expect(unit).toBeInstanceOf(LazyMediaUnit);
    const roomId = await freshRoom(w);
    const alice = await member(w, 'alice', roomId, false);
    expect((unit as LazyMediaUnit).unit).toBeUndefined();
    expect(unitStats(w).sessions).toBe(0);

    // Both sent at once: the leave arrives while the unit is still loading for the join, and is
    // answered once it has been done, after the join.
    const answered: string[] = [];
    const [joined, left] = await Promise.all([
      alice.request('mediaJoin', { roomId }).then((r) => {
        answered.push('join');
        return r;
      }),
      alice.request('mediaLeave', { roomId }).then((r) => {
        answered.push('leave');
        return r;
      }),
    ]);
    expect(joined).toMatchObject({ limits: expect.any(Object) });
    expect(left).toBeDefined();
    expect(answered).toEqual(['join', 'leave']);
    expect((unit as LazyMediaUnit).unit).toBeDefined();
    await new Promise((r) => setTimeout(r, 20));
    expect(unitStats(w).sessions).toBe(0);

    // Loaded, it answers at once, and the session it opens stays open.
    await alice.request('mediaJoin', { roomId });
    expect(unitStats(w).sessions).toBe(1);
  });

  it('ends the session of a connection that closes while the unit loads', async () => {
    w = await mediaWorld(['alice', 'bob']);
    const roomId = await freshRoom(w);
    const bob = await member(w, 'bob', roomId, false);
    const join = bob.request('mediaJoin', { roomId }).catch(() => 'closed');
    await bob.close();
    await join;
    await waitFor(() => (w!.t.bridge.realtime.media as LazyMediaUnit).unit !== undefined, 'the unit loaded');
    await new Promise((r) => setTimeout(r, 20));
    expect(unitStats(w).sessions).toBe(0);
  });

  it('refuses to start with allowed networks that do not parse, as the werift unit did', async () => {
    await expect(mediaWorld(['alice'], { media: { allowedRemoteNetworks: ['10.0.0.0/40'] } } as never)).rejects.toThrow(/media\.allowedRemoteNetworks/);
  });
});
