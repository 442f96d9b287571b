/** Public types of the Endpoint library (the shapes of PrivMX Endpoint's Stream API). */
import type { RoomPolicy } from '../protocol/policy.ts';
import type { EndpointError } from './errors.ts';

export type { RoomPolicy } from '../protocol/policy.ts';

/** A user and its public key (`srpk1...`), as in PrivMX. */
export interface UserWithPubKey {
  userId: string;
  pubKey: string;
}

/** Item status in listings: 0 when the room verified and decrypted, else the error's reason. */
export type StatusCode = 0 | 'RoomTampered' | 'Rollback' | 'KeyUnavailable' | 'KeyChanged' | 'KeyRejected';

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

/** A key the Endpoint is about to trust, as the app's `verifyUsers` gets it (docs/security/key-trust.md). */
export interface UserVerificationRequest {
  contextId: string;
  userId: string;
  /** `srpk1...` */
  pubKey: string;
  /** Set for a key the user no longer has: when it stopped being its key (the Bridge's clock, ms). */
  removedAt?: number;
}

/**
 * The app's check of keys before the Endpoint trusts them (pins them), for example against its own
 * backend: one verdict per request, in order. `false`, a throw or a wrong count refuse (`KeyRejected`).
 */
export type UserVerifier = (users: UserVerificationRequest[]) => Promise<boolean[]>;

/**
 * A user of a context was presented with a key that is not the one this client pinned (in a room
 * record the Bridge served, or by the app). Sent once per new key; whatever needed the key failed
 * with `KeyChanged`. Unverified: `acceptKeyChange` trusts the directory's new key. Verified: compare
 * safety numbers again (`verifyUser`).
 */
export interface KeyChangedEvent {
  type: 'keyChanged';
  contextId: string;
  userId: string;
  /** null when the pinned user had left the context. */
  pinnedKey: string | null;
  newKey: string;
  verified: boolean;
}
