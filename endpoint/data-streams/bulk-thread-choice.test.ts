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
import { type Client, type Kit, joinedRoom, receiveBytes, startKit, until } from './test-kit.ts';

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

describe('the bulk thread', () => {
  it('is used for streams that start while the process carries real-time tracks, and only then', async () => {
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob');
    const roomId = await joinedRoom(kit, alice, [alice, bob]);
    const got = receiveBytes(bob, 'files');
    const bytes = content();

    // No tracks anywhere in this process: the chunk work stays on the event loop.
    expect(realtimeInProcess()).toBe(false);
    const before = bulkThreadCounts();
    await send(alice, roomId, 'files', bytes);
    await until(() => got.length === 1, 'the first stream at bob');
    expect(Buffer.from(await got[0]!.done).equals(Buffer.from(bytes))).toBe(true);
    expect(bulkThreadCounts().streams).toBe(before.streams);

    // Alice publishes a data track; bob, in the room, has it routed: real time runs in this process.
    const { handle } = await publishDataTrack(alice, roomId);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    await until(() => realtimeInProcess(), 'a remote track routed at bob');
    const during = bulkThreadCounts();
    await send(alice, roomId, 'files', bytes);
    await until(() => got.length === 2, 'the second stream at bob');
    expect(Buffer.from(await got[1]!.done).equals(Buffer.from(bytes))).toBe(true);
    const after = bulkThreadCounts();
    // Alice's encryptor and bob's decryptor, each with a call per chunk (49 chunks of 64 KiB and more).
    expect(after.streams - during.streams).toBe(2);
    expect(after.calls - during.calls).toBeGreaterThan(2 * 49);

    // Once the track is gone from every connection here, new streams are back on the event loop.
    await alice.streamApi.unpublishStream(handle);
    await until(() => !realtimeInProcess(), 'no remote track routed any more');
    const later = bulkThreadCounts();
    await send(alice, roomId, 'files', bytes);
    await until(() => got.length === 3, 'the third stream at bob');
    expect(Buffer.from(await got[2]!.done).equals(Buffer.from(bytes))).toBe(true);
    expect(bulkThreadCounts().streams).toBe(later.streams);
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
      const before = bulkThreadCounts();
      await send(alice, roomId, 'modes', bytes);
      await until(() => got.length === 1, 'the stream sent with always');
      expect(Buffer.from(await got[0]!.done).equals(Buffer.from(bytes))).toBe(true);
      expect(bulkThreadCounts().streams - before.streams).toBe(2);

      const { handle } = await publishDataTrack(alice, roomId);
      await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
      await until(() => realtimeInProcess(), 'a remote track routed at bob');
      await Endpoint.setup({ bulkThread: 'never' });
      const during = bulkThreadCounts();
      await send(alice, roomId, 'modes', bytes);
      await until(() => got.length === 2, 'the stream sent with never');
      expect(Buffer.from(await got[1]!.done).equals(Buffer.from(bytes))).toBe(true);
      expect(bulkThreadCounts().streams).toBe(during.streams);

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
