/**
 * TCP connections per client address (docs/operations/limits.md). Every connection, HTTP or WebSocket,
 * counts from accept to close; one past `perAddress` is destroyed at once, before a byte of it is
 * parsed, so one address cannot take the file descriptors every other client needs. Connections from a
 * trusted proxy are not counted: they carry many clients, and the proxy is where those are limited.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimitOptions {
  perAddress: number;
  /** Whether the peer address is a proxy named in `trustProxy`. */
  trusted(address: string): boolean;
  refused(address: string): void;
}

/** The address a socket was counted under, for its `close`. */
const COUNTED_AS = Symbol('sealroom.countedAs');
type CountedSocket = Socket & { [COUNTED_AS]?: string };

export function limitConnectionsPerAddress(server: Server, options: ConnectionLimitOptions): void {
  const open = new Map<string, number>();
  // One listener for every socket rather than a closure (and a `once` wrapper) each: it is held for as
  // long as the socket is open (docs/operations/memory.md).
  function closed(this: CountedSocket): void {
    const address = this[COUNTED_AS];
    if (address === undefined) return;
    this[COUNTED_AS] = undefined;
    const left = (open.get(address) ?? 1) - 1;
    if (left > 0) open.set(address, left);
    else open.delete(address);
  }
  server.on('connection', (socket: CountedSocket) => {
    const address = socket.remoteAddress ?? 'unknown';
    if (options.trusted(address)) return;
    const count = open.get(address) ?? 0;
    if (count >= options.perAddress) {
      options.refused(address);
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket[COUNTED_AS] = address;
    socket.on('close', closed);
  });
}
