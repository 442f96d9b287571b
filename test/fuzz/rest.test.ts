/**
 * REST fuzz (docs/operations/limits.md, "Bad input"): 10,000 generated requests over every route of a
 * real Bridge (malformed JSON, wrong types, huge and deeply nested values, bad base64, bad paging
 * numbers, pathological queryAsJson, bad headers and content encodings, malformed percent-escapes),
 * from fixed seeds plus a random one that is printed on failure (replay with FUZZ_SEED=<seed>).
 * Asserts: never a 5xx, every refusal a coded JSON error, the Bridge alive, and a healthy user's
 * requests answered correctly throughout.
 */
import { Agent, request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../harness.ts';
import { Gen, fuzzSeeds } from './gen.ts';

const REQUESTS = 10_000;
let t: TestBridge;
let healthy: Tenant;
let healthyToken: string;
let fuzzTenant: Tenant;
let fuzzToken: string;
let apiKey: string;
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

beforeAll(async () => {
  t = await startBridge({ limits: { writesPerUserPerMinute: 1_000_000 } as never });
  apiKey = t.bridge.initialApiKey!;
  healthy = await setupTenant(t.bridge, ['alice'], 'healthy');
  healthyToken = await login(t.bridge.url, healthy.solutionId, healthy.users.alice!);
  fuzzTenant = await setupTenant(t.bridge, ['fuzz'], 'fuzz');
  fuzzToken = await login(t.bridge.url, fuzzTenant.solutionId, fuzzTenant.users.fuzz!);
});
afterAll(async () => {
  agent.destroy();
  await t.close();
});

/** encodeURIComponent, after replacing lone surrogates (which it cannot encode) with U+FFFD. */
const enc = (text: string) => encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '\ufffd'));

type Route = [method: string, template: string];
const ROUTES: Route[] = [
  ['GET', '/healthz'],
  ['POST', '/v1/auth/challenge'],
  ['POST', '/v1/auth/session'],
  ['POST', '/v1/auth/logout'],
  ['GET', '/v1/me'],
  ['GET', '/v1/contexts/:contextId/users'],
  ['GET', '/v1/contexts/:contextId/rooms'],
  ['POST', '/v1/rooms'],
  ['GET', '/v1/rooms/:roomId'],
  ['PUT', '/v1/rooms/:roomId'],
  ['DELETE', '/v1/rooms/:roomId'],
  ['POST', '/manage/v1/solutions'],
  ['GET', '/manage/v1/solutions'],
  ['GET', '/manage/v1/solutions/:solutionId'],
  ['DELETE', '/manage/v1/solutions/:solutionId'],
  ['POST', '/manage/v1/solutions/:solutionId/contexts'],
  ['GET', '/manage/v1/solutions/:solutionId/contexts'],
  ['GET', '/manage/v1/contexts/:contextId'],
  ['DELETE', '/manage/v1/contexts/:contextId'],
  ['PUT', '/manage/v1/contexts/:contextId/users/:userId'],
  ['GET', '/manage/v1/contexts/:contextId/users'],
  ['DELETE', '/manage/v1/contexts/:contextId/users/:userId'],
  ['GET', '/manage/v1/contexts/:contextId/rooms'],
  ['DELETE', '/manage/v1/rooms/:roomId'],
  ['POST', '/manage/v1/api-keys'],
  ['GET', '/manage/v1/api-keys'],
  ['DELETE', '/manage/v1/api-keys/:id'],
  ['GET', '/v1/nowhere/:roomId'],
];

/** A path segment: a plausible id, the fuzz tenant's own, or something hostile. */
function segment(g: Gen, name: string): string {
  const own = name === 'contextId' ? fuzzTenant.contextId : name === 'solutionId' ? fuzzTenant.solutionId : undefined;
  switch (g.int(0, 7)) {
    case 0:
      return own ?? 'room_0123456789abcdef';
    case 1:
      return g.pick(['%ZZ', '%', '%E2%82', '%C0%AF', '%2e%2e', '..', '%00', '%FF%FE']);
    case 2:
      return enc(g.text(30)) || 'x';
    case 3:
      return 'x'.repeat(g.int(100, 5000));
    case 4:
      return g.pick(['sol_', 'ctx_', 'room_', 'key_', 'usr_']) + enc(g.text(24));
    default:
      return g.pick(['room_0123456789abcdef', 'ctx_AAAAAAAAAAAAAAAAAAAAAA', 'sol_AAAAAAAAAAAAAAAAAAAAAA', 'key_AAAAAAAAAAAAAAAAAAAAAA', 'bob']);
  }
}

function query(g: Gen): string {
  if (g.chance(0.4)) return '';
  const keys = ['skip', 'limit', 'since', 'sortOrder', 'sortBy', 'lastId', 'queryAsJson', 'history', g.text(5)];
  const values = () =>
    g.pick([
      '-1',
      '1e309',
      'NaN',
      '0x10',
      '999999999999999999999',
      'asc',
      'desc',
      'true',
      enc(JSON.stringify(g.json(4))),
      enc(JSON.stringify({ $or: Array.from({ length: 64 }, (_, i) => ({ [`f${i}`]: { $in: Array.from({ length: 64 }, (_, j) => j) } })) })),
      enc(g.deep(g.int(10, 2000))),
      enc(g.text(50)),
      '%ZZ',
    ]);
  const parts: string[] = [];
  for (let i = g.int(1, 5); i > 0; i--) parts.push(`${enc(g.pick(keys))}=${values()}`);
  return `?${parts.join('&')}`;
}

interface Built {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

function build(g: Gen): Built {
  const [method, template] = g.pick(ROUTES);
  const path = template.replace(/:(\w+)/g, (_, name: string) => segment(g, name)) + query(g);
  const headers: Record<string, string> = {};
  const auth = g.int(0, 5);
  if (auth === 0) headers.authorization = `Bearer ${template.startsWith('/manage') ? apiKey : fuzzToken}`;
  else if (auth === 1) headers.authorization = g.pick(['Bearer ', 'Basic abc', `Bearer ${'A'.repeat(300)}`, 'Bearer srt_x', 'Bearer srk_x']);
  let body: Buffer | undefined;
  if (g.chance(0.7)) {
    const kind = g.int(0, 6);
    let text: string;
    if (kind === 0) text = JSON.stringify(g.json(4));
    else if (kind === 1) text = g.deep(g.int(100, 5000));
    else if (kind === 2) text = g.text(200);
    else if (kind === 3) text = JSON.stringify({ record: g.text(100), signature: g.pick(['AAAA', '====', g.text(88)]), keys: [g.json(2)] });
    else if (kind === 4)
      text = JSON.stringify({
        solutionId: fuzzTenant.solutionId,
        publicKey: fuzzTenant.users.fuzz!.publicKey,
        nonce: g.text(44),
        timestamp: g.pick([0, -1, 1e20, Date.now()]),
        bridgeUrl: g.pick([t.bridge.url, 'javascript:x', g.text(30)]),
        signature: `${'A'.repeat(86)}==`,
      });
    else if (kind === 5) text = `{"x":"${'a'.repeat(g.int(1000, 200_000))}"}`;
    else text = JSON.stringify(g.json(2)).slice(0, g.int(0, 50));
    body = Buffer.from(text);
    headers['content-type'] = g.pick([
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=utf-16',
    ]);
    const coding = g.int(0, 5);
    if (coding === 0) {
      headers['content-encoding'] = 'gzip';
      body = g.chance(0.5) ? gzipSync(body) : Buffer.from(g.bytes(g.int(0, 100)));
    } else if (coding === 1) {
      headers['content-encoding'] = g.pick(['deflate', 'br', 'compress', 'x-unknown', 'gzip, br']);
      body = Buffer.from(g.bytes(g.int(0, 100)));
    }
  }
  if (g.chance(0.1)) headers['x-forwarded-for'] = g.pick(['1.2.3.4', 'garbage', '::1, 10.0.0.1']);
  if (g.chance(0.05)) headers.origin = 'https://evil.example';
  return { method, path, headers, body };
}

function errorCode(text: string): unknown {
  try {
    return (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
  } catch {
    return `not JSON: ${text.slice(0, 80)}`;
  }
}

function send(b: Built): Promise<{ status: number; text: string }> {
  const url = new URL(t.bridge.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: b.method,
        path: b.path,
        headers: { ...b.headers, ...(b.body === undefined ? {} : { 'content-length': b.body.length }) },
        agent,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(b.body);
  });
}

describe('REST fuzz', () => {
  it(`${REQUESTS} generated requests: no 5xx, every refusal coded, a healthy user served throughout`, async () => {
    const seeds = fuzzSeeds([1, 2, 3]);
    const perSeed = Math.ceil(REQUESTS / seeds.length);
    const statuses = new Map<number, number>();
    const api = rest(t.bridge.url, healthyToken);
    for (const seed of seeds) {
      const g = new Gen(seed);
      for (let i = 0; i < perSeed; i += 8) {
        const batch = Array.from({ length: Math.min(8, perSeed - i) }, () => build(g));
        const replies = await Promise.all(batch.map(send));
        replies.forEach((reply, j) => {
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          const what = `seed ${seed} (replay: FUZZ_SEED=${seed}), ${batch[j]!.method} ${batch[j]!.path.slice(0, 200)} -> ${reply.status} ${reply.text.slice(0, 200)}`;
          expect(reply.status, what).toBeLessThan(500);
          // 431: Node's HTTP parser refused headers over 16 KiB (a huge URL) before any route ran.
          if (reply.status >= 400 && reply.status !== 431) expect(errorCode(reply.text), what).toMatch(/^[A-Z_]+$/);
        });
        if (i % 400 === 0) {
          const me = await api.get('/v1/me');
          expect(me.status, `seed ${seed}: the healthy user was refused mid-fuzz`).toBe(200);
          expect(me.body.userId).toBe('alice');
        }
      }
    }
    // The fuzz reached past validation as well as into it.
    expect([...statuses.keys()].some((s) => s < 300)).toBe(true);
    expect(statuses.get(400)).toBeGreaterThan(100);
    expect((await rest(t.bridge.url).get('/healthz')).status).toBe(200);
  }, 120_000);
});
