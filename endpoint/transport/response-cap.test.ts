/**
 * A malicious Bridge must not make a client buffer an answer without end: both transports (node:http
 * and fetch, which Node 20 also has) stop reading past `maxBytes` and fail with ResponseTooLarge, and
 * the Endpoint turns that into `BridgeRefused` / `RESPONSE_TOO_LARGE` (docs/operations/limits.md,
 * "What the Endpoint reads").
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { connectClient, outcome, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { startHttpProxy, type HttpProxy } from '../../test/http-proxy.ts';
import { Endpoint } from '../endpoint.ts';
import { ResponseTooLarge, type HttpSend } from './fetch.ts';
import { httpSend as nodeSend } from './http-node.ts';
import { httpSend as webSend } from './http-web.ts';

const MiB = 1024 * 1024;
let server: Server;
let base: string;
/** Bytes the streaming route wrote before its client went away. */
let streamed = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/small') return void res.end('{"ok":true}');
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-length': String(10 * MiB) });
      return void res.write(Buffer.alloc(MiB, 0x61));
    }
    // Chunked, no length: 1 MiB at a time up to 64 MiB, unless the client stops reading.
    res.writeHead(200);
    streamed = 0;
    const block = Buffer.alloc(MiB, 0x62);
    const more = () => {
      while (streamed < 64 * MiB && !res.destroyed) {
        streamed += block.length;
        if (!res.write(block)) return void res.once('drain', more);
      }
      if (!res.destroyed) res.end();
    };
    res.on('close', () => undefined);
    more();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const get = (send: HttpSend, path: string) =>
  send({ method: 'GET', url: base + path, headers: {}, body: null, signal: AbortSignal.timeout(10_000), maxBytes: 4 * MiB });

describe.each([
  ['node:http', nodeSend],
  ['fetch', webSend],
])('%s', (_name, send) => {
  it('reads an answer within the bound', async () => {
    expect(await get(send, '/small')).toEqual({ status: 200, text: '{"ok":true}' });
  });

  it('refuses an answer whose Content-Length is past the bound, without reading it', async () => {
    const error = await get(send, '/declared').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseTooLarge);
    expect(error).toMatchObject({ code: 'RESPONSE_TOO_LARGE', bytes: 10 * MiB, maxBytes: 4 * MiB });
  });

  it('stops reading an answer of no stated length once it passes the bound', async () => {
    const error = await get(send, '/chunked').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseTooLarge);
    expect((error as ResponseTooLarge).bytes).toBeGreaterThan(4 * MiB);
    // The server could not write the rest: the client went away (what the kernel buffers aside).
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(streamed).toBeLessThan(48 * MiB);
  });
});

describe('through the Endpoint', () => {
  let t: TestBridge;
  let tenant: Tenant;
  let proxy: HttpProxy;
  let alice: Client;
  /** Armed: the next room read is answered with this many bytes of JSON. */
  let inflate = 0;
  /** Armed: the next listing repeats its first room this many times. */
  let repeat = 0;

  beforeAll(async () => {
    proxy = await startHttpProxy(() => t.bridge.listenUrl, {
      rewrite: (req, body) => {
        if (repeat > 0 && req.method === 'GET' && /^\/v1\/contexts\/[^/]+\/rooms\?/.test(req.url ?? '')) {
          const list = JSON.parse(body.toString('utf8')) as { readItems: unknown[] };
          const times = repeat;
          repeat = 0;
          return Buffer.from(JSON.stringify({ ...list, readItems: Array.from({ length: times }, () => list.readItems[0]) }));
        }
        if (inflate === 0 || req.method !== 'GET' || !(req.url ?? '').startsWith('/v1/rooms/')) return undefined;
        const size = inflate;
        inflate = 0;
        return Buffer.from(`{"padding":"${'x'.repeat(size)}"}`);
      },
    });
    t = await startBridge({ publicUrl: proxy.url });
    tenant = await setupTenant(t.bridge, ['alice']);
    alice = await connectClient(proxy.url, tenant.solutionId, tenant.users.alice!, { connect: { maxResponseBytes: 2 * MiB } });
  });
  afterAll(async () => {
    await alice?.connection.disconnect();
    await proxy?.close();
    await t?.close();
  });

  it('fails a read whose answer is past maxResponseBytes with RESPONSE_TOO_LARGE, and reads on after', async () => {
    const id = await alice.streamApi.createStreamRoom(tenant.contextId, [pub(alice.user)], [pub(alice.user)], utf8('{}'), utf8('m'));
    inflate = 3 * MiB;
    const error = await alice.streamApi.getStreamRoom(id).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'BridgeRefused', bridgeCode: 'RESPONSE_TOO_LARGE', details: { maxBytes: 2 * MiB } });
    expect(await outcome(alice.streamApi.getStreamRoom(id), (room) => `version ${room.version}`)).toBe('version 1');
  });

  it('refuses a listing of more rooms than were asked for, before reading any of them', async () => {
    await alice.streamApi.createStreamRoom(tenant.contextId, [pub(alice.user)], [pub(alice.user)], utf8('{}'), utf8('m'));
    repeat = 3;
    const error = await alice.streamApi.listStreamRooms(tenant.contextId, { skip: 0, limit: 2, sortOrder: 'desc' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'BridgeRefused', bridgeCode: 'BAD_RESPONSE' });
    expect((error as Error).message).toContain('listed 3 rooms for a limit of 2');
    expect((await alice.streamApi.listStreamRooms(tenant.contextId, { skip: 0, limit: 2, sortOrder: 'desc' })).readItems.length).toBeGreaterThan(0);
  });

  it('refuses a maxResponseBytes below one record', async () => {
    const error = await Endpoint.connect(tenant.users.alice!.privateKey, tenant.solutionId, proxy.url, { maxResponseBytes: 1024 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'InvalidArgument' });
  });
});
