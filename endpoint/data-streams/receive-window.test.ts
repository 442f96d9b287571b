/**
 * Receive windows (docs/protocol/byte-streams.md, "Receive windows"; incoming/receive-window.ts):
 * while the bulk governor paces this process, each connection declares the lead its rate allows, and
 * a stream opened under it starts from the open result's `allowed` and arrives whole (a sender that
 * took the stream's window instead would overrun and be aborted with `limit`). `bulkYield: 'never'`
 * clears it. Real Bridge, real Endpoints in this process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stats } from '../../bridge/realtime/test-client.ts';
import { STREAM_RECEIVE_WINDOW_MIN_BYTES, STREAM_WINDOW_MAX_BYTES } from '../../protocol/ws.ts';
import { Endpoint } from '../endpoint.ts';
import { connectionInternals } from '../internal.ts';
import { publishDataTrack } from '../realtime/test-kit.ts';
import { bulkGovernor } from '../util/bulk-governor.ts';
import { realtimeInProcess } from '../util/realtime-presence.ts';
import { FOLLOW_MS, receiveWindowFor } from './incoming/receive-window.ts';
import { type Client, type Kit, joinedRoom, pattern, startKit, until } from './test-kit.ts';

const KIB = 1024;
const MIB = 1024 * KIB;
/** The Bridge's stream window: larger than any lead the governor's rates here give. */
const WINDOW_BYTES = 4 * MIB;

let kit: Kit;
beforeAll(async () => {
  kit = await startKit(['alice', 'bob'], { realtime: { streamWindowBytes: WINDOW_BYTES } });
});
afterAll(async () => {
  await Endpoint.setup({ bulkYield: 'auto' });
  await kit.close();
});

const declared = (c: Client) => stats(kit.t.bridge).connections.find((s) => s.connectionId === c.connection.connectionId)?.receiveWindowBytes;

describe('receiveWindowFor', () => {
  it("is what the governor's rate lets through in 200 ms, in steps of four from 160 KiB, within the Bridge's bounds", () => {
    expect(receiveWindowFor(0)).toBe(STREAM_RECEIVE_WINDOW_MIN_BYTES);
    expect(receiveWindowFor(MIB)).toBe(160 * KIB);
    expect(receiveWindowFor(3.125 * MIB)).toBe(640 * KIB);
    expect(receiveWindowFor(8 * MIB)).toBe(640 * KIB);
    expect(receiveWindowFor(12.5 * MIB)).toBe(2560 * KIB);
    expect(receiveWindowFor(4 * 1024 * MIB)).toBe(10 * MIB);
    expect(receiveWindowFor(4 * 1024 * MIB)).toBeLessThanOrEqual(STREAM_WINDOW_MAX_BYTES);
  });
});

describe('receive windows', () => {
  it('are declared while the process carries real-time tracks, cleared by bulkYield never, and a stream under one arrives whole', async () => {
    const alice = await kit.connect('alice');
    const bob = await kit.connect('bob');
    const roomId = await joinedRoom(kit, alice, [alice, bob]);
    expect(realtimeInProcess()).toBe(false);
    expect([declared(alice), declared(bob)]).toEqual([undefined, undefined]);

    // Bob reads nothing until the gate opens: what alice may send meanwhile is the lead, not the window.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const got: Array<Promise<Uint8Array>> = [];
    bob.streamApi.registerByteStreamHandler('files', (reader) => {
      const done = gate.then(() => reader.readAll()).then((chunks) => Buffer.concat(chunks));
      done.catch(() => undefined);
      got.push(done);
    });
    const { handle } = await publishDataTrack(alice, roomId);
    await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    const lead = receiveWindowFor(bulkGovernor.rate);
    expect(lead).toBeLessThan(WINDOW_BYTES);
    await until(() => declared(alice) === lead && declared(bob) === lead, 'both connections declaring the lead');

    const bytes = pattern(3 * MIB + 77, 5);
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'files', name: 'f.bin', totalSize: bytes.length });
    const written = (async () => {
      for (let at = 0; at < bytes.length; at += 256 * KIB) await writer.write(bytes.subarray(at, Math.min(bytes.length, at + 256 * KIB)));
      await writer.close();
    })();
    written.catch(() => undefined);
    await until(() => (stats(kit.t.bridge).byteStreams[0]?.sent ?? 0) > lead / 2, 'the sender under way', 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A sender that started from the stream's window would have run past the lead: aborted as `limit`.
    // Bob credited the header (never the app's to read), so the lead counts from past it.
    const [held] = stats(kit.t.bridge).byteStreams;
    expect(held!.allowed).toBeGreaterThanOrEqual(lead);
    expect(held!.allowed).toBeLessThan(lead + 16 * KIB);
    expect(held!.sent).toBeGreaterThan(lead / 2);
    expect(held!.sent).toBeLessThanOrEqual(held!.allowed);
    open();
    await written;
    await until(() => got.length === 1, 'the stream at bob', 30_000);
    expect(Buffer.from(await got[0]!).equals(Buffer.from(bytes))).toBe(true);
    await until(() => stats(kit.t.bridge).byteStreams.length === 0, 'the stream ended at the Bridge');

    await Endpoint.setup({ bulkYield: 'never' });
    await until(() => declared(alice) === undefined && declared(bob) === undefined, 'no receive window with the governor off');
    await Endpoint.setup({ bulkYield: 'auto' });
    await until(() => declared(bob) === receiveWindowFor(bulkGovernor.rate), 'the lead again');

    // A new socket: the Bridge holds nothing for it until it is declared again, though the process
    // carries real time throughout (alice's second connection receives her track), so no change of
    // presence says so.
    const alice2 = await kit.connect('alice');
    await alice2.streamApi.joinStreamRoom(roomId);
    await alice2.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
    // And no change of the governor's rate either: its sampler stopped, and what it moved has been declared.
    bulkGovernor.stopSampling();
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS + 100));
    const before = bob.connection.connectionId;
    (connectionInternals(bob.connection).socket() as unknown as { terminate(): void }).terminate();
    await until(() => bob.connection.connectionId !== before && declared(bob) === receiveWindowFor(bulkGovernor.rate), 'declared on the new socket', 15_000);
  });
});
