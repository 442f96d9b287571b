/**
 * Debian's nats-server (`make nats` installs it) as a child process on 127.0.0.1, for the tests
 * (test/nats.ts) and for `make cluster` (scripts/cluster/). Core NATS only: no JetStream, nothing on disk.
 */
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { accepting } from './ports.ts';

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server'];

/** The installed server binary, or undefined. */
export function natsServerBinary(): string | undefined {
  return CANDIDATES.find((path) => existsSync(path));
}

/**
 * Resolves once something accepts TCP connections on 127.0.0.1:`port`; rejects after `timeoutMs`, or
 * at once when `child` exits first. `why()` adds to the error (a log's tail).
 */
export async function listening(port: number, timeoutMs: number, child?: ChildProcess, why: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`nats-server exited (code ${child.exitCode}, signal ${child.signalCode}) before it listened on 127.0.0.1:${port}\n${why()}`);
    }
    if (await accepting(port)) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on 127.0.0.1:${port} within ${timeoutMs} ms\n${why()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts nats-server on 127.0.0.1:`port` and waits until it listens (killed if it does not). `logFile`
 * is its `-l`, otherwise it logs to its stderr; `spawnOptions` as for `spawn` (stdio, detached).
 */
export async function startNatsServer(options: {
  port: number;
  logFile?: string;
  spawnOptions?: SpawnOptions;
  /** Words before the server's command (a wrapper that execs it, such as setpriv). */
  prefix?: readonly string[];
  /** Called with the child at once, before it listens (to read its output). */
  onSpawn?: (child: ChildProcess) => void;
  why?: () => string;
}): Promise<ChildProcess> {
  const bin = natsServerBinary();
  if (bin === undefined) throw new Error('nats-server is not installed: run `make nats` (apt-get install -y nats-server)');
  const args = ['-a', '127.0.0.1', '-p', String(options.port), ...(options.logFile === undefined ? [] : ['-l', options.logFile])];
  const [file, ...argv] = [...(options.prefix ?? []), bin, ...args] as [string, ...string[]];
  const child = spawn(file, argv, { stdio: 'ignore', ...options.spawnOptions });
  options.onSpawn?.(child);
  try {
    await listening(options.port, 10_000, child, options.why);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return child;
}

/** Stops a nats-server child (SIGTERM) and waits for its exit. */
export async function stopNatsServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}
