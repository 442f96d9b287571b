/**
 * How a transport binds its UDP socket in a port range (udp-bind.ts), on werift's own UdpTransport:
 * a port another process takes between werift's probe and its bind, a port already taken, and a full
 * range. All on 127.0.0.1.
 */
import { createSocket, Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpTransport } from 'werift';
import { guardLoopbackUdp } from './test-peer.ts';
import { fixUdpBind } from './udp-bind.ts';

const udp = guardLoopbackUdp();
const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await Promise.resolve(s.close());
});

async function bound(port: number): Promise<Socket> {
  const socket = createSocket('udp4');
  open.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve());
  });
  return socket;
}

/** Three consecutive free ports on 127.0.0.1. */
async function freeRange(): Promise<[number, number]> {
  for (;;) {
    const min = 40_000 + Math.floor(Math.random() * 20_000);
    try {
      const held = [await bound(min), await bound(min + 1), await bound(min + 2)];
      for (const s of held) s.close();
      open.splice(0);
      return [min, min + 2];
    } catch {
      for (const s of open.splice(0)) s.close();
    }
  }
}

const transport = (portRange: [number, number]) =>
  UdpTransport.init('udp4', { portRange, interfaceAddresses: { udp4: '127.0.0.1' } }).then((t) => {
    open.push(t);
    return t;
  });

describe('binding a transport in a port range', () => {
  fixUdpBind();

  it('keeps going when another process takes the port it found, and skips ports in use', async () => {
    const range = await freeRange();
    // Another process binds every port of the range the moment a socket of ours lets go of it:
    // werift's probe-then-bind lost its port this way, and its bind's error had no listener.
    const close = Socket.prototype.close;
    const taken: number[] = [];
    Socket.prototype.close = function (this: Socket, ...args: Parameters<Socket['close']>) {
      let port: number | undefined;
      try {
        port = this.address().port;
      } catch {
        // not bound
      }
      const result = close.apply(this, args);
      if (port !== undefined && port >= range[0] && port <= range[1] && !taken.includes(port)) {
        taken.push(port);
        void bound(port);
      }
      return result;
    };
    try {
      const first = await transport(range);
      expect(first.socket.address().port).toBe(range[0]);
      expect(taken).toEqual([]);
    } finally {
      Socket.prototype.close = close;
    }
    // Next fit: the search goes on from the port after the last one bound, past one in use.
    await bound(range[0] + 1);
    expect((await transport(range)).socket.address().port).toBe(range[0] + 2);
  });

  it('fails with a clear error once every port of the range is taken, and does not search it again at once', async () => {
    const range = await freeRange();
    for (let port = range[0]; port <= range[1]; port++) await bound(port);
    // The transport's own socket is closed when it fails (werift drops the transport without closing it).
    const close = Socket.prototype.close;
    let closed = 0;
    Socket.prototype.close = function (this: Socket, ...args: Parameters<Socket['close']>) {
      closed++;
      return close.apply(this, args);
    };
    try {
      await expect(transport(range)).rejects.toThrow(`every UDP port in [${range[0]}, ${range[1]}] is taken`);
    } finally {
      Socket.prototype.close = close;
    }
    expect(closed).toBe(1);
    const bind = Socket.prototype.bind;
    let binds = 0;
    Socket.prototype.bind = function (this: Socket, ...args: unknown[]) {
      binds++;
      return (bind as (...a: unknown[]) => Socket).apply(this, args);
    } as Socket['bind'];
    try {
      await expect(transport(range)).rejects.toThrow('was taken a moment ago');
    } finally {
      Socket.prototype.bind = bind;
    }
    expect(binds).toBe(0);
  });

  it('binds only loopback here', () => {
    expect(udp.violations).toEqual([]);
  });
});
