/**
 * A typed client of the management API, for tests, embedders and the `sealroom` CLI. It speaks HTTP
 * to any Bridge; `createBridge()` returns one already pointed at the Bridge it started.
 *
 * @example
 * const manage = new ManageClient('http://127.0.0.1:8080', process.env.SEALROOM_API_KEY!);
 * const { solutionId } = await manage.createSolution('acme');
 * const { contextId } = await manage.createContext(solutionId, 'support');
 * await manage.addContextUser(contextId, 'alice', 'srpk1...');
 */
import * as z from 'zod';
import {
  apiKeyInfoSchema,
  contextSchema,
  contextUserSchema,
  createdApiKeySchema,
  errorBodySchema,
  manageRoomSchema,
  solutionSchema,
  type ApiKeyInfo,
  type Context,
  type ContextUser,
  type CreatedApiKey,
  type ManageRoom,
  type Solution,
} from '../../protocol/api.ts';
import { SealroomError } from '../../protocol/errors.ts';

/** A refusal from the management API: the HTTP status and the Bridge's stable error code. */
export class ManageError extends SealroomError {
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(code, message);
    this.status = status;
    this.details = details;
  }
}

export interface ManageClientOptions {
  /** Per-request timeout, in milliseconds. */
  timeoutMs?: number;
}

export class ManageClient {
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(
    bridgeUrl: string,
    private readonly apiKey: string,
    options: ManageClientOptions = {},
  ) {
    this.base = new URL('/manage/v1', bridgeUrl).toString();
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Sends a request and returns the body text of a 2xx response; any other status throws ManageError. */
  private async send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<string> {
    const signals = [AbortSignal.timeout(this.timeoutMs), ...(signal === undefined ? [] : [signal])];
    const response = await fetch(this.base + path, {
      method,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.any(signals),
    });
    const text = await response.text();
    if (response.ok) return text;
    const parsed = errorBodySchema.safeParse(safeJson(text));
    if (parsed.success) {
      const { code, message, details } = parsed.data.error;
      throw new ManageError(response.status, code, message, details);
    }
    throw new ManageError(response.status, 'HTTP_ERROR', `${method} ${path}: HTTP ${response.status}`);
  }

  private async request<T extends z.core.$ZodType>(method: string, path: string, schema: T, body?: unknown, signal?: AbortSignal): Promise<z.output<T>> {
    const parsed = z.safeParse(schema, safeJson(await this.send(method, path, body, signal)));
    if (!parsed.success) throw new ManageError(200, 'BAD_RESPONSE', `${method} ${path}: unexpected response body`);
    return parsed.data;
  }

  createSolution(name: string, signal?: AbortSignal): Promise<Solution> {
    return this.request('POST', '/solutions', solutionSchema, { name }, signal);
  }

  listSolutions(signal?: AbortSignal): Promise<Solution[]> {
    return this.request('GET', '/solutions', listOf('solutions', solutionSchema), undefined, signal);
  }

  getSolution(solutionId: string, signal?: AbortSignal): Promise<Solution> {
    return this.request('GET', `/solutions/${enc(solutionId)}`, solutionSchema, undefined, signal);
  }

  deleteSolution(solutionId: string, signal?: AbortSignal): Promise<void> {
    return this.send('DELETE', `/solutions/${enc(solutionId)}`, undefined, signal).then(() => undefined);
  }

  createContext(solutionId: string, name: string, signal?: AbortSignal): Promise<Context> {
    return this.request('POST', `/solutions/${enc(solutionId)}/contexts`, contextSchema, { name }, signal);
  }

  listContexts(solutionId: string, signal?: AbortSignal): Promise<Context[]> {
    return this.request('GET', `/solutions/${enc(solutionId)}/contexts`, listOf('contexts', contextSchema), undefined, signal);
  }

  getContext(contextId: string, signal?: AbortSignal): Promise<Context> {
    return this.request('GET', `/contexts/${enc(contextId)}`, contextSchema, undefined, signal);
  }

  deleteContext(contextId: string, signal?: AbortSignal): Promise<void> {
    return this.send('DELETE', `/contexts/${enc(contextId)}`, undefined, signal).then(() => undefined);
  }

  /** Adds a user with its public key (`srpk1...`); adding the same pair again is a no-op. */
  addContextUser(contextId: string, userId: string, publicKey: string, signal?: AbortSignal): Promise<ContextUser> {
    return this.request('PUT', `/contexts/${enc(contextId)}/users/${enc(userId)}`, contextUserSchema, { publicKey }, signal);
  }

  /** Every user of the context, read a page (at most `pageSize`, default 1,000) at a time. */
  async listContextUsers(contextId: string, signal?: AbortSignal, pageSize?: number): Promise<ContextUser[]> {
    const users: ContextUser[] = [];
    let after: string | undefined;
    do {
      const page = await this.listContextUsersPage(contextId, { after, limit: pageSize }, signal);
      // Ids rise within and across pages, and `next` moves on: anything else would page for ever.
      let last = after;
      for (const u of page.users) {
        if (last !== undefined && u.userId <= last) throw new Error(`the Bridge answered a page of users out of order (after "${after ?? ''}")`);
        last = u.userId;
      }
      if (page.next !== undefined && ((after !== undefined && page.next <= after) || (last !== undefined && page.next < last))) {
        throw new Error(`the Bridge answered a next page ("${page.next}") that does not move on`);
      }
      users.push(...page.users);
      after = page.next;
    } while (after !== undefined);
    return users;
  }

  /** One page of a context's users in user-id order: at most `limit` after `after`; `next` reads the following one. */
  listContextUsersPage(
    contextId: string,
    page: { after?: string; limit?: number } = {},
    signal?: AbortSignal,
  ): Promise<{ users: ContextUser[]; next?: string }> {
    const query = new URLSearchParams();
    if (page.after !== undefined) query.set('after', page.after);
    if (page.limit !== undefined) query.set('limit', String(page.limit));
    const q = query.size === 0 ? '' : `?${query}`;
    return this.request('GET', `/contexts/${enc(contextId)}/users${q}`, contextUsersPageSchema, undefined, signal);
  }

  removeContextUser(contextId: string, userId: string, signal?: AbortSignal): Promise<void> {
    return this.send('DELETE', `/contexts/${enc(contextId)}/users/${enc(userId)}`, undefined, signal).then(() => undefined);
  }

  /** The operator's view of a context's rooms: counts and versions, no content. */
  listRooms(contextId: string, page: { skip?: number; limit?: number } = {}, signal?: AbortSignal): Promise<{ total: number; rooms: ManageRoom[] }> {
    const query = new URLSearchParams({ skip: String(page.skip ?? 0), limit: String(page.limit ?? 100) });
    const schema = z.object({ total: z.number().int(), rooms: z.array(manageRoomSchema) });
    return this.request('GET', `/contexts/${enc(contextId)}/rooms?${query}`, schema, undefined, signal);
  }

  deleteRoom(roomId: string, signal?: AbortSignal): Promise<void> {
    return this.send('DELETE', `/rooms/${enc(roomId)}`, undefined, signal).then(() => undefined);
  }

  /** Creates an operator API key. The returned `key` is shown once and cannot be read again. */
  createApiKey(name: string, signal?: AbortSignal): Promise<CreatedApiKey> {
    return this.request('POST', '/api-keys', createdApiKeySchema, { name }, signal);
  }

  listApiKeys(signal?: AbortSignal): Promise<ApiKeyInfo[]> {
    return this.request('GET', '/api-keys', listOf('apiKeys', apiKeyInfoSchema), undefined, signal);
  }

  revokeApiKey(id: string, signal?: AbortSignal): Promise<void> {
    return this.send('DELETE', `/api-keys/${enc(id)}`, undefined, signal).then(() => undefined);
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A `{ [field]: item[] }` response, unwrapped to the array. */
function listOf<T extends z.core.$ZodType>(field: string, item: T) {
  return z.object({ [field]: z.array(item) }).transform((o) => o[field] as Array<z.output<T>>);
}

/** A page of a context's users (`GET /manage/v1/contexts/:id/users`). */
const contextUsersPageSchema = z.object({ users: z.array(contextUserSchema), next: z.string().optional() });
