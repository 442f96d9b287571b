/**
 * Bridge configuration: one typed object, from `createBridge(options)` for embedders and tests, or from
 * flags and environment variables through the CLI (bridge/cli). Every limit has a default and a name
 * that says its unit.
 */
import * as z from 'zod';
import { mediaConfigProblem, mediaSchema } from './media/config.ts';
import { overloadSchema } from './overload/overload.ts';
import { STREAM_WINDOW_MAX_BYTES } from '../protocol/ws.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const limitsSchema = z.strictObject({
  /** Largest JSON body of the room and auth routes, in bytes. A 4,096-member room's update fits. */
  bodyBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
  /** Largest JSON body of the login routes (challenge, session), read before any authentication. Bytes. */
  authBodyBytes: z.number().int().positive().default(4096),
  /** Time a client has to send a request's headers; a half-sent request is dropped after it. Ms. */
  headersTimeoutMs: z.number().int().positive().default(10_000),
  /** Time a client has to send a whole request, body included. Ms. */
  requestTimeoutMs: z.number().int().positive().default(60_000),
  /** Open TCP connections (HTTP and WebSocket) at most; keep it below the process's open-file limit. */
  maxConnections: z.number().int().positive().default(8192),
  /**
   * Open TCP connections per client address at most; a connection past it is dropped at once.
   * Connections from a proxy named in `trustProxy` are not counted (they carry many clients).
   */
  connectionsPerAddress: z.number().int().positive().default(256),
  /** Largest JSON body of the management API, in bytes. */
  manageBodyBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024),
  /** Failed logins allowed per public key from one client address in `loginWindowSeconds`. */
  loginFailuresPerKey: z.number().int().positive().default(10),
  /**
   * Failed logins per client address in `loginWindowSeconds`; past it, the address is refused only for
   * the keys that already failed from it, so a flood cannot lock out another user behind the same NAT
   * (docs/security/login.md).
   */
  loginFailuresPerAddress: z.number().int().positive().default(100),
  loginWindowSeconds: z.number().int().positive().default(60),
  /** Largest page of a room listing. */
  listPageSize: z.number().int().positive().max(1000).default(100),
  /** Records per response when a client reads a room's chain. */
  recordsPerResponse: z.number().int().positive().max(10_000).default(256),
  /** Wrapped keys a member may fetch per room in one response (newest epochs first). */
  keysPerResponse: z.number().int().positive().max(1000).default(16),
  /**
   * Bytes of record text one page of a room's chain may hold; past it the page ends early with
   * `hasMore` (it always holds at least one record). Bounds what one `GET /v1/rooms/:id` builds
   * (docs/operations/limits.md).
   */
  pageBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
  /**
   * Milliseconds a REST response may wait to be taken by a client that has stopped reading, once the
   * Bridge has written all of it; then the connection is dropped. Pipelined requests on a connection
   * are handled one at a time, so a client that does not read holds at most one response.
   */
  responseWriteTimeoutMs: z.number().int().positive().default(30_000),
  /**
   * Bytes of public meta one filtered listing (`queryAsJson`) may read, each array element a
   * `$contains` compares counting 2; past it the listing is refused with 422 QUERY_TOO_COSTLY.
   */
  listScanBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
  /**
   * Filtered listings (`queryAsJson`) one user may have in progress at once on this Bridge; another is
   * refused with 429 RATE_LIMITED. Each may take up to `listScanBytes` of work, so this bounds one
   * user's share of the Bridge's time, not only each listing's.
   */
  filteredListingsPerUser: z.number().int().positive().default(2),
  /** Rooms one context may hold; past it a create is refused with 409 CONTEXT_ROOM_QUOTA. */
  roomsPerContext: z.number().int().positive().default(10_000),
  /**
   * Versions one room may have; past it an update is refused with 409 ROOM_VERSION_QUOTA. Old versions
   * are never compacted: clients verify the chain from version 1.
   */
  versionsPerRoom: z.number().int().positive().default(10_000),
  /** Room creates, updates and deletes one user (public key in a solution) may make per minute. */
  writesPerUserPerMinute: z.number().int().positive().default(120),
});
export type Limits = z.infer<typeof limitsSchema>;

export const realtimeSchema = z.strictObject({
  /** Largest WebSocket message, in bytes (a 64 KiB stream chunk or a 1 MiB SFrame with headers fits). */
  maxMessageBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024 + 1024),
  /** Time a new socket has to send `hello`, in milliseconds. */
  helloTimeoutMs: z.number().int().positive().default(5000),
  /** WebSocket ping interval; a socket that misses a pong is closed. Milliseconds. */
  pingIntervalMs: z.number().int().positive().default(30_000),
  /** Byte-stream flow-control window: how far a sender may run ahead of its slowest receiver. Bytes. */
  streamWindowBytes: z
    .number()
    .int()
    .positive()
    .max(STREAM_WINDOW_MAX_BYTES) // what Endpoints take (protocol/ws.ts)
    .default(1024 * 1024),
  /**
   * The most a stream's window grows to, adaptively: doubled from `streamWindowBytes` whenever its
   * sender waits at its limit while the slowest reader has consumed everything it was given (the pipe
   * idles for the window, not for a reader; docs/protocol/byte-streams.md, "Window"). Also what the
   * Bridge may hold per receiver and stream. At or below `streamWindowBytes` the window stays fixed.
   * Bytes.
   */
  streamWindowMaxBytes: z
    .number()
    .int()
    .positive()
    .max(STREAM_WINDOW_MAX_BYTES)
    .default(8 * 1024 * 1024),
  /** A receiver that consumes nothing for this long while its sender waits is cut from the stream. Ms. */
  stuckReceiverTimeoutMs: z.number().int().positive().default(10_000),
  /** Byte streams one connection may have open as a sender at once. */
  maxOpenStreamsPerConnection: z.number().int().positive().default(64),
  /** Lossy data tracks: bytes queued per subscriber socket before the oldest messages are dropped. */
  dataQueueBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /**
   * Lossy data tracks: data frames are handed to a subscriber's socket only while its `bufferedAmount`
   * is below this, so a slow reader's backlog stays in the bounded, droppable queue. Bytes.
   */
  dataHighWaterBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024),
  /** Lossy data tracks: `dataDropped` counts are coalesced and sent at most this often. Milliseconds. */
  dataDroppedReportIntervalMs: z.number().int().positive().default(250),
  /** Streams (with tracks) one connection may have published at once, over all its rooms. */
  maxPublishedStreamsPerConnection: z.number().int().positive().default(16),
  /**
   * What the Bridge may hold in one socket's outbound buffer (results, events, data frames, chunks) on
   * top of the byte-stream bytes that flow control lets be in flight to it. Past it the client is not
   * reading: the socket is closed with 4409 (outboundOverflow). Bytes.
   */
  outboundBudgetBytes: z
    .number()
    .int()
    .positive()
    .default(8 * 1024 * 1024),
  /** The Bridge stops reading a socket while its outbound buffer holds more than this (plus stream bytes in flight). Bytes. */
  readPauseBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** Requests one socket may have in flight; at the cap the Bridge stops reading it until one is answered. */
  maxRequestsInFlight: z.number().int().positive().default(32),
  /** Messages already read but held while a socket is over its limits; past it the socket is closed (4429). */
  maxHeldMessages: z.number().int().positive().default(4096),
  /**
   * Room changes one user may make a second on this Bridge, over all its sockets: joins, leaves,
   * publishes, unpublishes, stream updates, subscription changes, media joins and leaves. Each is
   * announced to its room or resyncs its media; past the rate, those that start something are refused
   * with RATE_LIMITED (bridge/realtime/room-change-rate.ts).
   */
  roomChangesPerSecond: z.number().positive().default(20),
  /** Room changes one user may make at once before the rate applies (a reconnect restores its rooms in one burst). */
  roomChangesBurst: z.number().int().positive().default(512),
  /** Rooms one connection may have joined at once. */
  maxJoinedRoomsPerConnection: z.number().int().positive().default(64),
  /** Users joined to one room at once, counted per user, not per socket (bounds fan-out with the next key). */
  maxParticipantsPerRoom: z.number().int().positive().default(1024),
  /** Connections one user may have joined to one room at once (devices, tabs). */
  maxConnectionsPerUserInRoom: z.number().int().positive().default(8),
  /**
   * Sockets one session may hold open; a new one past it replaces the oldest, which is closed with
   * 4410 (replaced). Replacing rather than refusing: a dead socket not yet caught by the ping never
   * locks its user out.
   */
  maxSocketsPerSession: z.number().int().positive().default(16),
  /** Sockets one user may hold open over all its sessions; past it, the oldest is replaced (4410). */
  maxSocketsPerUser: z.number().int().positive().default(32),
});
export type RealtimeConfig = z.infer<typeof realtimeSchema>;

export const bridgeOptionsSchema = z.strictObject({
  /** Folder of the SQLite database; created if missing. */
  dataDir: z.string().min(1).optional(),
  /** ':memory:' for a throwaway database (tests, examples). Overrides dataDir. */
  databaseFile: z.string().min(1).optional(),
  /**
   * A PostgreSQL URL, `postgres://user:password@host:port/database`, instead of SQLite: several Bridges
   * can share it (docs/operations/postgres.md). Excludes `dataDir` and `databaseFile`.
   */
  store: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/i, 'expected a postgres:// URL')
    .optional(),
  /**
   * A NATS URL (`nats://host:4222`, or several separated by commas): real-time traffic fans out between
   * the Bridges that share one `store` (docs/operations/cluster.md). Unset: in-process fan-out only.
   */
  nats: z
    .string()
    .regex(/^(nats|tls):\/\/[^\s,]+(,(nats|tls):\/\/[^\s,]+)*$/i, 'expected a nats:// URL (several separated by commas)')
    .optional(),
  /** The first token of every NATS subject this Bridge uses; Bridges of one cluster share it. */
  natsSubjectPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, _ or -')
    .default('sealroom'),
  /**
   * Start an empty database even though the data folder shows signs of an earlier one (a `-wal` or
   * `-shm` file without the database, an empty database file). Those files are renamed aside, never
   * deleted. Without it such a start is refused (ERR_STORE_DATABASE_MISSING). A damaged database is
   * refused either way.
   */
  forceNewDatabase: z.boolean().default(false),
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port (tests). */
  port: z.number().int().min(0).max(65535).default(8080),
  /**
   * The URL clients use to reach this Bridge (behind a proxy or TLS terminator, say). Logins sign it and
   * the Bridge accepts no other. When unset, the Bridge accepts the URLs it listens on: `http://host:port`
   * (every interface address when bound to 0.0.0.0 or ::, plus `localhost` on loopback). Never the
   * request's Host header (docs/security/login.md).
   */
  publicUrl: z.url().optional(),
  /**
   * More URLs a login may sign, each another name for this Bridge (a second host name, a port forward,
   * a test proxy). Added to `publicUrl`, or to the listening URLs when that is unset.
   */
  loginUrls: z.array(z.url()).max(64).default([]),
  /**
   * Which proxies to believe about the client's address (express's `trust proxy`): `false` (default:
   * the socket's peer address, X-Forwarded-For ignored), `true` (trust every hop: only when the Bridge is
   * reachable through the proxy alone), a hop count, or a list of proxy addresses or CIDRs.
   */
  trustProxy: z.union([z.boolean(), z.number().int().nonnegative(), z.array(z.string().min(1))]).default(false),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  /**
   * Browser origins allowed to call the user API (/v1) cross-origin. `*` (the default) is safe here:
   * /v1 authenticates with bearer tokens, never cookies. The management API never sends CORS headers.
   */
  corsOrigins: z.array(z.string().min(1)).default(['*']),
  /** Lifetime of a session token, in seconds. */
  sessionTtlSeconds: z
    .number()
    .int()
    .positive()
    .default(24 * 60 * 60),
  /** Lifetime of a login challenge nonce, in seconds. */
  nonceTtlSeconds: z.number().int().positive().default(60),
  /** How far a login's signed timestamp may be from the Bridge's clock, in seconds. */
  authClockSkewSeconds: z.number().int().positive().default(300),
  /** How long shutdown waits for requests in flight before closing their sockets, in milliseconds. */
  shutdownGraceMs: z.number().int().nonnegative().default(5000),
  /**
   * The operator API key to create on first start (otherwise one is generated). Lets deployment tooling
   * choose it; it must be a key of the form the Bridge issues.
   */
  initialApiKey: z
    .string()
    .regex(/^srk_[A-Za-z0-9_-]{43}$/)
    .optional(),
  /**
   * A folder of the built web app (docs/app.md) to serve at `/`, with a strict Content-Security-Policy;
   * unset: no app (the API routes are the same either way).
   */
  appDir: z.string().min(1).optional(),
  /**
   * Dev mode for a local try-out (docs/app.md): `/dev/v1` lets anyone who reaches the Bridge register
   * a user in a demo context. Off by default; refused on a non-loopback `host` unless
   * `devModeOnAnyAddress` is set too. Never for production.
   */
  devMode: z.boolean().default(false),
  /** Allows `devMode` on a non-loopback address (anyone on that network can then register users). */
  devModeOnAnyAddress: z.boolean().default(false),
  limits: limitsSchema.default(() => limitsSchema.parse({})),
  realtime: realtimeSchema.default(() => realtimeSchema.parse({})),
  /** The media forwarding unit: addresses, ports, ICE servers for clients, limits (docs/media/forwarding-unit.md). */
  media: mediaSchema.default(() => mediaSchema.parse({})),
  /**
   * When the Bridge's event loop is saturated it refuses new work with OVERLOADED: the lag thresholds,
   * their windows and what clients are told to wait (docs/operations/limits.md, "Overload").
   */
  overload: overloadSchema.default(() => overloadSchema.parse({})),
});

export type BridgeOptions = z.input<typeof bridgeOptionsSchema>;
export type BridgeConfig = z.output<typeof bridgeOptionsSchema>;

export function resolveConfig(options: BridgeOptions): BridgeConfig {
  const result = bridgeOptionsSchema.safeParse(options);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new TypeError(`createBridge: option "${issue.path.join('.')}": ${issue.message}`);
  }
  if (result.data.store !== undefined && (result.data.dataDir !== undefined || result.data.databaseFile !== undefined)) {
    throw new TypeError('createBridge: option "store": a PostgreSQL store excludes "dataDir" and "databaseFile"');
  }
  if (result.data.nats !== undefined && result.data.store === undefined) {
    throw new TypeError('createBridge: option "nats": the fan-out joins Bridges that share one PostgreSQL store; expected "store" (a postgres:// URL) too');
  }
  if (result.data.store === undefined && result.data.dataDir === undefined && result.data.databaseFile === undefined) {
    throw new TypeError('createBridge: expected "dataDir" (a folder for the database), "databaseFile" or "store" (a postgres:// URL)');
  }
  if (result.data.devMode && !result.data.devModeOnAnyAddress && !isLoopbackHost(result.data.host)) {
    throw new TypeError(
      `createBridge: option "devMode": dev mode lets anyone register users, so it is refused on the non-loopback address "${result.data.host}" unless "devModeOnAnyAddress" is set`,
    );
  }
  const mediaProblem = mediaConfigProblem(result.data.media);
  if (mediaProblem !== undefined) throw new TypeError(`createBridge: option ${mediaProblem}`);
  return result.data;
}

/** A listen address only this machine can reach: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}
