/**
 * The web app as a newcomer meets it: built by scripts/build-app.mjs, served by a Bridge started
 * the way `make run` starts it (`sealroom start --dev`, here on 127.0.0.1:0 with a fresh database),
 * and opened in Debian's Chromium through playwright-core, one browser context per person.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM } from '../browser/browser.ts';
import { MEDIA_CHROMIUM_FLAGS } from '../browser/media-pages.ts';
import { startBridgeProcess, type BridgeProcess } from '../cli.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Screenshots of the main screens, for a person to look at (git-ignored). */
export const SCREENSHOT_DIR = join(ROOT, 'test-output/app');

/** The media tests' flags: fake camera and microphone, WebRTC on loopback (docs/media/endpoint-media.md, "Tests"). */
const CHROMIUM_FLAGS = MEDIA_CHROMIUM_FLAGS;

export interface AppUnderTest {
  url: string;
  /** The Bridge's database folder (a test may tamper with it, as a malicious operator would). */
  dataDir: string;
  bridge: BridgeProcess;
  browser: Browser;
  /** A new person: a browser context of its own (its own IndexedDB), one page on the app. */
  person(name: string): Promise<Person>;
  close(): Promise<void>;
}

export interface Person {
  name: string;
  context: BrowserContext;
  page: Page;
  /** Console errors and CSP violations the page reported. */
  problems: string[];
}

/** `dev: false` starts the Bridge as an operator would, without dev mode. */
export async function startApp(options: { dev: boolean } = { dev: true }): Promise<AppUnderTest> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`make test\` (it installs Debian's chromium) or apt-get install -y chromium`);
  const work = mkdtempSync(join(tmpdir(), 'sealroom-app-'));
  const appDir = join(work, 'app');
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-app.mjs'), '--out', appDir], { stdio: 'pipe' });
  const bridge = await startBridgeProcess(join(work, 'data'), [...(options.dev ? ['--dev'] : []), '--app-dir', appDir, '--host', '127.0.0.1']);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    url: `${bridge.url}/`,
    dataDir: join(work, 'data'),
    bridge,
    browser,
    async person(name) {
      const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1180, height: 760 } });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(String(error)));
      page.on('dialog', (dialog) => void dialog.accept());
      await page.goto(`${bridge.url}/`);
      return { name, context, page, problems };
    },
    async close() {
      await browser.close();
      bridge.child.kill('SIGTERM');
      await bridge.exited;
      rmSync(work, { recursive: true, force: true });
    },
  };
}
