/**
 * Malformed requests over real HTTP (node:http, so that broken encodings reach the Bridge as sent):
 * every one is a coded 4xx, never a 500.
 */
import { request } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, setupTenant, startBridge, type TestBridge } from '../../test/harness.ts';

interface RawReply {
  status: number;
  body: { error?: { code: string; message: string; details?: Record<string, unknown> } } | undefined;
}

/** One request on its own connection, with exactly the headers and bytes given. */
function send(base: string, method: string, path: string, headers: Record<string, string>, body?: Uint8Array | string): Promise<RawReply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent: false,
        // Chunked when the test says so, else framed by content-length.
        headers: payload === undefined || 'transfer-encoding' in headers ? headers : { 'content-length': String(payload.length), ...headers },
        signal: AbortSignal.timeout(10_000),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: text === '' ? undefined : JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };
const CHALLENGE = '/v1/auth/challenge';

let t: TestBridge;
let token: string;
let apiKey: string;
let contextId: string;
beforeAll(async () => {
  t = await startBridge();
  const tenant = await setupTenant(t.bridge, ['alice']);
  contextId = tenant.contextId;
  token = await login(t.bridge.url, tenant.solutionId, tenant.users.alice!);
  apiKey = t.bridge.initialApiKey!;
});
afterAll(() => t.close());

describe('bodies in a content coding', () => {
  it.each([
    ['gzip', 'not gzip at all'],
    ['deflate', 'not deflate at all'],
    ['br', 'not brotli at all'],
    ['gzip', gzipSync('{"solutionId":"x"}').subarray(0, 12)], // truncated
    ['deflate', deflateSync('{"solutionId":"x"}').subarray(0, 6)],
    ['GZIP', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xff])], // a gzip header, then garbage
  ])('a body that is not valid %s is 400 BAD_CONTENT_ENCODING', async (coding, body) => {
    const reply = await send(t.bridge.url, 'POST', CHALLENGE, { ...JSON_TYPE, 'content-encoding': coding }, body);
    expect(reply.status).toBe(400);
    expect(reply.body?.error?.code).toBe('BAD_CONTENT_ENCODING');
  });

  it('an empty gzip body, and garbage gzip sent chunked, are 400 BAD_CONTENT_ENCODING', async () => {
    const empty = await send(t.bridge.url, 'POST', CHALLENGE, { ...JSON_TYPE, 'content-encoding': 'gzip' }, '');
    expect([empty.status, empty.body?.error?.code]).toEqual([400, 'BAD_CONTENT_ENCODING']);
    const chunked = await send(t.bridge.url, 'POST', CHALLENGE, { ...JSON_TYPE, 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' }, 'zzzz');
    expect([chunked.status, chunked.body?.error?.code]).toEqual([400, 'BAD_CONTENT_ENCODING']);
  });

  it('the management API and the room routes map it the same way', async () => {
    const manage = await send(
      t.bridge.url,
      'POST',
      '/manage/v1/solutions',
      {
        ...JSON_TYPE,
        authorization: `Bearer ${apiKey}`,
        'content-encoding': 'br',
      },
      'garbage',
    );
    expect([manage.status, manage.body?.error?.code]).toEqual([400, 'BAD_CONTENT_ENCODING']);
    const rooms = await send(t.bridge.url, 'POST', '/v1/rooms', { ...JSON_TYPE, authorization: `Bearer ${token}`, 'content-encoding': 'deflate' }, 'garbage');
    expect([rooms.status, rooms.body?.error?.code]).toEqual([400, 'BAD_CONTENT_ENCODING']);
  });

  it('valid gzip, deflate and brotli bodies still work', async () => {
    const body = JSON.stringify({ name: 'compressed' });
    for (const [coding, bytes] of [
      ['gzip', gzipSync(body)],
      ['deflate', deflateSync(body)],
      ['br', brotliCompressSync(body)],
    ] as const) {
      const reply = await send(
        t.bridge.url,
        'POST',
        '/manage/v1/solutions',
        { ...JSON_TYPE, authorization: `Bearer ${apiKey}`, 'content-encoding': coding },
        bytes,
      );
      expect(reply.status, coding).toBe(201);
    }
  });

  it('valid gzip of bad JSON is BAD_JSON, and a body that inflates past the limit is 413', async () => {
    const bad = await send(t.bridge.url, 'POST', CHALLENGE, { ...JSON_TYPE, 'content-encoding': 'gzip' }, gzipSync('{"solutionId":'));
    expect([bad.status, bad.body?.error?.code]).toEqual([400, 'BAD_JSON']);
    const limit = t.bridge.config.limits.manageBodyBytes;
    const bomb = gzipSync(Buffer.alloc(limit * 16, 0x20));
    expect(bomb.length).toBeLessThan(limit);
    const reply = await send(
      t.bridge.url,
      'POST',
      '/manage/v1/solutions',
      { ...JSON_TYPE, authorization: `Bearer ${apiKey}`, 'content-encoding': 'gzip' },
      bomb,
    );
    expect(reply.status).toBe(413);
    expect(reply.body?.error).toMatchObject({ code: 'BODY_TOO_LARGE', details: { limit } });
  });

  it.each(['compress', 'zstd-ish', 'gzip, gzip'])('an unsupported content-encoding (%s) is 415', async (coding) => {
    const reply = await send(t.bridge.url, 'POST', CHALLENGE, { ...JSON_TYPE, 'content-encoding': coding }, '{}');
    expect(reply.status).toBe(415);
    expect(reply.body?.error?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(reply.body?.error?.message).toMatch(/content-encoding must be identity, gzip, deflate or br/);
  });
});

describe('content types', () => {
  it.each([
    ['text/plain', { 'content-type': 'text/plain' }],
    ['none', {}],
    ['a malformed type', { 'content-type': 'application/' }],
    ['a JSON-like type', { 'content-type': 'application/merge-patch+json' }],
    ['form data', { 'content-type': 'application/x-www-form-urlencoded' }],
  ])('a body of %s is 415 UNSUPPORTED_MEDIA_TYPE, not a misleading validation error', async (_name, headers: Record<string, string>) => {
    const reply = await send(t.bridge.url, 'POST', CHALLENGE, headers, '{"solutionId":"x"}');
    expect(reply.status).toBe(415);
    expect(reply.body?.error?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(reply.body?.error?.message).toMatch(/^expected a body of content-type application\/json, got /);
  });

  it('the same on the management API', async () => {
    const reply = await send(t.bridge.url, 'POST', '/manage/v1/solutions', { authorization: `Bearer ${apiKey}`, 'content-type': 'text/plain' }, 'acme');
    expect([reply.status, reply.body?.error?.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it('an unsupported charset is 415; JSON with a charset parameter and bodiless requests are fine', async () => {
    const latin1 = await send(t.bridge.url, 'POST', CHALLENGE, { 'content-type': 'application/json; charset=latin1' }, '{}');
    expect([latin1.status, latin1.body?.error?.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const utf8 = await send(
      t.bridge.url,
      'POST',
      '/manage/v1/solutions',
      { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json; charset=utf-8' },
      '{"name":"x"}',
    );
    expect(utf8.status).toBe(201);
    const me = await send(t.bridge.url, 'GET', '/v1/me', { authorization: `Bearer ${token}`, 'content-length': '0' });
    expect(me.status).toBe(200);
  });

  it('a JSON body that is not an object is BAD_JSON or VALIDATION_FAILED', async () => {
    for (const body of ['null', '"x"', '1']) {
      const reply = await send(t.bridge.url, 'POST', CHALLENGE, JSON_TYPE, body);
      expect([reply.status, reply.body?.error?.code], body).toEqual([400, 'BAD_JSON']);
    }
    const array = await send(t.bridge.url, 'POST', '/v1/rooms', { ...JSON_TYPE, authorization: `Bearer ${token}` }, '['.repeat(50_000) + ']'.repeat(50_000));
    expect([array.status, array.body?.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
  });
});

describe('path parameters', () => {
  it.each([
    ['GET', '/manage/v1/solutions/%ZZ'],
    ['DELETE', '/manage/v1/solutions/%'],
    ['GET', '/manage/v1/contexts/%E0%A4%A/users'],
    ['DELETE', '/manage/v1/contexts/ctx_aaaaaaaaaaaaaaaa/users/%C0%AF'],
    ['DELETE', '/manage/v1/api-keys/%ZZ'],
  ])('%s %s with a malformed percent-escape is 400 VALIDATION_FAILED', async (method, path) => {
    const reply = await send(t.bridge.url, method, path, { authorization: `Bearer ${apiKey}` });
    expect(reply.status).toBe(400);
    expect(reply.body?.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'params' } });
    expect(reply.body?.error?.message).not.toContain('%');
  });

  it.each([
    ['GET', '/v1/rooms/%ZZ'],
    ['PUT', '/v1/rooms/%'],
    ['DELETE', '/v1/rooms/%FF'],
    ['GET', '/v1/contexts/%ZZ/users'],
    ['GET', '/v1/contexts/%ZZ/rooms'],
  ])('%s %s with a malformed percent-escape is 400 VALIDATION_FAILED', async (method, path) => {
    const reply = await send(t.bridge.url, method, path, { authorization: `Bearer ${token}` });
    expect(reply.status).toBe(400);
    expect(reply.body?.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'params' } });
  });

  it('a malformed escape in the query string, or an out-of-range number, is a validation error', async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (const query of ['since=%ZZ', 'since=1e300', 'since=1&since=2', 'since[a]=1']) {
      const reply = await send(t.bridge.url, 'GET', `/v1/rooms/room_aaaaaaaaaaaaaaaa?${query}`, auth);
      expect([reply.status, reply.body?.error?.code], query).toEqual([400, 'VALIDATION_FAILED']);
    }
    const list = await send(t.bridge.url, 'GET', `/v1/contexts/${contextId}/rooms?queryAsJson=%ZZ`, auth);
    expect([list.status, list.body?.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
    const manage = await send(t.bridge.url, 'GET', `/manage/v1/contexts/${contextId}/rooms?skip=1e300`, { authorization: `Bearer ${apiKey}` });
    expect([manage.status, manage.body?.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
  });
});
