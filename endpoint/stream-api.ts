/**
 * StreamApi (PrivMX shape): Stream Room management with end-to-end encrypted keys (issue 4). The
 * real-time plane (join, publish, subscribe, byte and text streams) extends it.
 */
import type { RoomEventType, ServerEvent } from '../protocol/ws.ts';
import type { Connection } from './connection.ts';
import { EndpointError } from './errors.ts';
import type { EventApi } from './event-api.ts';
import { KeyRing, DEFAULT_EPOCH_GRACE_MS } from './rooms/keyring.ts';
import { RoomApi } from './rooms/room-api.ts';
import { MemoryTrustStore, type TrustStore } from './rooms/trust.ts';
import type { RequestOptions } from './transport/http.ts';
import type { PagingList, PagingQuery, RoomPolicy, StreamRoom, StreamRoomEvent, UserWithPubKey } from './types.ts';

export interface StreamApiOptions {
  /** Where verified room heads are kept (default: memory). Persist it to detect rollback across restarts. */
  trustStore?: TrustStore;
  /** How long old epoch keys stay usable after a rotation, for data in flight. Milliseconds. */
  epochGraceMs?: number;
}

export class StreamApi {
  readonly connection: Connection;
  readonly eventApi: EventApi;
  /** @internal */
  readonly rooms: RoomApi;
  /** @internal */
  readonly keys: KeyRing;

  constructor(connection: Connection, eventApi: EventApi, options: StreamApiOptions = {}) {
    this.connection = connection;
    this.eventApi = eventApi;
    this.keys = new KeyRing(options.epochGraceMs ?? DEFAULT_EPOCH_GRACE_MS);
    this.rooms = new RoomApi(connection, options.trustStore ?? new MemoryTrustStore(), this.keys);
    eventApi.setRoomEventTransformer((event, ids) => this.verifiedEvent(event, ids));
  }

  /**
   * Creates a room: a new epoch-1 key wrapped (HPKE) for every user and manager, the private meta
   * sealed under it, and version 1 signed by this user. Returns the room id.
   * @example
   * const me = { userId: connection.userId, pubKey: myPublicKey };
   * const roomId = await streamApi.createStreamRoom(contextId, [me, bob], [me], utf8('{"name":"standup"}'), utf8('secret agenda'));
   */
  createStreamRoom(
    contextId: string,
    users: UserWithPubKey[],
    managers: UserWithPubKey[],
    publicMeta: Uint8Array,
    privateMeta: Uint8Array,
    policy?: Partial<RoomPolicy>,
    options?: RequestOptions,
  ): Promise<string> {
    return this.rooms.createStreamRoom(contextId, users, managers, publicMeta, privateMeta, policy, options);
  }

  /**
   * Reads a room and verifies it: the record chain from the last version this client trusts, the
   * authors' signatures and rights, the wrapped key's proof, and the private meta's integrity.
   * Throws `RoomTampered`, `Rollback` or `KeyUnavailable` instead of returning unverified data.
   * @example const room = await streamApi.getStreamRoom(roomId); console.log(room.version, room.privateMeta);
   */
  getStreamRoom(streamRoomId: string, options?: RequestOptions): Promise<StreamRoom> {
    return this.rooms.getStreamRoom(streamRoomId, options);
  }

  /**
   * Lists rooms of a context, each verified like `getStreamRoom`. An item that fails verification has
   * a non-zero `statusCode` and carries no data.
   * @example const { totalAvailable, readItems } = await streamApi.listStreamRooms(contextId, { skip: 0, limit: 20, sortOrder: 'desc' });
   */
  listStreamRooms(contextId: string, query: PagingQuery, options?: RequestOptions): Promise<PagingList<StreamRoom>> {
    return this.rooms.listStreamRooms(contextId, query, options);
  }

  /**
   * Replaces the room's definition with a new signed version based on `version`. Rotates to a new key
   * epoch when `forceGenerateNewKey` is set and whenever a user is removed; added users get the current
   * key. A stale `version` fails with `VersionConflict` unless `force`.
   * @example await streamApi.updateStreamRoom(id, users, managers, room.publicMeta, newMeta, room.version, false, true);
   */
  updateStreamRoom(
    streamRoomId: string,
    users: UserWithPubKey[],
    managers: UserWithPubKey[],
    publicMeta: Uint8Array,
    privateMeta: Uint8Array,
    version: number,
    force: boolean,
    forceGenerateNewKey: boolean,
    policy?: Partial<RoomPolicy>,
    options?: RequestOptions,
  ): Promise<void> {
    return this.rooms.updateStreamRoom(streamRoomId, users, managers, publicMeta, privateMeta, version, force, forceGenerateNewKey, policy, options);
  }

  /** Deletes a room (policy `delete`, managers by default) and forgets its keys. */
  deleteStreamRoom(streamRoomId: string, options?: RequestOptions): Promise<void> {
    return this.rooms.deleteStreamRoom(streamRoomId, options);
  }

  /** Room events reach the app verified: an update with a new epoch has already refreshed the key. */
  private async verifiedEvent(event: Extract<ServerEvent, { type: RoomEventType }>, subscriptionIds: string[]): Promise<StreamRoomEvent> {
    const base = { streamRoomId: event.roomId, contextId: event.contextId, subscriptionIds };
    if (event.type === 'streamRoomDeleted') {
      this.keys.forget(event.roomId);
      return { type: 'streamRoomDeleted', ...base };
    }
    let room: StreamRoom | undefined;
    let error: EndpointError | undefined;
    try {
      room = await this.rooms.getStreamRoom(event.roomId);
    } catch (e) {
      error = e instanceof EndpointError ? e : new EndpointError('BridgeRefused', (e as Error).message, { cause: e });
    }
    const result = { ...base, ...(room === undefined ? {} : { room }), ...(error === undefined ? {} : { error }) };
    return event.type === 'streamRoomCreated'
      ? { type: 'streamRoomCreated', ...result }
      : { type: 'streamRoomUpdated', version: event.version, epoch: event.epoch, ...result };
  }
}
