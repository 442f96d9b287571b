/**
 * Reading a context's directory (`GET /v1/contexts/:id/users`) a page at a time. What is read here is
 * not verified: a room checks each member's key against the one this client pinned
 * (docs/security/key-trust.md). What is checked is what keeps a client that pages from looping or
 * growing without end on a Bridge that lies: pages move forward in user-id order, and a whole read
 * stops at CONTEXT_USERS_READ_MAX users.
 */
import { contextUsersResponseSchema, DIRECTORY_PAGE_MAX_USERS } from '../protocol/api.ts';
import { USER_ID_PATTERN } from '../protocol/room-record.ts';
import { EndpointError } from './errors.ts';
import type { BridgeHttp, RequestOptions } from './transport/http.ts';

/** Users `getContextUsers` reads at most; a larger directory is paged with `listContextUsers`. */
export const CONTEXT_USERS_READ_MAX = 100_000;

export interface ContextUser {
  userId: string;
  pubKey: string;
}

export interface ContextUsersPageOptions extends RequestOptions {
  /** Lists users whose ids sort after this one (a page's `next`); from the first user when absent. */
  after?: string;
  /** Users in the page, 1 to 1,000 (DIRECTORY_PAGE_MAX_USERS); 1,000 when absent. */
  limit?: number;
}

export interface ContextUsersPage {
  users: ContextUser[];
  /** Present when more users remain: the `after` of the next page. */
  next?: string;
}

export async function readContextUsersPage(http: BridgeHttp, contextId: string, options: ContextUsersPageOptions): Promise<ContextUsersPage> {
  const { after, limit, ...request } = options;
  if (typeof contextId !== 'string' || contextId === '') throw EndpointError.invalidArgument('"contextId" expected a non-empty string');
  if (after !== undefined && !USER_ID_PATTERN.test(after)) throw EndpointError.invalidArgument('"after" expected a user id');
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= DIRECTORY_PAGE_MAX_USERS)) {
    throw EndpointError.invalidArgument(`"limit" expected an integer from 1 to ${DIRECTORY_PAGE_MAX_USERS}`);
  }
  const query = new URLSearchParams();
  if (after !== undefined) query.set('after', after);
  if (limit !== undefined) query.set('limit', String(limit));
  const path = `/v1/contexts/${encodeURIComponent(contextId)}/users?${query}`;
  const { users, next } = await http.request('GET', path, contextUsersResponseSchema, undefined, request);
  // The Bridge compares ids byte by byte, and user ids are ASCII, so string order is its order: each
  // id after the one before (and after `after`), at most `limit` of them, and `next` the last one.
  let last = after ?? '';
  let inOrder = users.length <= (limit ?? DIRECTORY_PAGE_MAX_USERS);
  for (const u of users) {
    inOrder &&= u.userId > last;
    last = u.userId;
  }
  if (!inOrder || (next !== undefined && (users.length === 0 || next !== last))) {
    throw new EndpointError('BridgeRefused', `GET ${path}: unexpected response (a page out of order)`, { bridgeCode: 'BAD_RESPONSE' });
  }
  const page: ContextUsersPage = { users: users.map((u) => ({ userId: u.userId, pubKey: u.publicKey })) };
  if (next !== undefined) page.next = next;
  return page;
}

export async function readContextUsers(http: BridgeHttp, contextId: string, options: RequestOptions): Promise<ContextUser[]> {
  const users: ContextUser[] = [];
  let after: string | undefined;
  do {
    const page = await readContextUsersPage(http, contextId, { ...options, after });
    users.push(...page.users);
    if (users.length > CONTEXT_USERS_READ_MAX) {
      throw EndpointError.invalidArgument(`over ${CONTEXT_USERS_READ_MAX} users in context "${contextId}": page them with listContextUsers`);
    }
    after = page.next;
  } while (after !== undefined);
  return users;
}
