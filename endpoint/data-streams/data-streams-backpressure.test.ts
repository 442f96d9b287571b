/**
 * Issue 5, backpressure end to end: a reader that does not read holds its sender at one window, and
 * nothing piles up anywhere meanwhile (the Bridge's socket to it, the stream's unconsumed bytes, the
 * reader's buffer, the sender's socket); a stream to fast receivers only keeps flowing during the
 * stall; after the Bridge's stuck timeout the slow reader is cut (`TooSlow`) and the others complete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayStats } from '../../bridge/realtime/relay.ts';
import { SEND_BUFFER_HIGH_WATER_BYTES, STREAM_CHUNK_MAX_BYTES } from './limits.ts';
import { joinedRoom, pattern, receiveBytes, sha256, startKit, streamFailure, until, type Client, type Kit } from './test-kit.ts';
import type { ByteStreamReader } from './types.ts';
import { streamApiInternals } from '../internal.ts';

const WINDOW_BYTES = 1024 * 1024;
/** Long enough for the side stream to finish well inside it on a loaded machine. */
const STUCK_TIMEOUT_MS = 6000;
/** What a socket may hold besides stream data: control events and one frame in flight. */
const SLACK_BYTES = 256 * 1024;

let kit: Kit;
let alice: Client;
let bob: Client;
let carol: Client;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'carol'], { realtime: { streamWindowBytes: WINDOW_BYTES, stuckReceiverTimeoutMs: STUCK_TIMEOUT_MS } });
  [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((id) => kit.connect(id)))) as [Client, Client, Client];
});
afterAll(async () => {
  await kit.close();
});

const stats = () => relayStats(kit.t.bridge.realtime.relay);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a reader that stops reading', () => {
  it('holds the sender at one window with bounded memory everywhere, is cut as TooSlow, and the others go on', async () => {
    const roomId = await joinedRoom(kit, alice, [alice, bob, carol]);
    const atBob = receiveBytes(bob, 'slow');
    const carolReaders: ByteStreamReader[] = [];
    carol.streamApi.registerByteStreamHandler('slow', (reader) => void carolReaders.push(reader)); // never reads

    const data = pattern(24 * 1024 * 1024, 7);
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'slow', name: 'big.bin' });
    let written = 0;
    const writing = (async () => {
      for (let offset = 0; offset < data.length; offset += 1024 * 1024) {
        await writer.write(data.subarray(offset, offset + 1024 * 1024));
        written = offset + 1024 * 1024;
      }
      await writer.close();
    })();
    const main = () => stats().byteStreams.find((b) => b.senderConnectionId === alice.connection.connectionId && b.receivers === 2);
    // Stalled: the sender cannot fit another full chunk in what carol's credit allows.
    await until(
      () => {
        const s = main();
        return s !== undefined && s.allowed - s.sent < STREAM_CHUNK_MAX_BYTES + 2048;
      },
      'the sender to reach its limit',
      20_000,
    );

    // While stalled, sample everything that could grow: none does.
    const carolConnection = () => stats().connections.find((c) => c.connectionId === carol.connection.connectionId)!;
    const writtenAtStall = written;
    for (let i = 0; i < 5; i++) {
      const s = main()!;
      expect(s.sent - s.minConsumed!).toBeLessThanOrEqual(WINDOW_BYTES);
      expect(carolConnection().bufferedBytes).toBeLessThanOrEqual(WINDOW_BYTES + SLACK_BYTES);
      expect(streamApiInternals(carol.streamApi).dataStreams.stats().bufferedBytes).toBeLessThanOrEqual(WINDOW_BYTES);
      expect(streamApiInternals(carol.streamApi).dataStreams.stats().pendingSteps).toBeLessThanOrEqual(WINDOW_BYTES / 1024);
      expect(alice.connection.bufferedAmount).toBeLessThanOrEqual(SEND_BUFFER_HIGH_WATER_BYTES + 2 * STREAM_CHUNK_MAX_BYTES);
      expect(written).toBeLessThanOrEqual(writtenAtStall + 1024 * 1024);
      await sleep(100);
    }
    expect(carolReaders).toHaveLength(1);

    // A stream to bob alone is not held by carol: it completes during the stall.
    const side = pattern(4 * 1024 * 1024, 8);
    await alice.streamApi.sendFile(side, { roomId, topic: 'slow', name: 'side.bin', destinationIdentities: ['bob'] });
    await until(() => atBob.length === 2, 'the side stream at bob');
    expect(sha256(await atBob[1]!.done)).toBe(sha256(side));
    expect(main()?.receivers).toBe(2); // carol still attached: the side stream did not wait for her cut

    // After the stuck timeout the Bridge cuts carol; her reader errors, bob gets everything.
    await until(() => main() === undefined || main()!.receivers === 1, 'carol to be cut', STUCK_TIMEOUT_MS + 15_000);
    const error = await streamFailure(carolReaders[0]!.readAll());
    expect(error.reason).toBe('TooSlow');
    expect(error.code).toBe('ERR_DATA_STREAM_TOO_SLOW');
    await writing;
    expect(sha256(await atBob[0]!.done)).toBe(sha256(data));
    expect(streamApiInternals(carol.streamApi).dataStreams.stats()).toMatchObject({ receiving: 0, bufferedBytes: 0 });
  });

  it('an unread reader resumes the stream when the app starts reading', async () => {
    const roomId = await joinedRoom(kit, alice, [alice, bob]);
    const readers: ByteStreamReader[] = [];
    bob.streamApi.registerByteStreamHandler('later', (reader) => void readers.push(reader));
    const data = pattern(5 * WINDOW_BYTES, 11);
    const sending = alice.streamApi.sendFile(data, { roomId, topic: 'later', name: 'later.bin' });
    let sent = false;
    void sending.then(() => (sent = true));
    await until(() => readers.length === 1, 'the handler');
    await sleep(300);
    expect(sent).toBe(false);
    expect(streamApiInternals(bob.streamApi).dataStreams.stats().bufferedBytes).toBeLessThanOrEqual(WINDOW_BYTES);
    const got = Buffer.concat(await readers[0]!.readAll());
    await sending;
    expect(sha256(got)).toBe(sha256(data));
  });
});
