/** Issue 5: joining and leaving rooms over the socket, the real-time events, and a dropped socket. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../test/tcp-proxy.ts';
import { DataLog, EventLog, publishDataTrack, refusal, roomLeftLog, startKit, until, utf8, type Client, type Kit } from './test-kit.ts';

let kit: Kit;
let alice: Client;
let bob: Client;
let dave: Client;
/** Between carol and the Bridge, to drop her network; logins through it sign its URL. */
let proxy: TcpProxy;

beforeAll(async () => {
  proxy = await startTcpProxy(() => kit.t.bridge.url);
  kit = await startKit(['alice', 'bob', 'carol', 'dave'], { loginUrls: [proxy.url] });
  [alice, bob, dave] = await Promise.all([kit.connect('alice'), kit.connect('bob'), kit.connect('dave')]);
});
afterAll(async () => {
  await kit.close();
  await proxy.close();
});

describe('real-time rooms', () => {
  it('lets members join and refuses everyone else', async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    // dave is a user of the context but not a member.
    const denied = await refusal(dave.streamApi.joinStreamRoom(roomId));
    expect(denied.reason).toBe('AccessDenied');
    // Also where the policy lets context users read the room: holding no key, dave is no member.
    const readable = await kit.room(alice, [alice, bob], [alice], { get: 'all' });
    const deniedToo = await refusal(dave.streamApi.joinStreamRoom(readable));
    expect(deniedToo.reason).toBe('AccessDenied');
    expect(deniedToo.message).toContain('not a member');
    expect((await refusal(dave.streamApi.createStream(roomId))).reason).toBe('InvalidArgument');
    expect((await refusal(alice.streamApi.joinStreamRoom('no such room'))).reason).toBe('InvalidArgument');
    expect((await refusal(alice.streamApi.joinStreamRoom('AAAAAAAAAAAAAAAAAAAAAA'))).reason).toBe('NotFound');

    await alice.streamApi.joinStreamRoom(roomId);
    await alice.streamApi.joinStreamRoom(roomId); // joining twice changes nothing
    expect(await alice.streamApi.listStreams(roomId)).toEqual([]);
    await alice.streamApi.leaveStreamRoom(roomId);
    expect((await refusal(alice.streamApi.leaveStreamRoom(roomId))).reason).toBe('InvalidArgument');
  });

  it('delivers joined, published, updated, subscribed, unpublished and left events, typed', async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    const aliceEvents = new EventLog(alice);
    const bobEvents = new EventLog(bob);
    const bobLeft = roomLeftLog(bob);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    // Each hears its own join; alice hears bob's.
    expect(bobEvents.of('streamRoomJoined', roomId)).toEqual([
      { type: 'streamRoomJoined', streamRoomId: roomId, userId: 'bob', connectionId: bob.connection.connectionId },
    ]);
    await aliceEvents.next('streamRoomJoined', (e) => e.userId === 'bob');

    const states: string[] = [];
    const handle = await bob.streamApi.createStream(roomId);
    const first = await bob.streamApi.addStreamTrack(handle, { createDataChannel: true });
    const published = await bob.streamApi.publishStream(handle, (state) => states.push(state));
    expect(published).toEqual({ published: true, streamId: handle, tracks: [{ trackId: first, kind: 'data' }] });
    const pubEvent = await aliceEvents.next('streamPublished');
    expect(pubEvent).toEqual({
      type: 'streamPublished',
      streamRoomId: roomId,
      userId: 'bob',
      stream: { streamRoomId: roomId, streamId: handle, userId: 'bob', tracks: [{ trackId: first, kind: 'data' }] },
    });
    expect(bobEvents.of('streamPublished')).toEqual([]); // the publisher hears nothing of its own
    expect(await alice.streamApi.listStreams(roomId)).toEqual([pubEvent.stream]);

    const announced: string[] = [];
    alice.streamApi.addRemoteStreamListener({
      streamRoomId: roomId,
      onRemoteStreamTrack: (e) => announced.push(`${e.userId}:${e.streamId}:${e.track.trackId}:${e.track.kind}`),
    });
    await alice.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    expect(aliceEvents.of('streamSubscribed')).toEqual([{ type: 'streamSubscribed', streamRoomId: roomId, streamId: handle, trackIds: [first] }]);
    expect(announced).toEqual([`bob:${handle}:${first}:data`]);

    // A track added and one removed; the whole-stream subscription takes the new one.
    const second = await bob.streamApi.addStreamTrack(handle, { createDataChannel: true });
    await bob.streamApi.removeStreamTrack(handle, first);
    await bob.streamApi.updateStream(handle);
    const updated = await aliceEvents.next('streamUpdated');
    expect(updated).toMatchObject({
      streamRoomId: roomId,
      tracksAdded: [{ trackId: second, kind: 'data' }],
      tracksRemoved: [{ trackId: first, kind: 'data' }],
      tracksModified: [],
    });
    expect(updated.stream.tracks).toEqual([{ trackId: second, kind: 'data' }]);
    await aliceEvents.next('streamSubscribed', (e) => e.trackIds.includes(second));
    await until(() => announced.length === 2, 'the added track announced');
    expect(announced[1]).toBe(`bob:${handle}:${second}:data`);

    const data = new DataLog(alice, roomId);
    await bob.streamApi.sendData(second, utf8('after update'));
    await until(() => data.messages.length === 1, 'data on the added track');
    expect(data.messages[0]!.info).toMatchObject({ streamId: handle, streamTrackId: second, userId: 'bob' });

    await alice.streamApi.unsubscribeFromRemoteStreams(roomId, [{ streamId: handle }]);
    expect(aliceEvents.of('streamUnsubscribed')).toEqual([{ type: 'streamUnsubscribed', streamRoomId: roomId, streamId: handle, trackIds: [second] }]);

    await bob.streamApi.unpublishStream(handle);
    expect(await aliceEvents.next('streamUnpublished')).toEqual({ type: 'streamUnpublished', streamRoomId: roomId, streamId: handle, userId: 'bob' });
    expect(states).toEqual(['publishing', 'published', 'updating', 'published', 'unpublished']);

    await bob.streamApi.leaveStreamRoom(roomId);
    expect(await aliceEvents.next('streamRoomLeft')).toEqual({
      type: 'streamRoomLeft',
      streamRoomId: roomId,
      userId: 'bob',
      connectionId: bob.connection.connectionId,
      reason: 'left',
    });
    expect(bobLeft).toEqual([{ roomId, reason: 'left' }]);
    expect(bobEvents.of('streamRoomLeft', roomId)).toEqual([
      { type: 'streamRoomLeft', streamRoomId: roomId, userId: 'bob', connectionId: bob.connection.connectionId, reason: 'left' },
    ]);
    await alice.streamApi.leaveStreamRoom(roomId);
    aliceEvents.stop();
    bobEvents.stop();
  });

  it('leaves (unpublishing) and rejoins', async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const aliceEvents = new EventLog(alice);
    const data = new DataLog(alice, roomId);
    const before = await publishDataTrack(bob, roomId);
    const states: string[] = [];
    await alice.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: before.handle }]);
    await bob.streamApi.sendData(before.trackId, utf8('one'));
    await until(() => data.messages.length === 1, 'the first message');

    // bob's stream had a state listener only through publishStream; the leave ends it.
    await bob.streamApi.leaveStreamRoom(roomId);
    await aliceEvents.next('streamUnpublished', (e) => e.streamId === before.handle);
    await aliceEvents.next('streamRoomLeft', (e) => e.userId === 'bob');
    const ended = await refusal(bob.streamApi.sendData(before.trackId, utf8('too late')));
    expect(ended.reason).toBe('InvalidArgument');
    expect(ended.message).toContain('was left');
    expect((await refusal(bob.streamApi.publishStream(before.handle, (s) => states.push(s)))).message).toContain('was left');
    expect(await alice.streamApi.listStreams(roomId)).toEqual([]);

    await bob.streamApi.joinStreamRoom(roomId);
    const after = await publishDataTrack(bob, roomId);
    await alice.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: after.handle }]);
    await bob.streamApi.sendData(after.trackId, utf8('two'));
    await until(() => data.messages.length === 2, 'the message after rejoining');
    expect(data.texts()).toEqual(['one', 'two']);
    expect(data.messages[1]!.info).toMatchObject({ streamId: after.handle, userId: 'bob', epoch: 1 });
    await bob.streamApi.leaveStreamRoom(roomId);
    await alice.streamApi.leaveStreamRoom(roomId);
    aliceEvents.stop();
    data.remove();
  });

  it('leaves every joined room locally when the room is deleted or the socket drops', async () => {
    {
      const carol = await kit.connect('carol', { url: proxy.url, connect: { reconnectMaxDelayMs: 200 } });
      const rooms = [await kit.room(alice, [alice, carol]), await kit.room(alice, [alice, carol]), await kit.room(alice, [alice, carol])];
      const carolEvents = new EventLog(carol);
      const aliceEvents = new EventLog(alice);
      const left = roomLeftLog(carol);
      for (const roomId of rooms) await carol.streamApi.joinStreamRoom(roomId);
      await alice.streamApi.joinStreamRoom(rooms[0]!);
      const { trackId } = await publishDataTrack(carol, rooms[0]!);

      // The room's deletion takes carol out of it.
      await alice.streamApi.deleteStreamRoom(rooms[2]!);
      await until(() => left.length === 1, 'carol leaving the deleted room');
      expect(left).toEqual([{ roomId: rooms[2], reason: 'room_deleted' }]);
      expect(carolEvents.of('streamRoomLeft', rooms[2])).toMatchObject([{ userId: 'carol', reason: 'room_deleted' }]);

      // A publish on the wire when the network goes: it fails, and both rooms are left.
      const states: string[] = [];
      const handle = await carol.streamApi.createStream(rooms[1]!);
      await carol.streamApi.addStreamTrack(handle, { createDataChannel: true });
      const pending = carol.streamApi.publishStream(handle, (s) => states.push(s));
      proxy.cutAll();
      expect((await refusal(pending)).reason).toBe('ConnectionLost');
      expect(states).toEqual(['publishing', 'failed']);
      await until(() => left.length === 3, 'both rooms left');
      expect(new Set(left.slice(1).map((l) => `${l.roomId}:${l.reason}`))).toEqual(new Set([`${rooms[0]}:disconnected`, `${rooms[1]}:disconnected`]));
      for (const roomId of [rooms[0]!, rooms[1]!]) {
        expect(carolEvents.of('streamRoomLeft', roomId)).toMatchObject([{ userId: 'carol', reason: 'disconnected' }]);
      }
      expect((await refusal(carol.streamApi.sendData(trackId, utf8('gone')))).reason).toBe('ConnectionLost');
      // The others hear it from the Bridge.
      await aliceEvents.next('streamRoomLeft', (e) => e.userId === 'carol' && e.streamRoomId === rooms[0]);
      expect(aliceEvents.of('streamRoomLeft', rooms[0])).toMatchObject([{ reason: 'disconnected' }]);

      // The connection comes back; the app rejoins and sends again.
      await until(() => carol.connection.state === 'connected', 'carol reconnecting', 10_000);
      await carol.streamApi.joinStreamRoom(rooms[0]!);
      const again = await publishDataTrack(carol, rooms[0]!);
      const data = new DataLog(alice, rooms[0]!);
      await alice.streamApi.subscribeToRemoteStreams(rooms[0]!, [{ streamId: again.handle }]);
      await carol.streamApi.sendData(again.trackId, utf8('back'));
      await until(() => data.messages.length === 1, 'data after rejoining');
      expect(data.messages[0]!.info.userId).toBe('carol');
      await alice.streamApi.leaveStreamRoom(rooms[0]!);
      carolEvents.stop();
      aliceEvents.stop();
    }
  });
});
