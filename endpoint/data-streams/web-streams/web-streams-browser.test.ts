/**
 * The Web Streams shapes and delivery receipts in a real browser (Debian's Chromium, the WebCrypto
 * backend, the lazy chunks of the browser build): the page `send()`s to Node and gets Node's signed
 * receipt; Node broadcasts to the page, which reads `streamReceived`'s ReadableStream and signs its
 * receipt with its own key in the browser.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowserPage, type BrowserPage } from '../../../test/browser/browser.ts';
import { pattern, receiveBytes, sha256, startKit, type Client, type Kit } from '../test-kit.ts';

let kit: Kit;
let browser: BrowserPage;
let bob: Client;
let roomId: string;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob']);
  bob = await kit.connect('bob');
  const alice = kit.tenant.users.alice!;
  roomId = await bob.streamApi.createStreamRoom(
    kit.tenant.contextId,
    [{ userId: 'alice', pubKey: alice.publicKey }, bob.me],
    [bob.me],
    new Uint8Array(),
    new Uint8Array(),
  );
  await bob.streamApi.joinStreamRoom(roomId);
  browser = await openBrowserPage();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await kit.close();
});

describe('Web Streams shapes in Chromium', () => {
  it('send() from the page with progress and a receipt; a broadcast read as a ReadableStream in the page, receipted', async () => {
    const atBob = receiveBytes(bob, 'from-page');
    const args = { url: kit.t.bridge.url, solutionId: kit.tenant.solutionId, privateKey: kit.tenant.users.alice!.privateKey, roomId };
    const sent = await browser.page.evaluate(async (a) => {
      const { Endpoint } = window.sealroom;
      await Endpoint.setup();
      const connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url);
      const streamApi = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
      await streamApi.joinStreamRoom(a.roomId);
      const w = window as unknown as { got: Array<Record<string, unknown>> };
      w.got = [];
      const hex = async (bytes: Uint8Array) =>
        [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource))].map((b) => b.toString(16).padStart(2, '0')).join('');
      streamApi.receiveBroadcasts('to-page');
      streamApi.onBroadcastEvent('streamReceived', async (e) => {
        const chunks: Uint8Array[] = [];
        const reader = e.stream.getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
        w.got.push({ from: e.peerId, name: e.metadata.name, sha256: await hex(new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer())) });
      });
      const bytes = new Uint8Array(2 * 1024 * 1024 + 9).map((_, i) => (i * 31) % 251);
      const transfer = streamApi.send(bytes, { roomId: a.roomId, topic: 'from-page', name: 'page.bin' });
      const currents: number[] = [];
      for await (const step of transfer) currents.push(step.current);
      const result = await transfer;
      return { currents, result, sha256: await hex(bytes), total: bytes.length };
    }, args);

    expect(sha256(await atBob[0]!.done)).toBe(sent.sha256);
    expect(sent.currents.at(-1)).toBe(sent.total);
    expect([...sent.currents].sort((x, y) => x - y)).toEqual(sent.currents);
    expect(sent.result).toEqual({ id: atBob[0]!.reader.info.id, delivered: [{ userId: 'bob', at: expect.any(Number) }], failed: [] });

    const data = pattern(3 * 1024 * 1024, 5);
    const complete = await bob.streamApi.broadcastBlob(new Blob([data as Uint8Array<ArrayBuffer>]), { roomId, topic: 'to-page', name: 'from-node.bin' });
    expect(complete.delivered!.map((d) => d.userId)).toEqual(['alice']);
    expect(complete.failed).toEqual([]);
    // The receipt went out at the page's last read; the page hashes what it read after that.
    await browser.page.waitForFunction(() => (window as unknown as { got: unknown[] }).got.length === 1, undefined, { timeout: 20_000 });
    const got = await browser.page.evaluate(() => (window as unknown as { got: unknown[] }).got);
    expect(got).toEqual([{ from: 'bob', name: 'from-node.bin', sha256: sha256(data) }]);
  }, 60_000);
});
