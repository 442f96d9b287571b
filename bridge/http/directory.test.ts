/**
 * Directory reads by user (docs/security/key-trust.md, "Reading the directory"): `?userIds=` answers
 * only for the users named, with their history when asked, and refuses a list it cannot take.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECTORY_READ_MAX_USERS } from '../../protocol/api.ts';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { makeUser } from '../../test/identities.ts';

let t: TestBridge;
let tenant: Tenant;
let token: string;
let path: string;

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob', 'carol', 'dave']);
  token = await login(t.bridge.url, tenant.solutionId, tenant.users.alice!);
  path = `/v1/contexts/${tenant.contextId}/users`;
  // carol leaves with her first key and comes back with another; dave leaves.
  await t.bridge.manage.removeContextUser(tenant.contextId, 'carol');
  await t.bridge.manage.addContextUser(tenant.contextId, 'carol', (await makeUser('carol')).publicKey);
  await t.bridge.manage.removeContextUser(tenant.contextId, 'dave');
});
afterAll(() => t.close());

const ids = (users: Array<{ userId: string }>) => users.map((u) => u.userId).sort();

describe('GET /v1/contexts/:id/users?userIds=', () => {
  it('lists only the users named: current ones, and with history only their former keys', async () => {
    const some = await rest(t.bridge.url, token).get(`${path}?userIds=bob,carol,nobody`);
    expect(some.status).toBe(200);
    expect(ids(some.body.users)).toEqual(['bob', 'carol']);
    expect(some.body.formerUsers).toBeUndefined();
    const history = await rest(t.bridge.url, token).get(`${path}?history=true&userIds=carol,dave,carol`);
    expect(ids(history.body.users)).toEqual(['carol']);
    expect(ids(history.body.formerUsers)).toEqual(['carol', 'dave']);
    expect(history.body.formerUsers.find((u: { userId: string }) => u.userId === 'carol').publicKey).toBe(tenant.users.carol!.publicKey);
    // Without the filter, the whole directory, as before.
    const all = await rest(t.bridge.url, token).get(`${path}?history=true`);
    expect(ids(all.body.users)).toEqual(['alice', 'bob', 'carol']);
    expect(ids(all.body.formerUsers)).toEqual(['carol', 'dave']);
  });

  it(`takes ${DIRECTORY_READ_MAX_USERS} ids at most, and refuses an empty list, an invalid id or a stray comma with VALIDATION_FAILED`, async () => {
    const many = Array.from({ length: DIRECTORY_READ_MAX_USERS }, (_, i) => `u${i}`);
    expect((await rest(t.bridge.url, token).get(`${path}?userIds=${many.join(',')}`)).status).toBe(200);
    for (const bad of [[...many, 'bob'].join(','), '', 'bob,,carol', 'bob,', 'bob carol', 'b%2Fob']) {
      const reply = await rest(t.bridge.url, token).get(`${path}?userIds=${bad}`);
      expect(reply.status, bad).toBe(400);
      expect(reply.body.error.code, bad).toBe('VALIDATION_FAILED');
      expect(reply.body.error.message, bad).toContain('query.userIds');
    }
  });

  it('needs a session in the context, as the whole directory does', async () => {
    expect((await rest(t.bridge.url).get(`${path}?userIds=bob`)).status).toBe(401);
  });
});
