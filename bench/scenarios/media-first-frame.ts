/**
 * Scenario: time to the first decrypted frame in Chromium, from `publishStream` and from
 * `joinStreamRoom`, against plain WebRTC through the same forwarding unit in the same run
 * (bench/media-first-frame.ts; docs/media/endpoint-media.md, "Measured"). Needs Debian's Chromium.
 */
import { measureFirstFrame } from '../media-first-frame.ts';
import { row, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const runs = options.quick ? 3 : 9;
  const { runs: all, medians } = await measureFirstFrame(runs);
  const baseline = 'plain WebRTC, same unit';
  return {
    scenario: 'media: time to the first decrypted frame (Chromium, loopback)',
    rows: [
      row('publishStream to first frame at a subscriber (median)', medians.e2ee.publish, 'ms', { baseline: { name: baseline, value: medians.plain.publish } }),
      row('joinStreamRoom to first frame, stream already published (median)', medians.e2ee.join, 'ms', {
        baseline: { name: baseline, value: medians.plain.join },
      }),
    ],
    notes: [
      `${runs} runs per mode, alternating, after one warm-up run each; four pages in one headless Chromium (fake 320x240 camera at 15 fps), the Bridge in the benchmark process. The baseline sends plain frames: a bench baseline only, never a product path.`,
      `runs (ms): e2ee publish ${all.e2ee.map((r) => r.publish).join(', ')}; join ${all.e2ee.map((r) => r.join).join(', ')}. plain publish ${all.plain.map((r) => r.publish).join(', ')}; join ${all.plain.map((r) => r.join).join(', ')}.`,
    ],
  };
}
