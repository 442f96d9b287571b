/**
 * EventApi (PrivMX shape): subscriptions by query (`subscribeFor`, `unsubscribeFrom`,
 * `buildSubscriptionQuery`) and typed listeners (`on`). Subscription ids handed to the app stay valid
 * across reconnects: the API re-subscribes and maps the Bridge's new ids back to the app's.
 */
import {
  buildSubscriptionQuery as buildQuery,
  parseSubscriptionQuery,
  ROOM_EVENT_TYPES,
  type RoomEventType,
  type SelectorType,
  type ServerEvent,
} from '../protocol/ws.ts';
import type { Connection } from './connection.ts';
import { EndpointError } from './errors.ts';
import { connectionInternals, registerEventApi } from './internal.ts';
import type { RequestOptions } from './transport/http.ts';
import type { RealtimeEvent } from './realtime/types.ts';
import type { KeyChangedEvent, StreamRoomEvent } from './types.ts';
import { Emitter } from './util/emitter.ts';

/** Turns a raw room event into the typed event the app gets (installed by StreamApi: fetch and verify). */
export type RoomEventTransformer = (event: Extract<ServerEvent, { type: RoomEventType }>, subscriptionIds: string[]) => Promise<StreamRoomEvent>;

/**
 * Every event an app can listen to: room lifecycle (needs `subscribeFor`), real-time events of joined
 * rooms, and `keyChanged` (a user's key differs from the pinned one).
 */
export type EndpointEvent = StreamRoomEvent | RealtimeEvent | KeyChangedEvent;
export type EventMap = { [K in EndpointEvent['type']]: Extract<EndpointEvent, { type: K }> } & Record<string, unknown>;

export class EventApi {
  readonly #emitter = new Emitter<EventMap>();
  /** app subscription id -> query, and the Bridge's current id for it */
  readonly #subscriptions = new Map<string, { query: string; serverId: string }>();
  readonly #byServerId = new Map<string, string>();
  #nextId = 1;
  #transformer: RoomEventTransformer | undefined;
  /** Room events are handled one at a time, so listeners see them in the order the Bridge sent them. */
  #queue: Promise<void> = Promise.resolve();

  /** Use `Endpoint.createEventApi`. */
  constructor(readonly connection: Connection) {
    const { hooks } = connectionInternals(connection);
    hooks.on('event', (event) => this.#onServerEvent(event));
    hooks.on('restore', () => void this.#restore());
    registerEventApi(this, {
      emit: (type, event) => this.#emit(type, event),
      setRoomEventTransformer: (transformer) => {
        // One StreamApi per EventApi: a second one must not take over the verification of room events.
        if (this.#transformer !== undefined) throw EndpointError.invalidArgument('"eventApi" already has a StreamApi (use Endpoint.createStreamApi)');
        this.#transformer = transformer;
      },
    });
  }

  /**
   * The query for `subscribeFor`.
   * @example eventApi.buildSubscriptionQuery('streamRoomUpdated', 'contextId', contextId)
   */
  buildSubscriptionQuery(eventType: RoomEventType, selectorType: SelectorType, selectorId: string): string {
    if (!(ROOM_EVENT_TYPES as readonly string[]).includes(eventType)) {
      throw EndpointError.invalidArgument(`"eventType" expected one of ${ROOM_EVENT_TYPES.join(', ')}, got "${eventType}"`);
    }
    if (selectorType !== 'contextId' && selectorType !== 'streamRoomId') {
      throw EndpointError.invalidArgument(`"selectorType" expected contextId or streamRoomId, got "${String(selectorType)}"`);
    }
    const query = buildQuery(eventType, selectorType, selectorId);
    if (parseSubscriptionQuery(query) === undefined) throw EndpointError.invalidArgument(`"selectorId" is not a valid id: "${selectorId}"`);
    return query;
  }

  /**
   * Subscribes to events; returns one subscription id per query. The Bridge checks that this user may
   * see the context or room, and delivers an event only if the user may see that room.
   * @example
   * const [id] = await eventApi.subscribeFor([eventApi.buildSubscriptionQuery('streamRoomUpdated', 'contextId', ctx)]);
   * eventApi.on('streamRoomUpdated', (e) => render(e.room));
   */
  async subscribeFor(queries: string[], options: RequestOptions = {}): Promise<string[]> {
    if (!Array.isArray(queries) || queries.length === 0) throw EndpointError.invalidArgument('"queries" expected a non-empty array');
    const { subscriptionIds } = await this.connection.request('subscribe', { queries }, options);
    return subscriptionIds.map((serverId, i) => {
      const id = `esub_${this.#nextId++}`;
      this.#subscriptions.set(id, { query: queries[i]!, serverId });
      this.#byServerId.set(serverId, id);
      return id;
    });
  }

  async unsubscribeFrom(subscriptionIds: string[], options: RequestOptions = {}): Promise<void> {
    const unknown = subscriptionIds.filter((id) => !this.#subscriptions.has(id));
    if (unknown.length > 0) throw EndpointError.invalidArgument(`unknown subscription id "${unknown[0]}"`);
    const serverIds = subscriptionIds.map((id) => this.#subscriptions.get(id)!.serverId);
    for (const id of subscriptionIds) {
      this.#byServerId.delete(this.#subscriptions.get(id)!.serverId);
      this.#subscriptions.delete(id);
    }
    await this.connection.request('unsubscribe', { subscriptionIds: serverIds }, options);
  }

  /** Listens to one event type; returns the function that stops listening. */
  on<K extends keyof EventMap & string>(type: K, listener: (event: EventMap[K]) => void): () => void {
    return this.#emitter.on(type, listener);
  }

  #emit<K extends keyof EventMap & string>(type: K, event: EventMap[K]): void {
    this.#emitter.emit(type, event, (error) => this.connection.log.error({ type, error: String(error) }, 'event listener threw'));
  }

  #onServerEvent(event: ServerEvent): void {
    if (event.type !== 'streamRoomCreated' && event.type !== 'streamRoomUpdated' && event.type !== 'streamRoomDeleted') return;
    const ids = event.subscriptionIds.map((s) => this.#byServerId.get(s)).filter((s): s is string => s !== undefined);
    if (ids.length === 0) return;
    this.#queue = this.#queue.then(async () => {
      const typed = this.#transformer !== undefined ? await this.#transformer(event, ids) : plain(event, ids);
      this.#emit(typed.type, typed as never);
    });
  }

  async #restore(): Promise<void> {
    const entries = [...this.#subscriptions.entries()];
    if (entries.length === 0) return;
    try {
      const { subscriptionIds } = await this.connection.request('subscribe', { queries: entries.map(([, s]) => s.query) });
      this.#byServerId.clear();
      entries.forEach(([id, s], i) => {
        s.serverId = subscriptionIds[i]!;
        this.#byServerId.set(s.serverId, id);
      });
    } catch (error) {
      this.connection.log.error({ reason: (error as Error).message }, 'restoring event subscriptions failed');
    }
  }
}

function plain(event: Extract<ServerEvent, { type: RoomEventType }>, subscriptionIds: string[]): StreamRoomEvent {
  switch (event.type) {
    case 'streamRoomCreated':
      return { type: event.type, streamRoomId: event.roomId, contextId: event.contextId, subscriptionIds };
    case 'streamRoomUpdated':
      return { type: event.type, streamRoomId: event.roomId, contextId: event.contextId, version: event.version, epoch: event.epoch, subscriptionIds };
    case 'streamRoomDeleted':
      return { type: event.type, streamRoomId: event.roomId, contextId: event.contextId, subscriptionIds };
    default: {
      const never: never = event;
      throw new Error(`unknown room event ${(never as { type: string }).type}`);
    }
  }
}
