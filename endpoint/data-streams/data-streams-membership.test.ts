/**
 * Issue 5: streams across room changes. A rotation mid-stream: the open stream completes under the
 * epoch it opened with, the next one opens under the new epoch. A removal mid-stream: the removed
 * member's readers and writers error with `Removed`, streams it was sending end with `AbnormalEnd` for
 * their readers, and everyone else completes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../connection.ts';
import { pub } from '../realtime/test-kit.ts';
import { pattern, receiveBytes, sha256, startKit, streamFailure, until, type Client, type Kit } from './test-kit.ts';
import { streamApiInternals } from '../internal.ts';

let kit: Kit;
let alice: Client;
let bob: Client;
let carol: Client;
let dave: Client;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'carol', 'dave']);
  [alice, bob, carol, dave] = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map((id) => kit.connect(id)))) as [Client, Client, Client, Client];
});
afterAll(async () => {
  await kit.close();
});

/** Records the epochs of the byte streams a connection opens. */
function openedEpochs(connection: Connection): number[] {
  const epochs: number[] = [];
  const original = connection.request.bind(connection);
  connection.request = ((kind, body, options) => {
    if (kind === 'byteStreamOpen') epochs.push((body as unknown as { epoch: number }).epoch);
    return original(kind, body, options);
  }) as Connection['request'];
  return epochs;
}

/** A room managed by dave (who does not join) with alice, bob and carol joined. */
async function room(): Promise<string> {
  const roomId = await kit.room(dave, [alice, bob, carol, dave], [dave]);
  for (const c of [alice, bob, carol]) await c.streamApi.joinStreamRoom(roomId);
  return roomId;
}

describe('byte streams and room changes', () => {
  it('a rotation mid-stream: the open stream completes under its epoch, the next uses the new one', async () => {
    const roomId = await room();
    const epochs = openedEpochs(alice.connection);
    const atBob = receiveBytes(bob, 'rotate');
    const first = pattern(3 * 1024 * 1024, 3);
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'rotate', name: 'before.bin' });
    await writer.write(first.subarray(0, 1024 * 1024));

    const r = await dave.streamApi.getStreamRoom(roomId);
    await dave.streamApi.updateStreamRoom(roomId, r.users, r.managers, r.publicMeta, r.privateMeta, r.version, false, true);
    await until(
      () => streamApiInternals(alice.streamApi).keys.newestEpoch(roomId) === 2 && streamApiInternals(bob.streamApi).keys.newestEpoch(roomId) === 2,
      'the new epoch at alice and bob',
    );
    await writer.write(first.subarray(1024 * 1024));
    await writer.close();

    const second = pattern(100_000, 4);
    await alice.streamApi.sendFile(second, { roomId, topic: 'rotate', name: 'after.bin' });
    await until(() => atBob.length === 2, 'both streams at bob');
    expect(sha256(await atBob[0]!.done)).toBe(sha256(first));
    expect(sha256(await atBob[1]!.done)).toBe(sha256(second));
    expect(epochs).toEqual([1, 2]);
    for (const c of [alice, bob, carol]) await c.streamApi.leaveStreamRoom(roomId);
    bob.streamApi.unregisterByteStreamHandler('rotate');
  });

  it('a removal mid-stream: the removed member errors with Removed, the others complete', async () => {
    const roomId = await room();
    const atBob = receiveBytes(bob, 'remove');
    const atCarol = receiveBytes(carol, 'remove');
    const data = pattern(4 * 1024 * 1024, 5);
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'remove', name: 'all.bin' });
    await writer.write(data.subarray(0, 1024 * 1024));
    // carol also sends, to bob, and bob reads: her writer and bob's reader of it are cut by her removal.
    const fromCarol = await carol.streamApi.streamBytes({ roomId, topic: 'remove', name: 'carol.bin', destinationIdentities: ['bob'] });
    await fromCarol.write(pattern(1000));
    await until(() => atBob.length === 2 && atCarol.length === 1, 'the handlers');

    const r = await dave.streamApi.getStreamRoom(roomId);
    await dave.streamApi.updateStreamRoom(
      roomId,
      [pub(alice.user), pub(bob.user), pub(dave.user)],
      r.managers,
      r.publicMeta,
      r.privateMeta,
      r.version,
      false,
      false,
    );

    const carolRead = await streamFailure(atCarol[0]!.done);
    expect(carolRead.reason).toBe('Removed');
    expect(carolRead.code).toBe('ERR_DATA_STREAM_REMOVED');
    expect((await streamFailure(fromCarol.write(pattern(1)))).reason).toBe('Removed');
    const bobFromCarol = await streamFailure(atBob[1]!.done);
    expect(bobFromCarol.reason).toBe('AbnormalEnd');
    expect(bobFromCarol.message).toContain('removed');

    await writer.write(data.subarray(1024 * 1024));
    await writer.close();
    expect(sha256(await atBob[0]!.done)).toBe(sha256(data));
    expect(streamApiInternals(carol.streamApi).dataStreams.stats()).toMatchObject({ sending: 0, receiving: 0 });
    for (const c of [alice, bob]) await c.streamApi.leaveStreamRoom(roomId);
    bob.streamApi.unregisterByteStreamHandler('remove');
    carol.streamApi.unregisterByteStreamHandler('remove');
  });

  it('leaving a room ends the streams this connection reads and writes there', async () => {
    const roomId = await room();
    const atBob = receiveBytes(bob, 'leave');
    carol.streamApi.registerByteStreamHandler('leave', () => undefined); // carol never reads
    const toBob = await alice.streamApi.streamBytes({ roomId, topic: 'leave', name: 'x', destinationIdentities: ['bob'] });
    await toBob.write(pattern(1000));
    const toCarol = await bob.streamApi.streamBytes({ roomId, topic: 'leave', name: 'y', destinationIdentities: ['carol'] });
    const writing = toCarol.write(pattern(8 * 1024 * 1024));
    writing.catch(() => undefined);
    await until(() => atBob.length === 1, 'the handler');
    await bob.streamApi.leaveStreamRoom(roomId);
    expect((await streamFailure(atBob[0]!.done)).reason).toBe('RoomLeft');
    expect((await streamFailure(writing)).reason).toBe('RoomLeft');
    // alice's stream lost its only receiver and goes on.
    await toBob.close();
    for (const c of [alice, carol]) await c.streamApi.leaveStreamRoom(roomId);
    bob.streamApi.unregisterByteStreamHandler('leave');
    carol.streamApi.unregisterByteStreamHandler('leave');
  });
});
