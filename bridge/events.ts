/**
 * The Bridge's internal event bus. Room writes emit here after they commit; the real-time layer
 * delivers them to connected clients who may see them.
 */
import { EventEmitter } from 'node:events';

import type { RoomPolicy } from '../protocol/policy.ts';

/** Who could see the room when the event happened: enough to apply its `get` policy to a listener. */
export interface RoomAudience {
  /** Users and managers. */
  members: string[];
  managers: string[];
  creator: string;
  policy: RoomPolicy;
}

export interface RoomEventBase extends RoomAudience {
  roomId: string;
  contextId: string;
  /** Bridge time of the change, ms since the Unix epoch. */
  at: number;
}

export interface RoomCreatedEvent extends RoomEventBase {
  version: number;
  epoch: number;
}

export interface RoomUpdatedEvent extends RoomEventBase {
  version: number;
  epoch: number;
  previousEpoch: number;
  /** Members of the previous version who are not members any more: the relay cuts them at once. */
  removed: string[];
}

export type RoomDeletedEvent = RoomEventBase;

export interface SessionEndedEvent {
  tokenHashes: string[];
  reason: 'logout' | 'user_removed' | 'solution_deleted' | 'context_deleted';
}

export interface BridgeEventMap {
  roomCreated: [RoomCreatedEvent];
  roomUpdated: [RoomUpdatedEvent];
  roomDeleted: [RoomDeletedEvent];
  sessionsEnded: [SessionEndedEvent];
}

export class BridgeEvents extends EventEmitter<BridgeEventMap> {}
