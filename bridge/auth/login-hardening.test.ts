/**
 * Login as an attacker would try it: a relayed login (a malicious Bridge forwarding a user's signed
 * login with a forged Host header), floods from one address, and someone running up a user's failure
 * count with the user's public key. docs/security/login.md says what must hold.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { fromBase64, toBase64 } from '../../crypto/bytes.ts';
import { sign } from '../../crypto/identity.ts';
import { authMessage } from '../../protocol/auth.ts';
import { makeUser } from '../../test/identities.ts';
import { rest, setupTenant, signedLogin, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';

/** POSTs JSON with headers fetch would not let us set (Host). */
function rawPost(url: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const target = new URL(path, url);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: text === '' ? undefined : JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('the signed Bridge URL', () => {
  let t: TestBridge;
  let tenant: Tenant;
  beforeAll(async () => {
    t = await startBridge();
    tenant = await setupTenant(t.bridge, ['alice']);
  });
  afterAll(() => t.close());

  it('refuses a login signed for another Bridge even when the Host header claims to be it', async () => {
    const relayed = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.alice!, { bridgeUrl: 'http://evil.example:9999' });
    const reply = await rawPost(t.bridge.url, '/v1/auth/session', relayed, { host: 'evil.example:9999', 'x-forwarded-host': 'evil.example:9999' });
    expect(reply.status).toBe(401);
    expect(reply.body.error).toMatchObject({ code: 'AUTH_FAILED', message: expect.stringMatching(/not this Bridge/) });
  });

  it('accepts by default the URLs it listens on: its address and localhost on loopback', async () => {
    const port = new URL(t.bridge.url).port;
    for (const bridgeUrl of [`http://127.0.0.1:${port}`, `http://localhost:${port}/`]) {
      const signed = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.alice!, { bridgeUrl });
      expect((await rest(t.bridge.url).post('/v1/auth/session', signed)).status).toBe(201);
    }
    const otherPort = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.alice!, { bridgeUrl: `http://127.0.0.1:${Number(port) + 1}` });
    expect((await rest(t.bridge.url).post('/v1/auth/session', otherPort)).status).toBe(401);
  });

  it('with publicUrl set, accepts that URL only', async () => {
    const other = await startBridge({ publicUrl: 'https://rooms.example.com' });
    try {
      const own = await setupTenant(other.bridge, ['bob']);
      const direct = other.bridge.listenUrl;
      const local = await signedLogin(direct, own.solutionId, own.users.bob!);
      // The URLs it takes are in its log, not in the answer (with a wildcard bind they would be every interface address).
      const refused = (await rest(direct).post('/v1/auth/session', local)).body.error.message as string;
      expect(refused).toMatch(/not this Bridge's/);
      expect(refused).not.toContain('rooms.example.com');
      const proper = await signedLogin(direct, own.solutionId, own.users.bob!, { bridgeUrl: 'https://rooms.example.com/' });
      expect((await rest(direct).post('/v1/auth/session', proper)).status).toBe(201);
    } finally {
      await other.close();
    }
  });
});

describe('challenges', () => {
  let t: TestBridge;
  let tenant: Tenant;
  beforeAll(async () => {
    t = await startBridge();
    tenant = await setupTenant(t.bridge, ['alice', 'bob']);
  });
  afterAll(() => t.close());

  it('cost no storage and no lockout: 300 from one address, then another user there logs in', async () => {
    const eve = await makeUser('eve');
    // In waves of 50: one address may hold at most 256 connections at once (connectionsPerAddress).
    const replies = [];
    for (let wave = 0; wave < 6; wave++) {
      replies.push(
        ...(await Promise.all(
          Array.from({ length: 50 }, () => rest(t.bridge.url).post('/v1/auth/challenge', { solutionId: tenant.solutionId, publicKey: eve.publicKey })),
        )),
      );
    }
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const stored = (t.bridge.store as unknown as { db: { prepare(sql: string): { get(): { n: number } } } }).db;
    expect(stored.prepare('SELECT COUNT(*) AS n FROM auth_nonces').get().n).toBe(0);
    const signed = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.bob!);
    expect((await rest(t.bridge.url).post('/v1/auth/session', signed)).status).toBe(201);
  });

  it('refuse a nonce the Bridge did not issue, or issued for another key', async () => {
    const signed = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.alice!);
    const forged = await rest(t.bridge.url).post('/v1/auth/session', { ...signed, nonce: toBase64(randomBytes(32)) });
    expect(forged.body.error).toMatchObject({ code: 'AUTH_FAILED', message: expect.stringMatching(/not issued by this Bridge/) });
    const forBob = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.bob!);
    const swapped = await rest(t.bridge.url).post('/v1/auth/session', { ...signed, nonce: forBob.nonce });
    expect(swapped.body.error.message).toMatch(/not issued by this Bridge for this solution and key/);
    // The untouched login still works once, and only once.
    expect((await rest(t.bridge.url).post('/v1/auth/session', signed)).status).toBe(201);
    expect((await rest(t.bridge.url).post('/v1/auth/session', signed)).body.error.message).toMatch(/unknown, used or expired/);
  });

  it('stay valid across a restart (the MAC key is kept in the database)', async () => {
    const alice = tenant.users.alice!;
    const challenge = await rest(t.bridge.url).post('/v1/auth/challenge', { solutionId: tenant.solutionId, publicKey: alice.publicKey });
    await t.restart();
    const timestamp = Date.now();
    const signature = await sign(alice.seed, authMessage(fromBase64(challenge.body.nonce), t.bridge.url, timestamp));
    const reply = await rest(t.bridge.url).post('/v1/auth/session', {
      solutionId: tenant.solutionId,
      publicKey: alice.publicKey,
      nonce: challenge.body.nonce,
      timestamp,
      bridgeUrl: t.bridge.url,
      signature: toBase64(signature),
    });
    expect(reply.status).toBe(201);
  });
});

describe('failed-login limits', () => {
  let t: TestBridge;
  let tenant: Tenant;
  beforeAll(async () => {
    t = await startBridge({ trustProxy: ['127.0.0.1'], limits: { loginFailuresPerKey: 5, loginFailuresPerAddress: 20 } as never });
    tenant = await setupTenant(t.bridge, ['alice', 'bob']);
  });
  afterAll(() => t.close());

  /** A login with a valid challenge for `publicKey` and a garbage signature, from `from`. */
  const fail = async (from: string, publicKey: string) => {
    const challenge = await rest(t.bridge.url).post('/v1/auth/challenge', { solutionId: tenant.solutionId, publicKey });
    const attempt = { solutionId: tenant.solutionId, publicKey, nonce: challenge.body.nonce, timestamp: Date.now(), bridgeUrl: t.bridge.url };
    return rawPost(t.bridge.url, '/v1/auth/session', { ...attempt, signature: toBase64(randomBytes(64)) }, { 'x-forwarded-for': from });
  };
  const loginFrom = async (from: string, user: Awaited<ReturnType<typeof makeUser>>) => {
    const signed = await signedLogin(t.bridge.url, tenant.solutionId, user);
    return rawPost(t.bridge.url, '/v1/auth/session', signed, { 'x-forwarded-for': from });
  };

  it("someone who knows alice's key locks only their own address out, not alice", async () => {
    const alice = tenant.users.alice!;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await fail('203.0.113.66', alice.publicKey)).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    const blocked = await loginFrom('203.0.113.66', alice);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('RATE_LIMITED');
    expect((await loginFrom('198.51.100.7', alice)).status).toBe(201);
  });

  it('a flood of failures from a shared address does not lock out another user behind it', async () => {
    const nat = '192.0.2.10';
    const strangers = await Promise.all(Array.from({ length: 30 }, (_, i) => makeUser(`stranger${i}`)));
    for (const stranger of strangers) expect((await fail(nat, stranger.publicKey)).status).toBe(401);
    // The address is over its limit: a key that already failed here is refused outright ...
    expect((await fail(nat, strangers[0]!.publicKey)).status).toBe(429);
    // ... while bob, who never failed here, gets in.
    expect((await loginFrom(nat, tenant.users.bob!)).status).toBe(201);
  });

  it('ignores X-Forwarded-For unless trustProxy names the proxy', async () => {
    const direct = await startBridge({ limits: { loginFailuresPerKey: 3 } as never });
    try {
      const own = await setupTenant(direct.bridge, ['carol']);
      const carol = own.users.carol!;
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const signed = await signedLogin(direct.bridge.url, own.solutionId, carol);
        const reply = await rawPost(
          direct.bridge.url,
          '/v1/auth/session',
          { ...signed, signature: toBase64(randomBytes(64)) },
          {
            'x-forwarded-for': `10.0.0.${i}`,
          },
        );
        statuses.push(reply.status);
      }
      // Rotating the header did not make each attempt a new address.
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await direct.close();
    }
  });
});
