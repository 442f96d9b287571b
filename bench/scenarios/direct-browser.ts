/**
 * Direct 1 -> 1 against the relay in Chromium, in the same run: two pages in one headless Chromium
 * (native data channels, loopback candidates only; bench/direct-browser-page.ts) and a Bridge in the
 * benchmark process. Each case is one `send()` to the other page's member, `path: 'direct'` over a
 * connected peer or `path: 'relay'`, alternating; throughput from the call to the receiver's verified
 * end, time to first byte with the peer up. CPU time is not measured here (Chromium's processes are
 * shared by both pages). Needs Debian's Chromium, like the media scenarios.
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { utf8 } from '../../crypto/bytes.ts';
import { openMediaPages } from '../../test/browser/media-pages.ts';
import { connectClient, pub } from '../../test/endpoint.ts';
import { setupTenant, startBridge } from '../../test/harness.ts';
import { row, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median } from '../lib/stats.ts';

const MiB = 1024 * 1024;
type Path = 'direct' | 'relay';
interface Arrival {
  bytes: number;
  firstAt: number;
  endAt: number;
}

const range = (values: number[], digits = 1) => `${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)}`;

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? { bytes: 4 * MiB, runs: 2, ttfbRuns: 5 } : { bytes: 16 * MiB, runs: 3, ttfbRuns: 9 };
  const load = [loadavg()[0]!];
  const t = await startBridge();
  const tenant = await setupTenant(t.bridge, ['alice', 'bob', 'mgr']);
  const manager = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.mgr!);
  const browser = await openMediaPages(2, resolve(fileURLToPath(import.meta.url), '../../direct-browser-page.ts'), 'directBench');
  try {
    const roomId = await manager.streamApi.createStreamRoom(
      tenant.contextId,
      ['alice', 'bob', 'mgr'].map((id) => pub(tenant.users[id]!)),
      [pub(tenant.users.mgr!)],
      utf8('{}'),
      utf8('direct-browser'),
    );
    const [a, b] = browser.pages as [Page, Page];
    for (const [page, name] of [
      [a, 'alice'],
      [b, 'bob'],
    ] as const) {
      await page.evaluate((args) => window.directBench.connect(args), {
        url: t.bridge.url,
        solutionId: tenant.solutionId,
        privateKey: tenant.users[name]!.privateKey,
      });
      await page.evaluate((id) => window.directBench.join(id), roomId);
    }
    let setupMs: number | undefined;
    for (let i = 0; i < 100 && setupMs === undefined; i++) {
      setupMs = await a.evaluate(() => window.directBench.connectPeer('bob'));
      if (setupMs === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    if (setupMs === undefined) throw new Error('alice could not connect to bob');

    const once = async (path: Path, bytes: number) => {
      const arriving = b.evaluate(() => window.directBench.next());
      arriving.catch(() => undefined);
      const sent = await a.evaluate((args) => window.directBench.send(args), { to: 'bob', bytes, path });
      const arrival: Arrival = await arriving;
      if (sent.path !== path || arrival.bytes !== bytes) throw new Error(`a ${path} stream went ${sent.path} with ${arrival.bytes} of ${bytes} bytes`);
      return { mbPerSecond: bytes / 1e6 / ((arrival.endAt - sent.startAt) / 1000), ttfbMs: arrival.firstAt - sent.startAt };
    };
    for (const path of ['relay', 'direct'] as const) await once(path, MiB);
    const rates: Record<Path, number[]> = { direct: [], relay: [] };
    for (let r = 0; r < config.runs; r++) {
      for (const path of r % 2 === 0 ? (['direct', 'relay'] as const) : (['relay', 'direct'] as const))
        rates[path].push((await once(path, config.bytes)).mbPerSecond);
      load.push(loadavg()[0]!);
    }
    const ttfb: Record<Path, number[]> = { direct: [], relay: [] };
    for (let r = 0; r < config.ttfbRuns; r++) for (const path of ['direct', 'relay'] as const) ttfb[path].push((await once(path, 4096)).ttfbMs);
    load.push(loadavg()[0]!);
    const relayName = 'relay (same run)';
    return {
      scenario: 'direct 1 -> 1 in Chromium (native data channel) against the relay',
      rows: [
        row(`Chromium direct throughput, ${config.bytes / MiB} MiB send()`, median(rates.direct), 'MB/s', {
          baseline: { name: relayName, value: median(rates.relay) },
        }),
        row('Chromium direct time to first byte, 4096 B, peer up', median(ttfb.direct), 'ms', { baseline: { name: relayName, value: median(ttfb.relay) } }),
        row('Chromium new direct connection (signalling, ICE, DTLS, certificate check)', setupMs, 'ms'),
      ],
      notes: [
        `${config.runs} runs of ${config.bytes / MiB} MiB per path, alternating, after a 1 MiB warm-up each; two pages of one headless Chromium, the Bridge in the benchmark process. 1-minute load average ${range(load)} (a shared 2-core machine).`,
        `MB/s: direct ${range(rates.direct)}, relay ${range(rates.relay)}. Time to first byte (ms, Date.now() resolution): direct ${range(ttfb.direct, 0)}, relay ${range(ttfb.relay, 0)}.`,
      ],
    };
  } finally {
    await browser.close();
    await manager.connection.disconnect();
    await t.close();
  }
}
