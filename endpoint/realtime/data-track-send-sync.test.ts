/**
 * The data-track sender's synchronous path (endpoint/realtime/data-track-sender.ts, "In the call"): in
 * Node a message whose send waits for nothing is sealed and on the socket before `sendData` returns;
 * one that waits (a new session's key, a rotation) takes the ordered async path, and so does every
 * message behind it. A real Bridge, real Endpoints; which path a message took shows in
 * `dataTrackStats().sent`, which the synchronous path counts before the call returns.
 *
 * - Order holds across the switch, for lossy and reliable tracks, and across a rotation mid-stream.
 * - The bytes on the wire are the async path's: every captured frame, sync or not, equals the frame
 *   WebCrypto (async only) seals for the same plaintext under the same KID and counter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webBackend } from '../../crypto/backend/web.ts';
import { decodeSFrameHeader, deriveSenderBaseKey, parseKid, SFrameContext } from '../../crypto/sframe/index.ts';
import { DATA_DEADLINE_MAX_MS, decodeFrame, encodeDataFrame, FRAME_DATA_UP } from '../../protocol/ws.ts';
import { streamApiInternals } from '../internal.ts';
import { dataTrackMetadata, MAX_DATA_PLAINTEXT_BYTES } from './data-track-crypto.ts';
import type { HeadTracker } from '../rooms/head-tracker.ts';
import { DataTrackSender } from './data-track-sender.ts';
import type { KeyRefresher } from './key-refresh.ts';
import { MAX_DATA_MESSAGE_BYTES } from './limits.ts';
import type { SendTarget } from './local-streams.ts';
import type { DataTrackDelivery } from './types.ts';
import { captureFrames, DataLog, startKit, until, utf8, type Client, type Kit } from './test-kit.ts';

/** Messages in each batch: sent without awaiting in between, so later ones queue behind a waiting one. */
const BATCH = 10;

let kit: Kit;
let alice: Client;
let bob: Client;
let dave: Client;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'dave']);
  [alice, bob, dave] = await Promise.all([kit.connect('alice'), kit.connect('bob'), kit.connect('dave')]);
});
afterAll(async () => {
  await kit.close();
});

const sent = () => alice.streamApi.dataTrackStats().sent;

/**
 * Calls `sendData` for each text without awaiting in between; returns, per message, whether it was on
 * the socket when its call returned, and the promise of all of them.
 */
function sendBatch(trackId: string, texts: string[]): { inCall: boolean[]; done: Promise<unknown> } {
  const inCall: boolean[] = [];
  const promises: Array<Promise<void>> = [];
  for (const text of texts) {
    const before = sent();
    promises.push(alice.streamApi.sendData(trackId, utf8(text)));
    inCall.push(sent() === before + 1);
  }
  return { inCall, done: Promise.all(promises) };
}

/** The SFrame header of a captured DATA frame. */
function headerOf(frame: Uint8Array): { kid: bigint; ctr: bigint } {
  const decoded = decodeFrame(frame);
  if (decoded?.type !== 'data') throw new Error('expected a DATA frame');
  return decodeSFrameHeader(decoded.payload);
}

const texts = (from: number, count: number) => Array.from({ length: count }, (_, i) => `m${from + i}`);

/** alice's data track in a room of `users`, joined by alice and bob, bob subscribed and listening. */
async function setUp(users: Client[], managers: Client[], delivery: DataTrackDelivery = 'lossy') {
  const roomId = await kit.room(managers[0]!, users, managers);
  await alice.streamApi.joinStreamRoom(roomId);
  await bob.streamApi.joinStreamRoom(roomId);
  const handle = await alice.streamApi.createStream(roomId);
  // The longest deadline: a lossy message that waits for a key on a busy machine is not dropped as late.
  const trackId = await alice.streamApi.addStreamTrack(handle, {
    createDataChannel: true,
    delivery,
    ...(delivery === 'lossy' ? { deadlineMs: DATA_DEADLINE_MAX_MS } : {}),
  });
  await alice.streamApi.publishStream(handle);
  const data = new DataLog(bob, roomId, handle);
  await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
  return { roomId, handle, trackId, data };
}

/** A copy of alice's current epoch key (the key ring zeroes a key it forgets). */
function epochKey(roomId: string): { epoch: number; key: Uint8Array } {
  const current = streamApiInternals(alice.streamApi).keys.current(roomId);
  if (current === undefined) throw new Error('alice holds no key for the room');
  return { epoch: current.epoch, key: current.key.slice() };
}

/**
 * Each captured DATA frame equals the one the async path seals for its plaintext under its KID and
 * counter, with WebCrypto (which has no synchronous AEAD, so `encrypt` is all it can take).
 */
async function expectAsyncBytes(frames: Uint8Array[], ids: { roomId: string; handle: string; trackId: string }, keys: Map<number, Uint8Array>): Promise<void> {
  const metadata = dataTrackMetadata(ids.roomId, ids.handle, ids.trackId);
  for (const frame of frames) {
    const decoded = decodeFrame(frame);
    if (decoded?.type !== 'data') throw new Error('expected a DATA frame');
    const { kid, ctr } = decodeSFrameHeader(decoded.payload);
    const epoch = parseKid(kid).epochLow;
    const baseKey = deriveSenderBaseKey({ epochKey: keys.get(epoch)!, roomId: ids.roomId, epoch, kid, senderId: alice.user.userId });
    const opener = new SFrameContext({ backend: webBackend, maxFrameBytes: MAX_DATA_PLAINTEXT_BYTES });
    const sealer = new SFrameContext({ backend: webBackend, maxFrameBytes: MAX_DATA_PLAINTEXT_BYTES });
    await opener.addKey(kid, baseKey);
    await sealer.addKey(kid, baseKey);
    const { plaintext } = await opener.decrypt(metadata, decoded.payload);
    expect(sealer.encryptSync(kid, metadata, plaintext)).toBeUndefined();
    sealer.setNextCounter(kid, ctr);
    expect(frame).toEqual(encodeDataFrame(FRAME_DATA_UP, decoded.trackNo, await sealer.encrypt(kid, metadata, plaintext)));
  }
}

describe('data-track sender, in the call', () => {
  it.each(['lossy', 'reliable'] as const)('%s: messages behind one that waits for its key wait too, in order; then each goes in its call', async (delivery) => {
    const { roomId, handle, trackId, data } = await setUp([alice, bob], [alice], delivery);
    const frames = captureFrames(alice);
    const keys = new Map([[1, epochKey(roomId).key]]);

    // The first message starts the room's session (its key is derived asynchronously): none goes in its call.
    const first = sendBatch(trackId, texts(0, BATCH));
    expect(first.inCall).toEqual(new Array(BATCH).fill(false));
    await first.done;
    // Nothing waits now: each message is on the socket when its call returns.
    const second = sendBatch(trackId, texts(BATCH, BATCH));
    expect(second.inCall).toEqual(new Array(BATCH).fill(true));
    await second.done;

    await until(() => data.messages.length === 2 * BATCH, 'every message at bob');
    expect(data.texts()).toEqual(texts(0, 2 * BATCH));
    expect(bob.streamApi.dataTrackStats()).toMatchObject({ undecryptable: 0, replayed: 0 });
    expect(frames.length).toBe(2 * BATCH);
    expect(frames.map((f) => headerOf(f).ctr)).toEqual(Array.from({ length: 2 * BATCH }, (_, i) => BigInt(i)));
    await expectAsyncBytes(frames, { roomId, handle, trackId }, keys);
    data.remove();
    await alice.streamApi.leaveStreamRoom(roomId);
    await bob.streamApi.leaveStreamRoom(roomId);
  });

  it("WebCrypto's async-only keys: every message takes the ordered async path, with the same bytes", async () => {
    const { roomId, handle, trackId, data } = await setUp([alice, bob], [alice]);
    // A second sender over alice's real connection, rooms, keys and heads, its SFrame sessions on the
    // browser backend (WebCrypto: no synchronous AEAD). Its own counters show what it sent.
    const realtime = streamApiInternals(alice.streamApi).realtime as unknown as {
      refresher: KeyRefresher;
      heads: HeadTracker;
      locals: { sendTarget(id: string): SendTarget };
    };
    const counters = { ...alice.streamApi.dataTrackStats(), sent: 0 };
    const browserLike = new DataTrackSender({
      connection: alice.connection,
      rooms: streamApiInternals(alice.streamApi).rooms,
      keys: streamApiInternals(alice.streamApi).keys,
      refresher: realtime.refresher,
      heads: realtime.heads,
      counters,
      target: (id) => realtime.locals.sendTarget(id),
      backend: webBackend,
    });
    const frames = captureFrames(alice);
    for (let batch = 0; batch < 2; batch++) {
      const sends = texts(batch * BATCH, BATCH).map((text) => browserLike.send(trackId, utf8(text)));
      expect(counters.sent).toBe(batch * BATCH);
      await Promise.all(sends);
      expect(counters.sent).toBe((batch + 1) * BATCH);
    }
    await until(() => data.messages.length === 2 * BATCH, 'every message at bob');
    expect(data.texts()).toEqual(texts(0, 2 * BATCH));
    await expectAsyncBytes(frames, { roomId, handle, trackId }, new Map([[1, epochKey(roomId).key]]));
    data.remove();
    await alice.streamApi.leaveStreamRoom(roomId);
    await bob.streamApi.leaveStreamRoom(roomId);
  });

  it('refuses bad input with a rejected promise and a coded error, never a throw in the call', async () => {
    let returned: Array<Promise<void>> = [];
    expect(() => {
      returned = [
        alice.streamApi.sendData('no-such-track', utf8('x')),
        alice.streamApi.sendData('no-such-track', 'text' as unknown as Uint8Array),
        alice.streamApi.sendData('no-such-track', new Uint8Array(MAX_DATA_MESSAGE_BYTES + 1)),
      ];
    }).not.toThrow();
    for (const promise of returned) await expect(promise).rejects.toMatchObject({ reason: 'InvalidArgument' });
  });

  it('a rotation mid-stream: the first message under the new epoch and those behind it wait, in order; then in the call again', async () => {
    const { roomId, handle, trackId, data } = await setUp([alice, bob, dave], [dave]);
    await alice.streamApi.sendData(trackId, utf8('m0'));
    const frames = captureFrames(alice);
    const keys = new Map([[1, epochKey(roomId).key]]);
    const before = sendBatch(trackId, texts(1, BATCH));
    expect(before.inCall).toEqual(new Array(BATCH).fill(true));
    await before.done;

    const room = await dave.streamApi.getStreamRoom(roomId);
    await dave.streamApi.updateStreamRoom(roomId, room.users, room.managers, room.publicMeta, room.privateMeta, room.version, false, true);
    await until(() => streamApiInternals(alice.streamApi).keys.newestEpoch(roomId) === 2, 'alice holding epoch 2');
    keys.set(2, epochKey(roomId).key);

    // alice's session is still on epoch 1: the next message starts one on epoch 2, and the batch waits with it.
    const across = sendBatch(trackId, texts(1 + BATCH, BATCH));
    expect(across.inCall).toEqual(new Array(BATCH).fill(false));
    await across.done;
    const after = sendBatch(trackId, texts(1 + 2 * BATCH, BATCH));
    expect(after.inCall).toEqual(new Array(BATCH).fill(true));
    await after.done;

    const total = 1 + 3 * BATCH;
    await until(() => data.messages.length === total, 'every message at bob');
    expect(data.texts()).toEqual(texts(0, total));
    expect(data.messages.map((m) => m.info.epoch)).toEqual([...new Array(1 + BATCH).fill(1), ...new Array(2 * BATCH).fill(2)]);
    expect(bob.streamApi.dataTrackStats()).toMatchObject({ undecryptable: 0, replayed: 0, noKey: 0 });
    // On the wire: the old session's counters go on from m0's, the new session's start at 0.
    const headers = frames.map(headerOf);
    expect(headers.map((h) => h.ctr)).toEqual([
      ...Array.from({ length: BATCH }, (_, i) => BigInt(i + 1)),
      ...Array.from({ length: 2 * BATCH }, (_, i) => BigInt(i)),
    ]);
    expect(new Set(headers.slice(BATCH).map((h) => h.kid)).size).toBe(1);
    expect(headers[BATCH]!.kid).not.toBe(headers[0]!.kid);
    await expectAsyncBytes(frames, { roomId, handle, trackId }, keys);
    data.remove();
    await alice.streamApi.leaveStreamRoom(roomId);
    await bob.streamApi.leaveStreamRoom(roomId);
  });
});
