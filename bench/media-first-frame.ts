/**
 * Time to the first frame in Chromium, through the Bridge's forwarding unit (docs/media/endpoint-media.md):
 *
 * - publish to first frame: a subscriber is in the room and subscribes when the stream is announced;
 *   from the publisher's `publishStream` call to the subscriber's first decoded frame;
 * - join to first frame: the stream is already published; from the subscriber's `joinStreamRoom` call
 *   (then `listStreams`, `subscribeToRemoteStreams`) to its first decoded frame.
 *
 * Against a baseline in the same run: the same requests and the same unit with plain RTCPeerConnections
 * and no frame encryption (bench/media-first-frame-page.ts, mode `plain`: a bench baseline, not a
 * product path). The figure is the ratio e2ee / plain of the medians. Four pages in one headless
 * Chromium (fake 320x240 camera at 15 fps), a Bridge in this process, all on 127.0.0.1. In the
 * `make bench` table as the `media-first-frame` scenario (bench/scenarios/media-first-frame.ts), or alone:
 *
 *   node --import tsx bench/media-first-frame.ts [--runs 9]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { utf8 } from '../crypto/bytes.ts';
import { openMediaPages } from '../test/browser/media-pages.ts';
import { connectClient, pub } from '../test/endpoint.ts';
import { setupTenant, startBridge } from '../test/harness.ts';
import { median } from './lib/stats.ts';

export type FirstFrameMode = 'e2ee' | 'plain';
export interface FirstFrameRun {
  /** publishStream to the subscriber's first frame, ms. */
  publish: number;
  /** joinStreamRoom to the first frame of an already published stream, ms. */
  join: number;
}
export interface FirstFrameResult {
  runs: Record<FirstFrameMode, FirstFrameRun[]>;
  medians: Record<FirstFrameMode, FirstFrameRun>;
}

/** `runs` timed runs per mode, alternating, after one discarded warm-up run of each. */
export async function measureFirstFrame(runs: number): Promise<FirstFrameResult> {
  // Throwaway identities: their pins go to a temporary folder.
  process.env.SEALROOM_TRUST_DIR ??= mkdtempSync(join(tmpdir(), 'sealroom-bench-trust-'));
  const t = await startBridge({ media: { listenAddress: '127.0.0.1' } });
  const tenant = await setupTenant(t.bridge, ['alice', 'bob', 'mgr']);
  const manager = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.mgr!);
  const members = ['alice', 'bob', 'mgr'].map((id) => pub(tenant.users[id]!));
  const browser = await openMediaPages(4, resolve(fileURLToPath(import.meta.url), '../media-first-frame-page.ts'), 'bench');
  const [ePub, eSub, pPub, pSub] = browser.pages as [Page, Page, Page, Page];
  const pairs: Record<FirstFrameMode, { publisher: Page; subscriber: Page }> = {
    e2ee: { publisher: ePub, subscriber: eSub },
    plain: { publisher: pPub, subscriber: pSub },
  };

  async function firstFrame(page: Page, since: number): Promise<number> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const at = await page.evaluate(() => window.bench.firstFrameAt());
      if (at !== undefined) return at - since;
      if (Date.now() > deadline) throw new Error(`no first frame\n${browser.console.slice(-10).join('\n')}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async function once(mode: FirstFrameMode): Promise<FirstFrameRun> {
    const { publisher, subscriber } = pairs[mode];
    const roomId = await manager.streamApi.createStreamRoom(tenant.contextId, members, [members[2]!], utf8('{}'), utf8('bench'));
    await publisher.evaluate((id) => window.bench.join(id, false), roomId);
    await subscriber.evaluate((id) => window.bench.join(id, true), roomId);
    const published = await publisher.evaluate((id) => window.bench.publish(id), roomId);
    const publish = await firstFrame(subscriber, published);
    await subscriber.evaluate((id) => window.bench.leave(id), roomId);
    const joined = await subscriber.evaluate((id) => window.bench.join(id, true), roomId);
    const join = await firstFrame(subscriber, joined);
    await subscriber.evaluate((id) => window.bench.leave(id), roomId);
    await publisher.evaluate((id) => window.bench.leave(id), roomId);
    return { publish, join };
  }

  try {
    const names = ['alice', 'bob', 'alice', 'bob'];
    const modes: FirstFrameMode[] = ['e2ee', 'e2ee', 'plain', 'plain'];
    for (const [i, page] of browser.pages.entries()) {
      await page.evaluate((a) => window.bench.connect(a), {
        url: t.bridge.url,
        solutionId: tenant.solutionId,
        privateKey: tenant.users[names[i]!]!.privateKey,
        mode: modes[i]!,
      });
    }
    // One discarded warm-up run per mode (the frame worker starts, codecs load).
    await once('e2ee');
    await once('plain');
    const results: Record<FirstFrameMode, FirstFrameRun[]> = { e2ee: [], plain: [] };
    for (let i = 0; i < runs; i++) {
      const order: FirstFrameMode[] = i % 2 === 0 ? ['e2ee', 'plain'] : ['plain', 'e2ee'];
      for (const mode of order) results[mode].push(await once(mode));
    }
    const med = (mode: FirstFrameMode): FirstFrameRun => ({
      publish: median(results[mode].map((r) => r.publish)),
      join: median(results[mode].map((r) => r.join)),
    });
    return { runs: results, medians: { e2ee: med('e2ee'), plain: med('plain') } };
  } finally {
    await browser.close();
    await manager.connection.disconnect();
    await t.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const runsArg = process.argv.indexOf('--runs');
  const runs = runsArg < 0 ? 9 : Number(process.argv[runsArg + 1]);
  const { runs: all, medians } = await measureFirstFrame(runs);
  const lines = ['| metric | plain WebRTC (baseline), median ms | E2EE (product), median ms | ratio |', '| --- | ---: | ---: | ---: |'];
  for (const [metric, label] of [
    ['publish', 'publishStream to first frame at a subscriber'],
    ['join', 'joinStreamRoom to first frame (stream already published)'],
  ] as const) {
    lines.push(
      `| ${label} | ${medians.plain[metric].toFixed(0)} | ${medians.e2ee[metric].toFixed(0)} | ${(medians.e2ee[metric] / medians.plain[metric]).toFixed(2)} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n${runs} runs per mode, alternating; all runs (ms):\n`);
  for (const mode of ['plain', 'e2ee'] as const) {
    process.stdout.write(`  ${mode}: publish ${all[mode].map((r) => r.publish).join(', ')}; join ${all[mode].map((r) => r.join).join(', ')}\n`);
  }
}
