import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser } from '../../test/identities.ts';
import { login, rest, setupTenant, signedLogin, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';

let t: TestBridge;
let tenant: Tenant;
let clock = Date.now();

beforeAll(async () => {
  t = await startBridge({ now: () => clock, sessionTtlSeconds: 60, limits: { loginFailuresPerKey: 6 } as never });
  tenant = await setupTenant(t.bridge, ['alice', 'bob']);
});
afterAll(() => t.close());

describe('login by challenge-response', () => {
  it('opens a session for a context user and reports who it is', async () => {
    const token = await login(t.bridge.url, tenant.solutionId, tenant.users.alice!);
    expect(token).toMatch(/^srt_[A-Za-z0-9_-]{43}$/);
    const me = await rest(t.bridge.url, token).get('/v1/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ userId: 'alice', solutionId: tenant.solutionId, contextIds: [tenant.contextId] });
  });

  it('refuses a replayed nonce', async () => {
    const signed = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.bob!);
    expect((await rest(t.bridge.url).post('/v1/auth/session', signed)).status).toBe(201);
    const replay = await rest(t.bridge.url).post('/v1/auth/session', signed);
    expect(replay.status).toBe(401);
    expect(replay.body.error).toMatchObject({ code: 'AUTH_FAILED', message: expect.stringMatching(/unknown, used or expired/) });
  });

  it('refuses an expired nonce', async () => {
    const signed = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.bob!);
    clock += 61_000;
    const reply = await rest(t.bridge.url).post('/v1/auth/session', { ...signed, timestamp: clock });
    expect(reply.body.error.code).toBe('AUTH_FAILED');
  });

  it('refuses a signature over another Bridge URL, a stale timestamp, or by another key', async () => {
    const carol = await makeUser('carol');
    const wrongUrl = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.bob!, { bridgeUrl: 'https://evil.example' });
    expect((await rest(t.bridge.url).post('/v1/auth/session', wrongUrl)).body.error.message).toMatch(/not this Bridge/);

    const stale = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.bob!, { timestamp: clock - 3_600_000 });
    expect((await rest(t.bridge.url).post('/v1/auth/session', stale)).body.error.message).toMatch(/timestamp/);

    const forged = await signedLogin(t.bridge.url, tenant.solutionId, tenant.users.bob!);
    const byCarol = await signedLogin(t.bridge.url, tenant.solutionId, carol);
    const swapped = await rest(t.bridge.url).post('/v1/auth/session', { ...forged, signature: byCarol.signature });
    expect(swapped.body.error.message).toMatch(/signature does not verify/);

    // An unregistered key gets the same answer as a bad signature: a login does not tell who is registered.
    const outsider = await signedLogin(t.bridge.url, tenant.solutionId, carol);
    expect((await rest(t.bridge.url).post('/v1/auth/session', outsider)).body.error.message).toBe(swapped.body.error.message);
  });

  it('validates bodies and names the bad field', async () => {
    const reply = await rest(t.bridge.url).post('/v1/auth/challenge', { solutionId: tenant.solutionId, publicKey: 'srpk1nope' });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'body.publicKey' } });
    const unknown = await rest(t.bridge.url).post('/v1/auth/challenge', { solutionId: 'sol_missing', publicKey: tenant.users.bob!.publicKey });
    expect(unknown.body.error.code).toBe('SOLUTION_NOT_FOUND');
  });

  it('expires sessions, and logout revokes at once', async () => {
    const token = await login(t.bridge.url, tenant.solutionId, tenant.users.alice!);
    expect((await rest(t.bridge.url, token).get('/v1/me')).status).toBe(200);
    clock += 61_000;
    const expired = await rest(t.bridge.url, token).get('/v1/me');
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('UNAUTHENTICATED');

    const next = await login(t.bridge.url, tenant.solutionId, tenant.users.alice!);
    expect((await rest(t.bridge.url, next).post('/v1/auth/logout')).status).toBe(204);
    expect((await rest(t.bridge.url, next).get('/v1/me')).status).toBe(401);
  });

  it('ends the sessions of a user removed from every context, and keeps its key in the directory history', async () => {
    const dave = await makeUser('dave');
    await t.bridge.manage.addContextUser(tenant.contextId, 'dave', dave.publicKey);
    const token = await login(t.bridge.url, tenant.solutionId, dave);
    expect((await rest(t.bridge.url, token).get('/v1/me')).status).toBe(200); // the session is now cached
    await t.bridge.manage.removeContextUser(tenant.contextId, 'dave');
    expect((await rest(t.bridge.url, token).get('/v1/me')).status).toBe(401);

    const alice = await login(t.bridge.url, tenant.solutionId, tenant.users.alice!);
    const current = await rest(t.bridge.url, alice).get(`/v1/contexts/${tenant.contextId}/users`);
    expect(current.body.users.map((u: { userId: string }) => u.userId)).toEqual(['alice', 'bob']);
    expect(current.body.formerUsers).toBeUndefined();
    const history = await rest(t.bridge.url, alice).get(`/v1/contexts/${tenant.contextId}/users?history=true`);
    expect(history.body.formerUsers).toEqual([{ userId: 'dave', publicKey: dave.publicKey, addedAt: clock, removedAt: clock }]);
  });

  it('rate-limits failed logins per key with 429 and Retry-After', async () => {
    const eve = await makeUser('eve');
    for (let i = 0; i < 6; i++) {
      const outsider = await signedLogin(t.bridge.url, tenant.solutionId, eve);
      expect((await rest(t.bridge.url).post('/v1/auth/session', outsider)).status).toBe(401);
    }
    const blocked = await signedLogin(t.bridge.url, tenant.solutionId, eve);
    const response = await fetch(`${t.bridge.url}/v1/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(blocked),
    });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    // The window passes.
    clock += 61_000;
    const later = await signedLogin(t.bridge.url, tenant.solutionId, eve, { timestamp: clock });
    expect((await rest(t.bridge.url).post('/v1/auth/session', later)).status).toBe(401);
  });
});
