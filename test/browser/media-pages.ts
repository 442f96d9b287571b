/**
 * Browser harness for media tests: bundles test/browser/media-entry.ts with esbuild, serves it on
 * 127.0.0.1:0 (a secure context, so getUserMedia works), and opens pages in one headless Chromium
 * with fake devices and loopback-only WebRTC (docs/media/endpoint-media.md, "Tests").
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM } from './browser.ts';

export const MEDIA_CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--auto-select-desktop-capture-source=Entire screen',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--autoplay-policy=no-user-gesture-required',
  // Pages in background tabs must keep decoding and running timers.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

export interface MediaPages {
  pages: Page[];
  /** Everything the pages printed to their consoles (for a failing test's message). */
  console: string[];
  close(): Promise<void>;
}

/**
 * Opens `count` pages (each in its own browser context) of `entry` (default test/browser/media-entry.ts),
 * once it has set `window[readyGlobal]`.
 */
export async function openMediaPages(
  count: number,
  entry = resolve(fileURLToPath(import.meta.url), '../media-entry.ts'),
  readyGlobal = 'mediaKit',
): Promise<MediaPages> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`make test\` (it installs Debian's chromium) or apt-get install -y chromium`);
  const outdir = mkdtempSync(join(tmpdir(), 'sealroom-media-'));
  await build({
    entryPoints: { page: entry },
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
      res.end('<!doctype html><meta charset="utf-8"><body><script type="module" src="/page.js"></script></body>');
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
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: MEDIA_CHROMIUM_FLAGS });
  const logs: string[] = [];
  const pages: Page[] = [];
  for (let i = 0; i < count; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('console', (m) => logs.push(`[page ${i}] ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[page ${i}] error: ${e.message}`));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction((name) => name in window, readyGlobal);
    pages.push(page);
  }
  return {
    pages,
    console: logs,
    async close() {
      await browser.close();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(outdir, { recursive: true, force: true });
    },
  };
}
