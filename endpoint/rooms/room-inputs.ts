/**
 * What the Stream Room API checks of an app's arguments before any request (STYLE.md: validate once,
 * at the boundary, and name the bad argument), and how it shows a listing item that failed.
 */
import { completePolicy, partialRoomPolicySchema, type RoomPolicy } from '../../protocol/policy.ts';
import type { RoomResponse } from '../../protocol/api.ts';
import { USER_ID_PATTERN, type Member } from '../../protocol/room-record.ts';
import { EndpointError } from '../errors.ts';
import type { PagingQuery, StatusCode, StreamRoom, UserWithPubKey } from '../types.ts';

export function toUserWithPubKey(m: Member): UserWithPubKey {
  return { userId: m.userId, pubKey: m.publicKey };
}

export function toMembers(name: string, list: UserWithPubKey[]): Member[] {
  if (!Array.isArray(list)) throw EndpointError.invalidArgument(`"${name}" expected an array of { userId, pubKey }`);
  return list.map((u, i) => {
    if (typeof u?.userId !== 'string' || !USER_ID_PATTERN.test(u.userId) || typeof u.pubKey !== 'string') {
      throw EndpointError.invalidArgument(`"${name}[${i}]" expected { userId, pubKey } with a valid user id`);
    }
    return { userId: u.userId, publicKey: u.pubKey };
  });
}

export function checkId(name: string, value: unknown, pattern: RegExp): void {
  if (typeof value !== 'string' || !pattern.test(value)) throw EndpointError.invalidArgument(`"${name}" is not a valid id: "${String(value).slice(0, 80)}"`);
}

export function checkPolicy(policy: Partial<RoomPolicy> | undefined): Partial<RoomPolicy> | undefined {
  if (policy === undefined) return undefined;
  const parsed = partialRoomPolicySchema.safeParse(policy);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw EndpointError.invalidArgument(`"policy.${issue.path.join('.')}": ${issue.message}`);
  }
  return parsed.data;
}

export function pagingParams(query: PagingQuery): URLSearchParams {
  if (typeof query !== 'object' || query === null) throw EndpointError.invalidArgument('"query" expected a PagingQuery object');
  const params = new URLSearchParams({ skip: String(query.skip ?? 0), limit: String(query.limit ?? 20), sortOrder: query.sortOrder ?? 'desc' });
  if (query.sortBy !== undefined) params.set('sortBy', query.sortBy);
  if (query.lastId !== undefined) params.set('lastId', query.lastId);
  if (query.queryAsJson !== undefined) {
    params.set('queryAsJson', typeof query.queryAsJson === 'string' ? query.queryAsJson : JSON.stringify(query.queryAsJson));
  }
  return params;
}

export function isItemStatus(reason: string): reason is Exclude<StatusCode, 0> {
  return reason === 'RoomTampered' || reason === 'Rollback' || reason === 'KeyUnavailable' || reason === 'KeyChanged' || reason === 'KeyRejected';
}

/** A listing item that failed: identity only, no data from it. */
export function failedItem(item: RoomResponse, error: EndpointError): StreamRoom {
  return {
    contextId: item.contextId,
    streamRoomId: item.roomId,
    createDate: 0,
    creator: '',
    lastModificationDate: 0,
    lastModifier: '',
    users: [],
    managers: [],
    version: item.version,
    publicMeta: new Uint8Array(),
    privateMeta: new Uint8Array(),
    policy: completePolicy(undefined),
    epoch: item.epoch,
    statusCode: error.reason as Exclude<StatusCode, 0>,
    error,
  };
}
