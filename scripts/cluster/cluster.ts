/**
 * A local cluster (`make cluster`, docs/operations/cluster.md): Debian's PostgreSQL and nats-server on
 * 127.0.0.1 with their data in one folder kept between runs, and N Bridges (`sealroom start --store
 * postgres://... --nats nats://...`) on consecutive ports of 127.0.0.1.
 *
 * Order, so nothing races on a new database: PostgreSQL, the `sealroom` database, NATS, the first
 * Bridge (it runs the migrations and creates the operator key; in dev mode the launcher then asks it
 * for the demo context, so that is made once), then the others together. A child that exits, or a
 * PostgreSQL that goes away, ends the cluster: `died` resolves and the caller stops the rest.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Child, DIE_WITH_PARENT, describeExit, followOutput, hasExited, startChild, stopChild } from './children.ts';
import { startNatsServer, stopNatsServer } from './nats-server.ts';
import { ensureDatabase, openPostgresServer, type PostgresServer, postgresBinDir } from './postgres-server.ts';

export interface ClusterOptions {
  /** Where PostgreSQL keeps its data and the launcher its operator key (`.cluster`). */
  dataDir: string;
  bridges: number;
  /** The first Bridge's port; the others take the next ones. */
  port: number;
  postgresPort: number;
  natsPort: number;
  /** The `sealroom` command to run the Bridges with (dist/bin/sealroom.js, or bin/sealroom.js on the sources). */
  sealroom: string;
  /** Extra arguments of every `sealroom start` (`--dev`, `--media-address this-machine`, `--log-level warn`). */
  bridgeArgs: string[];
  /** Where every line goes (the launcher's own and its children's, behind their names). */
  print: (line: string) => void;
}

export interface RunningBridge {
  name: string;
  url: string;
  pid: number;
}

export interface RunningCluster {
  bridges: RunningBridge[];
  postgresUrl: string;
  postgresPid: number;
  natsUrl: string;
  natsPid: number;
  /** The file holding the operator API key, when the launcher made the database. */
  operatorKeyFile: string | undefined;
  /** Resolves when a child exits or PostgreSQL stops while the cluster runs. */
  died: Promise<Error>;
  /** Stops the Bridges, then NATS, then PostgreSQL. Idempotent. */
  stop(): Promise<void>;
}

export const MAX_BRIDGES = 9;
const DATABASE = 'sealroom';
const BRIDGE_START_MS = 60_000;
const BRIDGE_STOP_GRACE_MS = 10_000;

/** Polls `GET /healthz` until 200; fails when the child exits first or after `timeoutMs`. */
async function healthy(url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited(child.process)) {
      const exit = await child.exited;
      throw new Error(`${child.name} exited at start (${describeExit(exit)}): ${child.tail().trim().split('\n').at(-1) ?? ''}`);
    }
    const status = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${child.name} was not healthy at ${url}/healthz within ${timeoutMs} ms (last status ${status})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An operator key of the form the Bridge issues (bridge/config.ts, `initialApiKey`). */
function newOperatorKey(): string {
  return `srk_${randomBytes(32).toString('base64url')}`;
}

export async function startCluster(options: ClusterOptions): Promise<RunningCluster> {
  const { print } = options;
  if (!Number.isInteger(options.bridges) || options.bridges < 1 || options.bridges > MAX_BRIDGES) {
    throw new Error(`bridges: expected 1 to ${MAX_BRIDGES}, got ${options.bridges}`);
  }
  const say = (line: string) => print(`cluster  | ${line}`);
  const dataDir = resolve(options.dataDir);
  const pgRoot = join(dataDir, 'postgres');
  // As root the server runs as `postgres`, which must be able to pass through dataDir.
  mkdirSync(pgRoot, { recursive: true, mode: 0o755 });

  const children: Child[] = [];
  let nats: Child | undefined;
  let postgres: PostgresServer | undefined;
  let stopping: Promise<void> | undefined;
  let watch: NodeJS.Timeout | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(watch);
      const stopped = [children.length > 0 ? 'Bridges' : '', nats === undefined ? '' : 'nats-server', postgres === undefined ? '' : 'PostgreSQL'];
      await Promise.all(children.map((c) => stopChild(c.process, BRIDGE_STOP_GRACE_MS)));
      if (nats !== undefined) await stopNatsServer(nats.process);
      if (postgres?.runningPid() !== undefined) await postgres.stop('fast').catch(() => postgres?.stopSync('immediate'));
      process.off('exit', killAtExit);
      if (stopped.some((x) => x !== '')) say(`stopped: ${stopped.filter((x) => x !== '').join(', ')}`);
    })();
    return stopping;
  };
  // A launcher that dies of an error leaves nothing behind.
  const killAtExit = () => {
    for (const c of [...children, ...(nats === undefined ? [] : [nats])]) if (!hasExited(c.process)) c.process.kill('SIGKILL');
    postgres?.stopSync('immediate');
  };
  process.on('exit', killAtExit);

  let reportDeath: (error: Error) => void = () => undefined;
  const died = new Promise<Error>((resolve) => {
    reportDeath = resolve;
  });
  const watchChild = (child: Child) => {
    void child.exited.then((exit) => {
      if (stopping === undefined) reportDeath(new Error(`${child.name} exited (${describeExit(exit)})`));
    });
  };

  try {
    postgres = await openPostgresServer({ root: pgRoot, port: options.postgresPort, durable: true });
    const running = postgres.runningPid();
    if (running !== undefined) {
      const server = postgres;
      postgres = undefined; // not ours to stop
      throw new Error(
        `a PostgreSQL server (pid ${running}) already runs on ${pgRoot}: another make cluster, or one that was killed. ` +
          `Stop it with: ${process.getuid?.() === 0 ? 'runuser -u postgres -- ' : ''}${join(postgresBinDir() ?? '', 'pg_ctl')} -D ${join(pgRoot, 'data')} stop  (log: ${server.logFile})`,
      );
    }
    say(`${postgres.created ? 'new PostgreSQL cluster' : 'PostgreSQL'} in ${pgRoot}, starting on 127.0.0.1:${options.postgresPort} (log: ${postgres.logFile})`);
    await postgres.start();
    const postgresPid = postgres.runningPid() ?? 0;
    const database = await ensureDatabase(postgres.adminUrl, DATABASE);

    await startNatsServer({
      port: options.natsPort,
      spawnOptions: { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
      prefix: DIE_WITH_PARENT,
      onSpawn: (child) => {
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
        nats = { name: 'nats', process: child, pid: child.pid ?? 0, exited, tail: () => '' };
        followOutput(child, 'nats    ', print);
      },
    });
    const natsUrl = `nats://127.0.0.1:${options.natsPort}`;
    if (nats !== undefined) watchChild(nats);

    // The operator key the launcher keeps beside the data (a local cluster: whoever can read the folder
    // can read the database anyway). The first Bridge creates it only in a database without any key
    // (`initialApiKey`, bridge/config.ts); a database with its own keeps them, checked below.
    const keyFile = join(dataDir, 'operator-key');
    const firstStart = join(dataDir, 'first-start.json');
    if (!existsSync(keyFile)) writeFileSync(keyFile, `${newOperatorKey()}\n`, { mode: 0o600 });
    const key = readFileSync(keyFile, 'utf8').trim();
    writeFileSync(firstStart, JSON.stringify({ initialApiKey: key }), { mode: 0o600 });
    const firstStartArgs = ['--config', firstStart];

    const start = (i: number, extra: string[]) => {
      const port = options.port + i;
      const name = `bridge-${i + 1}`;
      const args = [
        options.sealroom,
        'start',
        '--store',
        database.url,
        '--nats',
        natsUrl,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        ...options.bridgeArgs,
        ...extra,
      ];
      const child = startChild(name, process.execPath, args, print);
      children.push(child);
      return { child, url: `http://127.0.0.1:${port}` };
    };
    const first = start(0, firstStartArgs);
    await healthy(first.url, first.child, BRIDGE_START_MS).finally(() => rmSync(firstStart, { force: true }));
    const keyWorks = (await fetch(`${first.url}/manage/v1/api-keys`, { headers: { authorization: `Bearer ${key}` } })).ok;
    if (!keyWorks) say(`${keyFile} holds no key of this database (it had its own): operator commands need the key its first start printed`);
    if (options.bridgeArgs.includes('--dev')) {
      // The demo context, made once here rather than by the first request to each Bridge at once.
      const info = await fetch(`${first.url}/dev/v1/info`);
      if (!info.ok) throw new Error(`${first.child.name}: GET /dev/v1/info answered ${info.status}`);
    }
    const rest = Array.from({ length: options.bridges - 1 }, (_, i) => start(i + 1, []));
    await Promise.all(rest.map((b) => healthy(b.url, b.child, BRIDGE_START_MS)));
    for (const child of children) watchChild(child);
    watch = setInterval(() => {
      if (stopping === undefined && postgres?.runningPid() === undefined) reportDeath(new Error('PostgreSQL stopped'));
    }, 1_000);

    return {
      bridges: [first, ...rest].map(({ child, url }) => ({ name: child.name, url, pid: child.pid })),
      postgresUrl: database.url,
      postgresPid,
      natsUrl,
      natsPid: nats?.pid ?? 0,
      operatorKeyFile: keyWorks ? keyFile : undefined,
      died,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The lines printed once the cluster is up: URLs and a short quick start. */
export function readyText(cluster: RunningCluster, options: { dev: boolean }): string[] {
  const width = Math.max(...cluster.bridges.map((b) => b.url.length));
  const key = cluster.operatorKeyFile === undefined ? undefined : readFileSync(cluster.operatorKeyFile, 'utf8').trim();
  return [
    `ready: ${cluster.bridges.length} Bridges on one PostgreSQL (${cluster.postgresUrl}, pid ${cluster.postgresPid}) and NATS (${cluster.natsUrl}, pid ${cluster.natsPid})`,
    ...cluster.bridges.map((b) => `  ${b.name}  ${b.url.padEnd(width)}/  (pid ${b.pid})`),
    '',
    options.dev
      ? `Quick start: open ${cluster.bridges[0]?.url}/ and ${cluster.bridges[1]?.url ?? cluster.bridges[0]?.url}/ in two browser windows, pick a name in each and chat: each window is on its own Bridge and the room crosses over NATS.`
      : 'Quick start: connect Endpoints to any of these URLs (dev mode is off: add users with the operator key).',
    key === undefined
      ? 'Operator key: the one printed on the first start of this database (the launcher does not know it).'
      : `Operator commands: export SEALROOM_URL=${cluster.bridges[0]?.url} SEALROOM_API_KEY=${key}  (kept in ${cluster.operatorKeyFile}), then node bin/sealroom.js solution list`,
    'Stop everything with Ctrl-C.',
  ];
}
