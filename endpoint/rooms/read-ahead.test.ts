/**
 * A read of a long chain keeps pages asked for ahead of the one it verifies (room-api.ts
 * `fetchVerified`, docs/protocol/room-chain.md "Cost"): the Bridge serves the next pages while the
 * Endpoint verifies. The `since` of a page asked ahead is a guess; a wrong one (a page cut short by the
 * Bridge's byte limit) is dropped and asked again, and nothing is skipped or taken on the guess.
 *
 * The Endpoint reaches the Bridge through an HTTP proxy (test/http-proxy.ts) that logs each room read's
 * `since` and can hold an answer back, so the order of requests and answers is the test's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { connectClient, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { gate, startHttpProxy, type HttpProxy } from '../../test/http-proxy.ts';

/** `since` of a room read, or undefined for any other request. */
const sinceOf = (url: string | undefined) => {
  const since = /^\/v1\/rooms\/[^/?]+\?/.test(url ?? '') ? new URL(url!, 'http://x').searchParams.get('since') : null;
  return since === null ? undefined : Number(since);
};

/** `since` of every room read, in the order the requests reached the proxy. */
const sinces: number[] = [];
/** While set, the answer to the read after `hold.since` waits at its gate. */
let hold: { since: number; gate: ReturnType<typeof gate> } | undefined;

let t: TestBridge;
let tenant: Tenant;
let proxy: HttpProxy;
let ann: Client | undefined;
const clients: Client[] = [];

beforeAll(async () => {
  // Pages of at most 4 records, and of at most 100 KB of record text.
  // The Bridge is reached through the proxy only: logins are bound to the URL it announces.
  proxy = await startHttpProxy(() => t.bridge.listenUrl, {
    request: (req) => {
      const since = sinceOf(req.url);
      if (since !== undefined && req.method === 'GET') sinces.push(since);
    },
    response: async (req) => {
      if (hold !== undefined && req.method === 'GET' && sinceOf(req.url) === hold.since) await hold.gate.opened;
    },
  });
  t = await startBridge({ publicUrl: proxy.url, limits: { recordsPerResponse: 4, pageBytes: 100_000 } as never });
  tenant = await setupTenant(t.bridge, ['ann', 'ben', 'cat']);
  ann = await connectClient(proxy.url, tenant.solutionId, tenant.users.ann!);
});
afterAll(async () => {
  await Promise.all([ann, ...clients].map((c) => c?.connection.disconnect()));
  await proxy.close();
  await t.close();
});

/** A room of ann's with `sizes.length` versions, version v's private meta `sizes[v - 1]` bytes long. */
async function room(sizes: number[]): Promise<string> {
  const users = [pub(ann!.user), pub(tenant.users.ben!), pub(tenant.users.cat!)];
  const meta = (v: number) => utf8(JSON.stringify({ v, pad: 'p'.repeat(sizes[v - 1]!) }));
  const id = await ann!.streamApi.createStreamRoom(tenant.contextId, users, [pub(ann!.user)], meta(1), meta(1));
  for (let v = 1; v < sizes.length; v++) await ann!.streamApi.updateStreamRoom(id, users, [pub(ann!.user)], utf8('{}'), meta(v + 1), v, false, false);
  return id;
}

async function reader(name: 'ben' | 'cat'): Promise<Client> {
  const client = await connectClient(proxy.url, tenant.solutionId, tenant.users[name]!);
  clients.push(client);
  return client;
}

describe('reading a long chain', () => {
  it('asks for the next pages before it has the one it verifies', async () => {
    const id = await room(Array.from({ length: 13 }, () => 100));
    const ben = await reader('ben');
    sinces.length = 0;
    // The page after version 4 is held back until the page after version 8 has been asked for: a
    // reader that waited for each page before asking the next would never get it.
    hold = { since: 4, gate: gate(10_000) };
    const read = ben.streamApi.getStreamRoom(id);
    const giveUp = Date.now() + 3000;
    while (!sinces.includes(8) && Date.now() < giveUp) await new Promise((resolve) => setTimeout(resolve, 5));
    const askedAhead = sinces.includes(8);
    hold.gate.open();
    hold = undefined;
    const got = await read;
    expect(askedAhead).toBe(true);
    expect(sinces).toEqual([0, 4, 8, 12]);
    expect(got.version).toBe(13);
    expect(JSON.parse(new TextDecoder().decode(got.privateMeta)).v).toBe(13);
  });

  it('drops a wrong guess and asks again from where the chain stands', async () => {
    // Versions 5-7 are ~41 KB of record text each (their sealed meta in base64): the second page holds
    // two of them (at most 100 KB), so the guess that it ends at version 8 (the first held 4) is wrong.
    const sizes = [100, 100, 100, 100, 30_000, 30_000, 30_000, 100, 100, 100, 100, 100, 100];
    const id = await room(sizes);
    const cat = await reader('cat');
    sinces.length = 0;
    const got = await cat.streamApi.getStreamRoom(id);
    expect(got.version).toBe(13);
    expect(JSON.parse(new TextDecoder().decode(got.privateMeta)).v).toBe(13);
    // Pages [1-4] [5-6] [7-10] [11-13]. The guess 8 was asked for; when the second page ended at 6 the
    // reader asked 6 and kept 8 as its next guess, then dropped it once the page after 6 ended at 10,
    // and asked 10.
    expect(sinces).toEqual([0, 4, 8, 6, 10]);
  });
});
