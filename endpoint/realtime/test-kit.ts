/**
 * Helpers for the real-time tests in this folder (not part of the library): a real Bridge with a
 * tenant, real Endpoints, rooms made through the Endpoint, and recorders for events and data.
 */
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import type { CreateBridgeOptions } from '../../bridge/index.ts';
import { connectClient, pub, until, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import type { ConnectOptions } from '../connection.ts';
import type { StreamApiOptions } from '../stream-api.ts';
import { EndpointError } from '../errors.ts';
import type { EventMap } from '../event-api.ts';
import type { RemoteDataInfo, RoomLeftReason } from './types.ts';
import { streamApiInternals } from '../internal.ts';

export { fromUtf8, pub, until, utf8, type Client };

export interface Kit {
  t: TestBridge;
  tenant: Tenant;
  clients: Client[];
  /** Connects a user of the tenant (through `url` when given, for a proxy). */
  connect(userId: string, options?: { url?: string; connect?: ConnectOptions; streamApi?: StreamApiOptions }): Promise<Client>;
  /** A room created by `owner` through the Endpoint; managers default to the owner. */
  room(owner: Client, users: Client[], managers?: Client[], policy?: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

export async function startKit(userIds: string[], bridgeOptions: Partial<CreateBridgeOptions> = {}): Promise<Kit> {
  const t = await startBridge(bridgeOptions);
  const tenant = await setupTenant(t.bridge, userIds);
  const clients: Client[] = [];
  return {
    t,
    tenant,
    clients,
    async connect(userId, options = {}) {
      const c = await connectClient(options.url ?? t.bridge.url, tenant.solutionId, tenant.users[userId]!, {
        ...(options.connect === undefined ? {} : { connect: options.connect }),
        ...(options.streamApi === undefined ? {} : { streamApi: options.streamApi }),
      });
      clients.push(c);
      return c;
    },
    room(owner, users, managers = [owner], policy) {
      return owner.streamApi.createStreamRoom(
        tenant.contextId,
        users.map((c) => pub(c.user)),
        managers.map((c) => pub(c.user)),
        utf8('{}'),
        utf8('private'),
        policy,
      );
    },
    async close() {
      await Promise.all(clients.map((c) => c.connection.disconnect()));
      await t.close();
    },
  };
}

/** Awaits a promise that must fail with an EndpointError, and returns that error. */
export async function refusal(promise: Promise<unknown>): Promise<EndpointError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EndpointError) return error;
    throw error;
  }
  throw new Error('expected an EndpointError, the call succeeded');
}

type RealtimeType =
  | 'streamRoomJoined'
  | 'streamRoomLeft'
  | 'streamPublished'
  | 'streamUpdated'
  | 'streamUnpublished'
  | 'streamSubscribed'
  | 'streamUnsubscribed';
const REALTIME_TYPES: RealtimeType[] = [
  'streamRoomJoined',
  'streamRoomLeft',
  'streamPublished',
  'streamUpdated',
  'streamUnpublished',
  'streamSubscribed',
  'streamUnsubscribed',
];

/** Records every real-time event a client's app gets, in order. */
export class EventLog {
  readonly all: Array<EventMap[RealtimeType]> = [];
  private readonly stops: Array<() => void>;

  constructor(client: Client) {
    this.stops = REALTIME_TYPES.map((type) => client.eventApi.on(type, (e) => this.all.push(e)));
  }

  of<K extends RealtimeType>(type: K, roomId?: string): Array<EventMap[K]> {
    return this.all.filter((e): e is EventMap[K] => e.type === type && (roomId === undefined || e.streamRoomId === roomId));
  }

  async next<K extends RealtimeType>(type: K, predicate: (e: EventMap[K]) => boolean = () => true, what: string = type): Promise<EventMap[K]> {
    let found: EventMap[K] | undefined;
    await until(() => (found = this.of(type).find(predicate)) !== undefined, what);
    return found!;
  }

  stop(): void {
    for (const stop of this.stops) stop();
  }
}

/** Records the data messages a client receives in a room. */
export class DataLog {
  readonly messages: Array<{ text: string; info: RemoteDataInfo }> = [];
  readonly remove: () => void;

  constructor(client: Client, streamRoomId: string, streamId?: string) {
    this.remove = client.streamApi.addRemoteStreamListener({
      streamRoomId,
      ...(streamId === undefined ? {} : { streamId }),
      onRemoteData: (data, status, info) => {
        if (status !== 0) throw new Error('a listener got a message with a non-zero status');
        // Lenient decoding: whatever reaches a listener is recorded, garbage included.
        this.messages.push({ text: new TextDecoder().decode(data), info });
      },
    });
  }

  texts(): string[] {
    return this.messages.map((m) => m.text);
  }
}

/** Records the rooms a client leaves (the internal `onRoomLeft` hook). */
export function roomLeftLog(client: Client): Array<{ roomId: string; reason: RoomLeftReason }> {
  const log: Array<{ roomId: string; reason: RoomLeftReason }> = [];
  streamApiInternals(client.streamApi).realtime.onRoomLeft((roomId, reason) => log.push({ roomId, reason }));
  return log;
}

/** Wraps `connection.sendFrame` to keep a copy of every binary frame the client sends. */
export function captureFrames(client: Client): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const connection = client.connection;
  const original = connection.sendFrame.bind(connection);
  connection.sendFrame = (frame: Uint8Array) => {
    frames.push(frame.slice());
    original(frame);
  };
  return frames;
}

/** Joins, publishes one data track, and returns its handle and track id. */
export async function publishDataTrack(client: Client, roomId: string): Promise<{ handle: string; trackId: string }> {
  const handle = await client.streamApi.createStream(roomId);
  const trackId = await client.streamApi.addStreamTrack(handle, { createDataChannel: true });
  await client.streamApi.publishStream(handle);
  return { handle, trackId };
}
