/**
 * Strangers cannot make the Bridge read or hold much (docs/operations/limits.md): login bodies are
 * small, room bodies are read only after the session is checked, a refused request's connection is
 * closed instead of drained, half-sent requests are dropped after `headersTimeoutMs`, and one address
 * holds at most `connectionsPerAddress` connections.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../test/endpoint.ts';
import { login, setupTenant, startBridge, type TestBridge } from '../../test/harness.ts';

let t: TestBridge;
let port: number;

beforeAll(async () => {
  t = await startBridge({ limits: { headersTimeoutMs: 1000, connectionsPerAddress: 20 } as never });
  port = Number(new URL(t.bridge.url).port);
});
afterAll(() => t.close());

/** A raw TCP connection from `localAddress` (any 127.0.0.0/8 address reaches loopback). */
function open(localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with how long until the server closed the socket (or rejects after `ms`). */
function closedWithin(socket: Socket, ms: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`the socket was still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
    socket.on('error', () => undefined);
    socket.resume();
  });
}

const healthz = async () => {
  const started = performance.now();
  const response = await fetch(`${t.bridge.url}/healthz`);
  expect(response.status).toBe(200);
  return performance.now() - started;
};

describe('bodies', () => {
  it('a login body over 4 KiB is refused with 413 before it is parsed', async () => {
    const reply = await fetch(`${t.bridge.url}/v1/auth/challenge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ solutionId: 'sol_x', publicKey: 'x'.repeat(10_000) }),
    });
    expect(reply.status).toBe(413);
    expect(((await reply.json()) as { error: { code: string } }).error.code).toBe('BODY_TOO_LARGE');
  });

  it('a stranger announcing a 4 MiB room body gets 401 at once and the connection closed, not read', async () => {
    const sockets = await Promise.all(Array.from({ length: 100 }, () => open()));
    const rssBefore = process.memoryUsage().rss;
    const answers = sockets.map((socket) => {
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.write(`POST /v1/rooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${4 * 1024 * 1024}\r\n\r\n{"record":"`);
      socket.write('a'.repeat(64 * 1024));
      return closedWithin(socket, 2000).then(() => text);
    });
    // The limit is 20 per address, so most were dropped at accept; the others were answered 401.
    const texts = await Promise.all(answers);
    expect(texts.filter((x) => x.startsWith('HTTP/1.1 401')).length).toBeGreaterThan(0);
    expect(texts.every((x) => x === '' || x.startsWith('HTTP/1.1 401'))).toBe(true);
    expect((process.memoryUsage().rss - rssBefore) / 2 ** 20).toBeLessThan(64);
    expect(await healthz()).toBeLessThan(200);
  });
});

describe('connections', () => {
  it('one address holds at most 20; half-sent requests are dropped after the headers timeout', async () => {
    const flood = await Promise.all(Array.from({ length: 40 }, () => open('127.0.0.2')));
    for (const socket of flood) socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const closes = flood.map((socket) => closedWithin(socket, 4000));
    // Another address is served at once while the flood holds its 20.
    expect(await healthz()).toBeLessThan(200);
    // Client and Bridge share this process's event loop: the Bridge accepts them a moment later.
    await until(() => t.bridge.realtime.counters.connectionsRefused >= 20, 'the connections over the cap refused');
    const times = await Promise.all(closes);
    expect(times.filter((ms) => ms < 500).length).toBeGreaterThanOrEqual(20); // refused at accept
    expect(Math.max(...times)).toBeGreaterThan(900); // the rest: the 1 s headers timeout
    // Its slots are free again.
    const again = await open('127.0.0.2');
    again.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let text = '';
    again.on('data', (d: Buffer) => (text += d.toString()));
    await closedWithin(again, 2000);
    expect(text).toMatch(/^HTTP\/1.1 200/);
  });

  it('past maxConnections, new connections are dropped; the Bridge serves again once they close', async () => {
    const small = await startBridge({ limits: { maxConnections: 5 } as never });
    const smallPort = Number(new URL(small.bridge.url).port);
    const openTo = () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: smallPort }, () => resolve(socket));
        socket.once('error', reject);
      });
    try {
      const held = await Promise.all(Array.from({ length: 5 }, openTo));
      const extra = await openTo();
      await closedWithin(extra, 2000);
      for (const s of held) s.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await fetch(`${small.bridge.url}/healthz`)).status).toBe(200);
    } finally {
      await small.close();
    }
  });

  it("a signed-in user's body sent too slowly is dropped after requestTimeoutMs", async () => {
    const slow = await startBridge({ limits: { headersTimeoutMs: 500, requestTimeoutMs: 1000 } as never });
    try {
      const tenant = await setupTenant(slow.bridge, ['alice']);
      const token = await login(slow.bridge.url, tenant.solutionId, tenant.users.alice!);
      const socket = await new Promise<Socket>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: Number(new URL(slow.bridge.url).port) }, () => resolve(s));
        s.once('error', reject);
      });
      socket.write(
        `POST /v1/rooms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"record":"`,
      );
      const ms = await closedWithin(socket, 5000);
      expect(ms).toBeGreaterThan(800);
    } finally {
      await slow.close();
    }
  });

  it('an idle keep-alive connection outlives the headers timeout', async () => {
    const socket = await open();
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await closedWithin(socket, 2000);
    expect(text.match(/HTTP\/1.1 200/g)).toHaveLength(2);
  });
});
