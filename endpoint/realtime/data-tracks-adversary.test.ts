/**
 * The Bridge as an adversary, on data tracks (docs/security/bridge-adversary.md). A real Bridge relays
 * for real Endpoints; what a malicious Bridge would add on a receiver's socket (a frame it recorded or
 * forged, a stream description, a stale room served over REST) is put there by the test, on that
 * receiver's connection only, exactly as its socket or REST client would hand it on.
 *
 * - An old epoch is never reopened: a removed member who kept the epoch key cannot inject frames,
 *   whatever the Bridge serves afterwards.
 * - A recorded frame is never delivered twice, however many sessions the Bridge forces the sender
 *   through, and a receiver that never saw it (restarted, or added without a rotation) refuses it once
 *   it is older than the freshness window.
 * - Members on different heads notice: a newer head named in a frame is fetched, and a view that stays
 *   split raises `staleView`.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveSenderBaseKey, makeKid, randomSessionId, SFrameContext, decodeSFrameHeader, encodeSFrameHeader, parseKid } from '../../crypto/sframe/index.ts';
import { decodeFrame, type ServerEvent } from '../../protocol/ws.ts';
import type { EventMap } from '../event-api.ts';
import { connectionInternals, streamApiInternals } from '../internal.ts';
import { dataTrackMetadata, encodeDataTrackPlaintext } from './data-track-crypto.ts';
import { KID_FAILURE_REFILL_MS, KID_FAILURES_BURST } from './kid-epoch.ts';
import { MAX_KIDS_PER_SENDER, MAX_RETIRED_KIDS_PER_SENDER } from './limits.ts';
import { captureFrames, DataLog, publishDataTrack, pub, startKit, until, utf8, type Client, type Kit } from './test-kit.ts';

let kit: Kit;
let dave: Client;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'carol', 'dave', 'mallory']);
  dave = await kit.connect('dave');
});
afterAll(async () => {
  await kit.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Resolves once the async `predicate` holds; fails after 5 s. */
async function eventually(predicate: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
/** Lets frames handed to a receiver's queue be processed. */
const settle = () => sleep(100);

/** What the Bridge would put on `client`'s socket: an event. */
function bridgeEvent(client: Client, event: ServerEvent): void {
  connectionInternals(client.connection).hooks.emit('event', event);
}

/** What the Bridge would put on `client`'s socket: a DATA frame on `trackNo`. */
function bridgeFrame(client: Client, trackNo: number, payload: Uint8Array): void {
  connectionInternals(client.connection).hooks.emit('frame', { type: 'data', direction: 'down', trackNo, payload });
}

/** A made-up trackNo the Bridge gives a stream it describes again; far from the ones it hands out. */
let fakeTrackNo = 900_000;

/** The Bridge describes a stream of `userId` again (it may have ended), so frames on it are routed. */
function redescribe(client: Client, roomId: string, userId: string, streamId: string, trackId: string): number {
  const trackNo = fakeTrackNo++;
  bridgeEvent(client, {
    type: 'streamPublished',
    stream: { roomId, streamId, userId, connectionId: `forged-${trackNo}`, tracks: [{ trackId, kind: 'data', trackNo }] },
  });
  return trackNo;
}

/** The SFrame payload of each DATA frame captured on a sender's socket. */
function payloads(frames: Uint8Array[]): Uint8Array[] {
  return frames.map((f) => {
    const decoded = decodeFrame(f);
    if (decoded?.type !== 'data') throw new Error('expected a DATA frame');
    return decoded.payload.slice();
  });
}

/** The current trackNo of a track at a receiver (from the Bridge's description of the stream). */
function trackNoAt(client: Client, roomId: string, streamId: string, trackId: string): number {
  const realtime = streamApiInternals(client.streamApi).realtime as unknown as {
    joined: { get(id: string): { streams: Map<string, { tracks: Map<string, { trackNo: number }> }> } | undefined };
  };
  const trackNo = realtime.joined.get(roomId)?.streams.get(streamId)?.tracks.get(trackId)?.trackNo;
  if (trackNo === undefined) throw new Error('the receiver does not know that track');
  return trackNo;
}

/**
 * A frame that `holder` of an epoch key builds in `senderId`'s name: a new session (fresh KID at the
 * sender's member index), or an existing KID with a counter of its choice. With the key, everything a
 * receiver checks can be made up: SFrame authenticates the group, not the sender.
 */
async function forge(args: {
  epochKey: Uint8Array;
  roomId: string;
  epoch: number;
  senderId: string;
  memberIndex: number;
  streamId: string;
  trackId: string;
  text: string;
  kid?: bigint;
  ctr?: bigint;
  head?: { version: number; hash: Uint8Array };
}): Promise<Uint8Array> {
  const kid = args.kid ?? makeKid({ memberIndex: args.memberIndex, sessionId: randomSessionId(), epoch: args.epoch });
  const ctx = new SFrameContext({ maxFrameBytes: 1 << 20 });
  await ctx.addKey(kid, deriveSenderBaseKey({ epochKey: args.epochKey, roomId: args.roomId, epoch: args.epoch, kid, senderId: args.senderId }));
  if (args.ctr !== undefined) ctx.setNextCounter(kid, args.ctr);
  const head = args.head ?? { version: 1, hash: new Uint8Array(32) };
  const plaintext = encodeDataTrackPlaintext({ time: Date.now(), version: head.version, headHash: head.hash }, utf8(args.text));
  return ctx.encrypt(kid, dataTrackMetadata(args.roomId, args.streamId, args.trackId), plaintext);
}

/** A junk frame whose KID names an epoch `ahead` of `epoch`: it makes the receiver fetch the room. */
function futureJunk(epoch: number, ahead: number, sessionId = 1): Uint8Array {
  const kid = makeKid({ memberIndex: 0, sessionId, epoch: epoch + ahead });
  // A real SFrame header naming that KID, then garbage.
  const header = encodeSFrameHeader(kid, 0n);
  const out = new Uint8Array(header.length + 40);
  out.set(header);
  return out;
}

/**
 * alice publishes a data track in a room of alice, bob and dave; bob is subscribed and got her first
 * message, `m0`.
 */
async function publishingPair() {
  const alice = await kit.connect('alice');
  const bob = await kit.connect('bob');
  const roomId = await kit.room(dave, [alice, bob, dave], [dave]);
  await alice.streamApi.joinStreamRoom(roomId);
  await bob.streamApi.joinStreamRoom(roomId);
  const { handle, trackId } = await publishDataTrack(alice, roomId);
  const data = new DataLog(bob, roomId, handle);
  await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
  await alice.streamApi.sendData(trackId, utf8('m0'));
  await until(() => data.messages.length === 1, 'the first message at bob');
  return { alice, bob, roomId, trackId, trackNo: trackNoAt(bob, roomId, handle, trackId), data };
}

/** Counts the room reads `client` makes from now on, until `stop`. */
function countRoomReads(client: Client): { count: number; stop: () => void } {
  const rooms = streamApiInternals(client.streamApi).rooms;
  const read = rooms.getStreamRoom.bind(rooms);
  const counter = { count: 0, stop: () => void (rooms.getStreamRoom = read) };
  rooms.getStreamRoom = (...args: Parameters<typeof read>) => {
    counter.count++;
    return read(...args);
  };
  return counter;
}

async function removeFromRoom(manager: Client, roomId: string, gone: Client): Promise<void> {
  const room = await manager.streamApi.getStreamRoom(roomId);
  const users = room.users.filter((u) => u.userId !== gone.user.userId);
  await manager.streamApi.updateStreamRoom(roomId, users, room.managers, room.publicMeta, room.privateMeta, room.version, false, false);
}

describe('an old epoch is never reopened (removed member + Bridge)', () => {
  it("refuses new sessions of a superseded epoch, closes a sender's old sessions once it moved on, and never re-admits the epoch", async () => {
    const GRACE_MS = 400;
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob', { streamApi: { epochGraceMs: GRACE_MS } });
    const mallory = await kit.connect('mallory');
    const roomId = await kit.room(dave, [alice, bob, mallory, dave], [dave]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const { handle, trackId } = await publishDataTrack(alice, roomId);
    const data = new DataLog(bob, roomId, handle);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    const sent = captureFrames(alice);
    await alice.streamApi.sendData(trackId, utf8('before'));
    await until(() => data.messages.length === 1, 'the first message at bob');
    const aliceKid = decodeSFrameHeader(payloads(sent)[0]!).kid;
    const bobKeys = streamApiInternals(bob.streamApi).keys;

    // mallory keeps the epoch-1 key, then is removed: epoch 2.
    await mallory.streamApi.getStreamRoom(roomId);
    const key1 = streamApiInternals(mallory.streamApi).keys.get(roomId, 1)!.slice();
    const v1 = (await streamApiInternals(bob.streamApi).rooms.trustedHead(roomId))!;
    await removeFromRoom(dave, roomId, mallory);
    await until(() => bobKeys.newestEpoch(roomId) === 2, 'bob holding epoch 2');
    const trackNo = trackNoAt(bob, roomId, handle, trackId);
    const forgery = (text: string, extra: { kid?: bigint; ctr?: bigint } = {}) =>
      forge({
        epochKey: key1,
        roomId,
        epoch: 1,
        senderId: 'alice',
        memberIndex: 0,
        streamId: handle,
        trackId,
        text,
        head: { version: 1, hash: v1.hash },
        ...extra,
      });

    const stale = () => bob.streamApi.dataTrackStats().stale;
    // Inside the grace period: a session of epoch 1 that bob never saw is refused.
    bridgeFrame(bob, trackNo, await forgery('new session in the old epoch'));
    await settle();
    expect.soft(data.texts()).toEqual(['before']);
    expect.soft(stale()).toBe(1);

    // alice moves to epoch 2; after her first frame there, her epoch-1 session is closed at bob.
    await alice.streamApi.sendData(trackId, utf8('after'));
    await until(() => data.texts().includes('after'), 'the epoch-2 message at bob');
    expect(data.messages.find((m) => m.text === 'after')!.info.epoch).toBe(2);
    bridgeFrame(bob, trackNo, await forgery('old session, counter ahead', { kid: aliceKid, ctr: 1000n }));
    await settle();
    expect.soft(data.texts()).not.toContain('old session, counter ahead');
    expect.soft(stale()).toBe(2);

    // After the grace period, epoch 1 is gone; a junk frame naming a future epoch makes bob read the
    // room again, and the Bridge still serves his epoch-1 wrapped key: it must not come back.
    await sleep(GRACE_MS + 100);
    expect.soft(bobKeys.get(roomId, 1)).toBeUndefined();
    bridgeFrame(bob, trackNo, futureJunk(2, 1));
    await settle();
    await bob.streamApi.getStreamRoom(roomId);
    expect.soft(bobKeys.get(roomId, 1)).toBeUndefined();
    bridgeFrame(bob, trackNo, await forgery('reopened epoch'));
    await settle();
    expect.soft(data.texts()).not.toContain('reopened epoch');
    expect.soft(stale()).toBe(3);
    expect(data.texts().filter((t) => t !== 'before' && t !== 'after')).toEqual([]);
    for (const c of [alice, bob]) await c.streamApi.leaveStreamRoom(roomId);
  });
});

describe('made-up epochs', () => {
  it(`frames naming ${127} newer epochs make a receiver fetch the room at most once a second, and the real frames keep coming`, async () => {
    const { alice, bob, roomId, trackId, trackNo, data } = await publishingPair();
    // Every read of the room bob makes from now on.
    const reads = countRoomReads(bob);
    const noKey = () => bob.streamApi.dataTrackStats().noKey;
    const before = noKey();
    const started = Date.now();
    try {
      for (let ahead = 1; ahead <= 127; ahead++) {
        bridgeFrame(bob, trackNo, futureJunk(1, ahead));
        if (ahead % 16 === 0) await alice.streamApi.sendData(trackId, utf8(`m${ahead / 16}`));
      }
      await until(() => data.messages.length === 8, 'the real messages sent among the junk');
      await eventually(async () => noKey() - before === 127, 'every junk frame counted');
    } finally {
      reads.stop();
    }
    expect(data.texts()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    expect(reads.count).toBeLessThanOrEqual(1 + Math.floor((Date.now() - started) / 1000));
    await alice.streamApi.leaveStreamRoom(roomId);
    await bob.streamApi.leaveStreamRoom(roomId);
  });
});

describe('made-up epochs in stream announcements', () => {
  it('127 announced streams naming newer epochs cost the receiver one room read a second, and a real stream still arrives', async () => {
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob');
    const roomId = await kit.room(dave, [alice, bob, dave], [dave]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const texts: string[] = [];
    bob.streamApi.registerTextStreamHandler('chat', async (reader) => void texts.push(await reader.readAll()));
    await alice.streamApi.sendText('first', { roomId, topic: 'chat' });
    await until(() => texts.length === 1, 'the first text at bob');
    const reads = countRoomReads(bob);
    const started = Date.now();
    try {
      // From alice and dave in turn: a receiver holds at most 64 streams of one sender at once
      // (INCOMING_STREAMS_PER_SENDER_MAX), and alice's real one must find its place.
      for (let i = 0; i < 127; i++) {
        const from = i % 2 === 0 ? dave : alice;
        bridgeEvent(bob, {
          type: 'byteStreamOpened',
          roomId,
          streamNo: 800_000 + i,
          streamId: Buffer.from(randomBytes(16)).toString('base64'),
          epoch: 2 + i,
          senderId: from.connection.userId,
          senderConnectionId: from.connection.connectionId!,
          window: 65_536,
        });
      }
      await alice.streamApi.sendText('second', { roomId, topic: 'chat' });
      await until(() => texts.length === 2, 'the real text among the made-up streams');
      await settle();
    } finally {
      reads.stop();
    }
    expect(texts).toEqual(['first', 'second']);
    expect(reads.count).toBeLessThanOrEqual(1 + Math.floor((Date.now() - started) / 1000));
    for (const c of [alice, bob]) await c.streamApi.leaveStreamRoom(roomId);
  });
});

describe('forged KIDs', () => {
  it(`new KIDs of a sender that never authenticate cost a key derivation ${KID_FAILURES_BURST} times, then one every ${KID_FAILURE_REFILL_MS} ms; the sender's real frames keep coming`, async () => {
    const { alice, bob, roomId, trackId, trackNo, data } = await publishingPair();
    const stats = () => bob.streamApi.dataTrackStats();
    const before = stats();
    const started = performance.now();
    // 200 frames under fresh KIDs of the current epoch: each would be a new session to derive a key for.
    for (let i = 0; i < 200; i++) bridgeFrame(bob, trackNo, futureJunk(1, 0, 1000 + i));
    await alice.streamApi.sendData(trackId, utf8('m1'));
    await until(() => data.messages.length === 2, 'the real message after the forgeries');
    await eventually(async () => stats().undecryptable + stats().noKey - before.undecryptable - before.noKey === 200, 'every forgery counted');
    const tried = stats().undecryptable - before.undecryptable;
    expect(tried).toBeGreaterThanOrEqual(KID_FAILURES_BURST);
    expect(tried).toBeLessThanOrEqual(KID_FAILURES_BURST + 1 + Math.ceil((performance.now() - started) / KID_FAILURE_REFILL_MS));
    expect(data.texts()).toEqual(['m0', 'm1']);
    await alice.streamApi.leaveStreamRoom(roomId);
    await bob.streamApi.leaveStreamRoom(roomId);
  });
});

describe('replays (freshness and never twice)', () => {
  it(`refuses a recorded frame after the Bridge forced ${MAX_KIDS_PER_SENDER + MAX_RETIRED_KIDS_PER_SENDER} rejoins of its sender`, async () => {
    const alice = await kit.connect('alice', { connect: { reconnectBaseDelayMs: 1, reconnectMaxDelayMs: 5 } });
    const bob = await kit.connect('bob');
    const roomId = await kit.room(dave, [alice, bob, dave], [dave]);
    await bob.streamApi.joinStreamRoom(roomId);
    const data = new DataLog(bob, roomId);
    const sent = captureFrames(alice);
    const REJOINS = MAX_KIDS_PER_SENDER + MAX_RETIRED_KIDS_PER_SENDER;
    await alice.streamApi.joinStreamRoom(roomId);
    const first = await publishDataTrack(alice, roomId);
    // bob's subscription follows each republish (resume.ts); count when it is in place.
    let subscribed = 0;
    bob.eventApi.on('streamSubscribed', (e) => {
      if (e.streamId === first.handle) subscribed++;
    });
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: first.handle }]);
    for (let i = 0; i <= REJOINS; i++) {
      if (i > 0) {
        // The Bridge drops alice's socket: she reconnects, rejoins and republishes (a new sending session).
        const resumed = new Promise<void>((resolve) => {
          const stop = alice.eventApi.on('streamRoomResumed', () => {
            stop();
            resolve();
          });
        });
        (connectionInternals(alice.connection).socket() as unknown as { terminate(): void }).terminate();
        await resumed;
      }
      await until(() => subscribed === i + 1, `bob subscribed again (${i})`);
      await alice.streamApi.sendData(first.trackId, utf8(`session ${i}`));
      await until(() => data.messages.length === i + 1, `message ${i} at bob`);
    }
    const kids = new Set(payloads(sent).map((p) => decodeSFrameHeader(p).kid));
    expect(kids.size).toBe(REJOINS + 1);

    // The Bridge describes alice's first stream again and replays the frame it recorded there.
    const trackNo = redescribe(bob, roomId, 'alice', first.handle, first.trackId);
    bridgeFrame(bob, trackNo, payloads(sent)[0]!);
    await settle();
    expect(data.texts().filter((t) => t === 'session 0')).toHaveLength(1);
    // Within the freshness window still: refused because it is not after what bob forgot of alice.
    expect(bob.streamApi.dataTrackStats()).toMatchObject({ delivered: REJOINS + 1, stale: 1 });
    await bob.streamApi.leaveStreamRoom(roomId);
    await alice.connection.disconnect();
  }, 60_000);

  it('refuses a frame older than the window at a receiver that never saw it: restarted, or added without a rotation', async () => {
    const MAX_AGE_MS = 300;
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob');
    const roomId = await kit.room(dave, [alice, bob, dave], [dave]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const { handle, trackId } = await publishDataTrack(alice, roomId);
    const data = new DataLog(bob, roomId, handle);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    const sent = captureFrames(alice);
    await alice.streamApi.sendData(trackId, utf8('recorded'));
    await until(() => data.messages.length === 1, 'the message at bob');
    const recorded = payloads(sent)[0]!;
    await sleep(MAX_AGE_MS + 100);

    // bob restarts (a new Endpoint, nothing remembered); carol is added without a rotation.
    const bob2 = await kit.connect('bob', { streamApi: { dataTrackMaxAgeMs: MAX_AGE_MS } });
    const carol = await kit.connect('carol', { streamApi: { dataTrackMaxAgeMs: MAX_AGE_MS } });
    const room = await dave.streamApi.getStreamRoom(roomId);
    await dave.streamApi.updateStreamRoom(
      roomId,
      [...room.users, pub(carol.user)],
      room.managers,
      room.publicMeta,
      room.privateMeta,
      room.version,
      false,
      false,
    );
    expect((await dave.streamApi.getStreamRoom(roomId)).epoch).toBe(1);
    for (const receiver of [bob2, carol]) {
      await receiver.streamApi.joinStreamRoom(roomId);
      const log = new DataLog(receiver, roomId, handle);
      await receiver.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
      bridgeFrame(receiver, trackNoAt(receiver, roomId, handle, trackId), recorded);
      await settle();
      expect(log.texts()).toEqual([]);
      expect(receiver.streamApi.dataTrackStats()).toMatchObject({ delivered: 0, stale: 1 });
      // A fresh frame still goes through.
      await alice.streamApi.sendData(trackId, utf8('fresh'));
      await until(() => log.messages.length === 1, 'a fresh message');
      await receiver.streamApi.leaveStreamRoom(roomId);
    }
    for (const c of [alice, bob]) await c.streamApi.leaveStreamRoom(roomId);
  });
});

describe('split views (a removal hidden from chosen members)', () => {
  it('a frame naming a newer head makes the receiver fetch and verify it', async () => {
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob');
    const carol = await kit.connect('carol');
    const roomId = await kit.room(alice, [alice, bob], [alice]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const { handle, trackId } = await publishDataTrack(alice, roomId);
    const data = new DataLog(bob, roomId, handle);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    await alice.streamApi.sendData(trackId, utf8('v1'));
    await until(() => data.messages.length === 1, 'the first message');
    const bobRooms = streamApiInternals(bob.streamApi).rooms;
    expect((await bobRooms.trustedHead(roomId))!.record.version).toBe(1);

    // carol is added without a rotation; the Bridge does not tell bob (no event reaches him).
    const hooks = connectionInternals(bob.connection).hooks as unknown as { emit: (type: string, value: unknown) => void };
    const emit = hooks.emit.bind(hooks);
    hooks.emit = (type, value) => {
      if (type === 'event' && (value as ServerEvent).type === 'streamRoomUpdated') return;
      emit(type, value);
    };
    const room = await alice.streamApi.getStreamRoom(roomId);
    await alice.streamApi.updateStreamRoom(
      roomId,
      [...room.users, pub(carol.user)],
      room.managers,
      room.publicMeta,
      room.privateMeta,
      room.version,
      false,
      false,
    );
    await alice.streamApi.sendData(trackId, utf8('v2'));
    await until(() => data.messages.length === 2, 'the second message');
    await eventually(async () => (await bobRooms.trustedHead(roomId))!.record.version === 2, "bob verifying version 2 named in alice's frame");
    hooks.emit = emit;
    for (const c of [alice, bob]) await c.streamApi.leaveStreamRoom(roomId);
  });

  it('a byte-stream header naming a newer head does the same', async () => {
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob');
    const carol = await kit.connect('carol');
    const roomId = await kit.room(alice, [alice, bob], [alice]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const texts: string[] = [];
    bob.streamApi.registerTextStreamHandler('chat', async (reader) => void texts.push(await reader.readAll()));
    const hooks = connectionInternals(bob.connection).hooks as unknown as { emit: (type: string, value: unknown) => void };
    const emit = hooks.emit.bind(hooks);
    hooks.emit = (type, value) => {
      if (type === 'event' && (value as ServerEvent).type === 'streamRoomUpdated') return;
      emit(type, value);
    };
    const room = await alice.streamApi.getStreamRoom(roomId);
    await alice.streamApi.updateStreamRoom(
      roomId,
      [...room.users, pub(carol.user)],
      room.managers,
      room.publicMeta,
      room.privateMeta,
      room.version,
      false,
      false,
    );
    await alice.streamApi.sendText('hello', { roomId, topic: 'chat' });
    await until(() => texts.length === 1, 'the text at bob');
    const bobRooms = streamApiInternals(bob.streamApi).rooms;
    await eventually(async () => (await bobRooms.trustedHead(roomId))!.record.version === 2, "bob verifying version 2 named in alice's stream header");
    hooks.emit = emit;
    for (const c of [alice, bob]) await c.streamApi.leaveStreamRoom(roomId);
  });

  it('raises staleView when the Bridge keeps serving a member the head from before a removal', async () => {
    const STALE_AFTER_MS = 300;
    const alice = await kit.connect('alice', { streamApi: { staleViewAfterMs: STALE_AFTER_MS } });
    const bob = await kit.connect('bob', { streamApi: { staleViewAfterMs: STALE_AFTER_MS } });
    const mallory = await kit.connect('mallory');
    const roomId = await kit.room(dave, [alice, bob, mallory, dave], [dave]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const a = await publishDataTrack(alice, roomId);
    const b = await publishDataTrack(bob, roomId);
    const atAlice = new DataLog(alice, roomId, b.handle);
    const atBob = new DataLog(bob, roomId, a.handle);
    await alice.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: b.handle }]);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: a.handle }]);
    await alice.streamApi.sendData(a.trackId, utf8('hello bob'));
    await bob.streamApi.sendData(b.trackId, utf8('hello alice'));
    await until(() => atAlice.messages.length === 1 && atBob.messages.length === 1, 'both greetings');

    // From now on the Bridge serves bob the room as it was (version 1), and keeps quiet about updates.
    const http = connectionInternals(bob.connection).http as unknown as { request: (...args: unknown[]) => Promise<unknown> };
    const request = http.request.bind(http);
    const frozen = new Map<string, unknown>();
    for (const since of [0, 1]) {
      const path = `/v1/rooms/${encodeURIComponent(roomId)}?since=${since}`;
      frozen.set(path, await request('GET', path, (await import('../../protocol/api.ts')).roomResponseSchema, undefined, {}));
    }
    http.request = async (...args: unknown[]) => (args[0] === 'GET' && frozen.has(args[1] as string) ? frozen.get(args[1] as string) : request(...args));
    const hooks = connectionInternals(bob.connection).hooks as unknown as { emit: (type: string, value: unknown) => void };
    const emit = hooks.emit.bind(hooks);
    hooks.emit = (type, value) => {
      if (type === 'event' && (value as ServerEvent).type === 'streamRoomUpdated') return;
      emit(type, value);
    };
    const stale: Array<EventMap['staleView']> = [];
    alice.eventApi.on('staleView', (e) => stale.push(e as EventMap['staleView']));

    await removeFromRoom(dave, roomId, mallory);
    await until(() => streamApiInternals(alice.streamApi).keys.newestEpoch(roomId) === 2, 'alice holding epoch 2');
    // bob goes on under epoch 1, which mallory holds; he says so in every frame.
    const bobFrames = captureFrames(bob);
    for (let i = 0; i < 12 && stale.length === 0; i++) {
      await bob.streamApi.sendData(b.trackId, utf8(`bob ${i}`));
      await alice.streamApi.sendData(a.trackId, utf8(`alice ${i}`));
      await sleep(50);
    }
    await until(() => stale.length > 0, 'staleView at alice');
    expect(payloads(bobFrames).every((p) => parseKid(decodeSFrameHeader(p).kid).epochLow === 1)).toBe(true);
    expect(stale[0]).toMatchObject({ type: 'staleView', streamRoomId: roomId, userId: 'bob', reason: 'behind', theirVersion: 1, ourVersion: 2 });
    hooks.emit = emit;
    for (const c of [alice, bob]) await c.streamApi.leaveStreamRoom(roomId);
  });
});
