/**
 * Pages of a room's chain are bounded by bytes as well as by count (docs/operations/limits.md, "Pages
 * of a room's chain"): a page stops once `pageBytes` of records are in it, always holds one record,
 * says `hasMore`, and the Endpoint's paging reads a long chain through it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { connectClient, pub, type Client } from '../../test/endpoint.ts';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { grownRoom, verifiedHead } from '../../test/rooms.ts';

const PAGE_BYTES = 300_000;
let t: TestBridge;
let tenant: Tenant;
let token: string;

beforeAll(async () => {
  t = await startBridge({ limits: { pageBytes: PAGE_BYTES } as never });
  tenant = await setupTenant(t.bridge, ['ann', 'ben']);
  token = await login(t.bridge.url, tenant.solutionId, tenant.users.ann!);
});
afterAll(() => t.close());

interface Page {
  records: Array<{ version: number; record: string; signature: string }>;
  hasMore: boolean;
}
const pageBytes = (page: Pick<Page, 'records'>) => page.records.reduce((n, r) => n + r.record.length + r.signature.length, 0);

async function pages(bridgeUrl: string, roomId: string, bearer: string): Promise<Page[]> {
  const out: Page[] = [];
  for (let since = 0; ; ) {
    const reply = await rest(bridgeUrl, bearer).get<Page>(`/v1/rooms/${roomId}?since=${since}`);
    expect(reply.status).toBe(200);
    out.push(reply.body);
    if (!reply.body.hasMore) return out;
    since = reply.body.records.at(-1)!.version;
  }
}

describe('pages of a room chain', () => {
  it('stop at pageBytes of records, say hasMore, and together hold the whole chain in order', async () => {
    // 12 versions of ~88 KB records: 3 fit in 300,000 bytes.
    const roomId = await grownRoom(t.bridge.url, token, tenant.contextId, tenant.users.ann!, 12, 64 * 1024);
    const cutBefore = t.bridge.counters.rooms.pagesCutByBytes;
    const all = await pages(t.bridge.url, roomId, token);
    expect(all.map((p) => p.records.length)).toEqual([3, 3, 3, 3]);
    for (const page of all) expect(pageBytes(page)).toBeLessThanOrEqual(PAGE_BYTES);
    expect(all.flatMap((p) => p.records.map((r) => r.version))).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(all.map((p) => p.hasMore)).toEqual([true, true, true, false]);
    expect(t.bridge.counters.rooms.pagesCutByBytes - cutBefore).toBe(3);
    expect((await verifiedHead(t.bridge.url, token, roomId)).record.version).toBe(12);
  });

  it('bound a listing of rooms too: it stops at pageBytes of head records, and the next skip lists the rest', async () => {
    // Its own context: five rooms whose head records are ~88 KB each, 3 of which fit in 300,000 bytes.
    const own = await setupTenant(t.bridge, ['cam']);
    const camToken = await login(t.bridge.url, own.solutionId, own.users.cam!);
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add(await grownRoom(t.bridge.url, camToken, own.contextId, own.users.cam!, 1, 64 * 1024));
    type Listing = { totalAvailable: number; readItems: Array<{ roomId: string; records: Page['records'] }> };
    const list = (skip: number) => rest(t.bridge.url, camToken).get<Listing>(`/v1/contexts/${own.contextId}/rooms?skip=${skip}&limit=5`);
    const cutBefore = t.bridge.counters.rooms.listingsCutByBytes;
    const first = await list(0);
    expect(first.status).toBe(200);
    expect(first.body.totalAvailable).toBe(5);
    expect(first.body.readItems).toHaveLength(3);
    expect(first.body.readItems.reduce((n, item) => n + pageBytes(item), 0)).toBeLessThanOrEqual(PAGE_BYTES);
    const rest2 = await list(3);
    expect(rest2.body.readItems).toHaveLength(2);
    expect(new Set([...first.body.readItems, ...rest2.body.readItems].map((item) => item.roomId))).toEqual(ids);
    expect(t.bridge.counters.rooms.listingsCutByBytes - cutBefore).toBe(1);
  });

  it('hold one record when a single record is larger than pageBytes', async () => {
    const small = await startBridge({ limits: { pageBytes: 10_000 } as never });
    try {
      const ten = await setupTenant(small.bridge, ['ann']);
      const annToken = await login(small.bridge.url, ten.solutionId, ten.users.ann!);
      const roomId = await grownRoom(small.bridge.url, annToken, ten.contextId, ten.users.ann!, 3, 64 * 1024);
      const all = await pages(small.bridge.url, roomId, annToken);
      expect(all.map((p) => p.records.map((r) => r.version))).toEqual([[1], [2], [3]]);
      expect(all.map((p) => p.hasMore)).toEqual([true, true, false]);
    } finally {
      await small.close();
    }
  });

  it('are read through by the Endpoint, which pages on hasMore and verifies the whole chain', async () => {
    let ann: Client | undefined;
    let ben: Client | undefined;
    try {
      ann = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.ann!);
      ben = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.ben!);
      const users = [pub(ann.user), pub(ben.user)];
      const meta = (v: number) => utf8(JSON.stringify({ v, pad: 'p'.repeat(60_000) }));
      const id = await ann.streamApi.createStreamRoom(tenant.contextId, users, [pub(ann.user)], meta(1), meta(1));
      for (let v = 1; v < 10; v++) await ann.streamApi.updateStreamRoom(id, users, [pub(ann.user)], meta(v + 1), meta(v + 1), v, false, false);
      const cutBefore = t.bridge.counters.rooms.pagesCutByBytes;
      // ben has never seen the room: it reads all 10 versions (~1.6 MB) from version 1.
      const room = await ben.streamApi.getStreamRoom(id);
      expect(room.version).toBe(10);
      expect(JSON.parse(new TextDecoder().decode(room.privateMeta)).v).toBe(10);
      expect(t.bridge.counters.rooms.pagesCutByBytes - cutBefore).toBeGreaterThanOrEqual(3);
    } finally {
      await Promise.all([ann, ben].map((c) => c?.connection.disconnect()));
    }
  });
});
