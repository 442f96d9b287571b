/**
 * The operator's management API: solutions, contexts, context users with their public keys, operator
 * API keys, and an operator view of rooms. Authenticated by API key, never by a user session.
 */
import {
  type ApiKeyInfo,
  type Context,
  type ContextUser,
  type CreatedApiKey,
  DIRECTORY_PAGE_MAX_USERS,
  type ManageRoom,
  type Solution,
} from '../../protocol/api.ts';
import { BridgeError } from '../errors.ts';
import { hashSecret, newId, newSecret } from '../ids.ts';
import type { RoomDeletedEvent } from '../events.ts';
import { roomDeletedEvent, type RoomService } from '../rooms/service.ts';
import type { BridgeServices } from '../services.ts';
import type { ApiKeyRow, ContextRow, SolutionRow } from '../store/types.ts';

const solutionView = (r: SolutionRow): Solution => ({ solutionId: r.id, name: r.name, createdAt: r.createdAt });
const contextView = (r: ContextRow): Context => ({ contextId: r.id, solutionId: r.solutionId, name: r.name, createdAt: r.createdAt });
const apiKeyView = (r: ApiKeyRow): ApiKeyInfo => ({
  id: r.id,
  name: r.name,
  createdAt: r.createdAt,
  lastUsedAt: r.lastUsedAt,
  revokedAt: r.revokedAt,
});

/** How often `last_used_at` of an API key is written, at most: not on every request. */
const API_KEY_TOUCH_INTERVAL_MS = 60_000;

export class ManageService {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly s: BridgeServices,
    private readonly rooms: RoomService,
  ) {}

  /** The active API key of an `Authorization: Bearer srk_...` value, or 401. */
  async authenticate(key: string | undefined): Promise<ApiKeyRow> {
    if (key === undefined || !key.startsWith('srk_')) {
      throw BridgeError.unauthenticated('an operator API key is required (Authorization: Bearer srk_...)');
    }
    const row = await this.s.store.findApiKeyByHash(hashSecret(key));
    if (row === undefined || row.revokedAt !== null) throw BridgeError.unauthenticated('the API key is unknown or revoked');
    const now = this.s.now();
    if (now - (this.touched.get(row.id) ?? 0) > API_KEY_TOUCH_INTERVAL_MS) {
      this.touched.set(row.id, now);
      await this.s.store.touchApiKey(row.id, now);
    }
    return row;
  }

  /** Creates an API key; `key` fixes its value (first start with a configured key). */
  async createApiKey(name: string, options: { ephemeral?: boolean; key?: string } = {}): Promise<CreatedApiKey> {
    const key = options.key ?? newSecret('srk_');
    const row: ApiKeyRow = {
      id: newId('key_'),
      name,
      keyHash: hashSecret(key),
      ephemeral: options.ephemeral ?? false,
      createdAt: this.s.now(),
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.s.store.insertApiKey(row);
    return { ...apiKeyView(row), key };
  }

  async listApiKeys(): Promise<ApiKeyInfo[]> {
    return (await this.s.store.listApiKeys()).filter((r) => !r.ephemeral).map(apiKeyView);
  }

  async revokeApiKey(id: string): Promise<void> {
    const result = await this.s.store.revokeApiKey(id, this.s.now());
    if (result === 'not_found') throw BridgeError.notFound('API_KEY_NOT_FOUND', `API key "${id}" does not exist or is already revoked`);
    if (result === 'last_key') {
      throw BridgeError.conflict('LAST_API_KEY', 'refusing to revoke the last active API key: create another one first');
    }
  }

  async createSolution(name: string): Promise<Solution> {
    const row: SolutionRow = { id: newId('sol_'), name, createdAt: this.s.now() };
    await this.s.store.insertSolution(row);
    return solutionView(row);
  }

  async listSolutions(): Promise<Solution[]> {
    return (await this.s.store.listSolutions()).map(solutionView);
  }

  async getSolution(id: string): Promise<Solution> {
    const row = await this.s.store.getSolution(id);
    if (row === undefined) throw BridgeError.notFound('SOLUTION_NOT_FOUND', `solution "${id}" does not exist`);
    return solutionView(row);
  }

  async deleteSolution(id: string): Promise<void> {
    const { deleted, sessionsEnded } = await this.s.store.deleteSolution(id);
    if (!deleted) throw BridgeError.notFound('SOLUTION_NOT_FOUND', `solution "${id}" does not exist`);
    if (sessionsEnded.length > 0) this.s.events.emit('sessionsEnded', { tokenHashes: sessionsEnded, reason: 'solution_deleted' });
  }

  async createContext(solutionId: string, name: string): Promise<Context> {
    await this.getSolution(solutionId);
    const row: ContextRow = { id: newId('ctx_'), solutionId, name, createdAt: this.s.now() };
    await this.s.store.insertContext(row);
    return contextView(row);
  }

  async listContexts(solutionId: string): Promise<Context[]> {
    await this.getSolution(solutionId);
    return (await this.s.store.listContexts(solutionId)).map(contextView);
  }

  async getContext(id: string): Promise<ContextRow> {
    const row = await this.s.store.getContext(id);
    if (row === undefined) throw BridgeError.notFound('CONTEXT_NOT_FOUND', `context "${id}" does not exist`);
    return row;
  }

  async describeContext(id: string): Promise<Context> {
    return contextView(await this.getContext(id));
  }

  async deleteContext(id: string): Promise<void> {
    const context = await this.getContext(id);
    const { rooms } = await this.s.store.listRooms({
      contextId: id,
      userId: undefined,
      skip: 0,
      limit: Number.MAX_SAFE_INTEGER,
      sortOrder: 'asc',
      sortBy: 'createDate',
    });
    const events: RoomDeletedEvent[] = [];
    const at = this.s.now();
    for (const room of rooms) events.push(roomDeletedEvent(room, await this.s.store.getRoomMembers(room.id), at));
    const { deleted, sessionsEnded } = await this.s.store.deleteContext(id);
    if (!deleted) throw BridgeError.notFound('CONTEXT_NOT_FOUND', `context "${context.id}" does not exist`);
    for (const event of events) this.s.events.emit('roomDeleted', event);
    if (sessionsEnded.length > 0) this.s.events.emit('sessionsEnded', { tokenHashes: sessionsEnded, reason: 'context_deleted' });
  }

  /** Adds a user; 'created' or 'unchanged' (same key again), or 409 USER_CONFLICT. */
  async addContextUser(contextId: string, userId: string, publicKey: string): Promise<{ user: ContextUser; created: boolean }> {
    const context = await this.getContext(contextId);
    const createdAt = this.s.now();
    const result = await this.s.store.addContextUser({ contextId, solutionId: context.solutionId, userId, publicKey, createdAt });
    // Deleted between the look-up above and the write (the store checks again in the write).
    if (result.status === 'context_not_found') throw BridgeError.notFound('CONTEXT_NOT_FOUND', `context "${contextId}" does not exist`);
    if (result.status === 'conflict') {
      const message =
        result.reason === 'user_has_other_key'
          ? `user "${userId}" already has another public key in this solution`
          : `this public key already belongs to another user of this solution`;
      throw BridgeError.conflict('USER_CONFLICT', message, { reason: result.reason });
    }
    const row = await this.s.store.getContextUser(contextId, userId);
    return {
      user: { contextId, userId, publicKey, createdAt: row?.createdAt ?? createdAt },
      created: result.status === 'created',
    };
  }

  /**
   * A page of a context's users in user-id order: at most `limit` (DIRECTORY_PAGE_MAX_USERS) whose ids
   * sort after `after`, and `next`, the `after` of the following page, when there is one. A context
   * may hold any number of users: the whole list in one answer had no bound.
   */
  async listContextUsers(contextId: string, page: { after?: string; limit?: number } = {}): Promise<{ users: ContextUser[]; next?: string }> {
    await this.getContext(contextId);
    const limit = Math.min(page.limit ?? DIRECTORY_PAGE_MAX_USERS, DIRECTORY_PAGE_MAX_USERS);
    const ids = await this.s.store.contextUserIdsPage(contextId, page.after ?? '', limit + 1, false);
    const more = ids.length > limit;
    const wanted = more ? ids.slice(0, limit) : ids;
    const rows = wanted.length === 0 ? [] : await this.s.store.contextUsersAmong(contextId, wanted);
    const byId = new Map(rows.map((u) => [u.userId, u]));
    const users = wanted.flatMap((id) => {
      const u = byId.get(id);
      // A user removed between the two reads is left out.
      return u === undefined ? [] : [{ contextId: u.contextId, userId: u.userId, publicKey: u.publicKey, createdAt: u.createdAt }];
    });
    return more ? { users, next: wanted.at(-1)! } : { users };
  }

  async removeContextUser(contextId: string, userId: string): Promise<void> {
    await this.getContext(contextId);
    const { removed, sessionsEnded } = await this.s.store.removeContextUser(contextId, userId, this.s.now());
    if (!removed) throw BridgeError.notFound('USER_NOT_FOUND', `user "${userId}" is not in context "${contextId}"`);
    if (sessionsEnded.length > 0) this.s.events.emit('sessionsEnded', { tokenHashes: sessionsEnded, reason: 'user_removed' });
  }

  async listRooms(contextId: string, skip: number, limit: number): Promise<{ total: number; rooms: ManageRoom[] }> {
    await this.getContext(contextId);
    const { total, rooms } = await this.s.store.listRooms({ contextId, userId: undefined, skip, limit, sortOrder: 'desc', sortBy: 'createDate' });
    const views: ManageRoom[] = [];
    for (const r of rooms) {
      views.push({
        roomId: r.id,
        contextId: r.contextId,
        version: r.version,
        epoch: r.epoch,
        creator: r.creator,
        members: await this.s.store.countRoomMembers(r.id),
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
      });
    }
    return { total, rooms: views };
  }

  async deleteRoom(roomId: string): Promise<void> {
    const room = await this.s.store.getRoom(roomId);
    if (room === undefined) throw BridgeError.notFound('ROOM_NOT_FOUND', `room "${roomId}" does not exist`);
    await this.rooms.deleteRoom(room);
  }
}
