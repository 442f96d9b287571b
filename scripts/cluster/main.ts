/**
 * `make cluster`: PostgreSQL, nats-server and several Bridges on this machine's loopback, in one
 * command (scripts/cluster/cluster.ts, docs/operations/cluster.md). Ctrl-C or SIGTERM stops them all;
 * so does any of them dying.
 *
 *   node --import tsx scripts/cluster/main.ts [--bridges 3] [--port 8080] [--data-dir .cluster]
 *     [--postgres-port 15432] [--nats-port 14222] [--sealroom dist/bin/sealroom.js] [-- <sealroom start args>]
 */
import { parseArgs } from 'node:util';
import { MAX_BRIDGES, readyText, startCluster } from './cluster.ts';

function port(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--${name}: expected a port (1-65535), got "${value}"`);
  return n;
}

const print = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      bridges: { type: 'string', default: '3' },
      port: { type: 'string', default: '8080' },
      'data-dir': { type: 'string', default: '.cluster' },
      'postgres-port': { type: 'string', default: '15432' },
      'nats-port': { type: 'string', default: '14222' },
      sealroom: { type: 'string', default: 'dist/bin/sealroom.js' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    print(
      'usage: node --import tsx scripts/cluster/main.ts [--bridges N] [--port P] [--data-dir DIR] [--postgres-port P] [--nats-port P] [--sealroom FILE] [-- sealroom start args]',
    );
    return 0;
  }
  const bridges = Number(values.bridges);
  if (!Number.isInteger(bridges) || bridges < 1 || bridges > MAX_BRIDGES) throw new Error(`--bridges: expected 1 to ${MAX_BRIDGES}, got "${values.bridges}"`);
  const first = port('port', values.port);
  port('port', String(first + bridges - 1));
  // Interrupted while starting: exit at once; the exit handler kills what was started (cluster.ts).
  let onSignal: () => void = () => process.exit(130);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => onSignal());
  const cluster = await startCluster({
    dataDir: values['data-dir'],
    bridges,
    port: first,
    postgresPort: port('postgres-port', values['postgres-port']),
    natsPort: port('nats-port', values['nats-port']),
    sealroom: values.sealroom,
    bridgeArgs: positionals,
    print,
  });
  for (const line of readyText(cluster, { dev: positionals.includes('--dev') })) print(`cluster  | ${line}`);
  const outcome = await new Promise<{ error?: Error }>((resolve) => {
    // A second Ctrl-C while stopping changes nothing: the stop runs to its end.
    onSignal = () => resolve({});
    void cluster.died.then((error) => resolve({ error }));
  });
  if (outcome.error !== undefined) print(`cluster  | error: ${outcome.error.message}; stopping the others`);
  await cluster.stop();
  return outcome.error === undefined ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    print(`cluster  | error: ${(error as Error).message}`);
    process.exitCode = 1;
  },
);
