/**
 * The real Endpoint library on Bridges that share one real PostgreSQL and one real nats-server
 * (docs/operations/cluster.md): an SFrame-encrypted data track published through A is decrypted in
 * order by a subscriber connected to B, and a removal committed through A takes the room away from
 * the removed member's Endpoint on B; a byte stream and a text from A are read whole on B; chunks
 * lost between Bridges (C's NATS link cut by a gate) make the reader on C fail with Integrity.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../../test/harness.ts';
import { DataLog, publishDataTrack, roomLeftLog, startKit, until, utf8, type Client, type Kit } from '../../endpoint/realtime/test-kit.ts';
import { pattern, receiveBytes, receiveText, sha256, streamFailure } from '../../endpoint/data-streams/test-kit.ts';
import { startNats, startNatsGate, type NatsGate, type TestNats } from '../../test/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';

let pg: TestPostgres;
let nats: TestNats;
let kit: Kit;
let b: TestBridge;
let c: TestBridge;
let gate: NatsGate;

beforeAll(async () => {
  [pg, nats] = await Promise.all([startPostgres(), startNats()]);
  const options = { store: await pg.createDatabase(), nats: nats.url };
  kit = await startKit(['alice', 'bob', 'carol'], options);
  b = await startBridge({ ...options, apiKey: kit.t.bridge.initialApiKey! });
  gate = await startNatsGate(nats);
  c = await startBridge({ ...options, nats: gate.url, apiKey: kit.t.bridge.initialApiKey! });
});
afterAll(async () => {
  await kit?.close();
  await b?.close();
  await c?.close();
  await gate?.close();
  await Promise.all([nats?.destroy(), pg?.destroy()]);
});

async function removeFromRoom(manager: Client, roomId: string, gone: Client): Promise<void> {
  const room = await manager.streamApi.getStreamRoom(roomId);
  const users = room.users.filter((u) => u.userId !== gone.user.userId);
  await manager.streamApi.updateStreamRoom(roomId, users, room.managers, room.publicMeta, room.privateMeta, room.version, false, false);
}

describe('Endpoints on two Bridges', () => {
  it('a data track sent through A is decrypted in order on B; a removal through A ends the room for the member on B', async () => {
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob', { url: b.bridge.url });
    const carol = await kit.connect('carol', { url: b.bridge.url });
    const roomId = await kit.room(alice, [alice, bob, carol]);
    await alice.streamApi.joinStreamRoom(roomId);
    const { handle, trackId } = await publishDataTrack(alice, roomId);
    const logs = new Map<Client, DataLog>();
    for (const member of [bob, carol]) {
      await member.streamApi.joinStreamRoom(roomId);
      logs.set(member, new DataLog(member, roomId, handle));
      await member.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    }
    const expected = Array.from({ length: 100 }, (_, i) => `message ${i}`);
    for (const text of expected) await alice.streamApi.sendData(trackId, utf8(text));
    await until(() => [...logs.values()].every((l) => l.messages.length === expected.length), 'every message on B', 10_000);
    for (const [member, log] of logs) {
      expect(log.texts()).toEqual(expected);
      expect(log.messages[0]!.info).toMatchObject({ streamRoomId: roomId, streamId: handle, streamTrackId: trackId, userId: 'alice' });
      expect(member.streamApi.dataTrackStats()).toMatchObject({ delivered: expected.length, undecryptable: 0, replayed: 0 });
    }

    // alice removes carol through A: carol's Endpoint on B loses the room, bob's goes on.
    const left = roomLeftLog(carol);
    await removeFromRoom(alice, roomId, carol);
    await until(() => left.some((l) => l.roomId === roomId && l.reason === 'removed'), "carol's room left on B", 5000);
    await alice.streamApi.sendData(trackId, utf8('after the removal'));
    await until(() => logs.get(bob)!.messages.length === expected.length + 1, 'bob still receiving');
    expect(logs.get(bob)!.texts().at(-1)).toBe('after the removal');
    expect(logs.get(carol)!.messages).toHaveLength(expected.length);
  });

  it('a byte stream and a text sent through A are read whole on B, and the receipt comes back', async () => {
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob', { url: b.bridge.url });
    const roomId = await kit.room(alice, [alice, bob]);
    for (const member of [alice, bob]) await member.streamApi.joinStreamRoom(roomId);
    const files = receiveBytes(bob, 'files');
    const texts = receiveText(bob, 'chat');
    const data = pattern(4 * 1024 * 1024, 3);
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'files', name: 'big.bin', destinationIdentities: ['bob'], receipts: true });
    await writer.write(data);
    await writer.close();
    await until(() => files.length === 1, "bob's handler", 5000);
    expect(sha256(await files[0]!.done)).toBe(sha256(data));
    // bob's signed receipt crossed back from B to the sender on A.
    expect(await writer.delivery!).toEqual({ streamId: writer.info.id, delivered: [{ userId: 'bob', at: expect.any(Number) }], failed: [] });
    expect(files[0]!.from).toMatchObject({ identity: 'alice' });
    await alice.streamApi.sendText('hello from A 👋', { roomId, topic: 'chat' });
    await until(() => texts.length === 1, "bob's text handler", 5000);
    expect(await texts[0]!.done).toBe('hello from A 👋');
  }, 30_000);

  it('chunks lost between Bridges make the reader fail with Integrity, never a silent gap', async () => {
    const alice = await kit.connect('alice');
    const carol = await kit.connect('carol', { url: c.bridge.url });
    const roomId = await kit.room(alice, [alice, carol]);
    for (const member of [alice, carol]) await member.streamApi.joinStreamRoom(roomId);
    const files = receiveBytes(carol, 'lossy');
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'lossy', name: 'x.bin', destinationIdentities: ['carol'] });
    await writer.write(pattern(256 * 1024, 1));
    await until(() => files.length === 1 && c.bridge.cluster!.stats().remoteChunks >= 4, 'the first chunks on C', 5000);
    gate.cut(1000);
    await until(() => !c.bridge.cluster!.available, 'C off NATS', 5000);
    await writer.write(pattern(256 * 1024, 2)); // forwarded by A while C is away: lost for C
    await until(() => c.bridge.cluster!.available, 'C back on NATS', 10_000);
    await writer.write(pattern(256 * 1024, 3));
    void writer.close().catch(() => undefined);
    const error = await streamFailure(files[0]!.done);
    expect(error.reason).toBe('Integrity');
    expect(c.bridge.cluster!.stats().remoteChunkGaps).toBeGreaterThan(0);
  }, 30_000);
});
