import { describe, expect, it } from 'vitest';
import { roomResponseSchema } from './api.ts';
import { checkRoomResponse, roomResponseParser } from './room-response.ts';

const b64 = (bytes: number) => 'QUJD'.repeat(Math.floor(bytes / 3)) + ['', 'QQ==', 'QUI='][bytes % 3];

function valid(): Record<string, unknown> {
  return {
    roomId: 'AbCdEfGhIjKlMnOpQrStUv',
    contextId: 'ctx_1',
    version: 3,
    epoch: 2,
    records: [
      { version: 2, record: '{"format":1}', signature: b64(64) },
      { version: 3, record: '{}', signature: b64(64) },
    ],
    hasMore: false,
    keys: [
      { epoch: 2, version: 3, wrapped: b64(104), leafIndex: 1, treeSize: 4, proof: [b64(32), b64(32)] },
      { epoch: 1, version: 1, wrapped: b64(104), leafIndex: 0, treeSize: 1, proof: [] },
    ],
  };
}

/** Values put in place of each field, one at a time: the wrong types, the edges of every bound. */
const REPLACEMENTS: unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  1.5,
  2 ** 53,
  2 ** 53 - 1,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  '',
  'x',
  '{}',
  '1',
  'A',
  'QQ==',
  'QQ=A',
  'QQ===',
  'Q Q=',
  'a-b_c',
  'AbCdEfGhIjKlMnOp',
  'AbCdEfGhIjKlMnO',
  'A'.repeat(64),
  'A'.repeat(65),
  'A'.repeat(88),
  'A'.repeat(89),
  'A'.repeat(44),
  'A'.repeat(45),
  'A'.repeat(1368),
  'A'.repeat(1369),
  'é',
  [],
  [b64(32)],
  Array.from({ length: 32 }, () => b64(32)),
  Array.from({ length: 33 }, () => b64(32)),
  [1],
  [null],
  {},
  { record: '{}', signature: b64(64), version: 1 },
  new String('ctx'),
  new Number(1),
];

/** Every path to a field in `value` (objects and arrays), the root excluded. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) return [];
  const out: (string | number)[][] = [];
  for (const [k, v] of Object.entries(value)) {
    const key = Array.isArray(value) ? Number(k) : k;
    out.push([...prefix, key], ...paths(v, [...prefix, key]));
  }
  return out;
}

function withValue(path: (string | number)[], replacement: unknown): Record<string, unknown> {
  const root = valid();
  let at: Record<string | number, unknown> = root;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (replacement === undefined && !Array.isArray(at)) delete at[last];
  else at[last] = replacement;
  return root;
}

function withExtraKey(path: (string | number)[]): Record<string, unknown> {
  const root = valid();
  let at: Record<string | number, unknown> = root;
  for (const key of path) at = at[key] as Record<string | number, unknown>;
  at.extra = 1;
  return root;
}

/** The hand check accepts exactly what the schema accepts, with the same output. */
function expectSameVerdict(value: unknown): boolean {
  const zod = roomResponseSchema.safeParse(value);
  const fast = checkRoomResponse(value);
  expect({ accepted: fast !== undefined, value }).toEqual({ accepted: zod.success, value });
  if (zod.success) expect(fast).toStrictEqual(zod.data);
  // What the HTTP client sees: the schema's own result, issues included, on a refusal.
  const parsed = roomResponseParser.safeParse(value);
  expect(parsed.success).toBe(zod.success);
  if (!zod.success) expect(parsed.error?.issues).toEqual(zod.error.issues);
  return zod.success;
}

describe('checkRoomResponse', () => {
  it('accepts a valid response as the schema does, with only the schema fields', () => {
    const value = valid();
    expect(expectSameVerdict(value)).toBe(true);
    const withExtras = { ...value, surprise: 1, keys: [{ ...(value.keys as object[])[0], more: 'x' }] };
    expect(expectSameVerdict(withExtras)).toBe(true);
    expect(checkRoomResponse(withExtras)).not.toHaveProperty('surprise');
    expect(expectSameVerdict({ ...value, records: [], keys: [] })).toBe(true);
  });

  it('agrees with the schema on every field replaced by every kind of wrong or edge value', () => {
    let accepted = 0;
    let rejected = 0;
    const all = paths(valid());
    for (const path of all) {
      for (const replacement of REPLACEMENTS) {
        if (expectSameVerdict(withValue(path, replacement))) accepted++;
        else rejected++;
      }
    }
    // Both kinds occur, for every field: the replacements reach each bound from both sides.
    expect(all.length).toBe(31);
    expect({ accepted: accepted > 50, rejected: rejected > 1000 }).toEqual({ accepted: true, rejected: true });
  });

  it('agrees with the schema on unknown keys (stripped from keys and the response, refused in records)', () => {
    expect(expectSameVerdict(withExtraKey([]))).toBe(true);
    expect(expectSameVerdict(withExtraKey(['keys', 0]))).toBe(true);
    expect(expectSameVerdict(withExtraKey(['records', 1]))).toBe(false);
  });

  it('agrees with the schema on what is not an object', () => {
    for (const value of [undefined, null, 'x', 1, [], [valid()], new Date(0)]) expectSameVerdict(value);
    expect(checkRoomResponse(undefined)).toBeUndefined();
  });

  it('agrees with the schema on records at their length bounds', () => {
    for (const length of [1, 2, 1024 * 1024, 1024 * 1024 + 1]) expectSameVerdict(withValue(['records', 0, 'record'], 'x'.repeat(length)));
  });
});
