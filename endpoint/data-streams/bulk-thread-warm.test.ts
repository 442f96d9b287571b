/**
 * The bulk thread starts before the first stream needs it (util/realtime-presence.ts, warmBulkThread;
 * docs/operations/realtime-priorities.md, "The bulk thread"): once this process has a byte-stream
 * handler and a stream starting now would use the thread, and not before. Real Bridge, real Endpoints
 * in this process, a real worker; this file runs in a fresh module state, so no thread is up at first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkThreadCounts } from '../../crypto/backend/bulk-thread.ts';
import { Endpoint } from '../endpoint.ts';
import { realtimeInProcess } from '../util/realtime-presence.ts';
import { publishDataTrack } from '../realtime/test-kit.ts';
import { joinedRoom, type Kit, receiveBytes, startKit, until } from './test-kit.ts';

let kit: Kit;
beforeAll(async () => {
  kit = await startKit(['alice', 'bob']);
});
afterAll(async () => {
  await Endpoint.setup({ bulkThread: 'auto' });
  await kit.close();
});

describe('warming the bulk thread', () => {
  it('starts it once a process with a byte-stream handler carries real-time tracks, before any stream, and the first stream uses it', async () => {
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob');
    const roomId = await joinedRoom(kit, alice, [alice, bob]);

    // Real time, but no byte-stream handler in this process: nothing expects a stream yet.
    const { handle } = await publishDataTrack(alice, roomId);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    await until(() => realtimeInProcess(), 'a remote track routed at bob');
    expect(bulkThreadCounts().started).toBe(0);

    // A handler under `never`: no stream would use the thread, so nothing starts it.
    await Endpoint.setup({ bulkThread: 'never' });
    const got = receiveBytes(bob, 'files');
    expect(bulkThreadCounts().started).toBe(0);

    // Under `auto`, the next track announced starts it: before any stream exists.
    await Endpoint.setup({ bulkThread: 'auto' });
    const second = await publishDataTrack(alice, roomId);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: second.handle }]);
    await until(() => bulkThreadCounts().started === 1, 'the bulk thread started');
    expect(bulkThreadCounts().streams).toBe(0);

    // The first stream runs on that thread (the sender's and the receiver's side), which starts no other.
    const bytes = new Uint8Array(300 * 1024).map((_, i) => (i * 31) & 0xff);
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'files', name: 'f.bin', totalSize: bytes.length });
    await writer.write(bytes);
    await writer.close();
    await until(() => got.length === 1, 'the stream at bob');
    expect(Buffer.from(await got[0]!.done).equals(Buffer.from(bytes))).toBe(true);
    expect(bulkThreadCounts()).toMatchObject({ started: 1, streams: 2 });
  });
});
