/**
 * Which thread does a byte stream's chunk work (docs/operations/realtime-priorities.md, "The bulk
 * thread"): the event loop while the process carries no real-time tracks, the bulk thread (a worker at
 * the lowest OS priority) for streams that start while it does. Real Bridge, real Endpoints in this
 * process, real crypto; the streams must arrive byte-exact and verified either way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkThreadCounts } from '../../crypto/backend/bulk-thread.ts';
import { Endpoint } from '../endpoint.ts';
import { EndpointError } from '../errors.ts';
import { realtimeInProcess } from '../util/realtime-presence.ts';
import { publishDataTrack } from '../realtime/test-kit.ts';
import { type Client, type Kit, joinedRoom, type Received, receiveBytes, startKit, until } from './test-kit.ts';

let kit: Kit;
beforeAll(async () => {
  kit = await startKit(['alice', 'bob']);
});
afterAll(async () => {
  await kit.close();
});

/** 3 MiB that differ from chunk to chunk, so a reordered or repeated chunk cannot pass unseen. */
function content(): Uint8Array {
  const bytes = new Uint8Array(3 * 1024 * 1024 + 123);
  for (let i = 0; i < bytes.length; i += 4096) bytes.fill((i / 4096) % 251, i, Math.min(bytes.length, i + 4096));
  return bytes;
}

async function send(from: Client, roomId: string, topic: string, bytes: Uint8Array): Promise<void> {
  const writer = await from.streamApi.streamBytes({ roomId, topic, name: 'f.bin', totalSize: bytes.length });
  for (let at = 0; at < bytes.length; at += 256 * 1024) await writer.write(bytes.subarray(at, Math.min(bytes.length, at + 256 * 1024)));
  await writer.close();
}

/**
 * Sends `bytes` as the next stream `got` receives, checks it arrived byte-exact, and returns how many
 * bulk-thread streams and calls were made meanwhile.
 */
async function sendChecked(from: Client, roomId: string, topic: string, got: Received[], bytes: Uint8Array): Promise<{ streams: number; calls: number }> {
  const before = bulkThreadCounts();
  const n = got.length + 1;
  await send(from, roomId, topic, bytes);
  await until(() => got.length === n, `stream ${n} at the receiver`);
  expect(Buffer.from(await got[n - 1]!.done).equals(Buffer.from(bytes))).toBe(true);
  const after = bulkThreadCounts();
  return { streams: after.streams - before.streams, calls: after.calls - before.calls };
}

describe('the bulk thread', () => {
  it('is used for streams that start while the process carries real-time tracks, and only then', async () => {
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob');
    const roomId = await joinedRoom(kit, alice, [alice, bob]);
    const got = receiveBytes(bob, 'files');
    const bytes = content();

    // No tracks anywhere in this process: the chunk work stays on the event loop.
    expect(realtimeInProcess()).toBe(false);
    expect((await sendChecked(alice, roomId, 'files', got, bytes)).streams).toBe(0);

    // Alice publishes a data track; bob, in the room, has it routed: real time runs in this process.
    const { handle } = await publishDataTrack(alice, roomId);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    await until(() => realtimeInProcess(), 'a remote track routed at bob');
    const threaded = await sendChecked(alice, roomId, 'files', got, bytes);
    // Alice's encryptor and bob's decryptor, each with a call per chunk (49 chunks of 64 KiB and more).
    expect(threaded.streams).toBe(2);
    expect(threaded.calls).toBeGreaterThan(2 * 49);

    // Once the track is gone from every connection here, new streams are back on the event loop.
    await alice.streamApi.unpublishStream(handle);
    await until(() => !realtimeInProcess(), 'no remote track routed any more');
    expect((await sendChecked(alice, roomId, 'files', got, bytes)).streams).toBe(0);
  });

  it("follows Endpoint.setup's bulkThread: 'always' without tracks, 'never' with them; a bad value is InvalidArgument", async () => {
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob');
    const roomId = await joinedRoom(kit, alice, [alice, bob]);
    const got = receiveBytes(bob, 'modes');
    const bytes = content();
    try {
      expect(realtimeInProcess()).toBe(false);
      await Endpoint.setup({ bulkThread: 'always' });
      expect((await sendChecked(alice, roomId, 'modes', got, bytes)).streams).toBe(2);

      const { handle } = await publishDataTrack(alice, roomId);
      await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
      await until(() => realtimeInProcess(), 'a remote track routed at bob');
      await Endpoint.setup({ bulkThread: 'never' });
      expect((await sendChecked(alice, roomId, 'modes', got, bytes)).streams).toBe(0);

      const refused = await Endpoint.setup({ bulkThread: 'sometimes' as never }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(EndpointError);
      expect(refused).toMatchObject({ reason: 'InvalidArgument' });
      expect(String((refused as Error).message)).toContain('bulkThread');
    } finally {
      await Endpoint.setup({ bulkThread: 'auto' });
    }
  });
});
