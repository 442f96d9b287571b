/**
 * The media keys follow the KeyRing (key-follower.ts) with real Bridges and Endpoints: each client's
 * follower feeds a real MediaFrameCryptor (the frame worker's code), and frames go from one to the
 * other across a rotation made by another manager and past the end of the old epoch's grace.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSFrameHeader, parseKid } from '../../crypto/sframe/index.ts';
import { streamApiInternals } from '../internal.ts';
import { KeyRefresher } from '../realtime/key-refresh.ts';
import { type Client, type Kit, startKit, until } from '../realtime/test-kit.ts';
import type { LocalMediaTrack } from './e2ee.ts';
import { MediaFrameCryptor } from './frame-cryptor.ts';
import { MediaKeyFollower } from './key-follower.ts';

const GRACE_MS = 1_500;

let kit: Kit;
let alice: Client;
let bob: Client;
let dave: Client;
const followers: MediaKeyFollower[] = [];

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'dave']);
  [alice, bob, dave] = await Promise.all([kit.connect('alice'), kit.connect('bob', { streamApi: { epochGraceMs: GRACE_MS } }), kit.connect('dave')]);
});
afterAll(async () => {
  for (const f of followers) f.close();
  await kit.close();
});

function follow(client: Client): { cryptor: MediaFrameCryptor; follower: MediaKeyFollower } {
  const { rooms, keys } = streamApiInternals(client.streamApi);
  const cryptor = new MediaFrameCryptor();
  const follower = new MediaKeyFollower({
    connection: client.connection,
    rooms,
    keys,
    refresher: new KeyRefresher(rooms, keys, client.connection.log),
    sink: (roomId, roomKeys) => cryptor.setRoomKeys(roomId, roomKeys),
    pollMs: 50,
  });
  followers.push(follower);
  return { cryptor, follower };
}

/** An Opus frame: TOC byte, then 60 random bytes. */
const opus = () => new Uint8Array(randomBytes(61));

describe('media keys follow the KeyRing', () => {
  it('hands over keys and member index, follows a rotation at once, drops the old epoch when its grace ends and every key when the ring forgets the room', async () => {
    const roomId = await kit.room(dave, [alice, bob, dave], [dave]);
    // alice is joined (her real-time plane fetches the room on streamRoomUpdated); bob is not, and
    // learns the new epoch from a frame that names it, as the frame worker reports it.
    await alice.streamApi.joinStreamRoom(roomId);
    const a = follow(alice);
    const b = follow(bob);
    a.follower.follow(roomId);
    b.follower.follow(roomId);
    await until(() => a.cryptor.room(roomId) !== undefined && b.cryptor.room(roomId) !== undefined, 'keys at both', 10_000);

    const track: LocalMediaTrack = { roomId, streamId: 'cam', trackId: 'mic', kind: 'audio' };
    const decryptor = b.cryptor.receiver({ ...track, userId: alice.user.userId });
    const sealOne = async () => {
      const out = await a.cryptor.encrypt(track, { kind: 'audio', data: opus() });
      if (!out.ok) throw new Error(`alice could not send: ${out.reason}`);
      return { data: out.data, kid: parseKid(decodeSFrameHeader(out.data.subarray(1)).kid) };
    };
    const first = await sealOne();
    expect(first.kid.epochLow).toBe(1);
    expect(first.kid.memberIndex).toBe(0); // alice is users[0] of the verified head
    // Every frame names alice's trusted head; bob's decryptor reports it (the first 12 bytes of its hash).
    const headOf = async (client: Client) => (await streamApiInternals(client.streamApi).rooms.trustedHead(roomId))!;
    const v1 = await headOf(alice);
    expect(await decryptor.decrypt({ kind: 'audio', data: first.data })).toMatchObject({
      ok: true,
      epoch: 1,
      head: { version: 1, hash: v1.hash.subarray(0, 12) },
    });
    const inFlight = await sealOne();

    const room = await dave.streamApi.getStreamRoom(roomId);
    await dave.streamApi.updateStreamRoom(roomId, room.users, room.managers, room.publicMeta, room.privateMeta, room.version, false, true);
    await until(() => a.cryptor.room(roomId)?.newest === 2, 'alice on epoch 2', 10_000);
    const fresh = await sealOne();
    expect(fresh.kid.epochLow).toBe(2);
    expect(fresh.kid.sessionId).not.toBe(first.kid.sessionId);

    // bob does not hold epoch 2 yet: the frame is dropped and names it; the follower fetches the room.
    const unknown = await decryptor.decrypt({ kind: 'audio', data: fresh.data });
    expect(unknown).toEqual({ ok: false, reason: 'noKey', newerEpoch: 2 });
    b.follower.refresh(roomId);
    await until(() => b.cryptor.room(roomId)?.newest === 2, 'bob on epoch 2', 10_000);
    // The old epoch's frame still in flight decrypts in grace; then the new epoch's.
    expect(await decryptor.decrypt({ kind: 'audio', data: inFlight.data })).toMatchObject({ ok: true, epoch: 1 });
    const v2 = await headOf(alice);
    expect(v2.record.version).toBe(2);
    expect(await decryptor.decrypt({ kind: 'audio', data: (await sealOne()).data })).toMatchObject({
      ok: true,
      epoch: 2,
      head: { version: 2, hash: v2.hash.subarray(0, 12) },
    });

    // Past the grace period the ring wipes epoch 1, and so does the worker's key set within a poll.
    await until(() => b.cryptor.room(roomId)?.key(1) === undefined, 'epoch 1 gone at bob', GRACE_MS + 5_000);
    expect(b.cryptor.room(roomId)?.key(2)).toBeDefined();
    expect(streamApiInternals(bob.streamApi).keys.get(roomId, 1)).toBeUndefined();

    // The ring forgets the room (as when it is deleted): the worker's keys go too, nothing is sent.
    streamApiInternals(alice.streamApi).keys.forget(roomId);
    await until(() => a.cryptor.room(roomId) === undefined, 'keys gone at alice', 5_000);
    expect(await a.cryptor.encrypt(track, { kind: 'audio', data: opus() })).toEqual({ ok: false, reason: 'noKey' });

    a.follower.unfollow(roomId);
    b.follower.unfollow(roomId);
    await alice.streamApi.leaveStreamRoom(roomId);
  });
});
