/**
 * An `updateStream` that only removes tracks sheds work, so a saturated Bridge admits it; one that adds
 * a track is refused with OVERLOADED (docs/operations/limits.md, "Overload"). Real Endpoints on a real
 * Bridge in this process. The overload is made for certain, not waited for: the test blocks this
 * process's loop (which is the Bridge's) for longer than the lowered `enterLagMs`, and an `exitLagMs`
 * under the lag monitor's smallest sample (1 µs) keeps the Bridge overloaded from then on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointError } from '../../endpoint/errors.ts';
import { refusal, startKit, until, type Client, type Kit } from '../../endpoint/realtime/test-kit.ts';

/** Over any lag this process shows by itself on a loaded machine (tens of ms, a few hundred at worst). */
const ENTER_LAG_MS = 2000;
const OVERLOAD = {
  enterLagMs: ENTER_LAG_MS,
  // Below the smallest lag the monitor records (1 µs): once overloaded, the Bridge stays so.
  exitLagMs: 0.0001,
  windowMs: 50,
  enterWindows: 1,
  exitWindows: 1,
  retryAfterSeconds: 1,
  admitGraceMs: 0,
  minCpuShare: 0,
};

let kit: Kit;
let alice: Client;
let bob: Client;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob'], { overload: OVERLOAD });
  alice = await kit.connect('alice');
  bob = await kit.connect('bob');
});
afterAll(() => kit.close());

/** Blocks this process's event loop (the Bridge's) for longer than `enterLagMs`, then waits for the state. */
async function saturate(): Promise<void> {
  const until_ = performance.now() + ENTER_LAG_MS + 300;
  while (performance.now() < until_) {
    // busy: the lag monitor's timer cannot run
  }
  await until(() => kit.t.bridge.overload.overloaded, 'the Bridge to be overloaded', 2000);
}

describe('updateStream on a saturated Bridge', () => {
  it('admits one that only removes tracks, refuses one that adds a track', { timeout: 30_000 }, async () => {
    const roomId = await kit.room(alice, [alice, bob]);
    await alice.streamApi.joinStreamRoom(roomId);
    await bob.streamApi.joinStreamRoom(roomId);
    const handle = await alice.streamApi.createStream(roomId);
    const kept = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true });
    const dropped = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true, delivery: 'reliable' });
    await alice.streamApi.publishStream(handle);
    expect(kit.t.bridge.overload.overloaded).toBe(false);

    await saturate();
    await alice.streamApi.removeStreamTrack(handle, dropped);
    const result = await alice.streamApi.updateStream(handle);
    expect(result.tracks.map((t) => t.trackId)).toEqual([kept]);
    // bob reads the stream as the Bridge has it now (reads are answered while overloaded).
    const [listed] = await bob.streamApi.listStreams(roomId);
    expect(listed?.tracks.map((t) => t.trackId)).toEqual([kept]);

    await alice.streamApi.addStreamTrack(handle, { createDataChannel: true });
    const error = await refusal(alice.streamApi.updateStream(handle));
    expect(error).toBeInstanceOf(EndpointError);
    expect({ reason: error.reason, bridgeCode: error.bridgeCode, retryAfterMs: error.retryAfterMs }).toEqual({
      reason: 'RateLimited',
      bridgeCode: 'OVERLOADED',
      retryAfterMs: 1000,
    });
    expect(kit.t.bridge.overload.overloaded).toBe(true);
    // Only the update that added a track was refused and counted.
    expect(kit.t.bridge.overload.counters.refused).toEqual({ updateStream: 1 });
  });
});
