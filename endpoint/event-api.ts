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

type RoomEvent = Extract<ServerEvent, { type: RoomEventType }>;

/**
 * Room events waiting for their turn, at most this many (docs/operations/limits.md, "What the Endpoint
 * reads"). Each is a verified room read when its turn comes, so a Bridge that sends events faster than
 * they can be read would otherwise grow the queue without end; an update for a room whose update is
 * still waiting joins it instead (both would read the same room).
 */
export const ROOM_EVENTS_PENDING_MAX = 4096;

/** What the room-event queue did: `eventApi.stats()`. */
export interface EventApiStats {
  /** Room events waiting for their turn now. */
  pendingRoomEvents: number;
  /** Updates that joined an update of the same room still waiting (the app gets one event for both). */
  coalescedRoomEvents: number;
  /** Room events dropped because ROOM_EVENTS_PENDING_MAX were waiting; each is also logged once per burst. */
  droppedRoomEvents: number;
}

interface PendingRoomEvent {
  event: RoomEvent;
  subscriptionIds: string[];
}

export class EventApi {
  readonly #emitter = new Emitter<EventMap>();
  /** app subscription id -> query, and the Bridge's current id for it */
  readonly #subscriptions = new Map<string, { query: string; serverId: string }>();
  readonly #byServerId = new Map<string, string>();
  #nextId = 1;
  #transformer: RoomEventTransformer | undefined;
  /**
   * Room events are handled one at a time, so listeners see them in the order the Bridge sent them
   * (an update joined to a waiting one keeps that one's place).
   */
  readonly #pending: PendingRoomEvent[] = [];
  /** The newest waiting event per room, which an update of that room may join. */
  readonly #lastPending = new Map<string, PendingRoomEvent>();
  #draining = false;
  /** Set from the first drop until the queue is empty again: a burst of drops is logged once. */
  #dropping = false;
  readonly #counts = { coalescedRoomEvents: 0, droppedRoomEvents: 0 };

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

  /** What the room-event queue holds and did (see EventApiStats). */
  stats(): EventApiStats {
    return { pendingRoomEvents: this.#pending.length, ...this.#counts };
  }

  #emit<K extends keyof EventMap & string>(type: K, event: EventMap[K]): void {
    this.#emitter.emit(type, event, (error) => this.connection.log.error({ type, error: String(error) }, 'event listener threw'));
  }

  #onServerEvent(event: ServerEvent): void {
    if (event.type !== 'streamRoomCreated' && event.type !== 'streamRoomUpdated' && event.type !== 'streamRoomDeleted') return;
    const ids = event.subscriptionIds.map((s) => this.#byServerId.get(s)).filter((s): s is string => s !== undefined);
    if (ids.length === 0) return;
    const last = this.#lastPending.get(event.roomId);
    if (last !== undefined && last.event.type === 'streamRoomUpdated' && event.type === 'streamRoomUpdated') {
      last.event = event;
      last.subscriptionIds = [...new Set([...last.subscriptionIds, ...ids])];
      this.#counts.coalescedRoomEvents++;
      return;
    }
    if (this.#pending.length >= ROOM_EVENTS_PENDING_MAX) {
      this.#counts.droppedRoomEvents++;
      if (!this.#dropping)
        this.connection.log.warn({ type: event.type, roomId: event.roomId, pending: this.#pending.length }, 'dropping room events: too many waiting');
      this.#dropping = true;
      return;
    }
    const entry: PendingRoomEvent = { event, subscriptionIds: ids };
    this.#pending.push(entry);
    this.#lastPending.set(event.roomId, entry);
    if (this.#draining) return;
    this.#draining = true;
    // Not inside the socket's message handler: listeners run after it, as every event's do.
    queueMicrotask(() => void this.#drain());
  }

  async #drain(): Promise<void> {
    try {
      for (let entry = this.#pending[0]; entry !== undefined; entry = this.#pending[0]) {
        // Taken out before its read starts: an update arriving meanwhile waits for a newer read.
        if (this.#lastPending.get(entry.event.roomId) === entry) this.#lastPending.delete(entry.event.roomId);
        const { event, subscriptionIds } = entry;
        try {
          const typed = this.#transformer !== undefined ? await this.#transformer(event, subscriptionIds) : plain(event, subscriptionIds);
          this.#emit(typed.type, typed as never);
        } catch (error) {
          this.connection.log.error({ type: event.type, roomId: event.roomId, error: String(error) }, 'a room event could not be handled');
        }
        this.#pending.shift();
      }
      this.#dropping = false;
    } finally {
      this.#draining = false;
    }
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

function plain(event: RoomEvent, subscriptionIds: string[]): StreamRoomEvent {
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
