/**
 * The published package, as a user gets it (docs/package.md): build into a temporary folder, `npm
 * pack` it, install the tarball into an empty folder outside the repo, and there
 * - an Endpoint-only install brings in no server dependency, `sealroom keygen` runs, a strict
 *   TypeScript app (NodeNext, exactOptionalPropertyTypes, no skipLibCheck, no @types at all)
 *   typechecks against its .d.ts, and esbuild bundles it for browsers from the built files;
 * - with the server's optional peers added, plain `node` runs the quick start through
 *   `sealroom/bridge`, `sealroom/crypto` and `sealroom/endpoint`, a server app typechecks, and the
 *   installed `sealroom` command prints its help and a key pair.
 *
 * Everything comes from npm's local cache (`--prefer-offline`), except better-sqlite3: installing it
 * compiles its native module for about two minutes, so the test links the repo's compiled copy into
 * the app's node_modules (a plain symlink: `npm install <folder>` would walk the whole repo's tree).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const APP_FILES = join(REPO, 'test/package/app');
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
const SERVER_PEERS = ['express', 'pino', 'prom-client', 'werift'];
const SERVER_TYPES = ['@types/node', '@types/express', '@types/ws'];

let work: string;
let app: string;

function run(file: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { cwd, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`, { cause: error }));
      else resolvePromise({ stdout, stderr });
    });
  });
}

/** The version the repo has installed, so the app gets the same one from npm's cache. */
function installed(name: string): string {
  const manifest = JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return `${name}@${manifest.version}`;
}

const npmInstall = (specs: string[]) => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...specs], app);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sealroom-consumer-'));
  const dist = join(work, 'dist');
  await run(process.execPath, [join(REPO, 'scripts/build-package.mjs'), '--out', dist], REPO);
  await run(process.execPath, [join(REPO, 'scripts/build-app.mjs'), '--out', join(dist, 'app')], REPO);
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work, dist], REPO);
  const [packed] = JSON.parse(stdout) as { filename: string; entryCount: number; files: { path: string }[] }[];
  expect(packed!.files.map((f) => f.path).filter((p) => /\.test\.|(^|\/)(bench|fixtures?)\//.test(p))).toEqual([]);
  expect(packed!.files.map((f) => f.path)).toContain('app/index.html');
  app = join(work, 'app');
  cpSync(APP_FILES, app, { recursive: true });
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'consumer-app', private: true, type: 'module' })}\n`);
  await npmInstall([join(work, packed!.filename)]);
}, 180_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball, installed outside the repo', () => {
  it('installs for an Endpoint-only app without any server dependency', () => {
    const modules = readdirSync(join(app, 'node_modules'));
    expect(modules).toContain('sealroom');
    for (const serverOnly of ['better-sqlite3', 'express', 'pino', 'prom-client', 'werift', 'tsx']) expect(modules).not.toContain(serverOnly);
  });

  it('typechecks an Endpoint-only app (strict, NodeNext, exactOptionalPropertyTypes, no @types)', async () => {
    await run(process.execPath, [TSC, '-p', 'tsconfig.json'], app);
  });

  it('runs `sealroom keygen` without the server peers, and `sealroom start` names what to install', async () => {
    const bin = join(app, 'node_modules/.bin/sealroom');
    const keygen = await run(bin, ['keygen'], app, 20_000);
    expect(keygen.stdout).toMatch(/private key: srsk1[0-9a-z]+\npublic key: +srpk1[0-9a-z]+/);
    const start = await run(bin, ['start', '--data-dir', join(work, 'data'), '--port', '0'], app, 20_000).then(
      () => ({ stderr: 'started' }),
      (error: Error) => ({ stderr: error.message }),
    );
    expect(start.stderr).toContain('npm install better-sqlite3 express pino prom-client werift');
  });

  it('bundles `sealroom/endpoint` for browsers from the built files, without a Node module', async () => {
    const result = await build({
      absWorkingDir: app,
      stdin: { contents: "export { Endpoint } from 'sealroom/endpoint';", resolveDir: app, loader: 'js' },
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      outdir: join(work, 'browser'),
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((i) => i.includes('node_modules/sealroom/endpoint/index.js'))).toBe(true);
    expect(inputs.filter((i) => /-node\.js$|node:/.test(i))).toEqual([]);
    expect(inputs.some((i) => i.endsWith('crypto/backend/default-web.js'))).toBe(true);
  });

  describe('with the server peers', () => {
    beforeAll(async () => {
      await npmInstall([...SERVER_PEERS.map(installed), ...SERVER_TYPES.map(installed)]);
      symlinkSync(join(REPO, 'node_modules/better-sqlite3'), join(app, 'node_modules/better-sqlite3'), 'dir');
    }, 120_000);

    it('runs the quick start on plain node: a Bridge on port 0, a context, users, a room read back', async () => {
      const { stdout } = await run(process.execPath, ['quickstart.mjs'], app, 30_000);
      const result = JSON.parse(stdout.trim()) as { roomId: string; version: number; epoch: number; privateMeta: string };
      expect(result).toMatchObject({ version: 1, epoch: 1, privateMeta: 'hello from the tarball' });
      expect(result.roomId).toMatch(/^[A-Za-z0-9_-]{8,}$/);
    });

    it('typechecks a server app with the Bridge', async () => {
      await run(process.execPath, [TSC, '-p', 'tsconfig.server.json'], app);
    });

    it('has a `sealroom` command that runs on plain node', async () => {
      const bin = join(app, 'node_modules/.bin/sealroom');
      expect(existsSync(bin)).toBe(true);
      const help = await run(bin, ['--help'], app, 20_000);
      expect(help.stdout).toContain('Usage: sealroom');
      expect(help.stdout).toContain('keygen');
      const keygen = await run(bin, ['keygen'], app, 20_000);
      expect(keygen.stdout).toMatch(/private key: srsk1[0-9a-z]+\npublic key: +srpk1[0-9a-z]+/);
    });

    it('serves the web app from the installed package: `sealroom start --dev` on plain node', async () => {
      const child = spawn(
        join(app, 'node_modules/.bin/sealroom'),
        ['start', '--dev', '--port', '0', '--data-dir', join(work, 'app-data'), '--log-level', 'warn'],
        {
          cwd: app,
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      try {
        const url = await new Promise<string>((resolveUrl, reject) => {
          let stderr = '';
          const timer = setTimeout(() => reject(new Error(`no URL from sealroom start in 20 s: ${stderr}`)), 20_000);
          child.stderr.on('data', (chunk: Buffer) => {
            stderr += chunk.toString();
            const found = /export SEALROOM_URL=(\S+)/.exec(stderr)?.[1];
            if (found !== undefined) {
              clearTimeout(timer);
              resolveUrl(found);
            }
          });
          child.on('exit', (code) => reject(new Error(`sealroom start exited (${code}): ${stderr}`)));
        });
        const page = await fetch(`${url}/`);
        expect(page.status).toBe(200);
        expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
        expect(await page.text()).toContain('<script');
        expect((await fetch(`${url}/dev/v1/info`)).status).toBe(200);
      } finally {
        child.kill('SIGTERM');
      }
    });
  });
});
