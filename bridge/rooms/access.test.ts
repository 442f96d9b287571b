/** The access-control matrix: every room route against every kind of caller. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { genesis, successor, verifiedHead } from '../../test/rooms.ts';
import { makeUser, type TestUser } from '../../test/identities.ts';

let t: TestBridge;
let tenant: Tenant;
let other: Tenant;
let olga: TestUser;
const tokens: Record<string, string | undefined> = {};
let apiKey: string;

type Actor = 'operator' | 'manager' | 'user' | 'outsider' | 'otherContext' | 'otherSolution' | 'none';
const actors: Actor[] = ['operator', 'manager', 'user', 'outsider', 'otherContext', 'otherSolution', 'none'];

beforeAll(async () => {
  t = await startBridge();
  apiKey = t.bridge.initialApiKey!;
  tenant = await setupTenant(t.bridge, ['mia', 'uma', 'otto']);
  // Same solution, another context.
  const ctx2 = await t.bridge.manage.createContext(tenant.solutionId, 'second');
  olga = await makeUser('olga');
  await t.bridge.manage.addContextUser(ctx2.contextId, 'olga', olga.publicKey);
  other = await setupTenant(t.bridge, ['sam'], 'othersolution');
  tokens.manager = await login(t.bridge.url, tenant.solutionId, tenant.users.mia!);
  tokens.user = await login(t.bridge.url, tenant.solutionId, tenant.users.uma!);
  tokens.outsider = await login(t.bridge.url, tenant.solutionId, tenant.users.otto!);
  tokens.otherContext = await login(t.bridge.url, tenant.solutionId, olga);
  tokens.otherSolution = await login(t.bridge.url, other.solutionId, other.users.sam!);
  tokens.operator = apiKey; // an operator key is not a session: /v1 refuses it
  tokens.none = undefined;
});
afterAll(() => t.close());

async function makeRoom(): Promise<string> {
  const { mia, uma } = tenant.users;
  const built = await genesis(tenant.contextId, mia!, { users: [mia!, uma!], managers: [mia!] });
  const reply = await rest(t.bridge.url, tokens.manager).post('/v1/rooms', built.request);
  expect(reply.status).toBe(201);
  return built.record.roomId;
}

describe('access-control matrix', () => {
  it('GET /v1/rooms/:id', async () => {
    const roomId = await makeRoom();
    const expected: Record<Actor, number> = { operator: 401, manager: 200, user: 200, outsider: 403, otherContext: 404, otherSolution: 404, none: 401 };
    for (const actor of actors) {
      const reply = await rest(t.bridge.url, tokens[actor]).get(`/v1/rooms/${roomId}`);
      expect({ actor, status: reply.status }).toEqual({ actor, status: expected[actor] });
    }
  });

  it('a user fetches only its own wrapped keys', async () => {
    const roomId = await makeRoom();
    for (const actor of ['manager', 'user'] as const) {
      const reply = await rest(t.bridge.url, tokens[actor]).get(`/v1/rooms/${roomId}`);
      expect(reply.body.keys).toHaveLength(1);
    }
    const mine = (await rest(t.bridge.url, tokens.user).get(`/v1/rooms/${roomId}`)).body.keys[0].wrapped;
    const managers = (await rest(t.bridge.url, tokens.manager).get(`/v1/rooms/${roomId}`)).body.keys[0].wrapped;
    expect(mine).not.toBe(managers);
  });

  it('PUT /v1/rooms/:id with a well-formed record signed by the caller', async () => {
    const expected: Record<Actor, number> = { operator: 401, manager: 200, user: 403, outsider: 403, otherContext: 404, otherSolution: 404, none: 401 };
    const signer: Record<Actor, TestUser> = {
      operator: tenant.users.mia!,
      manager: tenant.users.mia!,
      user: tenant.users.uma!,
      outsider: tenant.users.otto!,
      otherContext: olga,
      otherSolution: other.users.sam!,
      none: tenant.users.mia!,
    };
    for (const actor of actors) {
      const roomId = await makeRoom();
      const head = await verifiedHead(t.bridge.url, tokens.manager!, roomId);
      const { mia, uma } = tenant.users;
      const next = await successor(head, undefined, signer[actor], { users: [mia!, uma!], managers: [mia!] }, true);
      const reply = await rest(t.bridge.url, tokens[actor]).put(`/v1/rooms/${roomId}`, { ...next.request, version: 1 });
      expect({ actor, status: reply.status }).toEqual({ actor, status: expected[actor] });
    }
  });

  it('DELETE /v1/rooms/:id', async () => {
    const expected: Record<Actor, number> = { operator: 401, manager: 204, user: 403, outsider: 403, otherContext: 404, otherSolution: 404, none: 401 };
    for (const actor of actors) {
      const roomId = await makeRoom();
      const reply = await rest(t.bridge.url, tokens[actor]).del(`/v1/rooms/${roomId}`);
      expect({ actor, status: reply.status }).toEqual({ actor, status: expected[actor] });
      const after = await rest(t.bridge.url, tokens.manager).get(`/v1/rooms/${roomId}`);
      expect(after.status).toBe(actor === 'manager' ? 404 : 200);
    }
  });

  it('GET /v1/contexts/:id/rooms lists a room to members only', async () => {
    const roomId = await makeRoom();
    const expected: Record<Actor, number | 'listed' | 'hidden'> = {
      operator: 401,
      manager: 'listed',
      user: 'listed',
      outsider: 'hidden',
      otherContext: 403,
      otherSolution: 404,
      none: 401,
    };
    for (const actor of actors) {
      const reply = await rest(t.bridge.url, tokens[actor]).get(`/v1/contexts/${tenant.contextId}/rooms?limit=100`);
      const outcome = reply.status === 200 ? (reply.body.readItems.some((r: { roomId: string }) => r.roomId === roomId) ? 'listed' : 'hidden') : reply.status;
      expect({ actor, outcome }).toEqual({ actor, outcome: expected[actor] });
    }
  });

  it('POST /v1/rooms: any user of the context may create, nobody else', async () => {
    const expected: Record<Actor, number> = { operator: 401, manager: 201, user: 201, outsider: 201, otherContext: 403, otherSolution: 404, none: 401 };
    const author: Record<Actor, TestUser> = {
      operator: tenant.users.mia!,
      manager: tenant.users.mia!,
      user: tenant.users.uma!,
      outsider: tenant.users.otto!,
      otherContext: olga,
      otherSolution: other.users.sam!,
      none: tenant.users.mia!,
    };
    for (const actor of actors) {
      const a = author[actor];
      const built = await genesis(tenant.contextId, a, { users: [a], managers: [a] });
      const reply = await rest(t.bridge.url, tokens[actor]).post('/v1/rooms', built.request);
      expect({ actor, status: reply.status }).toEqual({ actor, status: expected[actor] });
    }
  });

  it('GET /v1/contexts/:id/users: the directory, for users of the context', async () => {
    const expected: Record<Actor, number> = { operator: 401, manager: 200, user: 200, outsider: 200, otherContext: 403, otherSolution: 404, none: 401 };
    for (const actor of actors) {
      const reply = await rest(t.bridge.url, tokens[actor]).get(`/v1/contexts/${tenant.contextId}/users`);
      expect({ actor, status: reply.status }).toEqual({ actor, status: expected[actor] });
    }
  });

  it('policy values widen and narrow access: get all, list manager, delete owner', async () => {
    const { mia, uma } = tenant.users;
    const built = await genesis(tenant.contextId, mia!, {
      users: [mia!, uma!],
      managers: [mia!, uma!],
      policy: { get: 'all', list: 'manager', delete: 'owner' },
    });
    expect((await rest(t.bridge.url, tokens.manager).post('/v1/rooms', built.request)).status).toBe(201);
    const roomId = built.record.roomId;
    expect((await rest(t.bridge.url, tokens.outsider).get(`/v1/rooms/${roomId}`)).status).toBe(200);
    const outsiderView = await rest(t.bridge.url, tokens.outsider).get(`/v1/rooms/${roomId}`);
    expect(outsiderView.body.keys).toEqual([]); // readable record, but no key: the meta stays sealed
    const listAsOtto = await rest(t.bridge.url, tokens.outsider).get(`/v1/contexts/${tenant.contextId}/rooms?limit=100`);
    expect(listAsOtto.body.readItems.map((r: { roomId: string }) => r.roomId)).not.toContain(roomId);
    // uma is a manager but not the owner: delete is owner-only.
    expect((await rest(t.bridge.url, tokens.user).del(`/v1/rooms/${roomId}`)).status).toBe(403);
    expect((await rest(t.bridge.url, tokens.manager).del(`/v1/rooms/${roomId}`)).status).toBe(204);
  });
});
