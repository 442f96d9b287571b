/**
 * Data-track frames per second, one sender to one subscriber through a real Bridge, everything in one
 * process (so the figure is the whole per-frame CPU cost: encrypt, relay, decrypt, replay and head
 * checks). A quick, single-figure probe for comparing two builds on the same machine, not part of the
 * `bench/run.ts` table:
 *
 *   node --import tsx bench/data-track-rate.ts [--frames 20000] [--size 256] [--runs 5]
 *
 * The sender keeps at most `WINDOW_FRAMES` frames ahead of the receiver, so neither the sender's lossy
 * pacing nor the Bridge's slow-reader queue drops anything; every run checks that every frame arrived.
 * It reports frames per wall-clock second and frames per CPU second of this process (user + system):
 * on a shared, loaded machine the second is the steadier figure to compare.
 */
import { connectClient, pub, until } from '../test/endpoint.ts';
import { setupTenant, startBridge } from '../test/harness.ts';

/** Frames in flight between `sendData` and `onRemoteData`. */
const WINDOW_FRAMES = 256;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

const frames = arg('frames', 20_000);
const size = arg('size', 256);
const runs = arg('runs', 5);

const t = await startBridge();
try {
  const tenant = await setupTenant(t.bridge, ['alice', 'bob']);
  const alice = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.alice!);
  const bob = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.bob!);
  const roomId = await alice.streamApi.createStreamRoom(
    tenant.contextId,
    [pub(alice.user), pub(bob.user)],
    [pub(alice.user)],
    new Uint8Array(),
    new Uint8Array(),
  );
  await alice.streamApi.joinStreamRoom(roomId);
  await bob.streamApi.joinStreamRoom(roomId);
  const handle = await alice.streamApi.createStream(roomId);
  const trackId = await alice.streamApi.addStreamTrack(handle, { createDataChannel: true });
  await alice.streamApi.publishStream(handle);
  let received = 0;
  bob.streamApi.addRemoteStreamListener({ streamRoomId: roomId, onRemoteData: () => void received++ });
  await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
  const payload = new Uint8Array(size).fill(7);

  const rates: number[] = [];
  const cpuRates: number[] = [];
  for (let run = 0; run <= runs; run++) {
    const start = received;
    const began = performance.now();
    const cpuBefore = process.cpuUsage();
    for (let i = 0; i < frames; i++) {
      while (i - (received - start) >= WINDOW_FRAMES) await new Promise((resolve) => setImmediate(resolve));
      void alice.streamApi.sendData(trackId, payload);
    }
    await until(() => received - start === frames, 'every frame at the receiver', 60_000);
    const rate = frames / ((performance.now() - began) / 1000);
    const cpu = process.cpuUsage(cpuBefore);
    // Run 0 warms up (JIT, key derivation, first allocations) and is not counted.
    if (run > 0) {
      rates.push(rate);
      cpuRates.push(frames / ((cpu.user + cpu.system) / 1e6));
    }
  }
  const stats = bob.streamApi.dataTrackStats();
  if (stats.undecryptable + stats.replayed + stats.noKey + stats.receiveOverflow > 0) throw new Error(`frames dropped: ${JSON.stringify(stats)}`);
  const median = (xs: number[]) => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
  process.stdout.write(
    `${JSON.stringify({ frames, size, runs, medianFramesPerSecond: median(rates), medianFramesPerCpuSecond: median(cpuRates), all: rates.map(Math.round) })}\n`,
  );
  await alice.connection.disconnect();
  await bob.connection.disconnect();
} finally {
  await t.close();
}
