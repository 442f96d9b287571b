/**
 * A real NATS server for tests, from Debian's `nats-server` package (`make nats` installs it): one
 * process on a free port of 127.0.0.1, its log in a temporary folder, stopped at exit.
 * `stop()` and `start()` take it away and bring it back on the same port (the cluster fault tests,
 * docs/operations/cluster.md; scripts/cluster/nats-server.ts, which `make cluster` uses too). Core NATS
 * only: no JetStream, nothing on disk.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../scripts/cluster/ports.ts';
import { natsServerBinary, startNatsServer, stopNatsServer } from '../scripts/cluster/nats-server.ts';

export { natsServerBinary };

export interface TestNats {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM; clients see the connection drop). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

export async function startNats(): Promise<TestNats> {
  if (natsServerBinary() === undefined) throw new Error('nats-server is not installed: run `make nats` (apt-get install -y nats-server)');
  const root = mkdtempSync(join(tmpdir(), 'sealroom-nats-'));
  const logFile = join(root, 'server.log');
  const port = await freePort();
  let child: ChildProcess | undefined;
  const why = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '');
  const start = async () => {
    child = await startNatsServer({ port, logFile, why });
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (running !== undefined) await stopNatsServer(running);
  };
  // A test process that dies without its afterAll must not leave a server running.
  const stopAtExit = () => child?.kill('SIGKILL');
  process.once('exit', stopAtExit);
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    stop,
    start,
    async destroy() {
      process.off('exit', stopAtExit);
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface NatsGate {
  /** `nats://127.0.0.1:PORT` of the gate: give it to the Bridge whose link the test cuts. */
  readonly url: string;
  /** Cuts every connection through the gate and refuses new ones for `ms` (a network outage). */
  cut(ms: number): void;
  close(): Promise<void>;
}

/**
 * A TCP gate on 127.0.0.1:0 in front of the server: one Bridge reaches NATS through it, and `cut`
 * takes that Bridge off NATS for a while (the client's reconnects are refused meanwhile) while the
 * others stay on: what they publish meanwhile is lost for it, as core NATS loses it.
 */
export async function startNatsGate(target: TestNats): Promise<NatsGate> {
  const sockets = new Set<Socket>();
  let closedUntil = 0;
  const server: Server = createServer((client) => {
    if (Date.now() < closedUntil) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: target.port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `nats://127.0.0.1:${port}`,
    cut(ms) {
      closedUntil = Date.now() + ms;
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
