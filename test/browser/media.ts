/**
 * Browser harness for media tests: bundles a page entry with esbuild, serves it (and any extra files)
 * on 127.0.0.1:0, and opens it in Debian's Chromium with fake camera and microphone and loopback-only
 * WebRTC (the page adds only 127.0.0.1 candidates; test/browser/media-entry.ts). The page comes from
 * http://127.0.0.1:PORT, a secure context, so getUserMedia works.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { CHROMIUM } from './browser.ts';

const MEDIA_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--autoplay-policy=no-user-gesture-required',
];

export interface MediaPage {
  page: Page;
  /** http://127.0.0.1:PORT */
  origin: string;
  close(): Promise<void>;
}

/**
 * Opens `entry` (a .ts file, bundled for the browser) in a page; `files` are served as they are
 * (path -> JavaScript source). Resolves once the page has set `window[readyGlobal]`.
 */
export async function openMediaPage(entry: string, readyGlobal: string, files: Record<string, string> = {}): Promise<MediaPage> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run \`make test\` (it installs Debian's chromium) or apt-get install -y chromium`);
  }
  const outdir = mkdtempSync(join(tmpdir(), 'sealroom-media-'));
  await build({ entryPoints: [entry], bundle: true, format: 'esm', splitting: true, platform: 'browser', target: 'es2022', outdir, logLevel: 'silent' });
  const script = `/${basename(entry).replace(/\.ts$/, '.js')}`;
  const server: Server = createServer((req, res) => {
    const path = req.url === '/' ? '/index.html' : (req.url ?? '/');
    if (path === '/index.html') {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><meta charset="utf-8"><script type="module" src="${script}"></script>`);
      return;
    }
    const extra = files[path];
    const file = join(outdir, path.replace(/^\/+/, ''));
    if (extra === undefined && (!file.startsWith(outdir) || !existsSync(file))) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', 'text/javascript');
    res.end(extra ?? readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: MEDIA_FLAGS });
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction((name) => name in window, readyGlobal);
  return {
    page,
    origin,
    async close() {
      await browser.close();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(outdir, { recursive: true, force: true });
    },
  };
}
