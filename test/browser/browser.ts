/**
 * Browser harness: bundles test/browser/entry.ts for the browser with esbuild (the package's import
 * conditions pick WebCrypto and the native WebSocket; a `node:` import would fail the bundle), serves
 * it on 127.0.0.1:0, and drives Debian's Chromium through playwright-core.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserPage {
  page: Page;
  close(): Promise<void>;
}

export async function openBrowserPage(): Promise<BrowserPage> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run \`make test\` (it installs Debian's chromium) or apt-get install -y chromium`);
  }
  const outdir = mkdtempSync(join(tmpdir(), 'sealroom-browser-'));
  await build({
    entryPoints: [resolve(fileURLToPath(import.meta.url), '../entry.ts')],
    bundle: true,
    format: 'esm',
    splitting: true,
    platform: 'browser',
    target: 'es2022',
    outdir,
    logLevel: 'silent',
  });
  const server: Server = createServer((req, res) => {
    const path = req.url === '/' ? '/index.html' : (req.url ?? '/');
    if (path === '/index.html') {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><meta charset="utf-8"><script type="module" src="/entry.js"></script>');
      return;
    }
    const file = join(outdir, path.replace(/^\/+/, ''));
    if (!file.startsWith(outdir) || !existsSync(file)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', 'text/javascript');
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  // A context of its own (not browser.newPage's), so a test can open a second tab of the origin in it.
  const page = await (await browser.newContext()).newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => 'sealroom' in window);
  return {
    page,
    async close() {
      await browser.close();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(outdir, { recursive: true, force: true });
    },
  };
}
