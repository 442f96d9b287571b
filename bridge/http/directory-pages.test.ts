/**
 * The directory a page at a time (docs/operations/limits.md, "Listings"): without `userIds`, a read
 * lists at most DIRECTORY_PAGE_MAX_USERS users in user-id order and says where the next page starts,
 * so no member's read makes the Bridge build an answer the size of the whole directory. The Endpoint
 * pages through it, and refuses pages that would keep a client paging without end.
 */
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECTORY_PAGE_MAX_USERS } from '../../protocol/api.ts';
import { CONTEXT_USERS_READ_MAX } from '../../endpoint/context-users.ts';
import { connectClient, type Client } from '../../test/endpoint.ts';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { startHttpProxy, type HttpProxy } from '../../test/http-proxy.ts';
import { makeUser } from '../../test/identities.ts';

const USERS = 2 * DIRECTORY_PAGE_MAX_USERS + 345;

let proxy: HttpProxy;
let t: TestBridge;
let tenant: Tenant;
let token: string;
let path: string;
let client: Client;
/** What the proxy answers to directory reads instead of the Bridge, while set. */
let lie: ((req: IncomingMessage, body: Buffer) => Buffer) | undefined;
const directoryReads: string[] = [];

/** Ids that sort in byte order as they are numbered. */
const id = (i: number) => `u${String(i).padStart(5, '0')}`;

beforeAll(async () => {
  proxy = await startHttpProxy(() => t.bridge.listenUrl, {
    rewrite: (req, body) => {
      if (!req.url?.includes('/users')) return undefined;
      directoryReads.push(req.url);
      return lie?.(req, body);
    },
  });
  t = await startBridge({ publicUrl: proxy.url });
  tenant = await setupTenant(t.bridge, ['alice']);
  // The Bridge checks that one key is one user in a solution: each user gets its own key.
  const keys = await Promise.all(Array.from({ length: USERS }, (_, i) => makeUser(id(i))));
  for (let i = 0; i < USERS; i++) await t.bridge.manage.addContextUser(tenant.contextId, id(i), keys[i]!.publicKey);
  // Former users: one removed for good (listed with history only), one removed and back.
  await t.bridge.manage.removeContextUser(tenant.contextId, id(5));
  await t.bridge.manage.removeContextUser(tenant.contextId, id(7));
  await t.bridge.manage.addContextUser(tenant.contextId, id(7), keys[7]!.publicKey);
  token = await login(proxy.url, tenant.solutionId, tenant.users.alice!);
  path = `/v1/contexts/${tenant.contextId}/users`;
  client = await connectClient(proxy.url, tenant.solutionId, tenant.users.alice!);
}, 120_000);
afterAll(async () => {
  await client?.connection.disconnect();
  await t.close();
  await proxy.close();
});

/** Every user id, in the Bridge's order: alice sorts before the numbered ones. */
const current = () => [...Array.from({ length: USERS }, (_, i) => id(i)).filter((u) => u !== id(5)), 'alice'].sort();

describe('GET /v1/contexts/:id/users, paged', () => {
  it(`lists ${DIRECTORY_PAGE_MAX_USERS} users a page by default, in user-id order, each once over the pages`, async () => {
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const reply = await rest(proxy.url, token).get(`${path}${after === undefined ? '' : `?after=${after}`}`);
      expect(reply.status).toBe(200);
      expect(reply.body.users.length).toBeLessThanOrEqual(DIRECTORY_PAGE_MAX_USERS);
      seen.push(...reply.body.users.map((u: { userId: string }) => u.userId));
      after = reply.body.next;
      if (after !== undefined) expect(after).toBe(seen.at(-1));
      pages++;
    } while (after !== undefined);
    expect(pages).toBe(3);
    expect(seen).toEqual(current());
  });

  it('with history, a page counts a user once and carries the former keys of the users it lists', async () => {
    const first = await rest(proxy.url, token).get(`${path}?history=true&limit=8`);
    // alice, u00000-u00006: u00005 is listed among the former users only.
    expect(first.body.users.map((u: { userId: string }) => u.userId)).toEqual(['alice', id(0), id(1), id(2), id(3), id(4), id(6)]);
    expect(first.body.formerUsers.map((u: { userId: string }) => u.userId)).toEqual([id(5)]);
    expect(first.body.next).toBe(id(6));
    const second = await rest(proxy.url, token).get(`${path}?history=true&limit=2&after=${id(6)}`);
    expect(second.body.users.map((u: { userId: string }) => u.userId)).toEqual([id(7), id(8)]);
    expect(second.body.formerUsers.map((u: { userId: string }) => u.userId)).toEqual([id(7)]);
    // The last page names no next one.
    const last = await rest(proxy.url, token).get(`${path}?history=true&after=${id(USERS - 3)}`);
    expect(last.body.users.map((u: { userId: string }) => u.userId)).toEqual([id(USERS - 2), id(USERS - 1)]);
    expect(last.body.next).toBeUndefined();
  });

  it('refuses a bad page, and paging a read of named users, with VALIDATION_FAILED', async () => {
    for (const query of [
      'limit=0',
      `limit=${DIRECTORY_PAGE_MAX_USERS + 1}`,
      'limit=1.5',
      'limit=x',
      'after=',
      'after=a%2Fb',
      'userIds=alice&after=a',
      'userIds=alice&limit=2',
    ]) {
      const reply = await rest(proxy.url, token).get(`${path}?${query}`);
      expect(reply.status, query).toBe(400);
      expect(reply.body.error.code, query).toBe('VALIDATION_FAILED');
    }
  });
});

describe('connection.getContextUsers and listContextUsers', () => {
  it('reads every page of the directory', async () => {
    directoryReads.length = 0;
    const users = await client.connection.getContextUsers(tenant.contextId);
    expect(users.map((u) => u.userId)).toEqual(current());
    expect(users.find((u) => u.userId === id(7))?.pubKey).toMatch(/^srpk1/);
    expect(directoryReads).toHaveLength(3);
  });

  it('reads one page on demand, and refuses a bad page argument', async () => {
    const page = await client.connection.listContextUsers(tenant.contextId, { after: id(10), limit: 3 });
    expect(page).toEqual({ users: [id(11), id(12), id(13)].map((u) => ({ userId: u, pubKey: expect.any(String) })), next: id(13) });
    for (const bad of [{ limit: 0 }, { limit: 1001 }, { limit: 2.5 }, { after: '' }, { after: 'a/b' }]) {
      await expect(client.connection.listContextUsers(tenant.contextId, bad), JSON.stringify(bad)).rejects.toMatchObject({ reason: 'InvalidArgument' });
    }
  });

  it('refuses pages from a lying Bridge that would keep it paging: out of order, a next that is not the last user, more than asked', async () => {
    const rewrite = (f: (reply: { users: Array<{ userId: string }>; next?: string }) => void) => (_req: IncomingMessage, body: Buffer) => {
      const reply = JSON.parse(body.toString());
      f(reply);
      return Buffer.from(JSON.stringify(reply));
    };
    const cases = [
      rewrite((r) => r.users.reverse()),
      rewrite((r) => r.users.push(r.users[0]!)),
      rewrite((r) => (r.next = r.users[0]!.userId)),
      rewrite((r) => {
        r.users.length = 0;
        r.next = 'u00001';
      }),
    ];
    try {
      for (const [i, f] of cases.entries()) {
        lie = f;
        await expect(client.connection.getContextUsers(tenant.contextId), `case ${i}`).rejects.toMatchObject({
          reason: 'BridgeRefused',
          bridgeCode: 'BAD_RESPONSE',
        });
      }
      lie = rewrite((r) => r.users.push({ ...r.users[0]!, userId: 'zzz' }));
      await expect(client.connection.listContextUsers(tenant.contextId, { limit: 3 })).rejects.toMatchObject({ bridgeCode: 'BAD_RESPONSE' });
    } finally {
      lie = undefined;
    }
  });

  it(`stops at ${CONTEXT_USERS_READ_MAX} users however many pages a Bridge makes up`, async () => {
    const publicKey = tenant.users.alice!.publicKey;
    let made = 0;
    lie = () => {
      const users = Array.from({ length: DIRECTORY_PAGE_MAX_USERS }, () => ({ userId: `x${String(made++).padStart(9, '0')}`, publicKey }));
      return Buffer.from(JSON.stringify({ users, next: users.at(-1)!.userId }));
    };
    try {
      directoryReads.length = 0;
      await expect(client.connection.getContextUsers(tenant.contextId)).rejects.toMatchObject({ reason: 'InvalidArgument' });
      expect(directoryReads).toHaveLength(CONTEXT_USERS_READ_MAX / DIRECTORY_PAGE_MAX_USERS + 1);
    } finally {
      lie = undefined;
    }
  }, 60_000);
});
