/**
 * Direct peers between two Chromium pages (native RTCPeerConnection), loopback candidates only: a file
 * and text both ways over the direct channel, nothing through the Bridge's byte-stream relay.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SealroomRelay } from '../../bridge/realtime/relay.ts';
import { utf8 } from '../../crypto/bytes.ts';
import { openMediaPages, type MediaPages } from '../../test/browser/media-pages.ts';
import { connectClient, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { pattern, sha256 } from '../data-streams/test-kit.ts';

let t: TestBridge;
let tenant: Tenant;
let manager: Client;
let browser: MediaPages;
let a: Page;
let b: Page;
let roomId: string;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${browser.console.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'mgr']);
  manager = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.mgr!);
  roomId = await manager.streamApi.createStreamRoom(
    tenant.contextId,
    ['alice', 'bob', 'mgr'].map((id) => pub(tenant.users[id]!)),
    [pub(tenant.users.mgr!)],
    utf8('{}'),
    utf8('direct'),
  );
  browser = await openMediaPages(2, resolve(fileURLToPath(import.meta.url), '../../../test/browser/peers-entry.ts'), 'peersKit');
  [a, b] = browser.pages as [Page, Page];
  for (const [page, name] of [
    [a, 'alice'],
    [b, 'bob'],
  ] as const) {
    await page.evaluate((args) => window.peersKit.connect(args), {
      url: t.bridge.url,
      solutionId: tenant.solutionId,
      privateKey: tenant.users[name]!.privateKey,
    });
    await page.evaluate((id) => window.peersKit.join(id), roomId);
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await manager?.connection.disconnect();
  await t?.close();
});

describe('direct peers in Chromium', () => {
  it('two pages connect, send a file and text both ways directly; the relay carries no stream bytes', async () => {
    const relayed = () => (t.bridge.realtime.relay as SealroomRelay).counters.chunkBytes;
    const before = relayed();
    const size = Number(process.env.PEERS_BROWSER_BYTES ?? 50_000_000 + 3); // 50 MB, as the issue asks
    // bob's join event may reach alice's page a moment after bob's join returns.
    let sent: { steps: number[]; sha256: string; state: string; sendMs: number } | undefined;
    await until('alice to connect to bob', async () => {
      sent = await a.evaluate((args) => window.peersKit.connectAndSend(args.roomId, 'bob', args.size), { roomId, size }).catch(() => undefined);
      return sent !== undefined;
    });
    expect(sent!.state).toBe('connected');
    console.log(
      `Chromium direct: ${size} bytes in ${sent!.sendMs.toFixed(0)} ms to bob's receipt (${(size / 1048576 / (sent!.sendMs / 1000)).toFixed(1)} MiB/s)`,
    );
    expect(sent!.sha256).toBe(sha256(pattern(size, 11)));
    expect(sent!.steps.at(-1)).toBe(size);
    for (let i = 1; i < sent!.steps.length; i++) expect(sent!.steps[i]!).toBeGreaterThanOrEqual(sent!.steps[i - 1]!);

    await until('both streams at bob', async () => (await b.evaluate(() => window.peersKit.got())).length === 2);
    const atBob = await b.evaluate(() => window.peersKit.got());
    // Each is recorded once read to its end: the short text may finish first.
    expect(atBob.find((g) => g.label === 'files')).toMatchObject({ from: 'alice', length: size, sha256: sent!.sha256 });
    expect(atBob.find((g) => g.label === 'default')).toMatchObject({ from: 'alice', text: 'hello bob' });

    await b.evaluate(() => window.peersKit.reply('hello alice'));
    await until('the reply at alice', async () => (await a.evaluate(() => window.peersKit.got())).length === 1);
    expect((await a.evaluate(() => window.peersKit.got()))[0]).toMatchObject({ from: 'bob', text: 'hello alice' });

    expect(relayed()).toBe(before);
    expect(await a.evaluate(() => window.peersKit.errors())).toEqual([]);
    expect(await b.evaluate(() => window.peersKit.errors())).toEqual([]);
  }, 180_000);

  it("streamApi.send to one member takes the direct path by default and reaches bob's byte-stream handler", async () => {
    const relayed = () => (t.bridge.realtime.relay as SealroomRelay).counters.chunkBytes;
    const before = relayed();
    const sent = await a.evaluate((args) => window.peersKit.sendAuto(args.roomId, 'bob', 1024 * 1024 + 9), { roomId });
    expect(sent).toMatchObject({ delivered: ['bob'], path: 'direct' });
    await until("the stream in bob's handler", async () => (await b.evaluate(() => window.peersKit.got())).some((g) => g.label === 'handler:auto'));
    expect((await b.evaluate(() => window.peersKit.got())).find((g) => g.label === 'handler:auto')).toMatchObject({
      from: 'alice',
      length: 1024 * 1024 + 9,
      sha256: sent.sha256,
    });
    expect(relayed()).toBe(before);
  }, 60_000);

  it("media shared on the peer: bob's page plays alice's camera, every frame SFrame-encrypted and decrypted by the forwarding unit's worker", async () => {
    expect(await a.evaluate(() => window.peersKit.shareCamera())).toBe(1);
    await until('frames playing at bob', async () => {
      const v = await b.evaluate(() => window.peersKit.video());
      return v.width > 0 && v.time > 0.5 && v.decrypted > 10;
    });
    const atBob = await b.evaluate(() => window.peersKit.video());
    const atAlice = await a.evaluate(() => window.peersKit.video());
    // None failed to open. Frames that came before bob's Endpoint had read the room's key are dropped as
    // `noKey`, and Chromium sometimes hands the receive transform a retransmission-completed frame again
    // (dropped as `replay`; docs/media/frame-encryption.md): a few of those on a healthy call. The
    // encoder may start below the asked size on a busy machine.
    expect(atBob).toMatchObject({ videos: 1, streams: 1, dropped: { decrypt: 0, malformed: 0 } });
    expect(atBob.dropped.replay).toBeLessThanOrEqual(8);
    expect(atBob.width).toBeGreaterThan(0);
    console.log(
      `direct media at bob: ${atBob.decrypted} frames decrypted, ${atBob.dropped.noKey} dropped before the key was read, ${atBob.dropped.replay} repeated frames dropped`,
    );
    // alice's encoder output went through the SFrame transform; bob's decoder got only what it opened.
    expect(atAlice.encrypted).toBeGreaterThan(10);
    expect(atBob.decrypted).toBeGreaterThan(10);

    await a.evaluate(() => window.peersKit.unshareCamera());
    await until('the stream gone at bob', async () => (await b.evaluate(() => window.peersKit.video())).streams === 0);
    expect(await a.evaluate(() => window.peersKit.errors())).toEqual([]);
    expect(await b.evaluate(() => window.peersKit.errors())).toEqual([]);
  }, 60_000);
});
