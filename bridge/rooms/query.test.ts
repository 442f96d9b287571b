/** Listing: paging, sort and every queryAsJson operator, over REST against real SQLite. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { genesis, successor, verifiedHead } from '../../test/rooms.ts';

let t: TestBridge;
let tenant: Tenant;
let token: string;
// Each Bridge clock read advances 1 ms, so rooms get distinct, ordered creation times.
let clock = Date.now();
const ids: string[] = []; // in creation order
const epochKeys = new Map<string, Uint8Array>();

const metas: object[] = [
  { name: 'alpha', n: 1, tags: ['red', 'blue'], flag: true, nested: { x: 'deep' } },
  { name: 'beta', n: 2, tags: ['green'], flag: false, nothing: null },
  { name: 'gamma', n: 3, tags: [], flag: true, nested: { x: 'shallow' } },
  { name: 'alphabet', n: 10, tags: ['red', 7], extra: 'yes' },
  { name: 'delta', n: 2.5, tags: ['blue'] },
  { name: 'epsilon', n: '2' },
];

beforeAll(async () => {
  t = await startBridge({ now: () => (clock += 1) });
  tenant = await setupTenant(t.bridge, ['ann']);
  token = await login(t.bridge.url, tenant.solutionId, tenant.users.ann!);
  const ann = tenant.users.ann!;
  for (const meta of metas) {
    const built = await genesis(tenant.contextId, ann, { users: [ann], managers: [ann], publicMeta: meta });
    expect((await rest(t.bridge.url, token).post('/v1/rooms', built.request)).status).toBe(201);
    ids.push(built.record.roomId);
    epochKeys.set(built.record.roomId, built.epochKey);
  }
  // A room whose public meta is not JSON: never matched by a field query, still listed.
  const raw = await genesis(tenant.contextId, ann, { users: [ann], managers: [ann], publicMeta: new Uint8Array([0xff, 0x00]) });
  await rest(t.bridge.url, token).post('/v1/rooms', raw.request);
  ids.push(raw.record.roomId);
});
afterAll(() => t.close());

async function list(params: Record<string, string | number>) {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  return rest(t.bridge.url, token).get(`/v1/contexts/${tenant.contextId}/rooms?${query}`);
}

async function names(query: object): Promise<string[]> {
  const reply = await list({ limit: 100, sortOrder: 'asc', queryAsJson: JSON.stringify(query) });
  expect(reply.status).toBe(200);
  return reply.body.readItems.map((item: { roomId: string }) => metaName(item.roomId));
}

function metaName(roomId: string): string {
  const i = ids.indexOf(roomId);
  return i < metas.length ? (metas[i] as { name: string }).name : 'raw';
}

describe('paging and sort', () => {
  it('sorts by createDate both ways and pages with skip/limit', async () => {
    const asc = await list({ limit: 100, sortOrder: 'asc' });
    expect(asc.body.totalAvailable).toBe(7);
    expect(asc.body.readItems.map((r: { roomId: string }) => r.roomId)).toEqual(ids);
    const desc = await list({ limit: 3, skip: 1, sortOrder: 'desc' });
    expect(desc.body.totalAvailable).toBe(7);
    expect(desc.body.readItems.map((r: { roomId: string }) => r.roomId)).toEqual([...ids].reverse().slice(1, 4));
  });

  it('pages with lastId as a cursor, and an unknown lastId gives nothing', async () => {
    const page = await list({ limit: 2, sortOrder: 'asc', lastId: ids[2]! });
    expect(page.body.readItems.map((r: { roomId: string }) => r.roomId)).toEqual([ids[3], ids[4]]);
    const down = await list({ limit: 2, sortOrder: 'desc', lastId: ids[2]! });
    expect(down.body.readItems.map((r: { roomId: string }) => r.roomId)).toEqual([ids[1], ids[0]]);
    expect((await list({ limit: 2, lastId: 'room_unknown_0000001' })).body.readItems).toEqual([]);
  });

  it('sorts by lastModificationDate after an update', async () => {
    const ann = tenant.users.ann!;
    const target = ids[1]!;
    const head = await verifiedHead(t.bridge.url, token, target);
    const next = await successor(head, epochKeys.get(target), ann, { users: [ann], managers: [ann], publicMeta: metas[1] });
    expect((await rest(t.bridge.url, token).put(`/v1/rooms/${target}`, { ...next.request, version: 1 })).status).toBe(200);
    const byModified = await list({ limit: 1, sortOrder: 'desc', sortBy: 'lastModificationDate' });
    expect(byModified.body.readItems[0].roomId).toBe(target);
    expect(byModified.body.readItems[0].records[0].version).toBe(2);
  });

  it('pages a filtered listing with skip/limit and lastId exactly as an unfiltered one', async () => {
    const everything = '{}';
    const cases: Array<Record<string, string | number>> = [
      { limit: 3, skip: 1, sortOrder: 'desc' },
      { limit: 2, sortOrder: 'asc', lastId: ids[2]! },
      { limit: 2, sortOrder: 'desc', lastId: ids[2]! },
      { limit: 2, sortBy: 'lastModificationDate', sortOrder: 'desc', skip: 2 },
      { limit: 2, lastId: 'room_unknown_0000001' },
    ];
    for (const params of cases) {
      const plain = await list(params);
      const filtered = await list({ ...params, queryAsJson: everything });
      expect(filtered.status).toBe(200);
      expect(filtered.body).toEqual(plain.body);
    }
    const some = await list({ limit: 1, skip: 1, sortOrder: 'asc', queryAsJson: JSON.stringify({ flag: { $exists: true } }) });
    expect(some.body.totalAvailable).toBe(3);
    expect(some.body.readItems.map((r: { roomId: string }) => metaName(r.roomId))).toEqual(['beta']);
  });

  it('refuses a limit above the page size, and bad values', async () => {
    expect((await list({ limit: 101 })).body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'query.limit' } });
    expect((await list({ sortBy: 'name' })).body.error.code).toBe('VALIDATION_FAILED');
    expect((await list({ skip: -1 })).body.error.code).toBe('VALIDATION_FAILED');
  });
});

describe('queryAsJson operators', () => {
  it('$eq, implicit equality, typed: a number never equals a string', async () => {
    expect(await names({ name: 'beta' })).toEqual(['beta']);
    expect(await names({ n: { $eq: 2 } })).toEqual(['beta']);
    expect(await names({ n: '2' })).toEqual(['epsilon']);
    expect(await names({ flag: true })).toEqual(['alpha', 'gamma']);
    expect(await names({ nothing: null })).toEqual(['beta']);
    expect(await names({ 'nested.x': 'deep' })).toEqual(['alpha']);
  });

  it('$ne also matches rooms without the field', async () => {
    expect(await names({ flag: { $ne: true } })).toEqual(['beta', 'alphabet', 'delta', 'epsilon', 'raw']);
  });

  it('$gt $gte $lt $lte on numbers and on strings', async () => {
    expect(await names({ n: { $gt: 2 } })).toEqual(['gamma', 'alphabet', 'delta']);
    expect(await names({ n: { $gte: 2, $lt: 3 } })).toEqual(['beta', 'delta']);
    expect(await names({ n: { $lte: 1 } })).toEqual(['alpha']);
    expect(await names({ name: { $gt: 'delta' } })).toEqual(['gamma', 'epsilon']);
  });

  it('$in and $nin', async () => {
    expect(await names({ name: { $in: ['beta', 'delta', 'nope'] } })).toEqual(['beta', 'delta']);
    expect(await names({ n: { $nin: [1, 2, 3] } })).toEqual(['alphabet', 'delta', 'epsilon', 'raw']);
  });

  it('$exists', async () => {
    expect(await names({ extra: { $exists: true } })).toEqual(['alphabet']);
    expect(await names({ tags: { $exists: false } })).toEqual(['epsilon', 'raw']);
  });

  it('$startsWith and $endsWith, with no wildcard meaning for % or _', async () => {
    expect(await names({ name: { $startsWith: 'alpha' } })).toEqual(['alpha', 'alphabet']);
    expect(await names({ name: { $endsWith: 'ta' } })).toEqual(['beta', 'delta']);
    expect(await names({ name: { $startsWith: 'a%' } })).toEqual([]);
    expect(await names({ name: { $startsWith: '_lpha' } })).toEqual([]);
  });

  it('$contains: substring of a string, element of an array', async () => {
    expect(await names({ name: { $contains: 'lph' } })).toEqual(['alpha', 'alphabet']);
    expect(await names({ tags: { $contains: 'red' } })).toEqual(['alpha', 'alphabet']);
    expect(await names({ tags: { $contains: 7 } })).toEqual(['alphabet']);
  });

  it('$and, $or, $nor, nested', async () => {
    expect(await names({ $and: [{ flag: true }, { n: { $gt: 1 } }] })).toEqual(['gamma']);
    expect(await names({ $or: [{ name: 'beta' }, { 'nested.x': 'shallow' }] })).toEqual(['beta', 'gamma']);
    expect(await names({ $nor: [{ flag: true }, { tags: { $exists: false } }] })).toEqual(['beta', 'alphabet', 'delta']);
    expect(await names({ $or: [{ $and: [{ flag: false }, { n: 2 }] }, { name: 'delta' }] })).toEqual(['beta', 'delta']);
  });

  it('refuses malformed queries with a clear message', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{', /not valid JSON/],
      ['[]', /expected a JSON object/],
      [JSON.stringify({ n: { $regex: '.*' } }), /unknown operator \$regex/],
      [JSON.stringify({ $where: 'x' }), /unknown top-level operator/],
      [JSON.stringify({ n: { $gt: true } }), /expects a number or a string/],
      [JSON.stringify({ n: { $in: [] } }), /non-empty array/],
      [JSON.stringify({ 'bad key': 1 }), /must be up to 8 dot-separated names/],
      [JSON.stringify({ $or: [] }), /non-empty array of queries/],
      [JSON.stringify({ n: { $exists: 'yes' } }), /true or false/],
      [JSON.stringify({ $and: Array.from({ length: 70 }, (_, i) => ({ n: i })) }), /more than 64 conditions/],
    ];
    for (const [query, message] of cases) {
      const reply = await list({ queryAsJson: query });
      expect(reply.status).toBe(400);
      expect(reply.body.error.code).toBe('VALIDATION_FAILED');
      expect(reply.body.error.message).toMatch(message);
    }
    let deep: object = { n: 1 };
    for (let i = 0; i < 10; i++) deep = { $and: [deep] };
    expect((await list({ queryAsJson: JSON.stringify(deep) })).body.error.message).toMatch(/deeper than 8/);
  });
});
