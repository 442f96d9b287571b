/**
 * Streams never wait forever: a reader whose next chunk (or final chunk) never comes, and a writer whose
 * allowance never comes, fail with `Timeout` after `streamIdleTimeoutMs`. And an incoming stream that
 * fails before any handler sees it (a header that does not open) is counted and logged, not silent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWsMitm, type Tamper, type WsMitm } from '../../test/procs/ws-mitm.ts';
import { joinedRoom, pattern, receiveBytes, startKit, streamFailure, until, type Client, type Kit } from './test-kit.ts';

const IDLE_MS = 400;
let kit: Kit;
let mitm: WsMitm;
let alice: Client;
let bob: Client;
let roomId: string;
let tamper: Tamper = () => 'pass';

beforeAll(async () => {
  // The Bridge would cut a receiver that reads nothing after 10 s; here it never does, so the writer's
  // allowance is withheld for as long as the test likes.
  mitm = await startWsMitm(
    () => kit.t.bridge.url,
    (frame, nth) => tamper(frame, nth),
  );
  kit = await startKit(['alice', 'bob'], { loginUrls: [mitm.url], realtime: { stuckReceiverTimeoutMs: 600_000 } as never });
  alice = await kit.connect('alice', { streamApi: { streamIdleTimeoutMs: IDLE_MS } });
  bob = await kit.connect('bob', { url: mitm.url, streamApi: { streamIdleTimeoutMs: IDLE_MS } });
  roomId = await joinedRoom(kit, alice, [alice, bob]);
});
afterAll(async () => {
  await kit.close();
  await mitm.close();
});

describe('idle streams', () => {
  it('a reader whose final chunk never arrives fails with Timeout', async () => {
    const atBob = receiveBytes(bob, 'stalled');
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'stalled', name: 'x.bin' });
    await writer.write(pattern(10_000));
    await until(() => atBob.length === 1, 'the handler');
    const started = performance.now();
    const error = await streamFailure(atBob[0]!.done);
    expect(error.reason).toBe('Timeout');
    expect(error.code).toBe('ERR_DATA_STREAM_TIMEOUT');
    expect(performance.now() - started).toBeGreaterThanOrEqual(IDLE_MS * 0.5);
    await writer.abort('done').catch(() => undefined);
  });

  it('a reader that keeps unread data is not idle: its sender is waiting on it', async () => {
    let held: AsyncIterator<Uint8Array> | undefined;
    bob.streamApi.registerByteStreamHandler('unread', (reader) => {
      held = reader[Symbol.asyncIterator]();
    });
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'unread', name: 'x.bin' });
    await writer.write(pattern(10_000));
    await until(() => held !== undefined, 'the handler');
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 3));
    expect((await held!.next()).done).toBe(false);
    await writer.close();
    while (!(await held!.next()).done);
  });

  it('a writer whose allowance never comes fails with Timeout and ends the stream', async () => {
    let handed = false;
    // Takes nothing: no credit goes back, and the Bridge (configured never to cut it) allows nothing more.
    bob.streamApi.registerByteStreamHandler('no-credit', () => {
      handed = true;
    });
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'no-credit', name: 'x.bin', destinationIdentities: ['bob'] });
    const error = await streamFailure(writer.write(pattern(4 * 1024 * 1024)));
    expect(error.reason).toBe('Timeout');
    expect((await streamFailure(writer.close())).reason).toBe('Timeout');
    expect(handed).toBe(true);
  });
});

describe('streams that fail before a handler sees them', () => {
  it('a header that does not open is counted in dataStreamStats() and logged', async () => {
    // The writer test's stream ends at bob a moment after its writer failed: start from none open.
    await until(() => bob.streamApi.dataStreamStats().receiving === 0, 'the earlier streams ended at bob');
    const before = bob.streamApi.dataStreamStats().droppedBeforeHandler.Integrity ?? 0;
    const atBob = receiveBytes(bob, 'bad-header');
    tamper = (_f, nth) => (nth === 0 ? 'flip' : 'pass');
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'bad-header', name: 'x.bin', destinationIdentities: ['bob'] });
    await writer.write(pattern(1000));
    await writer.close();
    await until(() => (bob.streamApi.dataStreamStats().droppedBeforeHandler.Integrity ?? 0) === before + 1, 'the dropped stream counted');
    tamper = () => 'pass';
    expect(atBob).toHaveLength(0);
    expect(bob.streamApi.dataStreamStats().receiving).toBe(0);
  });
});
