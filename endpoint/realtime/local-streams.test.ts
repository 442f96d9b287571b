/** Issue 5: local streams and tracks, their errors, and subscriptions to single tracks. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DATA_MESSAGE_BYTES } from './limits.ts';
import { DataLog, EventLog, refusal, startKit, until, utf8, type Client, type Kit } from './test-kit.ts';

let kit: Kit;
let alice: Client;
let bob: Client;
let roomId: string;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob']);
  [alice, bob] = await Promise.all([kit.connect('alice'), kit.connect('bob')]);
  roomId = await kit.room(alice, [alice, bob]);
  await alice.streamApi.joinStreamRoom(roomId);
  await bob.streamApi.joinStreamRoom(roomId);
});
afterAll(async () => {
  await kit.close();
});

describe('local streams', () => {
  it('refuses misuse with clear errors', async () => {
    const api = alice.streamApi;
    expect((await refusal(api.addStreamTrack('nope', { createDataChannel: true }))).message).toContain('"handle" expected a stream from createStream');
    const handle = await api.createStream(roomId);
    expect((await refusal(api.publishStream(handle))).message).toContain('no tracks');
    expect((await refusal(api.addStreamTrack(handle, {} as never))).reason).toBe('InvalidArgument');
    // Node has no WebRTC: media tracks are refused before anything is added (browsers: endpoint/media/).
    const media = await refusal(api.addStreamTrack(handle, { track: { kind: 'video', id: 'camera-1' } }));
    expect(media.reason).toBe('Unsupported');
    expect(media.message).toContain('RTCPeerConnection');
    const trackId = await api.addStreamTrack(handle, { createDataChannel: true });
    expect((await refusal(api.sendData(trackId, utf8('early')))).message).toContain('not published');
    expect((await refusal(api.sendData('unknown', utf8('x')))).message).toContain('expected a track from addStreamTrack');
    expect((await refusal(api.updateStream(handle))).message).toContain('not published');
    expect((await refusal(api.unpublishStream(handle))).message).toContain('not published');
    expect((await refusal(api.removeStreamTrack(handle, 'other'))).reason).toBe('InvalidArgument');

    await api.publishStream(handle);
    expect((await refusal(api.publishStream(handle))).message).toContain('already published');
    // The size limit: exactly the limit goes, one byte more does not.
    await api.sendData(trackId, new Uint8Array(MAX_DATA_MESSAGE_BYTES));
    const big = await refusal(api.sendData(trackId, new Uint8Array(MAX_DATA_MESSAGE_BYTES + 1)));
    expect(big.reason).toBe('InvalidArgument');
    expect(big.message).toContain(`at most ${MAX_DATA_MESSAGE_BYTES} bytes, got ${MAX_DATA_MESSAGE_BYTES + 1}`);
    expect((await refusal(api.sendData(trackId, 'text' as never))).message).toContain('"data" expected a Uint8Array');

    // Removing the only track would leave nothing to update to.
    await api.removeStreamTrack(handle, trackId);
    expect((await refusal(api.sendData(trackId, utf8('x')))).message).toContain('was removed');
    expect((await refusal(api.updateStream(handle))).message).toContain('no tracks left');
    await api.unpublishStream(handle);
    expect((await refusal(api.sendData(trackId, utf8('x')))).message).toContain('expected a track from addStreamTrack');
  });

  it('refuses media tracks without WebRTC, and a refused track is never announced', async () => {
    const events = new EventLog(bob);
    const handle = await alice.streamApi.createStream(roomId);
    const refused = await refusal(alice.streamApi.addStreamTrack(handle, { track: { kind: 'audio', id: 'mic-1' } }));
    expect(refused.reason).toBe('Unsupported');
    const data = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true });
    expect((await alice.streamApi.publishStream(handle)).tracks).toEqual([{ trackId: data, kind: 'data' }]);
    const published = await events.next('streamPublished', (e) => e.stream.streamId === handle);
    expect(published.stream.tracks).toEqual([{ trackId: data, kind: 'data' }]);
    await expect(alice.streamApi.mediaStats()).rejects.toMatchObject({ reason: 'Unsupported' });
    await alice.streamApi.unpublishStream(handle);
    events.stop();
  });

  it('publishes again after unpublishing, and subscribes to single tracks', async () => {
    const handle = await alice.streamApi.createStream(roomId);
    const t1 = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true });
    const t2 = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true });
    await alice.streamApi.publishStream(handle);
    await alice.streamApi.unpublishStream(handle);
    await alice.streamApi.publishStream(handle);

    const data = new DataLog(bob, roomId, handle);
    // Subscribing to one's own stream is refused by the Bridge; unknown streams are not found.
    expect((await refusal(alice.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]))).reason).toBe('AccessDenied');
    expect((await refusal(bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: 'nope' }]))).reason).toBe('NotFound');
    expect((await refusal(bob.streamApi.subscribeToRemoteStreams(roomId, []))).reason).toBe('InvalidArgument');
    expect((await refusal(bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: 'bad id!' }]))).reason).toBe('InvalidArgument');

    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle, streamTrackId: t2 }]);
    await alice.streamApi.sendData(t1, utf8('t1: not subscribed'));
    await alice.streamApi.sendData(t2, utf8('t2: one'));
    await until(() => data.messages.length === 1, 'the subscribed track');
    // Swap: t1 in, t2 out, in one step.
    await bob.streamApi.modifyRemoteStreamsSubscriptions(roomId, [{ streamId: handle, streamTrackId: t1 }], [{ streamId: handle, streamTrackId: t2 }]);
    await alice.streamApi.sendData(t2, utf8('t2: not subscribed'));
    await alice.streamApi.sendData(t1, utf8('t1: two'));
    await until(() => data.messages.length === 2, 'the swapped track');
    expect(data.texts()).toEqual(['t2: one', 't1: two']);
    expect(data.messages.map((m) => m.info.streamTrackId)).toEqual([t2, t1]);
    expect(bob.streamApi.dataTrackStats()).toMatchObject({ undecryptable: 0, replayed: 0, noKey: 0 });
    await alice.streamApi.unpublishStream(handle);
    data.remove();
  });
});
