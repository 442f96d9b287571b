/**
 * What the Endpoint's own modules reach on a Connection, an EventApi and a StreamApi, and apps do not
 * (STYLE.md rule 11). Each class keeps these parts in `#private` fields and registers a view of them
 * here, once, from its constructor. This module is not re-exported from index.ts (and the package
 * exports only index.ts), so neither the published types nor the objects an app holds show any of it.
 *
 * The private key's seed is not among them: the Connection signs and unwraps with it on request, and
 * no module gets the seed itself.
 */
import type { UnwrapEpochKeyParams } from '../crypto/key-wrap.ts';
import type { UnwrapStreamSecretParams } from '../crypto/stream/keying.ts';
import type { DecodedFrame, MediaEvent, ServerEvent } from '../protocol/ws.ts';
import type { DataStreamsApi } from './data-streams/data-streams-api.ts';
import type { Connection } from './connection.ts';
import { EndpointError } from './errors.ts';
import type { EventApi, EventMap, RoomEventTransformer } from './event-api.ts';
import type { RealtimeApi } from './realtime/realtime-api.ts';
import type { KeyRing } from './rooms/keyring.ts';
import type { RoomApi } from './rooms/room-api.ts';
import type { StreamApi } from './stream-api.ts';
import type { BridgeHttp } from './transport/http.ts';
import type { SocketLike } from './transport/websocket.ts';
import type { Emitter } from './util/emitter.ts';

/** What happens on a connection's socket, for the APIs built on it. */
export interface ConnectionHooks extends Record<string, unknown> {
  event: ServerEvent;
  frame: DecodedFrame;
  /** Media signalling from the Bridge's forwarding unit (after a mediaJoin). */
  media: MediaEvent;
  /** Before `reconnected` is announced: restore server-side state (subscriptions). */
  restore: { connectionId: string };
  /** The socket dropped (fires before `connectionLost`). */
  socketClosed: { code: number; reason: string };
}

/** Signs and unwraps with the user's private key, which stays inside the Connection. */
export interface Signer {
  /** An Ed25519 signature over `message`. Rejects with ConnectionLost once the connection is closed. */
  sign(message: Uint8Array): Promise<Uint8Array>;
  /** An epoch key wrapped for this user (crypto/key-wrap.ts). Rejects like `sign` once closed. */
  unwrapEpochKey(params: Omit<UnwrapEpochKeyParams, 'recipientSeed'>): Promise<Uint8Array>;
  /** A private stream's secret wrapped for this user (crypto/stream/keying.ts). Rejects like `sign` once closed. */
  unwrapStreamSecret(params: Omit<UnwrapStreamSecretParams, 'recipientSeed'>): Promise<Uint8Array>;
}

export interface ConnectionInternals {
  readonly http: BridgeHttp;
  readonly hooks: Emitter<ConnectionHooks>;
  readonly signer: Signer;
  /** The current socket, if one is open (tests pause it to play a slow reader). */
  socket(): SocketLike | undefined;
}

export interface EventApiInternals {
  /** Emits an event to the app's listeners (the real-time events StreamApi receives). */
  emit<K extends keyof EventMap & string>(type: K, event: EventMap[K]): void;
  /** Installs StreamApi's verification of room events; once per EventApi, a second one throws. */
  setRoomEventTransformer(transformer: RoomEventTransformer): void;
}

export interface StreamApiInternals {
  readonly rooms: RoomApi;
  readonly keys: KeyRing;
  readonly realtime: RealtimeApi;
  readonly dataStreams: DataStreamsApi;
}

/** A WeakMap from each object to its internals, written once. */
class Registry<K extends object, V> {
  readonly #map = new WeakMap<K, V>();

  constructor(readonly what: string) {}

  set(key: K, value: V): void {
    if (this.#map.has(key)) throw new Error(`${this.what}: internals registered twice`);
    this.#map.set(key, value);
  }

  of(key: K): V {
    const value = typeof key === 'object' && key !== null ? this.#map.get(key) : undefined;
    if (value === undefined) throw EndpointError.invalidArgument(`expected a ${this.what} made by Endpoint`);
    return value;
  }
}

const connections = new Registry<Connection, ConnectionInternals>('Connection');
const eventApis = new Registry<EventApi, EventApiInternals>('EventApi');
const streamApis = new Registry<StreamApi, StreamApiInternals>('StreamApi');

export const registerConnection = (connection: Connection, internals: ConnectionInternals): void => connections.set(connection, internals);
export const registerEventApi = (eventApi: EventApi, internals: EventApiInternals): void => eventApis.set(eventApi, internals);
export const registerStreamApi = (streamApi: StreamApi, internals: StreamApiInternals): void => streamApis.set(streamApi, internals);

export const connectionInternals = (connection: Connection): ConnectionInternals => connections.of(connection);
export const eventApiInternals = (eventApi: EventApi): EventApiInternals => eventApis.of(eventApi);
export const streamApiInternals = (streamApi: StreamApi): StreamApiInternals => streamApis.of(streamApi);
