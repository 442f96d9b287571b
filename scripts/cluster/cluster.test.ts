/**
 * `make cluster` for real (scripts/cluster/main.ts, docs/operations/cluster.md): the launcher starts
 * Debian's PostgreSQL and nats-server and two Bridges (from the sources, bin/sealroom.js, so no build
 * is needed) on free ports with its data in a temporary folder. A room created through A with the real
 * ManageClient and Endpoint is read through B and its data track reaches a member on B (PostgreSQL and
 * NATS shared); SIGINT stops every process and frees every port. A second start on the same folder
 * reuses the data, and a Bridge that cannot start (its port taken) ends the launcher with an error and
 * stops everything else.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManageClient } from '../../bridge/manage/client.ts';
import { DataLog, publishDataTrack, until, utf8 } from '../../endpoint/realtime/test-kit.ts';
import { connectClient, pub } from '../../test/endpoint.ts';
import { makeUser } from '../../test/identities.ts';
import { accepting, freePort } from './ports.ts';

const MAIN = join(import.meta.dirname, 'main.ts');
const SEALROOM = join(import.meta.dirname, '..', '..', 'bin', 'sealroom.js');

let dir: string;
let ports: { bridge: number; postgres: number; nats: number };

/** A port p with p + 1 free too (the second Bridge's). */
async function twoFreePorts(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 65535 && !(await accepting(port + 1))) return port;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sealroom-cluster-'));
  // As root PostgreSQL runs as `postgres`, which must pass through this folder.
  chmodSync(dir, 0o755);
  ports = { bridge: await twoFreePorts(), postgres: await freePort(), nats: await freePort() };
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Launcher {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

function launch(): Launcher {
  const args = ['--import', 'tsx', MAIN, '--bridges', '2', '--port', String(ports.bridge), '--data-dir', join(dir, 'cluster')];
  args.push('--postgres-port', String(ports.postgres), '--nats-port', String(ports.nats), '--sealroom', SEALROOM, '--', '--dev', '--log-level', 'warn');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (text: string) => output.push(...text.split('\n')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

/** After a failure: SIGTERM lets the launcher stop its children (SIGKILL would orphan them); SIGKILL if it hangs. */
async function stopLauncher(l: Launcher): Promise<void> {
  if (l.child.exitCode !== null || l.child.signalCode !== null) return;
  l.child.kill('SIGTERM');
  const timer = setTimeout(() => l.child.kill('SIGKILL'), 30_000);
  await l.exited;
  clearTimeout(timer);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function lineWith(output: string[], pattern: RegExp): RegExpExecArray | undefined {
  for (const line of output) {
    const match = pattern.exec(line);
    if (match !== null) return match;
  }
  return undefined;
}

describe('make cluster (scripts/cluster/main.ts)', () => {
  it('starts PostgreSQL, NATS and two Bridges as one cluster, and SIGINT stops every process', async () => {
    const l = launch();
    try {
      await until(() => l.output.some((line) => line.includes('Stop everything with Ctrl-C')) || l.child.exitCode !== null, 'the cluster ready', 90_000);
      expect(l.child.exitCode, l.output.join('\n')).toBeNull();
      const urls = [0, 1].map((i) => `http://127.0.0.1:${ports.bridge + i}`);
      const pids = [1, 2].map((i) => Number(lineWith(l.output, new RegExp(`bridge-${i}\\s+http://\\S+\\s+\\(pid (\\d+)\\)`))?.[1]));
      const ready = lineWith(l.output, /ready: 2 Bridges .*pid (\d+)\) and NATS \(nats:\/\/127\.0\.0\.1:\d+, pid (\d+)\)/);
      expect(ready, l.output.join('\n')).toBeDefined();
      pids.push(Number(ready![1]), Number(ready![2]));
      expect(pids.every((pid) => Number.isInteger(pid) && pid > 0 && alive(pid))).toBe(true);
      // Each child's lines carry its name.
      expect(l.output.some((line) => line.startsWith('nats     | '))).toBe(true);
      expect(l.output.some((line) => line.startsWith('bridge-2 | '))).toBe(true);
      for (const url of urls) expect((await fetch(`${url}/healthz`)).status).toBe(200);

      // The operator key the launcher kept; a tenant through A.
      const apiKey = readFileSync(join(dir, 'cluster', 'operator-key'), 'utf8').trim();
      const manage = new ManageClient(urls[0]!, apiKey);
      const { solutionId } = await manage.createSolution('cluster-test');
      const { contextId } = await manage.createContext(solutionId, 'ctx');
      const [aliceUser, bobUser] = await Promise.all([makeUser('alice'), makeUser('bob')]);
      for (const u of [aliceUser, bobUser]) await manage.addContextUser(contextId, u.userId, u.publicKey);
      // Dev mode's demo context was made once, by the launcher through A, and B finds the same one.
      const demos = await Promise.all(urls.map(async (url) => (await (await fetch(`${url}/dev/v1/info`)).json()) as { contextId: string }));
      expect(demos[1]!.contextId).toBe(demos[0]!.contextId);

      const alice = await connectClient(urls[0]!, solutionId, aliceUser);
      const bob = await connectClient(urls[1]!, solutionId, bobUser);
      try {
        const roomId = await alice.streamApi.createStreamRoom(contextId, [pub(aliceUser), pub(bobUser)], [pub(aliceUser)], utf8('{}'), utf8('private'));
        // PostgreSQL: the room created through A is read and verified through B.
        const read = await bob.streamApi.getStreamRoom(roomId);
        expect(read.users.map((u) => u.userId).sort()).toEqual(['alice', 'bob']);
        // NATS: alice's data track on A reaches bob on B.
        await alice.streamApi.joinStreamRoom(roomId);
        const { handle, trackId } = await publishDataTrack(alice, roomId);
        await bob.streamApi.joinStreamRoom(roomId);
        const log = new DataLog(bob, roomId, handle);
        await bob.streamApi.subscribeToRemoteStreams(roomId, [{ streamId: handle }]);
        await alice.streamApi.sendData(trackId, utf8('across the cluster'));
        await until(() => log.messages.length === 1, 'the message on B', 10_000);
        expect(log.texts()).toEqual(['across the cluster']);
      } finally {
        await Promise.all([alice.connection.disconnect(), bob.connection.disconnect()]);
      }

      l.child.kill('SIGINT');
      expect(await l.exited, l.output.join('\n')).toBe(0);
      expect(l.output.some((line) => line.includes('stopped: Bridges, nats-server, PostgreSQL'))).toBe(true);
      // pg_ctl stop returns when the server removed its pid file, a moment before the process ends.
      await until(() => !pids.some(alive), 'every process gone', 5_000);
      expect(pids.filter(alive)).toEqual([]);
      // Nothing listens any more (a bind test could meet another process's outgoing connection on these ephemeral ports).
      for (const port of [ports.bridge, ports.bridge + 1, ports.postgres, ports.nats]) expect(await accepting(port), `port ${port}`).toBe(false);
    } finally {
      await stopLauncher(l);
    }
  }, 150_000);

  it('reuses the data, and stops everything with an error when a Bridge dies at start', async () => {
    // The first Bridge's port, taken (whatever connects is cut).
    let taken: Server | undefined = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => taken!.listen(ports.bridge, '127.0.0.1', resolve));
    const l = launch();
    try {
      await until(() => l.child.exitCode !== null, 'the launcher to exit', 30_000).catch((error: Error) => {
        throw new Error(`${error.message}:\n${l.output.join('\n')}`);
      });
      expect(await l.exited).toBe(1);
      const text = l.output.join('\n');
      expect(text).toContain(`PostgreSQL in ${join(dir, 'cluster', 'postgres')}`);
      expect(text).not.toContain('new PostgreSQL cluster');
      expect(text).toMatch(/error: bridge-1 exited at start \(exit code 1\): error: listen EADDRINUSE/);
      expect(text).toContain('stopped: Bridges, nats-server, PostgreSQL');
      expect(existsSync(join(dir, 'cluster', 'postgres', 'data', 'postmaster.pid'))).toBe(false);
      for (const port of [ports.postgres, ports.nats]) expect(await accepting(port), `port ${port}`).toBe(false);
    } finally {
      await stopLauncher(l);
      await new Promise<void>((resolve) => taken?.close(() => resolve()));
      taken = undefined;
    }
  }, 60_000);
});
