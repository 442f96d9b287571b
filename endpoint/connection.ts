/**
 * A connection to a Bridge: a session (challenge-response login, docs/design.md "Identities"), REST calls,
 * and one WebSocket for requests, events and binary frames. Every request has a timeout and honours an
 * AbortSignal; every pending request fails with `ConnectionLost` when the socket drops. By default the
 * socket reconnects with jittered backoff (backoff.ts) and restores event subscriptions; rooms joined
 * for real-time traffic are left when it drops and rejoined, with their streams and subscriptions,
 * on `reconnected` (realtime/resume.ts). Given several Bridge URLs of one cluster, a reconnect that
 * fails moves on to the next URL and logs in there afresh (reconnect.ts, docs/operations/failover.md);
 * a Bridge that stops answering is noticed by a heartbeat (heartbeat.ts).
 */
import { createSocket } from '#endpoint-websocket';
import { decodePrivateKey, publicKeyOf, sign } from '../crypto/identity.ts';
import { unwrapEpochKey } from '../crypto/key-wrap.ts';
import { unwrapStreamSecret } from '../crypto/stream/keying.ts';
import { CLOSE, FRAME_CHUNK_UP, WS_PATH, WS_PROTOCOL_VERSION, type ClientMessage, type ClientRequest, type ResultPayloads } from '../protocol/ws.ts';
import { readContextUsers, readContextUsersPage, type ContextUser, type ContextUsersPage, type ContextUsersPageOptions } from './context-users.ts';
import { BridgeRing, bridgeUrlList, passOver, refusedForNow, soonestRetry } from './bridge-urls.ts';
import {
  checkConnectOptions,
  type ConnectionEvents,
  type ConnectionState,
  type ConnectOptions,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type RequestBody,
} from './connection-types.ts';
import { DEFAULT_RECONNECT_BASE_DELAY_MS, DEFAULT_RECONNECT_MAX_DELAY_MS, type Backoff } from './backoff.ts';
import { EndpointError } from './errors.ts';
import { registerConnection, type ConnectionHooks } from './internal.ts';
import { silentLogger, type Logger } from './logger.ts';
import { logIn } from './login.ts';
import { PendingRequests } from './pending-requests.ts';
import { CONNECTION_STABLE_MS, reconnectLoop } from './reconnect.ts';
import { SocketMessages } from './socket-messages.ts';
import { BridgeHttp, type RequestOptions } from './transport/http.ts';
import { bulkLane, queuedBulkBytes } from './transport/bulk-lane.ts';
import { SOCKET_OPEN, type SocketLike } from './transport/websocket.ts';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, Heartbeat } from './heartbeat.ts';
import { Emitter } from './util/emitter.ts';

export type { ConnectionEvents, ConnectionState, ConnectOptions } from './connection-types.ts';

export class Connection {
  readonly solutionId: string;
  readonly publicKey: string;
  readonly #http: BridgeHttp;
  readonly log: Logger;
  readonly #hooks = new Emitter<ConnectionHooks>();
  readonly #events = new Emitter<ConnectionEvents>();
  readonly #seed: Uint8Array;
  readonly #requestTimeoutMs: number;
  readonly #reconnect: boolean;
  readonly #backoff: Backoff;
  readonly #heartbeatMs: number;
  #heartbeat: Heartbeat | undefined;
  /**
   * When the socket last came up, and after which reconnect attempt (0: `connect`). A drop within
   * CONNECTION_STABLE_MS of that goes on from the next attempt rather than the first (reconnect.ts).
   */
  #up = { at: 0, attempt: 0 };
  readonly #bridges: BridgeRing;
  /** The Bridge URL the session token was issued for (a token is used only there). */
  #sessionUrl = '';
  #socket: SocketLike | undefined;
  #token: string | undefined;
  readonly #requests = new PendingRequests();
  readonly #messages: SocketMessages;
  #userId = '';
  #connectionId = '';
  #contextIds: string[] = [];
  #state: ConnectionState = 'disconnected';
  #relogging: Promise<void> | undefined;
  #closedByUser = false;

  private constructor(privateKey: string, publicKey: string, solutionId: string, bridgeUrls: string[], options: ConnectOptions) {
    this.#seed = decodePrivateKey(privateKey);
    this.publicKey = publicKey;
    this.solutionId = solutionId;
    this.#bridges = new BridgeRing(bridgeUrls);
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#reconnect = options.reconnect ?? true;
    this.#backoff = {
      baseDelayMs: options.reconnectBaseDelayMs ?? DEFAULT_RECONNECT_BASE_DELAY_MS,
      maxDelayMs: options.reconnectMaxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS,
    };
    this.#heartbeatMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    this.log = options.logger ?? silentLogger;
    this.#messages = new SocketMessages(this.log, this.#hooks, this.#requests);
    this.#http = new BridgeHttp(
      () => this.#sessionUrl,
      { token: () => this.#token, relogin: () => this.#relogin() },
      this.#requestTimeoutMs,
      options.maxResponseBytes,
    );
    registerConnection(this, {
      http: this.#http,
      hooks: this.#hooks,
      socket: () => this.#socket,
      signer: {
        sign: async (message) => sign(this.#liveSeed(), message),
        unwrapEpochKey: async (params) => unwrapEpochKey({ ...params, recipientSeed: this.#liveSeed() }),
        unwrapStreamSecret: async (params) => unwrapStreamSecret({ ...params, recipientSeed: this.#liveSeed() }),
      },
    });
  }

  /**
   * Logs in and opens the socket, at the first Bridge of the list that can be reached. Use
   * `Endpoint.connect`.
   */
  static async open(privateKey: string, solutionId: string, bridgeUrl: string | readonly string[], options: ConnectOptions = {}): Promise<Connection> {
    if (typeof solutionId !== 'string' || solutionId === '') throw EndpointError.invalidArgument('"solutionId" expected a non-empty string');
    checkConnectOptions(options);
    const urls = bridgeUrlList(bridgeUrl);
    let publicKey: string;
    try {
      publicKey = await publicKeyOf(privateKey);
    } catch (cause) {
      throw new EndpointError('InvalidArgument', `"userPrivKey": ${(cause as Error).message}`, { cause });
    }
    const connection = new Connection(privateKey, publicKey, solutionId, urls, options);
    // Bridges passed over that refused for now (saturated, shutting down): when none of the list
    // admits, the one free soonest is the answer.
    const refused: EndpointError[] = [];
    for (let i = 0; ; i++) {
      try {
        await connection.#login(connection.bridgeUrl, options.signal);
        await connection.#openSocket(options.signal);
        connection.#state = 'connected';
        connection.#up = { at: Date.now(), attempt: 0 };
        return connection;
      } catch (error) {
        // A Bridge that cannot be reached or is saturated is passed over; any other refusal is the
        // answer of the cluster (bridge-urls.ts passOver).
        if (!passOver(error)) throw error;
        const e = error as EndpointError;
        if (refusedForNow(e)) refused.push(e);
        if (i === urls.length - 1) throw soonestRetry(refused) ?? error;
        connection.log.debug({ bridgeUrl: connection.bridgeUrl, reason: e.message }, 'Bridge unreachable, saturated or shutting down; trying the next');
        connection.#bridges.next();
      }
    }
  }

  /** The Bridge this connection is on now (with several URLs, it changes on a failover: `bridgeChanged`). */
  get bridgeUrl(): string {
    return this.#bridges.current;
  }

  /** Every Bridge URL this connection may use, in the order it tries them. */
  get bridgeUrls(): readonly string[] {
    return this.#bridges.urls;
  }

  /** The user id this key has in the solution. */
  get userId(): string {
    return this.#userId;
  }

  /** The Bridge's id of the current socket (changes on reconnect). */
  get connectionId(): string {
    return this.#connectionId;
  }

  /** Contexts of the solution this user belongs to, as of the last login. */
  get contextIds(): readonly string[] {
    return this.#contextIds;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The seed, for a signature or an unwrap that starts now; never handed out (it is wiped on disconnect). */
  #liveSeed(): Uint8Array {
    if (this.#closedByUser) throw EndpointError.connectionLost('disconnected: the private key is no longer held');
    return this.#seed;
  }

  /**
   * Listens to connection events: `connectionLost`, `reconnecting`, `bridgeChanged`, `reconnected`, `disconnected`.
   * @example connection.on('disconnected', ({ reason }) => showOffline(reason));
   */
  on<K extends keyof ConnectionEvents>(type: K, listener: (event: ConnectionEvents[K]) => void): () => void {
    return this.#events.on(type, listener);
  }

  /**
   * The users of a context and their keys, as the Bridge's directory lists them now (members of the
   * context only), read a page at a time. Not verified: a room that names a user is checked against the
   * key this client pinned (docs/security/key-trust.md), so a key read here is for choosing members, not
   * for trust. Reads at most CONTEXT_USERS_READ_MAX users, then fails with `InvalidArgument`: page a
   * larger directory with `listContextUsers`.
   * @example const users = await connection.getContextUsers(contextId); // [{ userId, pubKey }]
   */
  getContextUsers(contextId: string, options: RequestOptions = {}): Promise<ContextUser[]> {
    return readContextUsers(this.#http, contextId, options);
  }

  /**
   * One page of a context's directory: at most `limit` users (default and most 1,000) whose ids sort
   * after `after`, and `next`, the `after` of the next page, when more remain. Not verified, as
   * `getContextUsers`.
   * @example let page = await connection.listContextUsers(contextId); while (page.next) page = await connection.listContextUsers(contextId, { after: page.next });
   */
  listContextUsers(contextId: string, options: ContextUsersPageOptions = {}): Promise<ContextUsersPage> {
    return readContextUsersPage(this.#http, contextId, options);
  }

  /** A login at `url` (login.ts): the connection's session from then on, and the Bridge it is good at. */
  async #login(url: string, signal?: AbortSignal): Promise<void> {
    const signer = async (message: Uint8Array) => sign(this.#liveSeed(), message);
    const session = await logIn({
      bridgeUrl: url,
      solutionId: this.solutionId,
      publicKey: this.publicKey,
      sign: signer,
      timeoutMs: this.#requestTimeoutMs,
      signal,
    });
    // The connection moved on while this login was in flight: its session is of no use.
    if (url !== this.bridgeUrl) throw EndpointError.connectionLost(`moved to ${this.bridgeUrl} while logging in at ${url}`);
    // The token of a Bridge left behind is dropped, never sent to another: a Bridge of the list is not
    // trusted more than one Bridge, and a token is good at every Bridge of a cluster (it expires there).
    this.#token = session.token;
    this.#sessionUrl = url;
    this.#userId = session.userId;
    this.#contextIds = session.contextIds;
  }

  /** One login at a time, however many requests found the session expired. */
  #relogin(): Promise<void> {
    this.#relogging ??= this.#login(this.bridgeUrl).finally(() => (this.#relogging = undefined));
    return this.#relogging;
  }

  #wsUrl(): string {
    return this.#sessionUrl.replace(/^http/, 'ws') + WS_PATH;
  }

  #openSocket(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = createSocket(this.#wsUrl());
      let settled = false;
      const fail = (error: EndpointError) => {
        if (settled) return;
        settled = true;
        // An attempt that failed after the socket opened (hello refused, timeout) is not a drop: whoever
        // called (connect, the reconnect loop) decides what comes next, no second loop starts.
        if (this.#socket === socket) this.#socket = undefined;
        reject(error);
        try {
          socket.close();
        } catch {
          // already closed
        }
      };
      const onAbort = () => fail(EndpointError.aborted('connect', signal?.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => fail(EndpointError.timeout('connect', this.#requestTimeoutMs)), this.#requestTimeoutMs);
      socket.addEventListener('open', () => {
        this.#socket = socket;
        this.#sendHello()
          .then((connectionId) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            this.#connectionId = connectionId;
            settled = true;
            this.#watch(socket);
            resolve();
          })
          .catch((error: EndpointError) => {
            clearTimeout(timer);
            fail(error);
          });
      });
      socket.addEventListener('message', (event) => this.#onMessage(event.data));
      socket.addEventListener('error', () => undefined);
      socket.addEventListener('close', (event) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (!settled) {
          settled = true;
          // 1013 (Try Again Later, RFC 6455 7.4.1) without the OVERLOADED error that comes before it:
          // the Bridge is saturated all the same (docs/operations/limits.md, "Overload").
          const error =
            event.code === CLOSE.unauthenticated
              ? new EndpointError('AuthFailed', 'the Bridge refused the session on the socket')
              : event.code === CLOSE.tryAgainLater
                ? new EndpointError('RateLimited', 'the Bridge is saturated and refused the socket (1013); try again later', { bridgeCode: 'OVERLOADED' })
                : EndpointError.connectionLost(`the socket closed while connecting (${event.code})`);
          // Not a drop either: the attempt failed (its hello with it), and its caller decides.
          if (this.#socket === socket) {
            this.#socket = undefined;
            this.#requests.failAll(error);
          }
          reject(error);
          return;
        }
        if (this.#socket === socket) this.#onSocketClosed(event.code, event.reason);
      });
    });
  }

  async #sendHello(): Promise<string> {
    const result = await this.request('hello', { token: this.#token ?? '', protocol: WS_PROTOCOL_VERSION });
    return result.connectionId;
  }

  #onMessage(data: unknown): void {
    this.#heartbeat?.heard();
    this.#messages.handle(data);
  }

  /**
   * Sends a request over the socket and waits for its answer.
   * @example const { streams } = await connection.request('listStreams', { roomId });
   */
  request<K extends ClientRequest['kind']>(kind: K, body: RequestBody<K>, options: RequestOptions = {}): Promise<ResultPayloads[K]> {
    const socket = this.#socket;
    if (socket === undefined || socket.readyState !== SOCKET_OPEN) {
      return Promise.reject(EndpointError.connectionLost(`${kind}: not connected`));
    }
    if (options.signal?.aborted === true) return Promise.reject(EndpointError.aborted(kind, options.signal.reason));
    return this.#requests.send(socket, kind, body, options, options.timeoutMs ?? this.#requestTimeoutMs);
  }

  /** Sends a message that has no answer (flow-control credit, reject). */
  notify(message: Exclude<ClientMessage, { id: number }>): void {
    if (this.#socket?.readyState === SOCKET_OPEN) this.#socket.send(JSON.stringify(message));
  }

  /**
   * Sends a binary frame; throws ConnectionLost if the socket is not open. Byte-stream chunks take the
   * bulk lane (transport/bulk-lane.ts): every other frame and message goes ahead of them.
   */
  sendFrame(frame: Uint8Array): void {
    const socket = this.#socket;
    if (socket === undefined || socket.readyState !== SOCKET_OPEN) throw EndpointError.connectionLost('not connected');
    if (frame[0] === FRAME_CHUNK_UP) bulkLane(socket).push(frame);
    else socket.send(frame);
  }

  /** Bytes queued in the socket, not yet sent, and byte-stream chunks waiting in its bulk lane. */
  get bufferedAmount(): number {
    const socket = this.#socket;
    return socket === undefined ? 0 : socket.bufferedAmount + queuedBulkBytes(socket);
  }

  /** What a data-track frame sent now waits behind: the socket's own buffer (bulk takes at most one chunk of it). */
  get priorityBufferedAmount(): number {
    return this.#socket?.bufferedAmount ?? 0;
  }

  /**
   * Resolves once the socket's send queue is at most `bytes` (WebSockets have no drain event, so this
   * polls). Rejects with ConnectionLost if the socket closes meanwhile.
   */
  async drained(bytes: number, signal?: AbortSignal): Promise<void> {
    const socket = this.#socket;
    while (socket !== undefined && socket.bufferedAmount + queuedBulkBytes(socket) > bytes) {
      if (socket.readyState !== SOCKET_OPEN || this.#socket !== socket) throw EndpointError.connectionLost();
      if (signal?.aborted === true) throw EndpointError.aborted('write', signal.reason);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /** Pings a silent Bridge (heartbeat.ts); one that does not answer loses its socket as if it had closed. */
  #watch(socket: SocketLike): void {
    this.#heartbeat?.stop();
    if (this.#heartbeatMs === 0) return;
    this.#heartbeat = new Heartbeat({
      intervalMs: this.#heartbeatMs,
      ping: (timeoutMs) => this.request('ping', {}, { timeoutMs }),
      // The bulk lane's bytes too: while they shrink, the socket is moving (transport/bulk-lane.ts).
      bufferedAmount: () => socket.bufferedAmount + queuedBulkBytes(socket),
      dead: () => {
        if (this.#socket !== socket) return;
        this.log.debug({ bridgeUrl: this.#sessionUrl }, 'the Bridge stopped answering; dropping the socket');
        try {
          socket.close();
        } catch {
          // already closing
        }
        // 1006: closed without a close frame (RFC 6455, 7.4.1), as for any lost connection; never sent.
        this.#onSocketClosed(1006, 'the Bridge stopped answering', true);
      },
    });
  }

  /** `silent`: the heartbeat dropped the socket (its Bridge stopped answering). */
  #onSocketClosed(code: number, reason: string, silent = false): void {
    this.#heartbeat?.stop();
    this.#socket = undefined;
    this.#requests.failAll(EndpointError.connectionLost(`the socket closed (${code}${reason === '' ? '' : `: ${reason}`})`));
    this.#hooks.emit('socketClosed', { code, reason });
    if (this.#closedByUser) return;
    this.#events.emit('connectionLost', { code, reason });
    if (!this.#reconnect) {
      this.#state = 'disconnected';
      this.#events.emit('disconnected', { reason: `socket closed (${code})` });
      return;
    }
    this.#state = 'reconnecting';
    void reconnectLoop(
      {
        bridges: this.#bridges,
        backoff: this.#backoff,
        log: this.log,
        closed: () => this.#closedByUser,
        sessionUrl: () => this.#sessionUrl,
        login: (url) => this.#login(url),
        relogin: () => this.#relogin(),
        openSocket: () => this.#openSocket(),
        attempting: (attempt, delayMs, bridgeUrl) => this.#events.emit('reconnecting', { attempt, delayMs, bridgeUrl }),
        reconnected: (bridgeUrl, previousBridgeUrl, attempt) => {
          this.#state = 'connected';
          this.#up = { at: Date.now(), attempt };
          if (bridgeUrl !== previousBridgeUrl) this.#events.emit('bridgeChanged', { bridgeUrl, previousBridgeUrl });
          this.#hooks.emit('restore', { connectionId: this.#connectionId });
          this.#events.emit('reconnected', { connectionId: this.#connectionId, bridgeUrl });
        },
        gaveUp: (error) => {
          this.#state = 'disconnected';
          this.#events.emit('disconnected', { reason: 'the session cannot be restored', error });
        },
      },
      code,
      silent,
      Date.now() - this.#up.at < CONNECTION_STABLE_MS ? this.#up.attempt + 1 : 1,
    );
  }

  /**
   * Closes the socket, ends the session on the Bridge, and fails whatever is pending with
   * ConnectionLost. Idempotent.
   */
  async disconnect(): Promise<void> {
    if (this.#closedByUser) return;
    this.#closedByUser = true;
    this.#state = 'disconnected';
    this.#heartbeat?.stop();
    const socket = this.#socket;
    this.#socket = undefined;
    this.#requests.failAll(EndpointError.connectionLost('disconnected'));
    if (socket !== undefined) {
      this.#hooks.emit('socketClosed', { code: CLOSE.normal, reason: 'disconnect' });
      socket.close(CLOSE.normal, 'disconnect');
    }
    try {
      // `retried` = true: an expired session is simply over, no login just to log out.
      if (this.#token !== undefined) await this.#http.request('POST', '/v1/auth/logout', undefined, undefined, { timeoutMs: 5000 }, true);
    } catch (error) {
      this.log.debug({ reason: (error as Error).message }, 'logout failed');
    }
    this.#token = undefined;
    this.#seed.fill(0);
    this.#events.emit('disconnected', { reason: 'disconnect() was called' });
  }
}
