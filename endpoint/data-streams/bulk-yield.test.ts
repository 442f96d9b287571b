/**
 * Byte streams yield to real-time work (docs/operations/realtime-priorities.md, "The bulk governor"):
 * while this process carries real-time tracks and its event loop runs late, its credits and sealed
 * chunks wait for the governor's rate, which falls; the stream still arrives byte-exact and verified,
 * and a reader the governor holds at its least rate for longer than the Bridge's stuck timeout is
 * not cut. `bulkYield: 'never'` turns it off. Real Bridge, real Endpoints in this process, real crypto;
 * the app's own work (a busy loop) is what makes the event loop late, or a proxy that holds what the
 * Bridge sends (test/tcp-proxy.ts) what makes the received real-time frames late.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Endpoint } from '../endpoint.ts';
import { EndpointError } from '../errors.ts';
import { publishDataTrack } from '../realtime/test-kit.ts';
import { startTcpProxy, type TcpProxy } from '../../test/tcp-proxy.ts';
import { bulkGovernor, MIN_RATE, TARGET_LAG_MS } from '../util/bulk-governor.ts';
import { realtimeInProcess } from '../util/realtime-presence.ts';
import { type Client, type Kit, joinedRoom, pattern, type Received, receiveBytes, startKit, until } from './test-kit.ts';

/** Short, so that the held reader outlasts it many times over. */
const STUCK_MS = 500;

let kit: Kit;
/** In front of the Bridge, for bob in the late-frames test; it exists first, as the Bridge's loginUrls name it. */
let proxy: TcpProxy;
beforeAll(async () => {
  proxy = await startTcpProxy(() => kit.t.bridge.url);
  kit = await startKit(['alice', 'bob'], { realtime: { stuckReceiverTimeoutMs: STUCK_MS }, loginUrls: [proxy.url] });
});
afterAll(async () => {
  await Endpoint.setup({ bulkYield: 'auto' });
  await kit.close();
  await proxy.close();
});

/** The app keeps its event loop busy `busyMs` of every `periodMs`; returns the stop. */
function busyApp(busyMs: number, periodMs: number): () => void {
  const timer = setInterval(() => {
    const end = performance.now() + busyMs;
    while (performance.now() < end);
  }, periodMs);
  return () => clearInterval(timer);
}

async function sendChecked(from: Client, roomId: string, got: Received[], bytes: Uint8Array): Promise<void> {
  const n = got.length + 1;
  const writer = await from.streamApi.streamBytes({ roomId, topic: 'files', name: 'f.bin', totalSize: bytes.length });
  for (let at = 0; at < bytes.length; at += 256 * 1024) await writer.write(bytes.subarray(at, Math.min(bytes.length, at + 256 * 1024)));
  await writer.close();
  await until(() => got.length === n, `stream ${n} at the receiver`, 30_000);
  expect(Buffer.from(await got[n - 1]!.done).equals(Buffer.from(bytes))).toBe(true);
}

/** alice and bob in a room, bob receiving alice's data track (real time in this process) and her files. */
async function routedTrack(bobUrl?: string): Promise<{ alice: Client; bob: Client; roomId: string; got: Received[]; handle: string; trackId: string }> {
  const alice = await kit.connect('alice');
  const bob = await kit.connect('bob', bobUrl === undefined ? {} : { url: bobUrl });
  const roomId = await joinedRoom(kit, alice, [alice, bob]);
  const got = receiveBytes(bob, 'files');
  const { handle, trackId } = await publishDataTrack(alice, roomId);
  await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
  await until(() => realtimeInProcess(), 'a remote track routed at bob');
  return { alice, bob, roomId, got, handle, trackId };
}

describe('the bulk governor', () => {
  it('slows byte streams while real time runs late, down to its least rate, without a cut, and they arrive whole', async () => {
    const { alice, bob, roomId, got, handle } = await routedTrack();

    const before = bulkGovernor.stats();
    let least = Number.POSITIVE_INFINITY;
    const watch = setInterval(() => (least = Math.min(least, bulkGovernor.stats().rateBytesPerSecond)), 20);
    const stop = busyApp(12, 20);
    const started = performance.now();
    try {
      await sendChecked(alice, roomId, got, pattern(3 * 1024 * 1024 + 77, 3));
    } finally {
      stop();
      clearInterval(watch);
    }
    const tookMs = performance.now() - started;
    const after = bulkGovernor.stats();
    expect(after.active).toBe(true);
    expect(after.slowdowns).toBeGreaterThan(before.slowdowns);
    expect(after.waits).toBeGreaterThan(before.waits);
    // It sat at its least rate, the stream took several stuck timeouts (its reader held back by the
    // governor all along), and the Bridge cut nothing.
    expect(least).toBe(MIN_RATE);
    expect(tookMs).toBeGreaterThan(4 * STUCK_MS);
    expect(bob.streamApi.dataStreamStats().droppedBeforeHandler).toEqual({});
    expect(bob.streamApi.dataStreamStats().bulkYield).toEqual(bulkGovernor.stats());
    await alice.streamApi.unpublishStream(handle);
  }, 60_000);

  it("does nothing with bulkYield 'never'; a bad value is InvalidArgument", async () => {
    const { alice, roomId, got, handle } = await routedTrack();
    await Endpoint.setup({ bulkYield: 'never' });
    const before = bulkGovernor.stats();
    const stop = busyApp(12, 20);
    try {
      await sendChecked(alice, roomId, got, pattern(2 * 1024 * 1024 + 77, 4));
    } finally {
      stop();
    }
    expect(bulkGovernor.stats()).toMatchObject({ waits: before.waits, slowdowns: before.slowdowns });

    const refused = await Endpoint.setup({ bulkYield: 'sometimes' as never }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(EndpointError);
    expect(refused).toMatchObject({ reason: 'InvalidArgument' });
    expect(String((refused as Error).message)).toContain('bulkYield');
    await alice.streamApi.unpublishStream(handle);
  }, 60_000);

  it('slows byte streams while the real-time frames it receives arrive late, though its own loop is punctual', async () => {
    await Endpoint.setup({ bulkYield: 'auto' });
    const { alice, bob, roomId, got, handle, trackId } = await routedTrack(proxy.url);
    const before = bulkGovernor.stats();
    // alice's track sends every 5 ms; the path to bob holds the Bridge's bytes 4 x TARGET_LAG_MS in
    // every 150 ms, so a window's frames arrive that late past their quickest, with no event loop busy.
    const sender = setInterval(() => void alice.streamApi.sendData(trackId, new Uint8Array(64)).catch(() => {}), 5);
    const holder = setInterval(() => proxy.holdDown(4 * TARGET_LAG_MS), 150);
    try {
      await sendChecked(alice, roomId, got, pattern(3 * 1024 * 1024 + 77, 5));
    } finally {
      clearInterval(sender);
      clearInterval(holder);
    }
    const after = bulkGovernor.stats();
    expect(after.lateFrameSlowdowns).toBeGreaterThan(before.lateFrameSlowdowns);
    expect(after.slowdowns).toBeGreaterThan(before.slowdowns);
    expect(bob.streamApi.dataStreamStats().droppedBeforeHandler).toEqual({});
    await alice.streamApi.unpublishStream(handle);
  }, 60_000);
});
