/**
 * Resume after a reconnect: the Endpoint rejoins its rooms, republishes its streams under the same
 * handles and track ids, subscribes again, and says per room what was restored; subscribers of a
 * publisher whose connection dropped get its streams again when it republishes. A room it was removed
 * from meanwhile is not restored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../test/tcp-proxy.ts';
import { pub } from '../../test/endpoint.ts';
import type { EventMap } from '../event-api.ts';
import { EndpointError } from '../errors.ts';
import { DataLog, publishDataTrack, startKit, until, type Client, type Kit } from './test-kit.ts';

let kit: Kit;
let proxy: TcpProxy;
/** While true, alice's proxy leads nowhere: she cannot reconnect. */
let down = false;
let alice: Client;
let bob: Client;
const resumed: Array<EventMap['streamRoomResumed']> = [];
const utf8 = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  proxy = await startTcpProxy(() => (down ? 'http://127.0.0.1:9' : kit.t.bridge.url));
  kit = await startKit(['alice', 'bob'], { loginUrls: [proxy.url] });
  alice = await kit.connect('alice', { url: proxy.url, connect: { reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 100 } });
  bob = await kit.connect('bob');
  alice.eventApi.on('streamRoomResumed', (e) => resumed.push(e));
});
afterAll(async () => {
  await kit.close();
  await proxy.close();
});

async function dropAlice(): Promise<void> {
  const before = resumed.length;
  proxy.cutAll();
  await until(() => resumed.length > before, 'alice resumed', 10_000);
}

describe('resume after a reconnect', () => {
  it("republishes the reconnecting side's streams under the same track ids; subscribers get them again", async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const states: string[] = [];
    const handle = await alice.streamApi.createStream(roomId);
    const trackId = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true });
    await alice.streamApi.publishStream(handle, (state) => states.push(state));
    const atBob = new DataLog(bob, roomId);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    await alice.streamApi.sendData(trackId, utf8('before'));
    await until(() => atBob.texts().includes('before'), 'the first message');

    await dropAlice();
    const event = resumed.at(-1)!;
    expect(event).toMatchObject({
      type: 'streamRoomResumed',
      streamRoomId: roomId,
      status: 'restored',
      streams: [{ streamId: handle, status: 'republished' }],
    });
    expect(states).toEqual(['publishing', 'published', 'suspended', 'publishing', 'published']);
    // The same track id works again, and bob, whose subscription waited for the republish, gets it.
    let delivered = false;
    for (let i = 0; i < 50 && !delivered; i++) {
      await alice.streamApi.sendData(trackId, utf8(`after ${i}`));
      await new Promise((resolve) => setTimeout(resolve, 50));
      delivered = atBob.texts().some((t) => t.startsWith('after'));
    }
    expect(delivered).toBe(true);
    atBob.remove();
  });

  it("restores the reconnecting side's subscriptions", async () => {
    const roomId = await kit.room(bob, [alice, bob]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const { handle, trackId } = await publishDataTrack(bob, roomId);
    const atAlice = new DataLog(alice, roomId);
    await alice.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);

    await dropAlice();
    const event = resumed.filter((e) => e.streamRoomId === roomId).at(-1)!;
    expect(event).toMatchObject({ status: 'restored', subscriptions: [{ streamId: handle, status: 'restored' }] });
    await bob.streamApi.sendData(trackId, utf8('to alice'));
    await until(() => atAlice.texts().includes('to alice'), 'a message after the resume');
    atAlice.remove();
  });

  it('sendData while the connection is down fails with ConnectionLost, not "not published"', async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    await alice.streamApi.joinStreamRoom(roomId);
    const { trackId } = await publishDataTrack(alice, roomId);
    down = true;
    proxy.cutAll();
    await until(() => alice.connection.state !== 'connected', 'the drop', 5000).catch(() => undefined);
    const error = await alice.streamApi.sendData(trackId, utf8('x')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EndpointError);
    expect((error as EndpointError).reason).toBe('ConnectionLost');
    const before = resumed.length;
    down = false;
    await until(() => resumed.length > before && resumed.some((e) => e.streamRoomId === roomId), 'alice resumed', 10_000);
  });

  it('a room the user was removed from meanwhile is reported failed, and its streams end', async () => {
    const roomId = await kit.room(bob, [alice, bob]);
    await alice.streamApi.joinStreamRoom(roomId);
    const { trackId } = await publishDataTrack(alice, roomId);
    down = true;
    proxy.cutAll();
    const room = await bob.streamApi.getStreamRoom(roomId);
    await bob.streamApi.updateStreamRoom(roomId, [pub(bob.user)], [pub(bob.user)], room.publicMeta, room.privateMeta, room.version, false, true);
    const before = resumed.length;
    down = false;
    await until(() => resumed.slice(before).some((e) => e.streamRoomId === roomId), 'the resume report', 10_000);
    const event = resumed.slice(before).find((e) => e.streamRoomId === roomId)!;
    expect(event.status).toBe('failed');
    expect(event.error?.reason).toBe('AccessDenied');
    expect(event.streams[0]?.status).toBe('failed');
    const error = await alice.streamApi.sendData(trackId, utf8('x')).catch((e: unknown) => e);
    expect((error as EndpointError).reason).not.toBe('ConnectionLost');
  });
});
