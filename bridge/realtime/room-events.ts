/**
 * Room event subscriptions over the socket (PrivMX `subscribeFor` / `unsubscribeFrom`): a connection
 * subscribes to `stream/<eventType>|contextId=...` or `|streamRoomId=...`, and gets an event only if its
 * user may see the room under the room's `get` policy at the time of the event.
 */
import { randomBytes } from 'node:crypto';
import { allows } from '../../protocol/policy.ts';
import { parseSubscriptionQuery, type ParsedQuery, type ServerEvent } from '../../protocol/ws.ts';
import type { RoomAudience, RoomCreatedEvent, RoomDeletedEvent, RoomUpdatedEvent } from '../events.ts';
import { BridgeError } from '../errors.ts';
import { visibleRoom } from '../rooms/visible.ts';
import type { BridgeServices } from '../services.ts';
import type { RealtimeConnection } from './connection.ts';

export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 256;
/** Parsed queries kept to share (`sharedQuery`), oldest forgotten first. */
const SHARED_QUERIES = 4096;

/**
 * Every member of a room subscribes to the same query: one parsed, read-only copy serves all their
 * connections, rather than a parse (an object and two slices of the string) held by each
 * (docs/operations/memory.md).
 */
const sharedQueries = new Map<string, ParsedQuery>();
function sharedQuery(query: string): ParsedQuery | undefined {
  let q = sharedQueries.get(query);
  if (q !== undefined) return q;
  q = parseSubscriptionQuery(query);
  if (q === undefined) return undefined;
  if (sharedQueries.size >= SHARED_QUERIES) sharedQueries.delete(sharedQueries.keys().next().value as string);
  sharedQueries.set(query, Object.freeze(q));
  return q;
}

export class RoomEvents {
  constructor(
    private readonly s: BridgeServices,
    private readonly connections: () => Iterable<RealtimeConnection>,
  ) {}

  private async checkSelector(conn: RealtimeConnection, query: ParsedQuery): Promise<void> {
    const session = conn.session!;
    if (query.selectorType === 'contextId') {
      const context = await this.s.store.getContext(query.selectorId);
      if (context === undefined || context.solutionId !== session.solutionId) {
        throw BridgeError.notFound('CONTEXT_NOT_FOUND', `context "${query.selectorId}" does not exist`);
      }
      if ((await this.s.store.getContextUser(query.selectorId, session.userId)) === undefined) {
        throw BridgeError.forbidden(`"${session.userId}" is not a user of context "${query.selectorId}"`);
      }
      return;
    }
    const { room, standing } = await visibleRoom(this.s.store, session, query.selectorId);
    if (!allows(room.policy.get, standing)) throw BridgeError.forbidden(`policy "get: ${room.policy.get}" forbids "${session.userId}"`);
  }

  async subscribe(conn: RealtimeConnection, queries: string[]): Promise<{ subscriptionIds: string[] }> {
    if ((conn.subscriptions?.size ?? 0) + queries.length > MAX_SUBSCRIPTIONS_PER_CONNECTION) {
      throw BridgeError.invalid('VALIDATION_FAILED', `at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection`);
    }
    const parsed: ParsedQuery[] = [];
    for (const query of queries) {
      const q = sharedQuery(query);
      if (q === undefined) {
        throw BridgeError.invalid('VALIDATION_FAILED', `not a subscription query: "${query.slice(0, 80)}" (use buildSubscriptionQuery)`);
      }
      parsed.push(q);
    }
    // Every query is parsed before any store read, and each selector is checked once however many
    // queries name it (the three event types of one context are three queries): a request of 64
    // queries whose last is bad no longer costs 128 store reads first.
    const selectors = new Map<string, ParsedQuery>();
    for (const q of parsed) selectors.set(`${q.selectorType}=${q.selectorId}`, q);
    for (const q of selectors.values()) await this.checkSelector(conn, q);
    // All or nothing: subscriptions are added only once every query passed.
    // The map is made by the first subscription (most connections never subscribe: docs/operations/memory.md).
    const subscriptions = (conn.subscriptions ??= new Map());
    const subscriptionIds = parsed.map((q) => {
      const id = `sub_${randomBytes(12).toString('base64url')}`;
      subscriptions.set(id, q);
      return id;
    });
    return { subscriptionIds };
  }

  unsubscribe(conn: RealtimeConnection, ids: string[]): void {
    const unknown = ids.filter((id) => conn.subscriptions?.has(id) !== true);
    if (unknown.length > 0) throw BridgeError.notFound('NOT_FOUND', `unknown subscription id "${unknown[0]}"`);
    for (const id of ids) conn.subscriptions?.delete(id);
    if (conn.subscriptions?.size === 0) conn.subscriptions = undefined;
  }

  private matching(conn: RealtimeConnection, type: ParsedQuery['eventType'], event: { roomId: string; contextId: string }): string[] {
    const ids: string[] = [];
    if (conn.subscriptions === undefined) return ids;
    for (const [id, q] of conn.subscriptions) {
      if (q.eventType !== type) continue;
      if (q.selectorType === 'contextId' ? q.selectorId === event.contextId : q.selectorId === event.roomId) ids.push(id);
    }
    return ids;
  }

  private async deliver(
    type: ParsedQuery['eventType'],
    event: RoomAudience & { roomId: string; contextId: string },
    build: (subscriptionIds: string[]) => ServerEvent,
  ): Promise<void> {
    const inContext = new Map<string, boolean>();
    for (const conn of this.connections()) {
      if (conn.session === undefined || conn.closed) continue;
      const ids = this.matching(conn, type, event);
      if (ids.length === 0) continue;
      const userId = conn.session.userId;
      let contextUser = inContext.get(userId);
      if (contextUser === undefined) {
        contextUser = (await this.s.store.getContextUser(event.contextId, userId)) !== undefined;
        inContext.set(userId, contextUser);
      }
      const standing = {
        contextUser,
        member: contextUser && event.members.includes(userId),
        manager: contextUser && event.managers.includes(userId),
        owner: contextUser && event.creator === userId,
      };
      if (contextUser && allows(event.policy.get, standing)) conn.event(build(ids));
    }
  }

  created(e: RoomCreatedEvent): Promise<void> {
    return this.deliver('streamRoomCreated', e, (subscriptionIds) => ({
      type: 'streamRoomCreated',
      roomId: e.roomId,
      contextId: e.contextId,
      version: e.version,
      subscriptionIds,
    }));
  }

  updated(e: RoomUpdatedEvent): Promise<void> {
    return this.deliver('streamRoomUpdated', e, (subscriptionIds) => ({
      type: 'streamRoomUpdated',
      roomId: e.roomId,
      contextId: e.contextId,
      version: e.version,
      epoch: e.epoch,
      subscriptionIds,
    }));
  }

  deleted(e: RoomDeletedEvent): Promise<void> {
    return this.deliver('streamRoomDeleted', e, (subscriptionIds) => ({
      type: 'streamRoomDeleted',
      roomId: e.roomId,
      contextId: e.contextId,
      subscriptionIds,
    }));
  }
}
