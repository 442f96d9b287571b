/**
 * The entry point (PrivMX shape).
 * @example
 * await Endpoint.setup();
 * const connection = await Endpoint.connect(userPrivKey, solutionId, bridgeUrl);
 * const eventApi = await Endpoint.createEventApi(connection);
 * const streamApi = await Endpoint.createStreamApi(connection, eventApi);
 */
import { setBackend, type CryptoBackend } from '../crypto/backend/index.ts';
import { Connection, type ConnectOptions } from './connection.ts';
import { EndpointError } from './errors.ts';
import { EventApi } from './event-api.ts';
import { selfTest } from './self-test.ts';
import { StreamApi, type StreamApiOptions } from './stream-api.ts';
import { openTrustStore } from './stream-api-parts.ts';
import { BULK_YIELD_MODES, type BulkYieldMode, bulkGovernor } from './util/bulk-governor.ts';
import { refreshReceiveWindows } from './data-streams/incoming/receive-window.ts';
import { BULK_THREAD_MODES, type BulkThreadMode, setBulkThreadMode } from './util/realtime-presence.ts';

export interface SetupOptions {
  /** Use another crypto backend than the runtime's default (node:crypto in Node, WebCrypto elsewhere). */
  backend?: CryptoBackend;
  /**
   * Where byte streams seal, open and hash their chunks, in Node (docs/operations/realtime-priorities.md,
   * "The bulk thread"): `auto` (default) on a worker thread at the lowest OS priority for streams that
   * start while this process carries real-time tracks, else on the event loop; `always` on that
   * thread (a process with other real-time work of its own, such as a UI loop); `never` on the event
   * loop (a process that would rather have the throughput). Streams already under way keep theirs.
   * Browsers have no such thread and ignore it. Anything else is `InvalidArgument`.
   */
  bulkThread?: BulkThreadMode;
  /**
   * Whether byte streams yield to real-time work (docs/operations/realtime-priorities.md, "The bulk
   * governor"): `auto` (default) paces this process's byte streams, sent and received, from how late
   * its event loop runs while it carries real-time tracks; `always` does so whenever streams move (an
   * app with real-time work the Endpoint cannot see); `never` lets them go as fast as flow control
   * allows. Anything else is `InvalidArgument`.
   */
  bulkYield?: BulkYieldMode;
}

let ready: Promise<void> | undefined;
const eventApis = new WeakMap<Connection, EventApi>();
const streamApis = new WeakMap<Connection, Promise<StreamApi>>();

export const Endpoint = {
  /**
   * Prepares the crypto backend (in browsers: probes WebCrypto's curves, loads libsodium if needed)
   * and runs a self-test of the whole room-key path (build, sign, verify, prove, unwrap, open), which
   * fails with `Unsupported` in a runtime whose crypto is broken and takes first-use costs out of the
   * first connection. Idempotent; `connect` calls it if the app did not.
   */
  setup(options: SetupOptions = {}): Promise<void> {
    if (options.bulkThread !== undefined) {
      if (!BULK_THREAD_MODES.includes(options.bulkThread)) {
        return Promise.reject(EndpointError.invalidArgument(`"bulkThread" expected one of ${BULK_THREAD_MODES.join(', ')}, got ${String(options.bulkThread)}`));
      }
      setBulkThreadMode(options.bulkThread);
    }
    if (options.bulkYield !== undefined) {
      if (!BULK_YIELD_MODES.includes(options.bulkYield)) {
        return Promise.reject(EndpointError.invalidArgument(`"bulkYield" expected one of ${BULK_YIELD_MODES.join(', ')}, got ${String(options.bulkYield)}`));
      }
      bulkGovernor.setMode(options.bulkYield);
      // Connections already up declare the receive window the new mode wants.
      refreshReceiveWindows();
    }
    if (options.backend !== undefined) setBackend(options.backend);
    ready ??= selfTest();
    ready.catch(() => (ready = undefined));
    return ready;
  },

  /**
   * Logs in with the user's private key (`srsk1...`) to a solution on a Bridge, and opens the socket.
   * Fails with `AuthFailed` if the key is not a user of any context of the solution.
   *
   * `bridgeUrl` may be a list of Bridges of one cluster (docs/operations/failover.md): `connect` uses
   * the first that can be reached and is not saturated (one refusing new work with `OVERLOADED` is
   * passed over; when every one refuses, `RateLimited` with the shortest `retryAfterMs` is thrown),
   * and when that one dies the connection fails over to the next,
   * logs in there afresh and resumes as after a reconnect (`bridgeChanged`, then `reconnected`). The
   * list must be non-empty, of distinct http(s) URLs (`InvalidArgument` otherwise).
   * @example
   * const connection = await Endpoint.connect(userPrivKey, solutionId, ['https://a.example', 'https://b.example']);
   * connection.on('bridgeChanged', ({ bridgeUrl }) => showBridge(bridgeUrl));
   */
  async connect(userPrivKey: string, solutionId: string, bridgeUrl: string | readonly string[], options?: ConnectOptions): Promise<Connection> {
    await Endpoint.setup();
    return Connection.open(userPrivKey, solutionId, bridgeUrl, options);
  },

  /** The connection's EventApi (one per connection). */
  async createEventApi(connection: Connection): Promise<EventApi> {
    if (!(connection instanceof Connection)) throw EndpointError.invalidArgument('"connection" expected a Connection from Endpoint.connect');
    let api = eventApis.get(connection);
    if (api === undefined) eventApis.set(connection, (api = new EventApi(connection)));
    return api;
  },

  /**
   * The connection's StreamApi (one per connection). With the default trust store, the StreamApis of one
   * identity in this process share it, and the process holds it until the last of their connections is
   * disconnected: a StreamApi of the same identity and store elsewhere (another tab, window, worker or
   * process) fails with `TrustStoreBusy` meanwhile.
   */
  async createStreamApi(connection: Connection, eventApi: EventApi, options?: StreamApiOptions): Promise<StreamApi> {
    if (!(connection instanceof Connection)) throw EndpointError.invalidArgument('"connection" expected a Connection from Endpoint.connect');
    if (!(eventApi instanceof EventApi) || eventApi.connection !== connection) {
      throw EndpointError.invalidArgument('"eventApi" expected the EventApi of this connection');
    }
    let api = streamApis.get(connection);
    if (api === undefined) {
      const opening = openStreamApi(connection, eventApi, options ?? {});
      streamApis.set(connection, (api = opening));
      // A failed opening (TrustStoreBusy, say) can be tried again.
      opening.catch(() => streamApis.get(connection) === opening && streamApis.delete(connection));
    }
    return api;
  },
};

async function openStreamApi(connection: Connection, eventApi: EventApi, options: StreamApiOptions): Promise<StreamApi> {
  if (options.trustStore !== undefined) return new StreamApi(connection, eventApi, options);
  const held = await openTrustStore(connection, options.trustDir);
  try {
    return new StreamApi(connection, eventApi, { ...options, trustStore: held.store });
  } catch (error) {
    held.release();
    throw error;
  }
}
