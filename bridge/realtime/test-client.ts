/**
 * A raw WebSocket client for relay tests: speaks protocol/ws.ts directly (hello, requests with ids,
 * events, binary frames), records everything it receives in arrival order, and can stop reading its
 * socket to play a slow subscriber. Every wait has a timeout, so a failing test fails, never hangs.
 */
import type { Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import {
  decodeFrame,
  encodeChunkFrame,
  encodeCreditFrame,
  encodeDataFrame,
  FRAME_CHUNK_UP,
  FRAME_CREDIT_UP,
  FRAME_BATCH_DOWN,
  FRAME_DATA_UP,
  splitBatch,
  WS_PATH,
  WS_PROTOCOL_VERSION,
  type ClientRequest,
  type ClientRequestKind,
  type DecodedFrame,
  type MediaEvent,
  type ResultPayloads,
  type ServerEvent,
} from '../../protocol/ws.ts';
import type { Bridge } from '../bridge.ts';
import { login, rest, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import type { CreateBridgeOptions } from '../bridge.ts';
import { genesis } from '../../test/rooms.ts';
import type { TestUser } from '../../test/identities.ts';
import { relayStats, type RelayStats } from './relay.ts';

const DEFAULT_TIMEOUT_MS = 5000;

export class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/**
 * ALLOWANCE frames are logged as events of this shape, so tests read a stream's allowances beside
 * its other events (on the wire it is a binary frame, protocol/ws.ts).
 */
export type AllowanceEvent = { type: 'byteStreamAllowance'; streamNo: number; allowed: number };
export type ClientEvent = ServerEvent | AllowanceEvent;
export type Received = { kind: 'event'; event: ClientEvent } | { kind: 'frame'; frame: DecodedFrame };
type EventOf<T extends ClientEvent['type']> = Extract<ClientEvent, { type: T }>;
type Body<K extends ClientRequestKind> = Omit<Extract<ClientRequest, { kind: K }>, 'kind' | 'id'>;

export class TestClient {
  /** Everything received after hello, in arrival order. */
  readonly log: Received[] = [];
  /** Media signalling received (messages of kind `media`), in arrival order. */
  readonly mediaLog: MediaEvent[] = [];
  connectionId = '';
  userId = '';
  readonly closed: Promise<{ code: number; reason: string }>;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private readonly waiters = new Set<() => void>();
  /** Streams this client credits as soon as a chunk arrives (a reader that keeps up). */
  private readonly autoCredit = new Map<number, number>();

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('socket closed'));
      this.pending.clear();
      this.wake();
    });
  }

  /** BATCH messages received (protocol 2; their frames are logged one by one). */
  batches = 0;

  /** `protocol`: 3 (the default, what the Endpoint speaks) and 2 take BATCH frames; 1 gets every frame alone. 3 starts byte streams from `allowed`. */
  static async connect(url: string, token: string, protocol: 1 | 2 | 3 = WS_PROTOCOL_VERSION): Promise<TestClient> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${WS_PATH}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const client = new TestClient(ws);
    const hello = await client.raw<'hello'>({ kind: 'hello', id: 0, token, protocol });
    client.connectionId = hello.connectionId;
    client.userId = hello.userId;
    return client;
  }

  /** Sends a request and resolves with its result; rejects with a RequestError carrying the code. */
  request<K extends Exclude<ClientRequestKind, 'hello'>>(kind: K, body: Body<K>): Promise<ResultPayloads[K]> {
    const id = this.nextId++;
    return this.raw<K>({ ...body, kind, id } as unknown as Extract<ClientRequest, { kind: K }>);
  }

  /** The error code of a request that must fail. */
  async failure<K extends Exclude<ClientRequestKind, 'hello'>>(kind: K, body: Body<K>): Promise<string> {
    try {
      await this.request(kind, body);
    } catch (error) {
      if (error instanceof RequestError) return error.code;
      throw error;
    }
    throw new Error(`expected ${kind} to fail, it succeeded`);
  }

  private raw<K extends ClientRequestKind>(message: Extract<ClientRequest, { kind: K }>): Promise<ResultPayloads[K]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(message.id);
        reject(new Error(`${message.kind} (id ${message.id}) got no answer in ${DEFAULT_TIMEOUT_MS} ms`));
      }, DEFAULT_TIMEOUT_MS);
      this.pending.set(message.id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as unknown as ResultPayloads[K]);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ws.send(JSON.stringify(message));
    });
  }

  /** `starved`: the CREDIT frame's flag (this reader took all it was given). */
  credit(streamNo: number, offset: number, starved = false): void {
    this.ws.send(encodeCreditFrame(FRAME_CREDIT_UP, streamNo, offset, starved));
  }

  /** Credits every chunk of this stream as it arrives, from now on. */
  creditAsRead(streamNo: number): void {
    const consumed = this.chunkFrames(streamNo).reduce((n, f) => n + f.payload.length, 0);
    this.autoCredit.set(streamNo, consumed);
    if (consumed > 0) this.credit(streamNo, consumed);
  }

  reject(streamNo: number): void {
    this.ws.send(JSON.stringify({ kind: 'byteStreamReject', streamNo }));
  }

  sendData(trackNo: number, payload: Uint8Array): void {
    this.ws.send(encodeDataFrame(FRAME_DATA_UP, trackNo, payload));
  }

  sendChunk(streamNo: number, last: boolean, payload: Uint8Array): void {
    this.ws.send(encodeChunkFrame(FRAME_CHUNK_UP, streamNo, last, payload));
  }

  /** Stops reading the socket (the Bridge's writes back up), and starts again. */
  pause(): void {
    (this.ws as unknown as { _socket: Socket })._socket.pause();
  }

  resume(): void {
    (this.ws as unknown as { _socket: Socket })._socket.resume();
  }

  events<T extends ClientEvent['type']>(type: T): Array<EventOf<T>> {
    const out: Array<EventOf<T>> = [];
    for (const r of this.log) if (r.kind === 'event' && r.event.type === type) out.push(r.event as EventOf<T>);
    return out;
  }

  dataFrames(trackNo?: number): Array<Extract<DecodedFrame, { type: 'data' }>> {
    const out: Array<Extract<DecodedFrame, { type: 'data' }>> = [];
    for (const r of this.log) if (r.kind === 'frame' && r.frame.type === 'data' && (trackNo === undefined || r.frame.trackNo === trackNo)) out.push(r.frame);
    return out;
  }

  chunkFrames(streamNo?: number): Array<Extract<DecodedFrame, { type: 'chunk' }>> {
    const out: Array<Extract<DecodedFrame, { type: 'chunk' }>> = [];
    for (const r of this.log)
      if (r.kind === 'frame' && r.frame.type === 'chunk' && (streamNo === undefined || r.frame.streamNo === streamNo)) out.push(r.frame);
    return out;
  }

  /** Resolves once `check` holds (checked after every message), or rejects after the timeout. */
  until(check: () => boolean, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        if (!check()) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** The first event of this type matching `match`, waiting for it if needed. */
  async event<T extends ClientEvent['type']>(type: T, match: (e: EventOf<T>) => boolean = () => true, timeoutMs?: number): Promise<EventOf<T>> {
    let found: EventOf<T> | undefined;
    await this.until(() => (found = this.events(type).find(match)) !== undefined, `event ${type}`, timeoutMs);
    return found!;
  }

  /** The first media message of this type matching `match`, waiting for it if needed. */
  async mediaEvent<T extends MediaEvent['type']>(
    type: T,
    match: (e: Extract<MediaEvent, { type: T }>) => boolean = () => true,
    timeoutMs?: number,
  ): Promise<Extract<MediaEvent, { type: T }>> {
    let found: Extract<MediaEvent, { type: T }> | undefined;
    const find = () => this.mediaLog.find((e): e is Extract<MediaEvent, { type: T }> => e.type === type && match(e as Extract<MediaEvent, { type: T }>));
    await this.until(() => (found = find()) !== undefined, `media message ${type}`, timeoutMs);
    return found!;
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }

  private onFrame(bytes: Uint8Array): void {
    const frame = decodeFrame(bytes);
    if (frame === undefined) throw new Error('the Bridge sent a malformed binary frame');
    if (frame.type === 'credit') this.log.push({ kind: 'event', event: { type: 'byteStreamAllowance', streamNo: frame.streamNo, allowed: frame.offset } });
    else this.log.push({ kind: 'frame', frame });
    const consumed = frame.type === 'chunk' ? this.autoCredit.get(frame.streamNo) : undefined;
    if (frame.type === 'chunk' && consumed !== undefined) {
      this.autoCredit.set(frame.streamNo, consumed + frame.payload.length);
      this.credit(frame.streamNo, consumed + frame.payload.length);
    }
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (isBinary) {
      const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
      if (bytes[0] === FRAME_BATCH_DOWN) {
        const frames = splitBatch(bytes);
        if (frames === undefined) throw new Error('the Bridge sent a malformed batch');
        this.batches++;
        for (const f of frames) this.onFrame(f);
      } else this.onFrame(bytes);
    } else {
      const message = JSON.parse(buffer.toString()) as
        | { kind: 'result'; id: number; result: Record<string, unknown> }
        | { kind: 'error'; id: number; code: string; message: string }
        | { kind: 'event'; event: ServerEvent }
        | { kind: 'media'; event: MediaEvent };
      if (message.kind === 'event') this.log.push({ kind: 'event', event: message.event });
      else if (message.kind === 'media') this.mediaLog.push(message.event);
      else {
        const p = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.kind === 'result') p?.resolve(message.result);
        else p?.reject(new RequestError(message.code, message.message));
      }
    }
    this.wake();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Creates a room over REST with real signed records; the author must be among the managers. */
export async function createRoom(bridge: Bridge, tenant: Tenant, token: string, author: TestUser, users: TestUser[], managers: TestUser[]) {
  const built = await genesis(tenant.contextId, author, { users, managers });
  const reply = await rest(bridge.url, token).post('/v1/rooms', built.request);
  if (reply.status !== 201) throw new Error(`create room: ${reply.status} ${JSON.stringify(reply.body)}`);
  return built;
}

export function stats(bridge: Bridge): RelayStats {
  return relayStats(bridge.realtime.relay);
}

export const bytes = (n: number, fill = 0): Uint8Array => new Uint8Array(n).fill(fill);

/** A payload that carries a sequence number in its first 4 bytes. */
export function numbered(seq: number, size = 16): Uint8Array {
  const out = new Uint8Array(Math.max(4, size));
  new DataView(out.buffer).setUint32(0, seq);
  return out;
}

export const seqOf = (payload: Uint8Array): number => new DataView(payload.buffer, payload.byteOffset, payload.length).getUint32(0);

/** Waits until `check` holds, polling (for state the Bridge holds, not messages). */
export async function eventually(check: () => boolean, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A Bridge with a tenant of `users`, each logged in, and raw clients that `close` ends with it. */
export interface RelayKit {
  t: TestBridge;
  tenant: Tenant;
  tokens: Record<string, string>;
  /** A new raw client of `userId`'s session. */
  connect(userId: string): Promise<TestClient>;
  /** A room of `users` made by `author`, who manages it. */
  room(author: string, users: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function relayKit(users: string[], options: Partial<CreateBridgeOptions> = {}): Promise<RelayKit> {
  const t = await startBridge(options);
  const tenant = await setupTenant(t.bridge, users);
  const tokens: Record<string, string> = {};
  for (const id of users) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
  const clients: TestClient[] = [];
  const u = (id: string) => tenant.users[id]!;
  return {
    t,
    tenant,
    tokens,
    async connect(userId) {
      const c = await TestClient.connect(t.bridge.url, tokens[userId]!);
      clients.push(c);
      return c;
    },
    async room(author, members) {
      return (await createRoom(t.bridge, tenant, tokens[author]!, u(author), members.map(u), [u(author)])).record.roomId;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await t.close();
    },
  };
}
