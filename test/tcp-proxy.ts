/**
 * A TCP proxy on 127.0.0.1:0 in front of a Bridge. It records every byte in both directions (for
 * plaintext scans of real traffic), can cut all connections (to simulate a dropped network), and can
 * hold what the Bridge sends for a while (a delay on the path, in no process's event loop).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  url: string;
  /** Everything sent client -> Bridge and Bridge -> client so far. */
  captured(): Buffer;
  /** Destroys every open connection, like a network failure. */
  cutAll(): void;
  /** Holds every byte the Bridge sends to the clients for `ms`, then passes them on in order. */
  holdDown(ms: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string | (() => string)): Promise<TcpProxy> {
  // A function target is read per connection, so the proxy can exist before the Bridge it fronts (whose
  // `loginUrls` must name the proxy's URL: a login signs the URL its client used).
  const target = () => new URL(typeof targetUrl === 'function' ? targetUrl() : targetUrl);
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  /** Bridge -> client bytes held by `holdDown`, in arrival order; undefined while nothing is held. */
  let held: Array<[Socket, Buffer]> | undefined;
  const server: Server = createServer((client) => {
    const { port: targetPort, hostname } = target();
    const upstream = connect(Number(targetPort), hostname);
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (d: Buffer) => {
      chunks.push(Buffer.from(d));
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      chunks.push(Buffer.from(d));
      if (held !== undefined) held.push([client, d]);
      else client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    captured: () => Buffer.concat(chunks),
    cutAll: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    holdDown: (ms) => {
      if (held !== undefined) return;
      held = [];
      setTimeout(() => {
        const out = held ?? [];
        held = undefined;
        for (const [client, d] of out) if (!client.destroyed) client.write(d);
      }, ms);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
