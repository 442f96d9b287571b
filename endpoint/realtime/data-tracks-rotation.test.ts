/**
 * Issue 5: data tracks across key rotations (docs/design.md "Rotation"; docs/design.md "Lessons from earlier systems": PrivMX senders kept the
 * old key until they rejoined). Another manager rotates or removes while a sender is mid-stream; the
 * sender follows through its internal room subscription, receivers keep receiving, and a removed
 * member is cut off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSFrameHeader, parseKid } from '../../crypto/sframe/index.ts';
import { decodeFrame } from '../../protocol/ws.ts';
import { captureFrames, DataLog, EventLog, publishDataTrack, pub, refusal, roomLeftLog, startKit, until, utf8, type Client, type Kit } from './test-kit.ts';
import { streamApiInternals } from '../internal.ts';

/** Messages sent before the rotation starts, and after the sender is known to hold the new epoch. */
const BEFORE = 20;
const AFTER = 20;
/** A guard against a loop that never sees the new epoch: fail rather than spin. */
const MAX_MESSAGES = 2000;

let kit: Kit;
let alice: Client;
let bob: Client;
let carol: Client;
let dave: Client;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'carol', 'dave']);
  [alice, bob, carol, dave] = await Promise.all([kit.connect('alice'), kit.connect('bob'), kit.connect('carol'), kit.connect('dave')]);
});
afterAll(async () => {
  await kit.close();
});

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

/**
 * alice sends numbered messages: BEFORE of them, then `change()` starts (by dave, who is not joined),
 * then she keeps sending until she holds epoch 2, then AFTER more. Returns every text she sent and the
 * index of the first one sent once she held epoch 2.
 */
async function streamAcross(roomId: string, trackId: string, change: () => Promise<void>): Promise<{ sent: string[]; firstAfter: number }> {
  const sent: string[] = [];
  const send = async () => {
    const text = `m${sent.length}`;
    sent.push(text);
    await alice.streamApi.sendData(trackId, utf8(text));
    await tick();
  };
  while (sent.length < BEFORE) await send();
  const changed = change();
  while (streamApiInternals(alice.streamApi).keys.newestEpoch(roomId) !== 2) {
    if (sent.length > MAX_MESSAGES) throw new Error('the sender never got the new epoch');
    await send();
  }
  const firstAfter = sent.length;
  while (sent.length < firstAfter + AFTER) await send();
  await changed;
  return { sent, firstAfter };
}

/** The epoch low bits and session id of each DATA frame alice sent. */
function kidsOf(frames: Uint8Array[]): Array<{ epochLow: number; sessionId: number; memberIndex: number }> {
  return frames.map((f) => {
    const decoded = decodeFrame(f);
    if (decoded?.type !== 'data') throw new Error('expected a DATA frame');
    return parseKid(decodeSFrameHeader(decoded.payload).kid);
  });
}

describe('data tracks across rotations', () => {
  it('follows a rotation mid-stream: receivers keep receiving, and every frame after it is under the new epoch', async () => {
    const roomId = await kit.room(dave, [alice, bob, dave], [dave]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const { handle, trackId } = await publishDataTrack(alice, roomId);
    const data = new DataLog(bob, roomId);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    const frames = captureFrames(alice);
    const bobBefore = bob.streamApi.dataTrackStats();

    const { sent, firstAfter } = await streamAcross(roomId, trackId, async () => {
      const room = await dave.streamApi.getStreamRoom(roomId);
      await dave.streamApi.updateStreamRoom(roomId, room.users, room.managers, room.publicMeta, room.privateMeta, room.version, false, true);
    });
    await until(() => data.messages.length === sent.length, 'every message at bob');
    expect(data.texts()).toEqual(sent);
    const epochs = data.messages.map((m) => m.info.epoch);
    expect(epochs[0]).toBe(1);
    expect(epochs.slice(firstAfter).every((e) => e === 2)).toBe(true);
    // Never back to the old key once the new one is in use.
    const firstNew = epochs.indexOf(2);
    expect(firstNew).toBeGreaterThanOrEqual(BEFORE);
    expect(epochs.slice(firstNew).every((e) => e === 2)).toBe(true);
    const stats = bob.streamApi.dataTrackStats();
    expect(stats.undecryptable - bobBefore.undecryptable).toBe(0);
    expect(stats.noKey - bobBefore.noKey).toBe(0);

    // On the wire: one KID per epoch, a fresh session for the new one, the low epoch bits in the KID.
    const kids = kidsOf(frames);
    expect(kids.map((k) => k.epochLow)).toEqual(epochs);
    const sessions = new Set(kids.map((k) => `${k.epochLow}:${k.sessionId}`));
    expect(sessions.size).toBe(2);
    expect(new Set(kids.map((k) => k.sessionId)).size).toBe(2);
    expect(new Set(kids.map((k) => k.memberIndex))).toEqual(new Set([0])); // alice is users[0]
    await alice.streamApi.leaveStreamRoom(roomId);
    await bob.streamApi.leaveStreamRoom(roomId);
    data.remove();
  });

  it('cuts a removed member off mid-stream; the others go on under the new epoch', async () => {
    const roomId = await kit.room(dave, [alice, bob, carol, dave], [dave]);
    for (const c of [alice, bob, carol]) await c.streamApi.joinStreamRoom(roomId);
    const { handle, trackId } = await publishDataTrack(alice, roomId);
    const carolTrack = await publishDataTrack(carol, roomId);
    const bobData = new DataLog(bob, roomId, handle);
    const carolData = new DataLog(carol, roomId, handle);
    const bobEvents = new EventLog(bob);
    const carolEvents = new EventLog(carol);
    const carolLeft = roomLeftLog(carol);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    await carol.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);

    let carolHad = -1;
    const { sent, firstAfter } = await streamAcross(roomId, trackId, async () => {
      const room = await dave.streamApi.getStreamRoom(roomId);
      // Removing a user rotates the key on its own.
      await dave.streamApi.updateStreamRoom(
        roomId,
        [pub(alice.user), pub(bob.user), pub(dave.user)],
        room.managers,
        room.publicMeta,
        room.privateMeta,
        room.version,
        false,
        false,
      );
      // The Bridge cut carol out before answering the update; what she has now is all she gets.
      await until(() => carolLeft.length === 1, 'carol leaving');
      carolHad = carolData.messages.length;
    });

    // bob got everything, in order; the frames after the removal are under epoch 2.
    await until(() => bobData.messages.length === sent.length, 'every message at bob');
    expect(bobData.texts()).toEqual(sent);
    expect(bobData.messages.slice(firstAfter).every((m) => m.info.epoch === 2)).toBe(true);

    // carol: removed, told so, and nothing after that.
    expect(carolLeft).toEqual([{ roomId, reason: 'removed' }]);
    expect(carolEvents.of('streamRoomLeft', roomId)).toEqual([
      { type: 'streamRoomLeft', streamRoomId: roomId, userId: 'carol', connectionId: carol.connection.connectionId, reason: 'removed' },
    ]);
    expect(carolData.messages.length).toBe(carolHad);
    expect(carolHad).toBeLessThan(sent.length);
    expect(carolData.texts()).toEqual(sent.slice(0, carolHad));
    expect(carolData.messages.every((m) => m.info.epoch === 1)).toBe(true);
    // Her own stream ended with the room; she cannot send or rejoin.
    const ended = await refusal(carol.streamApi.sendData(carolTrack.trackId, utf8('after removal')));
    expect(ended.reason).toBe('AccessDenied');
    expect(ended.message).toContain('removed');
    expect((await refusal(carol.streamApi.joinStreamRoom(roomId))).reason).toBe('AccessDenied');
    // The others hear that her stream ended and that she left, removed.
    await bobEvents.next('streamRoomLeft', (e) => e.userId === 'carol');
    expect(bobEvents.of('streamUnpublished', roomId)).toEqual([
      { type: 'streamUnpublished', streamRoomId: roomId, streamId: carolTrack.handle, userId: 'carol' },
    ]);
    expect(bobEvents.of('streamRoomLeft', roomId)).toMatchObject([{ userId: 'carol', reason: 'removed' }]);

    await alice.streamApi.leaveStreamRoom(roomId);
    await bob.streamApi.leaveStreamRoom(roomId);
    bobEvents.stop();
    carolEvents.stop();
  });
});
