/**
 * Data tracks in a real browser (Debian's Chromium: the WebCrypto backend, so the sender always takes
 * its ordered async path, and the native WebSocket, so a BATCH arrives as an ArrayBuffer;
 * docs/protocol/data-tracks.md, "Batches"). alice runs in the page, bob and dave in Node, all three
 * managers; one room, one real Bridge. The tracks are reliable (nothing may be lost) but for one
 * lossy track of bob's.
 *
 * - The page sends a few hundred messages without awaiting in between; bob gets each one, in order,
 *   byte-exact.
 * - bob sends a burst in one synchronous loop; the page gets each one, in order, byte-exact, with no
 *   drop counted, and the socket carried them in fewer WebSocket messages than frames (BATCH
 *   messages, seen through the DevTools protocol).
 * - dave (a manager who never joined), then the page, rotates while both send: neither side loses a
 *   message or reorders, and both move to the new epoch.
 * - A burst on bob's lossy track (the longest deadline): every message is delivered or counted as a
 *   drop, and what arrives arrives in order, byte-exact.
 */
import type { WebSocket as PlaywrightSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_DEADLINE_MAX_MS, FRAME_BATCH_DOWN, FRAME_DATA_DOWN, splitBatch } from '../../protocol/ws.ts';
import { openBrowserPage, type BrowserPage } from '../../test/browser/browser.ts';
import { streamApiInternals } from '../internal.ts';
import type { StreamApi } from '../stream-api.ts';
import { MAX_DATA_MESSAGE_BYTES } from './limits.ts';
import type { DataTrackStats } from './types.ts';
import { pub, startKit, until, type Client, type Kit } from './test-kit.ts';

/** Messages the page sends in the first test. */
const FROM_PAGE = 300;
/** Messages bob sends in one synchronous loop (above the Bridge's 256 frames per batch). */
const BURST = 600;
/** Messages each side sends after it holds the new epoch, in the rotation test. */
const AFTER = 20;
/** Messages bob sends in each synchronous loop of the rotation test. */
const STEP = 10;
/** A guard against a loop that never sees the new epoch: fail rather than spin. */
const MAX_MESSAGES = 3000;
const WAIT_MS = 30_000;

/** The page's side: its Endpoint, its track, and what it received from bob. */
interface PageState {
  streamApi: StreamApi;
  trackId: string;
  /** As the listener got them: its own bytes (`RemoteStreamListener.onRemoteData`), read only at the end. */
  got: Uint8Array[];
  epochs: number[];
  /** What the page got on bob's lossy track. */
  lossy: Uint8Array[];
  badStatus: number;
  stop: boolean;
  loop?: Promise<number>;
  /** The page's copy of `payload` below. */
  payload(tag: number, seq: number): Uint8Array;
}
type PageWindow = Window & { dt: PageState };

/**
 * The payload of message `seq` from sender `tag`: the tag and sequence number first, then bytes that
 * depend on both, of a length that varies: every 128th is the largest message (so a BATCH passes its
 * 64 KiB mark with it). The page has its own copy (`PageState.payload`:
 * page.evaluate runs source text); a mismatch fails the comparisons.
 */
function payload(tag: number, seq: number): Uint8Array {
  const bytes = new Uint8Array(seq % 128 === 127 ? MAX_DATA_MESSAGE_BYTES : 20 + (seq % 97));
  bytes[0] = tag;
  bytes[1] = seq >> 8;
  bytes[2] = seq & 0xff;
  for (let i = 3; i < bytes.length; i++) bytes[i] = (seq * 131 + i * 17 + tag) & 0xff;
  return bytes;
}
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const expected = (tag: number, from: number, count: number) => Array.from({ length: count }, (_, i) => hex(payload(tag, from + i)));

/** Every drop cause a receiver counts. */
const DROPS: Array<keyof DataTrackStats> = [
  'undecryptable',
  'replayed',
  'droppedBySlowness',
  'droppedByDeadline',
  'droppedLate',
  'droppedInCluster',
  'reliableCuts',
  'noKey',
  'stale',
  'unroutable',
  'receiveOverflow',
  'sendDropped',
  'sendDeadlineDropped',
];
const drops = (stats: DataTrackStats) => Object.fromEntries(DROPS.map((k) => [k, stats[k]]));
const noDrops = Object.fromEntries(DROPS.map((k) => [k, 0]));

/** Binary WebSocket messages the page received, and the DATA frames in them (batched or alone). */
const socketIn = { messages: 0, batches: 0, dataFrames: 0, malformed: 0 };

let kit: Kit;
let browser: BrowserPage;
let bob: Client;
let dave: Client;
let roomId: string;
let pageHandle: string;
let bobTrackId: string;
let bobLossyTrackId: string;
/** What bob received from the page, kept as the listener got it (its own bytes), and the epochs. */
const atBob: Array<{ data: Uint8Array; epoch: number }> = [];
let bobBadStatus = 0;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'dave']);
  [bob, dave] = await Promise.all([kit.connect('bob'), kit.connect('dave')]);
  const users = ['alice', 'bob', 'dave'].map((id) => pub(kit.tenant.users[id]!));
  roomId = await bob.streamApi.createStreamRoom(kit.tenant.contextId, users, users, new Uint8Array(), new Uint8Array());
  await bob.streamApi.joinStreamRoom(roomId);
  const bobHandle = await bob.streamApi.createStream(roomId);
  bobTrackId = await bob.streamApi.addStreamTrack(bobHandle, { createDataChannel: true, delivery: 'reliable' });
  // The longest deadline: on a busy machine a message is not dropped as late (the lossy test counts drops anyway).
  bobLossyTrackId = await bob.streamApi.addStreamTrack(bobHandle, { createDataChannel: true, delivery: 'lossy', deadlineMs: DATA_DEADLINE_MAX_MS });
  await bob.streamApi.publishStream(bobHandle);

  browser = await openBrowserPage();
  // Registered before the page's Endpoint opens its socket.
  browser.page.on('websocket', (ws: PlaywrightSocket) => {
    ws.on('framereceived', ({ payload: data }) => {
      if (typeof data === 'string') return;
      socketIn.messages++;
      if (data[0] !== FRAME_BATCH_DOWN) {
        if (data[0] === FRAME_DATA_DOWN) socketIn.dataFrames++;
        return;
      }
      const frames = splitBatch(new Uint8Array(data));
      if (frames === undefined) {
        socketIn.malformed++;
        return;
      }
      socketIn.batches++;
      socketIn.dataFrames += frames.filter((f) => f[0] === FRAME_DATA_DOWN).length;
    });
  });
  const args = {
    url: kit.t.bridge.url,
    solutionId: kit.tenant.solutionId,
    privateKey: kit.tenant.users.alice!.privateKey,
    roomId,
    bobHandle,
    bobLossyTrackId,
    maxBytes: MAX_DATA_MESSAGE_BYTES,
  };
  const page = await browser.page.evaluate(async (a) => {
    const { Endpoint, backendName } = window.sealroom;
    await Endpoint.setup();
    const connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url);
    const streamApi = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
    await streamApi.joinStreamRoom(a.roomId);
    const handle = await streamApi.createStream(a.roomId);
    const trackId = await streamApi.addStreamTrack(handle, { createDataChannel: true, delivery: 'reliable' });
    await streamApi.publishStream(handle);
    const payload = (tag: number, seq: number) => {
      const bytes = new Uint8Array(seq % 128 === 127 ? a.maxBytes : 20 + (seq % 97));
      bytes[0] = tag;
      bytes[1] = seq >> 8;
      bytes[2] = seq & 0xff;
      for (let i = 3; i < bytes.length; i++) bytes[i] = (seq * 131 + i * 17 + tag) & 0xff;
      return bytes;
    };
    const dt: PageState = { streamApi, trackId, got: [], epochs: [], lossy: [], badStatus: 0, stop: false, payload };
    (window as unknown as PageWindow).dt = dt;
    streamApi.addRemoteStreamListener({
      streamRoomId: a.roomId,
      streamId: a.bobHandle,
      onRemoteData: (data, status, info) => {
        if (status !== 0) dt.badStatus++;
        if (info.streamTrackId === a.bobLossyTrackId) {
          dt.lossy.push(data);
          return;
        }
        dt.got.push(data);
        dt.epochs.push(info.epoch);
      },
    });
    await streamApi.subscribeToRemoteStreams(a.roomId, [{ streamId: a.bobHandle }]);
    return { handle, backend: backendName() };
  }, args);
  expect(page.backend).toBe('web');
  pageHandle = page.handle;
  bob.streamApi.addRemoteStreamListener({
    streamRoomId: roomId,
    streamId: pageHandle,
    onRemoteData: (data, status, info) => {
      if (status !== 0) bobBadStatus++;
      atBob.push({ data, epoch: info.epoch });
    },
  });
  await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: pageHandle }]);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await kit?.close();
});

/** The page's received payloads, epochs, status count and stats. */
function pageSide() {
  return browser.page.evaluate(() => {
    const dt = (window as unknown as PageWindow).dt;
    const hex = (data: Uint8Array) => Array.from(data, (b) => b.toString(16).padStart(2, '0')).join('');
    return { got: dt.got.map(hex), lossy: dt.lossy.map(hex), epochs: dt.epochs, badStatus: dt.badStatus, stats: dt.streamApi.dataTrackStats() };
  });
}

/** Waits until the page has received `count` messages from bob. */
async function pageReceived(count: number): Promise<void> {
  await browser.page.waitForFunction((n) => (window as unknown as PageWindow).dt.got.length >= n, count, { timeout: WAIT_MS });
}

/** Never goes back: each epoch is at least the one before. */
const ascending = (epochs: number[]) => epochs.every((e, i) => i === 0 || e >= epochs[i - 1]!);

/**
 * The page and bob both send while `rotate()` moves the room from epoch `to - 1` to `to`: the page
 * every 2 ms without awaiting its calls, bob in synchronous bursts of STEP (so batches reach the page
 * across the rotation) until he holds the new epoch and AFTER more. Then checks that neither side lost
 * a message or got one out of order, that both moved to the new epoch and never back, and that nothing
 * was counted as dropped. `tag` tells this run's payloads apart (page: tag, bob: tag + 1).
 */
async function rotateWhileSending(to: number, tag: number, rotate: () => Promise<unknown>): Promise<void> {
  const fromPage = atBob.length;
  const before = await pageSide();
  const pageBefore = before.stats;
  const fromBob = before.got.length;
  const bobBefore = bob.streamApi.dataTrackStats();
  await browser.page.evaluate(
    (a) => {
      const dt = (window as unknown as PageWindow).dt;
      dt.stop = false;
      dt.loop = (async () => {
        const calls: Array<Promise<void>> = [];
        while (!dt.stop && calls.length < a.max) {
          calls.push(dt.streamApi.sendData(dt.trackId, dt.payload(a.tag, calls.length)));
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        await Promise.all(calls);
        return calls.length;
      })();
    },
    { max: MAX_MESSAGES, tag },
  );

  let bobSent = 0;
  const send = async () => {
    const calls: Array<Promise<void>> = [];
    for (let i = 0; i < STEP; i++) calls.push(bob.streamApi.sendData(bobTrackId, payload(tag + 1, bobSent++)));
    await Promise.all(calls);
    await new Promise((resolve) => setTimeout(resolve, 2));
  };
  while (bobSent < AFTER) await send();
  // The page's loop is under way too (its first message, sealed before the rotation, is at bob).
  await until(() => atBob.length > fromPage, 'the page sending', WAIT_MS);
  const rotated = rotate();
  while (streamApiInternals(bob.streamApi).keys.newestEpoch(roomId) !== to) {
    if (bobSent > MAX_MESSAGES) throw new Error('bob never got the new epoch');
    await send();
  }
  const bobFirstAfter = bobSent;
  while (bobSent < bobFirstAfter + AFTER) await send();
  await rotated;

  // The page stops once bob has AFTER of its messages under the new epoch.
  await until(() => atBob.slice(fromPage).filter((m) => m.epoch === to).length >= AFTER, 'the page sending under the new epoch', WAIT_MS);
  const pageSent = await browser.page.evaluate(() => {
    const dt = (window as unknown as PageWindow).dt;
    dt.stop = true;
    return dt.loop!;
  });
  expect(pageSent).toBeLessThan(MAX_MESSAGES);

  // Page to bob: all of them, in order, from the old epoch to the new one and never back.
  await until(() => atBob.length >= fromPage + pageSent, 'every page message at bob', WAIT_MS);
  const toBob = atBob.slice(fromPage);
  expect(toBob.map((m) => hex(m.data))).toEqual(expected(tag, 0, pageSent));
  expect(toBob[0]!.epoch).toBe(to - 1);
  expect(toBob.at(-1)!.epoch).toBe(to);
  expect(ascending(toBob.map((m) => m.epoch))).toBe(true);
  const bobStats = bob.streamApi.dataTrackStats();
  expect(bobStats.delivered - bobBefore.delivered).toBe(pageSent);
  expect(drops(bobStats)).toEqual(drops(bobBefore));

  // bob to the page: all of them, in order; those sent once bob held the new epoch under it.
  await pageReceived(fromBob + bobSent);
  const page = await pageSide();
  const toPage = page.got.slice(fromBob);
  const epochs = page.epochs.slice(fromBob);
  expect(toPage).toEqual(expected(tag + 1, 0, bobSent));
  expect(epochs[0]).toBe(to - 1);
  expect(epochs.slice(bobFirstAfter).every((e) => e === to)).toBe(true);
  expect(ascending(epochs)).toBe(true);
  expect(page.badStatus).toBe(0);
  expect(page.stats.delivered - pageBefore.delivered).toBe(bobSent);
  expect(page.stats.sent - pageBefore.sent).toBe(pageSent);
  expect(drops(page.stats)).toEqual(noDrops);
}

describe('data tracks in Chromium', () => {
  it('delivers every message the page sends to Node, in order, byte-exact', async () => {
    const bobBefore = bob.streamApi.dataTrackStats();
    const sent = await browser.page.evaluate(async (count) => {
      const dt = (window as unknown as PageWindow).dt;
      // No await in between: every call queues behind the one before (the async path's order).
      const calls: Array<Promise<void>> = [];
      for (let seq = 0; seq < count; seq++) calls.push(dt.streamApi.sendData(dt.trackId, dt.payload(0xa1, seq)));
      await Promise.all(calls);
      return dt.streamApi.dataTrackStats();
    }, FROM_PAGE);
    expect(sent.sent).toBe(FROM_PAGE);
    expect(drops(sent)).toEqual(noDrops);

    await until(() => atBob.length >= FROM_PAGE, 'every page message at bob', WAIT_MS);
    expect(atBob.map((m) => hex(m.data))).toEqual(expected(0xa1, 0, FROM_PAGE));
    expect(bobBadStatus).toBe(0);
    const bobStats = bob.streamApi.dataTrackStats();
    expect(bobStats.delivered - bobBefore.delivered).toBe(FROM_PAGE);
    expect(drops(bobStats)).toEqual(drops(bobBefore));
  });

  it('delivers a burst from Node to the page in BATCH messages, every message in order, none dropped', async () => {
    Object.assign(socketIn, { messages: 0, batches: 0, dataFrames: 0, malformed: 0 });
    // One synchronous loop: the Bridge relays many frames to the page's socket in one turn.
    const calls: Array<Promise<void>> = [];
    for (let seq = 0; seq < BURST; seq++) calls.push(bob.streamApi.sendData(bobTrackId, payload(0xb2, seq)));
    await Promise.all(calls);

    await pageReceived(BURST);
    const page = await pageSide();
    expect(page.got).toEqual(expected(0xb2, 0, BURST));
    expect(page.badStatus).toBe(0);
    expect(page.stats.delivered).toBe(BURST);
    expect(drops(page.stats)).toEqual(noDrops);

    // The socket: every DATA frame seen, in fewer messages than frames, some of them batches.
    await until(() => socketIn.dataFrames >= BURST, 'every DATA frame seen by DevTools', WAIT_MS);
    expect(socketIn.malformed).toBe(0);
    expect(socketIn.dataFrames).toBe(BURST);
    expect(socketIn.batches).toBeGreaterThan(0);
    expect(socketIn.messages).toBeLessThan(socketIn.dataFrames);
  });

  it('loses nothing and keeps the order in both directions across a rotation by another manager', async () => {
    // dave, a manager who never joined, rotates.
    await rotateWhileSending(2, 0xc3, async () => {
      const room = await dave.streamApi.getStreamRoom(roomId);
      await dave.streamApi.updateStreamRoom(roomId, room.users, room.managers, room.publicMeta, room.privateMeta, room.version, false, true);
    });
  });

  it('loses nothing and keeps the order in both directions across a rotation made in the page', async () => {
    await rotateWhileSending(3, 0xc6, () =>
      browser.page.evaluate(async (id) => {
        const { streamApi } = (window as unknown as PageWindow).dt;
        const room = await streamApi.getStreamRoom(id);
        await streamApi.updateStreamRoom(id, room.users, room.managers, room.publicMeta, room.privateMeta, room.version, false, true);
      }, roomId),
    );
  });

  it('a lossy track: a burst reaches the page in order, every message delivered or counted', async () => {
    const pageBefore = (await pageSide()).stats;
    const bobBefore = bob.streamApi.dataTrackStats();
    const calls: Array<Promise<void>> = [];
    for (let seq = 0; seq < BURST; seq++) calls.push(bob.streamApi.sendData(bobLossyTrackId, payload(0xe5, seq)));
    await Promise.all(calls);
    const bobStats = bob.streamApi.dataTrackStats();
    const sent = bobStats.sent - bobBefore.sent;
    expect(sent + bobStats.sendDropped - bobBefore.sendDropped).toBe(BURST);

    // The page: what bob sent is delivered or counted as dropped by the Bridge or late (its events
    // are coalesced, so wait for the sum).
    const lost = ['droppedBySlowness', 'droppedByDeadline', 'droppedLate'] as const;
    await browser.page.waitForFunction(
      (a) => {
        const stats = (window as unknown as PageWindow).dt.streamApi.dataTrackStats();
        const counted = a.lost.reduce((sum, k) => sum + stats[k] - a.before[k], 0);
        return stats.delivered - a.before.delivered + counted >= a.sent;
      },
      { lost, before: pageBefore, sent },
      { timeout: WAIT_MS },
    );
    const page = await pageSide();
    const counted = lost.reduce((sum, k) => sum + page.stats[k] - pageBefore[k], 0);
    expect(page.stats.delivered - pageBefore.delivered + counted).toBe(sent);
    expect(page.lossy.length).toBe(page.stats.delivered - pageBefore.delivered);
    expect(page.lossy.length).toBeGreaterThan(0);
    // In order and byte-exact: each one is the payload of its sequence number, the numbers ascending.
    const seqs = page.lossy.map((h) => Number.parseInt(h.slice(2, 6), 16));
    expect(page.lossy).toEqual(seqs.map((seq) => hex(payload(0xe5, seq))));
    expect(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!)).toBe(true);
    const others = DROPS.filter((k) => !(lost as readonly string[]).includes(k));
    expect(Object.fromEntries(others.map((k) => [k, page.stats[k] - pageBefore[k]]))).toEqual(Object.fromEntries(others.map((k) => [k, 0])));
  });
});
