/**
 * An HTTP proxy in front of a test Bridge that lets a test hold a request before it reaches the Bridge,
 * or its response before it reaches the client: the order of what the Bridge sees and answers is the
 * test's, not the scheduler's. WebSocket upgrades pass through untouched. The Bridge must announce the
 * proxy's URL (`publicUrl`), since logins are bound to it.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';

export interface ProxyHooks {
  /** Runs before a request goes on to the Bridge; the request waits for it. */
  request?: (req: IncomingMessage) => Promise<void> | void;
  /** Runs once the Bridge has answered a request, before the answer goes on; the answer waits for it. */
  response?: (req: IncomingMessage) => Promise<void> | void;
  /**
   * The answer as the client gets it: another body, another status and body, or undefined to leave it
   * (answers are read whole).
   */
  rewrite?: (req: IncomingMessage, body: Buffer, status: number) => Buffer | { status: number; body: Buffer } | undefined;
}

export interface HttpProxy {
  url: string;
  close(): Promise<void>;
}

/** A proxy to the Bridge at `target()` (read at each request, so the proxy can start first). */
export async function startHttpProxy(target: () => string, hooks: ProxyHooks = {}): Promise<HttpProxy> {
  const server = createServer(async (req, res) => {
    await hooks.request?.(req);
    const bridge = new URL(target());
    const upstream = httpRequest({ host: bridge.hostname, port: bridge.port, method: req.method, path: req.url, headers: req.headers }, async (reply) => {
      const rewrite = hooks.rewrite;
      if (rewrite === undefined) {
        await hooks.response?.(req);
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of reply) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const status = reply.statusCode ?? 502;
      const rewritten = rewrite(req, body, status) ?? body;
      const out = Buffer.isBuffer(rewritten) ? { status, body: rewritten } : rewritten;
      await hooks.response?.(req);
      const { 'transfer-encoding': _chunked, ...headers } = reply.headers;
      res.writeHead(out.status, { ...headers, 'content-length': String(out.body.length) });
      res.end(out.body);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
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
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A gate a hook can wait at until the test opens it (or `timeoutMs` passes). */
export function gate(timeoutMs = 5000): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
    setTimeout(resolve, timeoutMs).unref();
  });
  return { opened, open };
}
