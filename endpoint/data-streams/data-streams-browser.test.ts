/**
 * Issue 5 in a real browser (Debian's Chromium, the WebCrypto backend, the browser build of
 * `#endpoint-fs`): streams both ways between a page and a Node Endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowserPage, type BrowserPage } from '../../test/browser/browser.ts';
import { pattern, receiveBytes, receiveText, sha256, startKit, until, type Client, type Kit } from './test-kit.ts';

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

describe('byte and text streams in Chromium', () => {
  it('sends a Blob and a text from the page to Node, and reads a Node stream in the page', async () => {
    const atBob = receiveBytes(bob, 'from-page');
    const textAtBob = receiveText(bob, 'from-page-text');
    const text = 'Grüße aus dem Browser 🌍 漢字 e\u0301 '.repeat(5000);
    const args = { url: kit.t.bridge.url, solutionId: kit.tenant.solutionId, privateKey: kit.tenant.users.alice!.privateKey, roomId, text };
    const sent = await browser.page.evaluate(async (a) => {
      const { Endpoint, backendName } = window.sealroom;
      await Endpoint.setup();
      const connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url);
      const streamApi = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection));
      await streamApi.joinStreamRoom(a.roomId);
      const w = window as unknown as { got: Array<Record<string, unknown>> };
      w.got = [];
      const hex = async (chunks: Uint8Array[]) =>
        [...new Uint8Array(await crypto.subtle.digest('SHA-256', await new Blob(chunks as BlobPart[]).arrayBuffer()))]
          .map((b) => b.toString(16).padStart(2, '0'))
          .join('');
      streamApi.registerByteStreamHandler('to-page', async (reader, from) => {
        w.got.push({ name: reader.info.name, from: from.identity, size: reader.info.size, sha256: await hex(await reader.readAll()) });
      });
      streamApi.registerByteStreamHandler('to-page-file', async (reader) => {
        try {
          await reader.writeToFile('/tmp');
        } catch (error) {
          w.got.push({ writeToFile: (error as { code: string }).code });
        }
      });
      const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7919) % 251);
      const { id } = await streamApi.sendFile(new Blob([bytes]), { roomId: a.roomId, topic: 'from-page', name: 'page.png' });
      await streamApi.sendText(a.text, { roomId: a.roomId, topic: 'from-page-text' });
      return { id, backend: backendName(), sha256: await hex([bytes]) };
    }, args);
    expect(sent.backend).toBe('web');

    await until(() => atBob.length === 1 && textAtBob.length === 1, 'the page streams at bob', 20_000);
    expect(atBob[0]!.reader.info).toMatchObject({ id: sent.id, name: 'page.png', mimeType: 'image/png', size: 3 * 1024 * 1024 });
    expect(sha256(await atBob[0]!.done)).toBe(sent.sha256);
    expect(await textAtBob[0]!.done).toBe(text);

    const data = pattern(2 * 1024 * 1024, 21);
    await bob.streamApi.sendFile(data, { roomId, topic: 'to-page', name: 'from-node.bin' });
    await bob.streamApi.sendFile(pattern(10), { roomId, topic: 'to-page-file', name: 'x.bin' });
    await browser.page.waitForFunction(() => (window as unknown as { got: unknown[] }).got.length === 2, undefined, { timeout: 20_000 });
    const got = await browser.page.evaluate(() => (window as unknown as { got: unknown[] }).got);
    expect(got).toHaveLength(2);
    expect(got).toContainEqual({ name: 'from-node.bin', from: 'bob', size: data.length, sha256: sha256(data) });
    expect(got).toContainEqual({ writeToFile: 'ERR_DATA_STREAM_UNSUPPORTED' });
  });
});
