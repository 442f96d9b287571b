/**
 * The Endpoint in a real browser (Debian's Chromium): WebCrypto backend, native WebSocket, CORS.
 * Alice runs in the page; Bob runs in Node. They share a room through a real Bridge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../crypto/bytes.ts';
import { openBrowserPage, type BrowserPage } from '../test/browser/browser.ts';
import { connectClient, pub, type Client } from '../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../test/harness.ts';

let t: TestBridge;
let tenant: Tenant;
let browser: BrowserPage;
let bob: Client;

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob']);
  bob = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.bob!);
  browser = await openBrowserPage();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await bob?.connection.disconnect();
  await t.close();
});

describe('Endpoint in Chromium', () => {
  it('creates a room in the browser that Node reads, and follows a rotation made in Node', async () => {
    const alice = tenant.users.alice!;
    const args = {
      url: t.bridge.url,
      solutionId: tenant.solutionId,
      contextId: tenant.contextId,
      privateKey: alice.privateKey,
      users: [pub(alice), pub(tenant.users.bob!)],
    };
    const created = await browser.page.evaluate(async (a) => {
      const { Endpoint, backendName } = window.sealroom;
      await Endpoint.setup();
      const connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url);
      const eventApi = await Endpoint.createEventApi(connection);
      const streamApi = await Endpoint.createStreamApi(connection, eventApi);
      const enc = new TextEncoder();
      const roomId = await streamApi.createStreamRoom(a.contextId, a.users, a.users, enc.encode('{"from":"browser"}'), enc.encode('made in chromium'));
      await eventApi.subscribeFor([eventApi.buildSubscriptionQuery('streamRoomUpdated', 'streamRoomId', roomId)]);
      const w = window as unknown as { updates: string[] };
      w.updates = [];
      eventApi.on('streamRoomUpdated', (e) => w.updates.push(`${e.epoch}:${e.room ? new TextDecoder().decode(e.room.privateMeta) : e.error?.reason}`));
      return { roomId, backend: backendName(), hasNodeBuffer: typeof (globalThis as { Buffer?: unknown }).Buffer !== 'undefined' };
    }, args);
    expect(created.backend).toBe('web');
    expect(created.hasNodeBuffer).toBe(false);

    const asBob = await bob.streamApi.getStreamRoom(created.roomId);
    expect(fromUtf8(asBob.privateMeta)).toBe('made in chromium');
    expect(asBob.creator).toBe('alice');

    // Bob, a manager, rotates the key from Node; the browser must follow with the new epoch's key.
    await bob.streamApi.updateStreamRoom(created.roomId, args.users, args.users, asBob.publicMeta, utf8('rotated in node'), 1, false, true);
    await browser.page.waitForFunction(() => (window as unknown as { updates: string[] }).updates.length > 0, undefined, { timeout: 10_000 });
    expect(await browser.page.evaluate(() => (window as unknown as { updates: string[] }).updates)).toEqual(['2:rotated in node']);
  });
});
