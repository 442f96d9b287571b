/**
 * Pins in a real browser (Debian's Chromium): the default trust store is IndexedDB, so a page that
 * pinned alice's key still refuses, with a new connection, a room the Bridge forged "by alice" with its
 * own key (docs/security/key-trust.md). Two tabs of one identity do not share the store at once: the
 * second is refused with `TrustStoreBusy` until the first lets go (a Web Lock).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { openBrowserPage, type BrowserPage } from '../../test/browser/browser.ts';
import { connectClient, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { makeUser } from '../../test/identities.ts';
import { forgeGenesis, listFormerKey, serveRoom } from '../../test/malicious-bridge.ts';

let t: TestBridge;
let tenant: Tenant;
let browser: BrowserPage;
let alice: Client;

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob']);
  alice = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.alice!, { streamApi: { trustDir: t.dataDir } });
  browser = await openBrowserPage();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await alice?.connection.disconnect();
  await t.close();
});

/** In the page: a new connection as bob (default options: IndexedDB store) reads a room; returns its meta or the error's reason. */
function readInPage(roomId: string): Promise<{ meta?: string; reason?: string }> {
  const args = { url: t.bridge.url, solutionId: tenant.solutionId, privateKey: tenant.users.bob!.privateKey, roomId };
  return browser.page.evaluate(async (a) => {
    const { Endpoint } = window.sealroom;
    const connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url);
    try {
      const streamApi = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
      const room = await streamApi.getStreamRoom(a.roomId);
      return { meta: new TextDecoder().decode(room.privateMeta) };
    } catch (error) {
      return { reason: (error as { reason?: string }).reason ?? String(error) };
    } finally {
      await connection.disconnect();
    }
  }, args);
}

describe('pins in Chromium', () => {
  it('survive a new connection (IndexedDB), so a room forged "by alice" after bob saw her is refused', async () => {
    const bob = tenant.users.bob!;
    const real = await alice.streamApi.createStreamRoom(
      tenant.contextId,
      [pub(tenant.users.alice!), pub(bob)],
      [pub(tenant.users.alice!)],
      utf8('{}'),
      utf8('real'),
    );
    expect(await readInPage(real)).toEqual({ meta: 'real' }); // bob pins alice

    const mallory = await makeUser('mallory');
    const now = Date.now();
    listFormerKey(t, tenant.contextId, 'alice', mallory.publicKey, now - 7_200_000, now - 3_600_000);
    const forged = await serveRoom(
      t.bridge,
      await forgeGenesis(tenant.contextId, 'alice', mallory, [{ userId: 'bob', publicKey: bob.publicKey }], 'send me everything', now - 5_400_000),
    );
    expect(await readInPage(forged)).toEqual({ reason: 'KeyChanged' });
    expect(await browser.page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name))).toContain('sealroom-trust');
  });
});

describe('two tabs of one identity', () => {
  it('the second is refused with TrustStoreBusy while the first holds the store, and opens once it disconnected', async () => {
    const second = await browser.page.context().newPage();
    await second.goto(browser.page.url());
    await second.waitForFunction(() => 'sealroom' in window);
    const args = { url: t.bridge.url, solutionId: tenant.solutionId, privateKey: tenant.users.bob!.privateKey };
    try {
      await browser.page.evaluate(async (a) => {
        const { Endpoint } = window.sealroom;
        const connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url);
        await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
        (window as unknown as { held: unknown }).held = connection;
      }, args);
      const tryOpen = () =>
        second.evaluate(async (a) => {
          const { Endpoint } = window.sealroom;
          const connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url);
          try {
            await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
            return 'opened';
          } catch (error) {
            return (error as { reason?: string }).reason ?? String(error);
          } finally {
            await connection.disconnect();
          }
        }, args);
      expect(await tryOpen()).toBe('TrustStoreBusy');
      await browser.page.evaluate(async () => {
        await (window as unknown as { held: { disconnect(): Promise<void> } }).held.disconnect();
      });
      expect(await tryOpen()).toBe('opened');
    } finally {
      await second.close();
    }
  });
});
