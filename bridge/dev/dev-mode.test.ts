/**
 * Dev mode and the web app on a real Bridge (docs/app.md): both absent by default, dev mode refused
 * on a non-loopback address unless forced, the register route's answers and refusals, and the app's
 * files with their content types, cache policy and Content-Security-Policy, the API unaffected.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../crypto/identity.ts';
import { resolveConfig } from '../config.ts';
import { APP_CONTENT_SECURITY_POLICY } from '../http/app-static.ts';
import { startBridge, type TestBridge } from '../../test/harness.ts';
import { DEV_CONTEXT_NAME, DEV_MAX_USERS, DEV_SOLUTION_NAME } from './dev-mode.ts';

const appDir = mkdtempSync(join(tmpdir(), 'sealroom-app-test-'));
mkdirSync(join(appDir, 'assets'));
writeFileSync(join(appDir, 'index.html'), '<!doctype html><title>app</title>');
writeFileSync(join(appDir, 'assets', 'app-ABCD1234.js'), 'export {};');
writeFileSync(join(appDir, 'assets', 'style-ABCD1234.css'), 'body{}');

let plain: TestBridge;
let dev: TestBridge;
beforeAll(async () => {
  plain = await startBridge();
  dev = await startBridge({ devMode: true, appDir });
});
afterAll(async () => {
  await plain?.close();
  await dev?.close();
  rmSync(appDir, { recursive: true, force: true });
});

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('by default', () => {
  it('has no dev routes and no app: 404 with the API error body', async () => {
    for (const path of ['/dev/v1/info', '/', '/index.html', '/app-config.json']) {
      const response = await fetch(plain.bridge.url + path);
      expect(response.status, path).toBe(404);
      expect(await response.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such route' } });
    }
    const { publicKey } = await generateKeyPair();
    expect((await post(`${plain.bridge.url}/dev/v1/register`, { userId: 'mallory', publicKey })).status).toBe(404);
    expect(plain.bridge.config.devMode).toBe(false);
  });
});

describe('dev mode on a non-loopback address', () => {
  it('is refused unless devModeOnAnyAddress is set', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.20', 'example.com']) {
      expect(() => resolveConfig({ databaseFile: ':memory:', host, devMode: true }), host).toThrow(/option "devMode".*non-loopback/);
      expect(resolveConfig({ databaseFile: ':memory:', host, devMode: true, devModeOnAnyAddress: true }).devMode).toBe(true);
    }
    for (const host of ['127.0.0.1', '127.0.1.1', '::1', '[::1]', 'localhost']) {
      expect(resolveConfig({ databaseFile: ':memory:', host, devMode: true }).devMode, host).toBe(true);
    }
  });
});

describe('dev mode', () => {
  it('creates one demo solution and context, and registers users in it', async () => {
    const info = await (await fetch(`${dev.bridge.url}/dev/v1/info`)).json();
    expect(info).toMatchObject({ devMode: true, contextName: DEV_CONTEXT_NAME });
    const alice = await generateKeyPair();
    const first = await post(`${dev.bridge.url}/dev/v1/register`, { userId: 'alice', publicKey: alice.publicKey });
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({
      solutionId: info.solutionId,
      contextId: info.contextId,
      contextName: DEV_CONTEXT_NAME,
      userId: 'alice',
      created: true,
    });
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(first.headers.get('access-control-allow-origin')).toBeNull();
    // The same pair again is fine; another key for a taken name is refused (a name cannot be taken over).
    expect((await post(`${dev.bridge.url}/dev/v1/register`, { userId: 'alice', publicKey: alice.publicKey })).status).toBe(200);
    const mallory = await generateKeyPair();
    const takeover = await post(`${dev.bridge.url}/dev/v1/register`, { userId: 'alice', publicKey: mallory.publicKey });
    expect(takeover.status).toBe(409);
    expect((await takeover.json()).error.code).toBe('USER_CONFLICT');
    const users = await dev.bridge.manage.listContextUsers(info.contextId);
    expect(users.map((u) => [u.userId, u.publicKey])).toEqual([['alice', alice.publicKey]]);
    const solutions = await dev.bridge.manage.listSolutions();
    expect(solutions.filter((s) => s.name === DEV_SOLUTION_NAME)).toHaveLength(1);
  });

  it('refuses malformed registrations with a coded error', async () => {
    const bad = await post(`${dev.bridge.url}/dev/v1/register`, { userId: 'bob', publicKey: 'srpk1nope' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'body.publicKey' } });
    const extra = await post(`${dev.bridge.url}/dev/v1/register`, { userId: 'bob', publicKey: (await generateKeyPair()).publicKey, admin: true });
    expect(extra.status).toBe(400);
    const text = await fetch(`${dev.bridge.url}/dev/v1/register`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(text.status).toBe(415);
    const big = await post(`${dev.bridge.url}/dev/v1/register`, { userId: 'bob', publicKey: 'x'.repeat(2000) });
    expect(big.status).toBe(413);
  });
});

describe('dev mode when the demo context fills', () => {
  it('admits one of the registrations that arrive together for its last place', async () => {
    const full = await startBridge({ devMode: true, appDir });
    try {
      const { contextId } = (await (await fetch(`${full.bridge.url}/dev/v1/info`)).json()) as { contextId: string };
      for (let i = 0; i < DEV_MAX_USERS - 1; i += 20) {
        const batch = Array.from({ length: Math.min(20, DEV_MAX_USERS - 1 - i) }, (_, k) => i + k);
        await Promise.all(batch.map(async (n) => full.bridge.manage.addContextUser(contextId, `user${n}`, (await generateKeyPair()).publicKey)));
      }
      const late = await Promise.all(
        Array.from(
          { length: 5 },
          async (_, i) => (await post(`${full.bridge.url}/dev/v1/register`, { userId: `late${i}`, publicKey: (await generateKeyPair()).publicKey })).status,
        ),
      );
      expect(late.filter((status) => status === 201)).toHaveLength(1);
      expect(late.filter((status) => status === 403)).toHaveLength(4);
      expect((await full.bridge.manage.listContextUsers(contextId)).length).toBe(DEV_MAX_USERS);
    } finally {
      await full.close();
    }
  });
});

/** The status of a GET of `path` exactly as written, with the Host header `host`. */
function rawGet(path: string, host?: string): Promise<number> {
  const url = new URL(dev.bridge.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers: host === undefined ? {} : { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the web app', () => {
  it('serves index.html at / with the CSP and no-cache, hashed assets immutable, with their content types', async () => {
    const index = await fetch(`${dev.bridge.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toBe(APP_CONTENT_SECURITY_POLICY);
    expect(APP_CONTENT_SECURITY_POLICY).toContain("script-src 'self' 'wasm-unsafe-eval';");
    expect(APP_CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(index.headers.get('x-frame-options')).toBe('DENY');
    expect(await index.text()).toContain('<title>app</title>');
    const config = await fetch(`${dev.bridge.url}/app-config.json`);
    expect(await config.json()).toEqual({ devMode: true, mediaLoopbackOnly: true });
    expect(config.headers.get('cache-control')).toBe('no-store');
    expect(config.headers.get('content-security-policy')).toBe(APP_CONTENT_SECURITY_POLICY);
    const script = await fetch(`${dev.bridge.url}/assets/app-ABCD1234.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${dev.bridge.url}/assets/style-ABCD1234.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('leaves the API as it was, and answers nothing outside its folder', async () => {
    expect(await (await fetch(`${dev.bridge.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${dev.bridge.url}/v1/me`)).status).toBe(401);
    expect((await fetch(`${dev.bridge.url}/manage/v1/solutions`)).status).toBe(401);
    expect((await fetch(`${dev.bridge.url}/metrics`)).status).toBe(401);
    // API answers are never cached, sniffed or framed.
    const api = await fetch(`${dev.bridge.url}/v1/openapi.json`);
    expect(api.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(api.headers.get('x-content-type-options')).toBe('nosniff');
    expect(api.headers.get('cache-control')).toBe('no-store');
    for (const path of ['/assets/missing.js', '/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json']) {
      expect((await fetch(dev.bridge.url + path)).status, path).toBe(404);
    }
    // Sent as written: fetch would resolve the dots before the request.
    expect(await rawGet('/%2e%2e/package.json')).toBe(404);
    expect(await rawGet('/assets/%2e%2e/%2e%2e/package.json')).toBe(404);
    expect((await fetch(`${dev.bridge.url}/`, { method: 'POST' })).status).toBe(404);
  });

  it('answers only its own names in dev mode: a DNS-rebinding page, under its own name, gets 421 before any route', async () => {
    const port = new URL(dev.bridge.url).port;
    for (const host of [`rebind.example:${port}`, `localhost.evil.example:${port}`, `127.0.0.1.nip.io:${port}`]) {
      expect(await rawGet('/dev/v1/info', host), host).toBe(421);
      expect(await rawGet('/', host), host).toBe(421);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) expect(await rawGet('/dev/v1/info', host), host).toBe(200);
  });

  it('fails the start when appDir holds no built app', async () => {
    await expect(startBridge({ appDir: join(appDir, 'assets') })).rejects.toThrow(/option "appDir".*no index.html/);
  });
});

describe('the sealroom command', () => {
  it('refuses dev mode from a config file: it is a flag for one start', async () => {
    const { runCli } = await import('../../test/cli.ts');
    const dir = mkdtempSync(join(tmpdir(), 'sealroom-dev-config-'));
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ devMode: true }));
      const result = await runCli(['start', '--data-dir', join(dir, 'data'), '--port', '0', '--config', join(dir, 'config.json')]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('dev mode is a flag for one start (--dev), never part of a config file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
