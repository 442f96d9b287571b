/**
 * `createBridge(options)`: starts a Bridge in this process and returns it started (docs/design.md,
 * "Layout"). The CLI's `sealroom start` is a thin wrapper over it; tests and embedders call it with
 * `port: 0`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import express from 'express';
import { pino, type Logger } from 'pino';
import { loginOrigins } from './auth/login-origins.ts';
import { AuthService, bearerToken } from './auth/service.ts';
import { resolveConfig, type BridgeConfig, type BridgeOptions } from './config.ts';
import { ClusterFanout } from './cluster/fanout.ts';
import { NatsLink } from './cluster/nats.ts';
import { BridgeEvents } from './events.ts';
import { BridgeMetrics } from './metrics.ts';
import { devHostAllowed, devRouter } from './dev/dev-mode.ts';
import { checkAppDir, serveApp } from './http/app-static.ts';
import { openApiDocument } from './http/openapi.ts';
import { limitConnectionsPerAddress } from './http/connection-limits.ts';
import { overloadGuard } from './http/overload-guard.ts';
import { cors } from './http/cors.ts';
import { errorHandler, HttpError } from './http/errors.ts';
import { requireJsonBody } from './http/json-body.ts';
import { responseLimits, type ResponseLimitCounters } from './http/response-limits.ts';
import { manageRouter, userRouter } from './http/routes.ts';
import { ManageClient } from './manage/client.ts';
import { ManageService } from './manage/service.ts';
import { createMediaUnit } from './media/index.ts';
import { OverloadMonitor } from './overload/overload.ts';
import { RealtimeHub } from './realtime/hub.ts';
import { createRelay } from './realtime/relay.ts';
import { RoomService, type RoomCounters } from './rooms/service.ts';
import type { BridgeServices } from './services.ts';
import { openStore } from './store/open-store.ts';
import type { Store } from './store/types.ts';

/** The version in the OpenAPI document (the package's). */
const PACKAGE_VERSION = '0.1.0';

/** Requests that change nothing: never refused while NATS is down. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** How often expired nonces and sessions are deleted, in milliseconds. */
const PRUNE_INTERVAL_MS = 60_000;

export interface Bridge {
  /** The base URL clients use, e.g. `http://127.0.0.1:41234`: `publicUrl` when set. */
  readonly url: string;
  /** The address the Bridge listens on, as a URL (differs from `url` behind a proxy). */
  readonly listenUrl: string;
  readonly config: BridgeConfig;
  /** A management API client authorised for this Bridge. */
  readonly manage: ManageClient;
  /**
   * The operator API key created on this start, when the database had none (first start). It is
   * stored only as a hash: print or save it now, it cannot be read again.
   */
  readonly initialApiKey: string | undefined;
  readonly events: BridgeEvents;
  readonly log: Logger;
  readonly store: Store;
  /** The WebSocket side: connections, room events and the relay. */
  readonly realtime: RealtimeHub;
  /** The fan-out to the other Bridges over NATS, when `nats` is set (docs/operations/cluster.md). */
  readonly cluster: ClusterFanout | undefined;
  /** The Prometheus registry behind `GET /metrics`. */
  readonly metrics: BridgeMetrics;
  /** Event-loop lag and the overload state: new work is refused while it is saturated (docs/operations/limits.md, "Overload"). */
  readonly overload: OverloadMonitor;
  /**
   * Refusals and cuts of the REST side, for /metrics (docs/operations/limits.md); the WebSocket side's
   * are `realtime.counters`. Only ever incremented.
   */
  readonly counters: { readonly rooms: Readonly<RoomCounters>; readonly http: Readonly<ResponseLimitCounters> };
  /**
   * Graceful shutdown: stops accepting connections, lets requests in flight finish (up to
   * `shutdownGraceMs`), closes open sockets with a reason, then closes the database. Idempotent.
   */
  close(): Promise<void>;
}

export interface CreateBridgeOptions extends BridgeOptions {
  /** A pino logger to use instead of a new one at `logLevel`. */
  logger?: Logger;
  /** An operator API key for the returned `manage` client, when this is not the first start. */
  apiKey?: string;
  /** Clock override for tests, milliseconds since the Unix epoch. */
  now?: () => number;
}

export async function createBridge(options: CreateBridgeOptions): Promise<Bridge> {
  const { logger, apiKey, now = Date.now, ...rest } = options;
  const config = resolveConfig(rest);
  if (config.appDir !== undefined) checkAppDir(config.appDir);
  const log = logger ?? pino({ level: config.logLevel, base: { service: 'sealroom-bridge' } });
  const store = await openStore(config, log);
  // NATS before anything is written: unreachable, the Bridge does not start (docs/operations/cluster.md).
  let link: NatsLink | undefined;
  if (config.nats !== undefined) {
    try {
      link = await NatsLink.connect(config.nats, `sealroom-bridge pid ${process.pid}`, log.child({ component: 'cluster' }));
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  const events = new BridgeEvents();
  const services: BridgeServices = { config, store, log, events, now };
  const auth = await AuthService.open(services);
  const rooms = new RoomService(services);
  const manage = new ManageService(services, rooms);

  // Other Bridges' ephemeral keys are live on a store they share (docs/operations/postgres.md): only
  // SQLite, which one Bridge owns, drops them all at start; on close each Bridge drops its own.
  const sharedStore = store.kind !== 'sqlite';
  if (!sharedStore) await store.deleteEphemeralApiKeys();
  let initialApiKey: string | undefined;
  if ((await store.countActiveApiKeys()) === 0) {
    initialApiKey = (await manage.createApiKey('operator (first start)', { key: config.initialApiKey })).key;
    log.info('first start: created the operator API key');
  }
  // The returned client needs a key; without the initial one or a given one, mint a key that lives as
  // long as this process (deleted on close, and on the next start if the process dies).
  let clientKey = initialApiKey ?? apiKey;
  let ephemeralKeyId: string | undefined;
  if (clientKey === undefined) {
    const minted = await manage.createApiKey(`embedded client (pid ${process.pid})`, { ephemeral: true });
    clientKey = minted.key;
    ephemeralKeyId = minted.id;
  }

  const relay = createRelay(services);
  const media = createMediaUnit(config.media, relay, log.child({ component: 'media' }));
  const hub = new RealtimeHub(services, auth, relay, media);
  const overload = new OverloadMonitor(config.overload, (on, lagMs) =>
    log.warn({ lagMs: Math.round(lagMs) }, on ? 'overloaded: refusing new work' : 'no longer overloaded: admitting new work'),
  );
  hub.overload = overload;
  const cluster = link === undefined ? undefined : new ClusterFanout(link, services, hub, relay, media, config.natsSubjectPrefix);
  if (cluster !== undefined) {
    hub.clusterAvailable = () => cluster.available;
    hub.clusterReady = (roomId) => cluster.rooms.ready(roomId);
  }
  const httpCounters: ResponseLimitCounters = { responseWriteTimeouts: 0, pipelinedRequestsHeld: 0 };
  const metrics = new BridgeMetrics({
    hub,
    relay,
    auth,
    overload,
    extra: {
      rooms: () => ({ ...rooms.counters }),
      http_limits: () => ({ ...httpCounters }),
      media: () => ({ ...media.counters }),
      ...(cluster === undefined ? {} : { cluster: () => ({ ...cluster.stats() }) }),
    },
  });

  let shuttingDown = false;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy);
  app.use(
    responseLimits({
      writeTimeoutMs: config.limits.responseWriteTimeoutMs,
      counters: httpCounters,
      onTimeout: (res) => log.debug({ path: res.req.path }, 'response not read in time: connection dropped'),
    }),
  );
  app.use((req, res, next) => {
    if (shuttingDown) {
      res.setHeader('Connection', 'close');
      throw new HttpError(503, 'SHUTTING_DOWN', 'the Bridge is shutting down', { retryAfter: 5 });
    }
    const start = performance.now();
    res.on('finish', () => {
      log.debug({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - start) }, 'request');
    });
    next();
  });
  // The API's answers (tokens, keys, ids) are never cached, sniffed or framed; the web app's files set
  // their own headers (bridge/http/app-static.ts).
  app.use((req, res, next) => {
    if (req.path === '/healthz' || req.path.startsWith('/v1/') || req.path.startsWith('/manage/') || req.path.startsWith('/dev/') || req.path === '/metrics') {
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('cache-control', 'no-store');
      res.setHeader('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    }
    next();
  });
  // Dev mode lets anyone who reaches it register users: a page elsewhere that rebinds its own name to
  // this machine's address (DNS rebinding) reaches it from the developer's browser, under its own
  // name. Only this Bridge's names are answered: loopback, and the origins logins sign.
  if (config.devMode) {
    app.use((req, _res, next) => {
      if (devHostAllowed(req.get('host'), `${req.protocol}://${req.get('host') ?? ''}`, auth.loginOrigins)) return next();
      throw new HttpError(421, 'HOST_NOT_ALLOWED', `dev mode answers only this Bridge's own names, not "${req.get('host') ?? ''}"`);
    });
  }
  // Unhealthy while the database cannot be reached (PostgreSQL down: docs/operations/postgres.md).
  // With NATS, unhealthy too while the other Bridges cannot be reached (docs/operations/cluster.md).
  app.get('/healthz', async (_req, res) => {
    const storeUp = await store.ping().then(
      () => true,
      () => false,
    );
    const natsUp = cluster === undefined || cluster.available;
    if (storeUp && natsUp) {
      res.json({ status: 'ok' });
      return;
    }
    res.status(503).json({ status: 'unavailable', ...(storeUp ? {} : { store: 'unreachable' }), ...(natsUp ? {} : { nats: 'unreachable' }) });
  });
  // A write commits events the other Bridges must hear (a removal cuts members there): refused while
  // NATS is down rather than committed unheard. Logins only read and add a session: they go on.
  app.use((req, _res, next) => {
    if (cluster === undefined || cluster.available || SAFE_METHODS.has(req.method) || req.path.startsWith('/v1/auth/')) return next();
    throw new HttpError(503, 'CLUSTER_UNAVAILABLE', 'this Bridge cannot reach the other Bridges (NATS); retry later', { retryAfter: 5 });
  });
  // Saturated: user API writes are refused before their session or body is read; reads go on.
  app.use(overloadGuard(overload));
  // Operators only: the numbers say how loaded the Bridge is and who is refused (docs/operations/metrics.md).
  app.get('/metrics', async (req, res) => {
    await manage.authenticate(bearerToken(req.get('authorization')));
    res.type(metrics.registry.contentType).send(await metrics.text());
  });
  app.use(metrics.observe());
  const openApi = JSON.stringify(openApiDocument(PACKAGE_VERSION));
  app.get('/v1/openapi.json', cors(config.corsOrigins), (_req, res) => {
    res.type('application/json').send(openApi);
  });
  app.use('/v1', cors(config.corsOrigins), requireJsonBody, userRouter(services, auth, rooms));
  app.use('/manage/v1', requireJsonBody, manageRouter(services, manage));
  // The web app and its dev mode (docs/app.md): present only when configured; the API is the same either way.
  if (config.devMode) {
    app.use('/dev/v1', requireJsonBody, devRouter(services, manage));
    log.warn('DEV MODE: /dev/v1 lets anyone who reaches this Bridge register users in a demo context; never for production');
  }
  if (config.appDir !== undefined) {
    app.use(serveApp(config.appDir, { devMode: config.devMode, mediaLoopbackOnly: config.media.listenAddress.startsWith('127.') }));
  }
  app.use(() => {
    throw HttpError.notFound('NOT_FOUND', 'no such route');
  });
  app.use(errorHandler(log));

  // Timeouts of half-sent requests are checked this often (Node's default is every 30 s).
  const server: Server = createServer({ connectionsCheckingInterval: Math.min(1000, config.limits.headersTimeoutMs) }, app);
  hub.attach(server);
  // Idle keep-alive sockets stay open longer than clients keep them (undici: 4 s), so a client never
  // sends a request on a socket the Bridge is closing at that moment ("other side closed").
  server.keepAliveTimeout = 65_000;
  // A half-sent request is dropped after these (the parser checks them every second by default).
  server.headersTimeout = config.limits.headersTimeoutMs;
  server.requestTimeout = Math.max(config.limits.requestTimeoutMs, config.limits.headersTimeoutMs);
  server.maxConnections = config.limits.maxConnections;
  const trustedProxy = app.get('trust proxy fn') as (address: string, hop: number) => boolean;
  limitConnectionsPerAddress(server, {
    perAddress: config.limits.connectionsPerAddress,
    trusted: (address) => config.trustProxy !== false && trustedProxy(address, 0),
    refused: (address) => {
      hub.counters.connectionsRefused++;
      log.debug({ address }, 'connection refused: too many from this address');
    },
  });
  const sockets = new Set<Socket>();
  // One listener for every socket, not a closure each (docs/operations/memory.md).
  function forget(this: Socket): void {
    sockets.delete(this);
  }
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', forget);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // No start (the port is taken): release what is open, so `sealroom start` exits with its error
    // rather than staying up on its database pool and NATS connection.
    await hub.close(0);
    overload.close();
    await cluster?.close();
    if (ephemeralKeyId !== undefined) await (sharedStore ? store.revokeApiKey(ephemeralKeyId, now()) : store.deleteEphemeralApiKeys());
    await store.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  auth.setLoginOrigins(loginOrigins(config.publicUrl, config.loginUrls, address.address, address.port));
  log.info({ url, loginOrigins: auth.loginOrigins, store: store.kind, file: store.file, nats: link?.url }, 'bridge listening');

  const pruneTimer = setInterval(() => {
    store.pruneExpired(now()).catch((err: unknown) => log.error({ err }, 'pruning expired sessions failed'));
  }, PRUNE_INTERVAL_MS);
  pruneTimer.unref();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shuttingDown = true;
      clearInterval(pruneTimer);
      log.info('bridge shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await hub.close(Math.min(1000, config.shutdownGraceMs));
      overload.close();
      await cluster?.close();
      const grace = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownGraceMs).unref());
      await Promise.race([closed, grace]);
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
      if (ephemeralKeyId !== undefined) await (sharedStore ? store.revokeApiKey(ephemeralKeyId, now()) : store.deleteEphemeralApiKeys());
      await store.close();
      log.info('bridge stopped');
    })();
    return closing;
  };

  return {
    url: config.publicUrl?.replace(/\/$/, '') ?? url,
    listenUrl: url,
    config,
    manage: new ManageClient(url, clientKey),
    initialApiKey,
    events,
    log,
    store,
    realtime: hub,
    cluster,
    counters: { rooms: rooms.counters, http: httpCounters },
    metrics,
    overload,
    close,
  };
}
