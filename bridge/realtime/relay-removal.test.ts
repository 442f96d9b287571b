import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../protocol/ws.ts';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { successor, verifiedHead } from '../../test/rooms.ts';
import { createRoom, numbered, seqOf, stats, TestClient, type Received } from './test-client.ts';

let t: TestBridge;
let tenant: Tenant;
const tokens: Record<string, string> = {};
const clients: TestClient[] = [];
const STREAM_ID = 'cmVtb3ZhbC1zdHJlYW0tMQ==';

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol']);
  for (const id of ['alice', 'bob', 'carol']) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t.close();
});

const u = (id: string) => tenant.users[id]!;
async function joined<const N extends readonly string[]>(roomId: string, ...ids: N): Promise<{ [K in keyof N]: TestClient }> {
  const cs: TestClient[] = [];
  for (const id of ids) {
    const c = await TestClient.connect(t.bridge.url, tokens[id]!);
    clients.push(c);
    await c.request('join', { roomId });
    cs.push(c);
  }
  return cs as { [K in keyof N]: TestClient };
}
/** What a client received from the given log position on: event types, and frames as 'frame'. */
const typesSince = (c: TestClient, from: number) => c.log.slice(from).map((r: Received) => (r.kind === 'event' ? r.event.type : 'frame'));
const abortOf = (streamNo: number, reason: string): ServerEvent => ({ type: 'byteStreamAborted', streamNo, reason }) as ServerEvent;

describe('relay: removal and deletion', () => {
  it('cuts a removed member out of the relay when the room update commits', async () => {
    const built = await createRoom(t.bridge, tenant, tokens.alice!, u('alice'), [u('alice'), u('bob'), u('carol')], [u('alice')]);
    const roomId = built.record.roomId;
    const [alice, bob, carol] = await joined(roomId, 'alice', 'bob', 'carol');

    // carol subscribes to alice's track and receives alice's byte stream; she publishes and sends too.
    const aTrack = (await alice.request('publish', { roomId, streamId: 'a', tracks: [{ trackId: 'd', kind: 'data' }] })).stream.tracks[0]!.trackNo;
    const cTrack = (await carol.request('publish', { roomId, streamId: 'c', tracks: [{ trackId: 'd', kind: 'data' }] })).stream.tracks[0]!.trackNo;
    await carol.request('subscribeStreams', { roomId, add: [{ streamId: 'a' }], remove: [] });
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'a' }, { streamId: 'c' }], remove: [] });
    const aStream = (await alice.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] })).streamNo;
    const cStream = (await carol.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] })).streamNo;
    alice.sendData(aTrack, numbered(1));
    alice.sendChunk(aStream, false, numbered(1));
    await carol.until(() => carol.dataFrames(aTrack).length === 1 && carol.chunkFrames(aStream).length === 1, 'data and chunk before removal');
    const marks = { alice: alice.log.length, bob: bob.log.length, carol: carol.log.length };

    // alice removes carol; the new version rotates the epoch.
    const head = await verifiedHead(t.bridge.url, tokens.alice!, roomId);
    const next = await successor(head, built.epochKey, u('alice'), { users: [u('alice'), u('bob')], managers: [u('alice')] });
    expect(next.record.epoch).toBe(2);
    const reply = await rest(t.bridge.url, tokens.alice).put(`/v1/rooms/${roomId}`, { ...next.request, version: 1 });
    expect(reply.status).toBe(200);

    // Already done by the time the REST reply came back: no room, no streams for carol's connection.
    const now = stats(t.bridge);
    const carolStats = now.connections.find((c) => c.connectionId === carol.connectionId)!;
    expect(carolStats).toMatchObject({ rooms: [], sending: [], receiving: [], publishedStreams: 0, queuedDataBytes: 0 });
    expect(now.byteStreams.find((b) => b.streamNo === aStream)).toMatchObject({ receivers: 1 });
    expect(now.byteStreams.find((b) => b.streamNo === cStream)).toBeUndefined();

    // carol hears the end of everything she received or sent, then that she left, removed.
    await carol.event('streamRoomLeft');
    expect(typesSince(carol, marks.carol)).toEqual(['byteStreamAborted', 'byteStreamAborted', 'streamRoomLeft']);
    expect(carol.events('byteStreamAborted')).toEqual([abortOf(aStream, 'removed'), abortOf(cStream, 'removed')]);
    expect(carol.events('streamRoomLeft')).toEqual([{ type: 'streamRoomLeft', roomId, userId: 'carol', connectionId: carol.connectionId, reason: 'removed' }]);
    // The others hear it too, each in the same order.
    await alice.event('streamRoomLeft');
    expect(typesSince(alice, marks.alice)).toEqual(['byteStreamReceiverDropped', 'byteStreamAborted', 'streamUnpublished', 'streamRoomLeft']);
    expect(alice.events('byteStreamReceiverDropped')).toEqual([{ type: 'byteStreamReceiverDropped', streamNo: aStream, userId: 'carol', reason: 'removed' }]);
    await bob.event('streamRoomLeft');
    expect(bob.events('byteStreamAborted')).toEqual([abortOf(cStream, 'removed')]);
    expect(bob.events('streamUnpublished')).toEqual([{ type: 'streamUnpublished', roomId, streamId: 'c', userId: 'carol' }]);

    // No data frame reaches carol after that; the stream goes on for bob.
    alice.sendData(aTrack, numbered(2));
    alice.sendChunk(aStream, true, numbered(2));
    await bob.until(() => bob.dataFrames(aTrack).length === 2 && bob.chunkFrames(aStream).at(-1)?.last === true, 'bob gets the rest');
    // What carol still sends on her old numbers was on the wire: dropped quietly, never forwarded.
    carol.sendData(cTrack, numbered(3));
    carol.sendChunk(cStream, false, numbered(3));
    await carol.request('ping', {});
    await bob.request('ping', {});
    expect(typesSince(carol, marks.carol)).toEqual(['byteStreamAborted', 'byteStreamAborted', 'streamRoomLeft']);
    expect(bob.dataFrames(cTrack)).toEqual([]);
    expect(bob.chunkFrames(cStream)).toEqual([]);
    expect(bob.dataFrames(aTrack).map((f) => seqOf(f.payload))).toEqual([1, 2]);

    expect(await carol.failure('join', { roomId })).toBe('FORBIDDEN');
    expect(await carol.failure('publish', { roomId, streamId: 'c2', tracks: [{ trackId: 'd', kind: 'data' }] })).toBe('NOT_JOINED');
  });

  it('ends everything in a deleted room for everyone', async () => {
    const built = await createRoom(t.bridge, tenant, tokens.alice!, u('alice'), [u('alice'), u('bob')], [u('alice')]);
    const roomId = built.record.roomId;
    const [alice, bob] = await joined(roomId, 'alice', 'bob');
    const aTrack = (await alice.request('publish', { roomId, streamId: 'a', tracks: [{ trackId: 'd', kind: 'data' }] })).stream.tracks[0]!.trackNo;
    await bob.request('subscribeStreams', { roomId, add: [{ streamId: 'a' }], remove: [] });
    const bStream = (await bob.request('byteStreamOpen', { roomId, streamId: STREAM_ID, epoch: 1, destinationIdentities: [] })).streamNo;
    const tracksBefore = stats(t.bridge).tracks;

    expect((await rest(t.bridge.url, tokens.alice).del(`/v1/rooms/${roomId}`)).status).toBe(204);
    const now = stats(t.bridge);
    expect(now.byteStreams.find((b) => b.streamNo === bStream)).toBeUndefined();
    expect(now.tracks).toBe(tracksBefore - 1);
    expect(now.connections.filter((c) => c.rooms.includes(roomId))).toEqual([]);

    for (const c of [alice, bob]) {
      await c.event('streamRoomLeft');
      expect(c.events('byteStreamAborted')).toEqual([abortOf(bStream, 'room_deleted')]);
      expect(c.events('streamRoomLeft')).toEqual([{ type: 'streamRoomLeft', roomId, userId: c.userId, connectionId: c.connectionId, reason: 'room_deleted' }]);
    }
    alice.sendData(aTrack, numbered(1)); // on the wire before alice heard: dropped quietly
    await alice.request('ping', {});
    await bob.request('ping', {});
    expect(bob.dataFrames()).toEqual([]);
    expect(await alice.failure('join', { roomId })).toBe('ROOM_NOT_FOUND');
  });
});
