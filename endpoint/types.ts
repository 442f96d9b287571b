/** Public types of the Endpoint library (PrivMX shapes, see shared/reference/privmx-stream-api.txt). */
import type { RoomPolicy } from '../protocol/policy.ts';
import type { EndpointError } from './errors.ts';

export type { RoomPolicy } from '../protocol/policy.ts';

/** A user and its public key (`srpk1...`), as in PrivMX. */
export interface UserWithPubKey {
  userId: string;
  pubKey: string;
}

/** Item status in listings: 0 when the room verified and decrypted, else the error's reason. */
export type StatusCode = 0 | 'RoomTampered' | 'Rollback' | 'KeyUnavailable';

export interface StreamRoom {
  contextId: string;
  streamRoomId: string;
  /** When version 1 was signed (the creator's clock), ms since the Unix epoch. */
  createDate: number;
  creator: string;
  /** When the current version was signed (its author's clock). */
  lastModificationDate: number;
  lastModifier: string;
  users: UserWithPubKey[];
  managers: UserWithPubKey[];
  version: number;
  publicMeta: Uint8Array;
  /** Decrypted private meta; empty when `statusCode` is not 0. */
  privateMeta: Uint8Array;
  policy: RoomPolicy;
  /** The current key epoch. */
  epoch: number;
  statusCode: StatusCode;
  /** Why this item could not be verified or decrypted (listings only; `getStreamRoom` throws instead). */
  error?: EndpointError;
}

export interface PagingQuery {
  skip: number;
  limit: number;
  sortOrder: 'asc' | 'desc';
  lastId?: string;
  sortBy?: 'createDate' | 'lastModificationDate';
  /** A JSON filter over JSON publicMeta: `{"name": {"$startsWith": "a"}}`. Object or JSON text. */
  queryAsJson?: string | Record<string, unknown>;
}

export interface PagingList<T> {
  totalAvailable: number;
  readItems: T[];
}

export type StreamRoomEventType = 'streamRoomCreated' | 'streamRoomUpdated' | 'streamRoomDeleted';

export interface StreamRoomCreatedEvent {
  type: 'streamRoomCreated';
  streamRoomId: string;
  contextId: string;
  /** The verified room, or undefined with `error` set when it failed verification. */
  room?: StreamRoom;
  error?: EndpointError;
  subscriptionIds: string[];
}

export interface StreamRoomUpdatedEvent {
  type: 'streamRoomUpdated';
  streamRoomId: string;
  contextId: string;
  version: number;
  epoch: number;
  room?: StreamRoom;
  error?: EndpointError;
  subscriptionIds: string[];
}

export interface StreamRoomDeletedEvent {
  type: 'streamRoomDeleted';
  streamRoomId: string;
  contextId: string;
  subscriptionIds: string[];
}

export type StreamRoomEvent = StreamRoomCreatedEvent | StreamRoomUpdatedEvent | StreamRoomDeletedEvent;
