/**
 * Test harness: a real Bridge on port 0 over a real SQLite file in a temporary folder (or, with the
 * `store` option, a real PostgreSQL database: test/postgres.ts), real logins over HTTP with real
 * signatures, and a small REST client that returns status and body.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBase64, toBase64 } from '../crypto/bytes.ts';
import { sign } from '../crypto/identity.ts';
import { authMessage } from '../protocol/auth.ts';
import { createBridge, type Bridge, type CreateBridgeOptions } from '../bridge/index.ts';
import { makeUser, type TestUser } from './identities.ts';
import { createDatabaseAt } from './postgres.ts';

export interface TestBridge {
  bridge: Bridge;
  dataDir: string;
  /** Closes the Bridge and starts a new one on the same database (and the same operator key). */
  restart(options?: Partial<CreateBridgeOptions>): Promise<Bridge>;
  /** Closes the Bridge and removes its folder. */
  close(): Promise<void>;
}

export async function startBridge(options: Partial<CreateBridgeOptions> = {}): Promise<TestBridge> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealroom-test-'));
  // SEALROOM_TEST_POSTGRES (an admin URL of a running PostgreSQL) runs every Bridge of a test on a
  // fresh database there instead of SQLite (docs/operations/postgres.md, "Tests").
  const shared = process.env.SEALROOM_TEST_POSTGRES;
  if (options.store === undefined && shared !== undefined && options.databaseFile === undefined) {
    options = { ...options, store: await createDatabaseAt(shared) };
  }
  // With a PostgreSQL store the folder stays empty (a store excludes dataDir).
  const where = options.store === undefined ? { dataDir } : {};
  // The Bridge shares this process's event loop with the test's Endpoints on a shared machine: its lag
  // is theirs too, so the overload gate (docs/operations/limits.md, "Overload") is off unless a test sets it.
  if (options.overload === undefined) options = { ...options, overload: { enabled: false } };
  const first = await createBridge({ ...where, port: 0, logLevel: 'silent', ...options });
  const apiKey = first.initialApiKey;
  const handle: TestBridge = {
    bridge: first,
    dataDir,
    async restart(more = {}) {
      await handle.bridge.close();
      handle.bridge = await createBridge({ ...where, port: 0, logLevel: 'silent', apiKey, ...options, ...more });
      return handle.bridge;
    },
    async close() {
      await handle.bridge.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

export interface Tenant {
  solutionId: string;
  contextId: string;
  users: Record<string, TestUser>;
}

/** A solution with one context holding the given users (real key pairs). */
export async function setupTenant(bridge: Bridge, userIds: string[], name = 'acme'): Promise<Tenant> {
  const { solutionId } = await bridge.manage.createSolution(name);
  const { contextId } = await bridge.manage.createContext(solutionId, `${name}-context`);
  const users: Record<string, TestUser> = {};
  for (const id of userIds) {
    users[id] = await makeUser(id);
    await bridge.manage.addContextUser(contextId, id, users[id]!.publicKey);
  }
  return { solutionId, contextId, users };
}

export interface Reply<T = unknown> {
  status: number;
  body: T;
}

/** A REST client for /v1 with an optional session token. */
export function rest(baseUrl: string, token?: string) {
  const call = async <T = any>(method: string, path: string, body?: unknown, raw?: string): Promise<Reply<T>> => {
    const response = await fetch(baseUrl + path, {
      method,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined && raw === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: raw ?? (body === undefined ? null : JSON.stringify(body)),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  };
  return {
    get: <T = any>(path: string) => call<T>('GET', path),
    post: <T = any>(path: string, body?: unknown) => call<T>('POST', path, body),
    put: <T = any>(path: string, body?: unknown) => call<T>('PUT', path, body),
    del: <T = any>(path: string) => call<T>('DELETE', path),
    raw: <T = any>(method: string, path: string, text: string) => call<T>(method, path, undefined, text),
  };
}

/** Signs a login challenge; the pieces are exposed so tests can tamper with any of them. */
export async function signedLogin(
  url: string,
  solutionId: string,
  user: TestUser,
  override: { timestamp?: number; bridgeUrl?: string } = {},
): Promise<{ solutionId: string; publicKey: string; nonce: string; timestamp: number; bridgeUrl: string; signature: string }> {
  const challenge = await rest(url).post<{ nonce: string }>('/v1/auth/challenge', { solutionId, publicKey: user.publicKey });
  if (challenge.status !== 200) throw new Error(`challenge failed: ${challenge.status} ${JSON.stringify(challenge.body)}`);
  const timestamp = override.timestamp ?? Date.now();
  const bridgeUrl = override.bridgeUrl ?? url;
  const signature = await sign(user.seed, authMessage(fromBase64(challenge.body.nonce), bridgeUrl, timestamp));
  return { solutionId, publicKey: user.publicKey, nonce: challenge.body.nonce, timestamp, bridgeUrl, signature: toBase64(signature) };
}

/** Logs in over HTTP and returns the session token. */
export async function login(url: string, solutionId: string, user: TestUser): Promise<string> {
  const reply = await rest(url).post<{ token: string }>('/v1/auth/session', await signedLogin(url, solutionId, user));
  if (reply.status !== 201) throw new Error(`login failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body.token;
}

/**
 * While `during` runs, `token`'s user asks `/healthz` and `/v1/me` every `everyMs`; returns the slowest
 * answer in ms (how long an honest user waited while an attack ran).
 */
export async function slowestAnswer(url: string, token: string, during: () => Promise<unknown>, everyMs = 25): Promise<number> {
  let worst = 0;
  let running = true;
  const probe = (async () => {
    while (running) {
      for (const path of ['/healthz', '/v1/me']) {
        const started = performance.now();
        const reply = await rest(url, token).get(path);
        if (reply.status !== 200) throw new Error(`GET ${path} during the attack: ${reply.status}`);
        worst = Math.max(worst, performance.now() - started);
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  try {
    await during();
  } finally {
    running = false;
    await probe;
  }
  return worst;
}
