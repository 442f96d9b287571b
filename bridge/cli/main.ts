/**
 * The `sealroom` command: key generation, starting the Bridge, and the operator's tasks through the
 * management API. Flags override environment variables (SEALROOM_*), which override defaults.
 */
import { existsSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { generateKeyPair, publicKeyOf } from '../../crypto/identity.ts';
import { SealroomError } from '../../protocol/errors.ts';
import { LOG_LEVELS, type BridgeOptions } from '../config.ts';
import { thisMachineMedia } from '../media/this-machine.ts';
import { mergeOptions, readConfigFile } from './config-file.ts';
import { ManageClient } from '../manage/client.ts';
import { addDatabaseCommands } from './database.ts';
import { DEFAULT_HEAP_GROWTH_PERCENT, parseHeapGrowth, setHeapGrowth } from './heap-growth.ts';
import { quickStart, restartNote } from './quick-start.ts';

function integer(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return n;
  };
}

/** A usage problem found while running a command (commander reports only its own parse errors). */
class CliError extends Error {}

/**
 * The web app built beside this command (`make build` writes dist/app next to dist/bridge), served at
 * `/` unless `--app-dir` or `--no-app` says otherwise. The build marks it with a file the sources lack,
 * so running from the sources (bin/sealroom.js) finds no app there.
 */
function builtAppDir(): string | undefined {
  const dir = fileURLToPath(new URL('../../app/', import.meta.url));
  return existsSync(`${dir}sealroom-app.json`) ? dir : undefined;
}

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * `--media-address`: an IPv4 address for the media unit to bind, or `this-machine` (bridge/media/this-machine.ts):
 * one of this machine's addresses, with candidates from this machine only. Other media keys of the
 * config file stay.
 */
function mediaAt(address: string, fileMedia: BridgeOptions['media'], io: Io): BridgeOptions['media'] {
  if (address === 'this-machine') {
    const chosen = thisMachineMedia();
    if (chosen.warning !== undefined) io.err(`sealroom: ${chosen.warning}`);
    return { ...fileMedia, listenAddress: chosen.listenAddress, allowedRemoteNetworks: chosen.allowedRemoteNetworks };
  }
  if (!isIPv4(address)) throw new CliError(`--media-address: expected an IPv4 address or this-machine, got "${address.slice(0, 64)}"`);
  return { ...fileMedia, listenAddress: address };
}

function operatorClient(options: { url: string; apiKey?: string }): ManageClient {
  if (options.apiKey === undefined || options.apiKey === '') {
    throw new CliError('an operator API key is required: --api-key or SEALROOM_API_KEY');
  }
  return new ManageClient(options.url, options.apiKey);
}

function withOperatorOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', 'Bridge URL').env('SEALROOM_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--api-key <key>', 'operator API key (srk_...)').env('SEALROOM_API_KEY'));
}

export function buildProgram(io: Io): Command {
  const program = new Command('sealroom')
    .description('sealroom: end-to-end encrypted stream rooms')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();

  program
    .command('keygen')
    .description('print a new Ed25519 identity: the private key (keep it secret) and the public key')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const pair = await generateKeyPair();
      io.out(opts.json === true ? JSON.stringify(pair) : `private key: ${pair.privateKey}\npublic key:  ${pair.publicKey}`);
    });

  program
    .command('pubkey')
    .description('print the public key of a private key read from SEALROOM_PRIVATE_KEY')
    .action(async () => {
      const key = process.env.SEALROOM_PRIVATE_KEY;
      if (key === undefined) throw new CliError('set SEALROOM_PRIVATE_KEY to the private key (srsk1...)');
      io.out(await publicKeyOf(key));
    });

  program
    .command('start')
    .description('start the Bridge on embedded SQLite (or on PostgreSQL with --store)')
    .addOption(new Option('--data-dir <dir>', 'database folder').env('SEALROOM_DATA_DIR').default('data'))
    .addOption(
      new Option(
        '--store <url>',
        'a postgres:// URL: data in PostgreSQL instead of --data-dir; several Bridges may share it (docs/operations/postgres.md)',
      ).env('SEALROOM_STORE'),
    )
    .addOption(
      new Option('--nats <url>', 'a nats:// URL: real-time fan-out to the other Bridges on the same --store (docs/operations/cluster.md)').env('SEALROOM_NATS'),
    )
    .addOption(new Option('--host <host>', 'listen address').env('SEALROOM_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'listen port (0: any free port)').env('SEALROOM_PORT').default(8080).argParser(integer('port')))
    .addOption(
      new Option('--public-url <url>', 'the only URL logins may sign (set it behind a proxy); default: the URLs the Bridge listens on').env(
        'SEALROOM_PUBLIC_URL',
      ),
    )
    .addOption(
      new Option('--trust-proxy <proxies>', 'comma-separated proxy addresses/CIDRs whose X-Forwarded-For is believed (default: none)').env(
        'SEALROOM_TRUST_PROXY',
      ),
    )
    .addOption(new Option('--log-level <level>', 'log level').env('SEALROOM_LOG_LEVEL').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--session-ttl <seconds>', 'session token lifetime').env('SEALROOM_SESSION_TTL').default(86_400).argParser(integer('session TTL')))
    .addOption(new Option('--cors-origins <origins>', 'comma-separated browser origins allowed on /v1 (* for any)').env('SEALROOM_CORS_ORIGINS').default('*'))
    .addOption(new Option('--body-limit <bytes>', 'largest JSON body of the room routes').env('SEALROOM_BODY_LIMIT').argParser(integer('body limit')))
    .addOption(new Option('--config <file>', 'a JSON file of Bridge options (limits, realtime, loginUrls, ...); flags win over it').env('SEALROOM_CONFIG'))
    // A flag for one start, deliberately without an environment variable that would stay set.
    .option('--force-new-database', 'start an empty database even where an earlier one left files (they are set aside)')
    .addOption(
      new Option('--app-dir <dir>', 'serve the web app built in this folder at / (default: the one built beside this command)').env('SEALROOM_APP_DIR'),
    )
    .option('--no-app', 'do not serve the web app')
    // Like --force-new-database: a flag for one start, never an environment variable or a config file.
    .option('--dev', 'DEV MODE for a local try-out: the web app registers its own users in a demo context (loopback only)')
    .option('--dev-on-any-address', 'allow --dev on a non-loopback --host (anyone who reaches it can register users)')
    .addOption(
      new Option(
        '--media-address <address>',
        "the media unit's IPv4 address (default 127.0.0.1: loopback, which browsers do not use); 'this-machine': one of this machine's addresses, media from this machine only",
      ).env('SEALROOM_MEDIA_ADDRESS'),
    )
    .addOption(
      new Option(
        '--heap-growth <percent>',
        "how far V8 lets the heap grow past its live size before marking again; 0: V8's own heuristic (docs/operations/node-heap.md)",
      )
        .env('SEALROOM_HEAP_GROWTH')
        .default(DEFAULT_HEAP_GROWTH_PERCENT)
        .argParser((value: string) => {
          const parsed = parseHeapGrowth(value);
          if ('problem' in parsed) throw new InvalidArgumentError(parsed.problem);
          return parsed.percent;
        }),
    )
    .action(
      async (
        opts: {
          heapGrowth: number;
          config?: string;
          store?: string;
          nats?: string;
          forceNewDatabase?: boolean;
          appDir?: string;
          app: boolean;
          dev?: boolean;
          devOnAnyAddress?: boolean;
          mediaAddress?: string;
          dataDir: string;
          host: string;
          port: number;
          publicUrl?: string;
          trustProxy?: string;
          logLevel: (typeof LOG_LEVELS)[number];
          sessionTtl: number;
          corsOrigins: string;
          bodyLimit?: number;
        },
        command: Command,
      ) => {
        // An option left at its default does not override the config file.
        const given = (name: string) => command.getOptionValueSource(name) !== 'default';
        const file = opts.config === undefined ? {} : readConfigFile(opts.config);
        if ('devMode' in file || 'devModeOnAnyAddress' in file) {
          throw new CliError('--config: dev mode is a flag for one start (--dev), never part of a config file');
        }
        const appDir = opts.app ? (opts.appDir ?? file.appDir ?? builtAppDir()) : undefined;
        const store = opts.store ?? file.store;
        const explicit: Partial<BridgeOptions> = {
          ...(given('host') || file.host === undefined ? { host: opts.host } : {}),
          ...(given('port') || file.port === undefined ? { port: opts.port } : {}),
          ...(opts.publicUrl === undefined ? {} : { publicUrl: opts.publicUrl }),
          ...(opts.trustProxy === undefined
            ? {}
            : {
                trustProxy: opts.trustProxy
                  .split(',')
                  .map((p) => p.trim())
                  .filter((p) => p !== ''),
              }),
          ...(given('logLevel') || file.logLevel === undefined ? { logLevel: opts.logLevel } : {}),
          ...(given('sessionTtl') || file.sessionTtlSeconds === undefined ? { sessionTtlSeconds: opts.sessionTtl } : {}),
          ...(given('corsOrigins') || file.corsOrigins === undefined
            ? {
                corsOrigins: opts.corsOrigins
                  .split(',')
                  .map((o) => o.trim())
                  .filter((o) => o !== ''),
              }
            : {}),
          ...(opts.bodyLimit === undefined ? {} : { limits: { bodyBytes: opts.bodyLimit } as never }),
          ...(opts.nats === undefined ? {} : { nats: opts.nats }),
          ...(opts.mediaAddress === undefined ? {} : { media: mediaAt(opts.mediaAddress, file.media, io) }),
        };
        // Before the Bridge allocates anything: V8 reads it at every full collection.
        setHeapGrowth(opts.heapGrowth);
        // Loaded here, not at the top: keygen, pubkey and the operator's commands run without the
        // Bridge's server dependencies (optional peers of the package, docs/package.md).
        const { createBridge } = await import('../bridge.ts');
        const bridge = await createBridge({
          ...mergeOptions(file, explicit),
          ...(store === undefined ? { dataDir: opts.dataDir } : { store, dataDir: undefined }),
          forceNewDatabase: opts.forceNewDatabase === true,
          appDir,
          devMode: opts.dev === true,
          devModeOnAnyAddress: opts.devOnAnyAddress === true,
        });
        const app = {
          served: appDir !== undefined,
          devMode: opts.dev === true,
          ...(opts.mediaAddress === undefined
            ? {}
            : { media: { address: bridge.config.media.listenAddress, thisMachineOnly: opts.mediaAddress === 'this-machine' } }),
        };
        bridge.log.info({ heapGrowthPercent: opts.heapGrowth }, 'V8 heap growth set');
        const where = store === undefined ? `${opts.dataDir}/` : 'PostgreSQL';
        if (bridge.initialApiKey !== undefined) io.err(quickStart(bridge.url, bridge.initialApiKey, where, app));
        else io.err(restartNote(bridge.url, where, app));
        await new Promise<void>((resolve) => {
          const stop = (signal: NodeJS.Signals) => {
            bridge.log.info({ signal }, 'signal received');
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            bridge.close().then(resolve, resolve);
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
      },
    );

  addDatabaseCommands(program, io);

  const solution = program.command('solution').description('manage solutions');
  withOperatorOptions(solution.command('create').argument('<name>').description('create a solution')).action(async (name: string, opts) => {
    io.out(JSON.stringify(await operatorClient(opts).createSolution(name), null, 2));
  });
  withOperatorOptions(solution.command('list').description('list solutions')).action(async (opts) => {
    io.out(JSON.stringify(await operatorClient(opts).listSolutions(), null, 2));
  });
  withOperatorOptions(solution.command('delete').argument('<solutionId>').description('delete a solution and everything in it')).action(
    async (id: string, opts) => {
      await operatorClient(opts).deleteSolution(id);
      io.out(`deleted ${id}`);
    },
  );

  const context = program.command('context').description('manage contexts');
  withOperatorOptions(context.command('create').argument('<solutionId>').argument('<name>').description('create a context')).action(
    async (solutionId: string, name: string, opts) => {
      io.out(JSON.stringify(await operatorClient(opts).createContext(solutionId, name), null, 2));
    },
  );
  withOperatorOptions(context.command('list').argument('<solutionId>').description('list the contexts of a solution')).action(
    async (solutionId: string, opts) => {
      io.out(JSON.stringify(await operatorClient(opts).listContexts(solutionId), null, 2));
    },
  );
  withOperatorOptions(context.command('delete').argument('<contextId>').description('delete a context with its users and rooms')).action(
    async (id: string, opts) => {
      await operatorClient(opts).deleteContext(id);
      io.out(`deleted ${id}`);
    },
  );

  const user = program.command('user').description('manage context users');
  withOperatorOptions(
    user.command('add').argument('<contextId>').argument('<userId>').argument('<publicKey>').description('add a user with its public key'),
  ).action(async (contextId: string, userId: string, publicKey: string, opts) => {
    io.out(JSON.stringify(await operatorClient(opts).addContextUser(contextId, userId, publicKey), null, 2));
  });
  withOperatorOptions(user.command('list').argument('<contextId>').description('list the users of a context')).action(async (contextId: string, opts) => {
    io.out(JSON.stringify(await operatorClient(opts).listContextUsers(contextId), null, 2));
  });
  withOperatorOptions(user.command('remove').argument('<contextId>').argument('<userId>').description('remove a user from a context')).action(
    async (contextId: string, userId: string, opts) => {
      await operatorClient(opts).removeContextUser(contextId, userId);
      io.out(`removed ${userId}`);
    },
  );

  const apiKey = program.command('api-key').description('manage operator API keys');
  withOperatorOptions(apiKey.command('create').argument('<name>').description('create an API key (shown once)')).action(async (name: string, opts) => {
    io.out(JSON.stringify(await operatorClient(opts).createApiKey(name), null, 2));
  });
  withOperatorOptions(apiKey.command('list').description('list API keys')).action(async (opts) => {
    io.out(JSON.stringify(await operatorClient(opts).listApiKeys(), null, 2));
  });
  withOperatorOptions(apiKey.command('revoke').argument('<id>').description('revoke an API key')).action(async (id: string, opts) => {
    await operatorClient(opts).revokeApiKey(id);
    io.out(`revoked ${id}`);
  });

  return program;
}

/** An install of the package without the Bridge's optional peers (docs/package.md) lacks one of them. */
const SERVER_PEERS_HINT =
  'the Bridge needs its server dependencies, which an Endpoint-only install leaves out: npm install better-sqlite3 express pino prom-client werift';

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[], io: Io = { out: (s) => console.log(s), err: (s) => console.error(s) }): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    const e = error as { code?: string; exitCode?: number; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return e.exitCode ?? 2;
    if (error instanceof SealroomError) io.err(`error: ${error.code}: ${error.message}`);
    else io.err(`error: ${e.message ?? String(error)}`);
    if (e.code === 'ERR_MODULE_NOT_FOUND')
      io.err(/'pg'/.test(e.message ?? '') ? 'the PostgreSQL store (--store) needs the pg package: npm install pg' : SERVER_PEERS_HINT);
    return 1;
  }
}
