/**
 * A read of a long chain keeps pages asked for ahead of the one it verifies (room-api.ts
 * `fetchVerified`, docs/protocol/room-chain.md "Cost"): the Bridge serves the next pages while the
 * Endpoint verifies. The `since` of a page asked ahead is a guess; a wrong one (a page cut short by the
 * Bridge's byte limit) is dropped and asked again, and nothing is skipped or taken on the guess.
 *
 * The Endpoint reaches the Bridge through an HTTP proxy that logs each room read's `since` and can hold
 * a response back, so the order of requests and responses is the test's, not the scheduler's.
 */
import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { connectClient, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';

interface ReadLog {
  url: string;
  /** `since` of every room read, in the order the requests reached the proxy. */
  sinces: number[];
  /** While set, the response to the read after `since` waits until `release` is called. */
  hold?: { since: number; release: () => void; held: Promise<void> };
  close(): Promise<void>;
}

async function readLog(target: () => string): Promise<ReadLog> {
  const log: ReadLog = { url: '', sinces: [], close: async () => undefined };
  const forward = (req: IncomingMessage, res: ServerResponse, since: number | undefined) => {
    const bridge = new URL(target());
    const upstream = httpRequest({ host: bridge.hostname, port: bridge.port, method: req.method, path: req.url, headers: req.headers }, async (reply) => {
      const hold = log.hold;
      if (since !== undefined && hold !== undefined && hold.since === since) await hold.held;
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(res);
    });
    req.pipe(upstream);
  };
  const server = createServer((req, res) => {
    const read = req.method === 'GET' && /^\/v1\/rooms\/[^/?]+\?/.test(req.url ?? '') ? new URL(req.url!, 'http://x').searchParams.get('since') : null;
    if (read !== null) log.sinces.push(Number(read));
    forward(req, res, read === null ? undefined : Number(read));
  });
  server.on('upgrade', (req, socket, head) => {
    const bridge = new URL(target());
    const upstream = netConnect(Number(bridge.port), bridge.hostname, () => {
      const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`);
      upstream.write(`${req.method} ${req.url} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  log.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  log.close = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return log;
}

function holdRead(log: ReadLog, since: number): void {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  log.hold = { since, release, held };
}

let t: TestBridge;
let tenant: Tenant;
let log: ReadLog;
let ann: Client | undefined;
const clients: Client[] = [];

beforeAll(async () => {
  // Pages of at most 4 records, and of at most 100 KB of record text.
  // The Bridge is reached through the proxy only: logins are bound to the URL it announces.
  log = await readLog(() => t.bridge.listenUrl);
  t = await startBridge({ publicUrl: log.url, limits: { recordsPerResponse: 4, pageBytes: 100_000 } as never });
  tenant = await setupTenant(t.bridge, ['ann', 'ben', 'cat']);
  ann = await connectClient(log.url, tenant.solutionId, tenant.users.ann!);
});
afterAll(async () => {
  await Promise.all([ann, ...clients].map((c) => c?.connection.disconnect()));
  await log.close();
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
  const client = await connectClient(log.url, tenant.solutionId, tenant.users[name]!);
  clients.push(client);
  return client;
}

describe('reading a long chain', () => {
  it('asks for the next pages before it has the one it verifies', async () => {
    const id = await room(Array.from({ length: 13 }, () => 100));
    const ben = await reader('ben');
    log.sinces.length = 0;
    // The page after version 4 is held back until the page after version 8 has been asked for: a
    // reader that waited for each page before asking the next would never get it.
    holdRead(log, 4);
    const read = ben.streamApi.getStreamRoom(id);
    const giveUp = Date.now() + 3000;
    while (!log.sinces.includes(8) && Date.now() < giveUp) await new Promise((resolve) => setTimeout(resolve, 5));
    const askedAhead = log.sinces.includes(8);
    log.hold?.release();
    log.hold = undefined;
    const got = await read;
    expect(askedAhead).toBe(true);
    expect(log.sinces).toEqual([0, 4, 8, 12]);
    expect(got.version).toBe(13);
    expect(JSON.parse(new TextDecoder().decode(got.privateMeta)).v).toBe(13);
  });

  it('drops a wrong guess and asks again from where the chain stands', async () => {
    // Versions 5-7 are ~41 KB of record text each (their sealed meta in base64): the second page holds
    // two of them (at most 100 KB), so the guess that it ends at version 8 (the first held 4) is wrong.
    const sizes = [100, 100, 100, 100, 30_000, 30_000, 30_000, 100, 100, 100, 100, 100, 100];
    const id = await room(sizes);
    const cat = await reader('cat');
    log.sinces.length = 0;
    const got = await cat.streamApi.getStreamRoom(id);
    expect(got.version).toBe(13);
    expect(JSON.parse(new TextDecoder().decode(got.privateMeta)).v).toBe(13);
    // Pages [1-4] [5-6] [7-10] [11-13]. The guess 8 was asked for; when the second page ended at 6 the
    // reader asked 6 and kept 8 as its next guess, then dropped it once the page after 6 ended at 10,
    // and asked 10.
    expect(log.sinces).toEqual([0, 4, 8, 6, 10]);
  });
});
