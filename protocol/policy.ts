/**
 * Room policy: who may do what with a room (PrivMX container policy, narrowed where the security
 * contract demands it).
 *
 * A value is one role or a comma-separated union of roles:
 * - `all`: any user of the room's context;
 * - `user`: a room member (a user or a manager of the room);
 * - `manager`: a room manager;
 * - `owner`: the room's creator (the author of version 1);
 * - `none`: nobody.
 *
 * `update` and `updatePolicy` can only narrow what the security contract already fixes (the author of a
 * new version must be a manager of the previous one), so they accept only `manager`, `owner` and `none`.
 */
import * as z from './zod.ts';

export const POLICY_ROLES = ['all', 'user', 'manager', 'owner', 'none'] as const;
export type PolicyRole = (typeof POLICY_ROLES)[number];
/** `"manager"`, `"manager,owner"`, ... */
export type PolicyValue = string;

export interface RoomPolicy {
  /** Read the room (records and one's own wrapped keys). Default `user`. */
  get: PolicyValue;
  /** See the room in listings. Default `user`. */
  list: PolicyValue;
  /** Write a new version. Default `manager`. */
  update: PolicyValue;
  /** Delete the room. Default `manager`. */
  delete: PolicyValue;
  /** Change the policy in a new version. Default `manager`. */
  updatePolicy: PolicyValue;
}

export const DEFAULT_POLICY: Readonly<RoomPolicy> = Object.freeze({
  get: 'user',
  list: 'user',
  update: 'manager',
  delete: 'manager',
  updatePolicy: 'manager',
});

const MANAGER_ROLES: readonly PolicyRole[] = ['manager', 'owner', 'none'];

function policyValue(allowed: readonly PolicyRole[]) {
  return z.string().check(
    z.maxLength(64),
    z.refine(
      (value) => {
        const roles = value.split(',');
        if (roles.length === 0 || new Set(roles).size !== roles.length) return false;
        if (roles.includes('none') && roles.length > 1) return false;
        return roles.every((role) => (allowed as readonly string[]).includes(role));
      },
      { message: `expected one of ${allowed.join(', ')}, or a comma-separated union of them` },
    ),
  );
}

export const roomPolicySchema = z.strictObject({
  get: policyValue(POLICY_ROLES),
  list: policyValue(POLICY_ROLES),
  update: policyValue(MANAGER_ROLES),
  delete: policyValue(MANAGER_ROLES),
  updatePolicy: policyValue(MANAGER_ROLES),
});

/** A partial policy from an application, completed with the defaults. */
export const partialRoomPolicySchema = z.partial(roomPolicySchema);

export function completePolicy(partial: Partial<RoomPolicy> | undefined): RoomPolicy {
  return roomPolicySchema.parse({ ...DEFAULT_POLICY, ...partial });
}

/** Who the acting user is relative to a room. */
export interface Standing {
  contextUser: boolean;
  member: boolean;
  manager: boolean;
  owner: boolean;
}

/** Whether a policy value admits a user with the given standing. */
export function allows(value: PolicyValue, standing: Standing): boolean {
  for (const role of value.split(',')) {
    switch (role as PolicyRole) {
      case 'all':
        if (standing.contextUser) return true;
        break;
      case 'user':
        if (standing.member) return true;
        break;
      case 'manager':
        if (standing.manager) return true;
        break;
      case 'owner':
        if (standing.owner) return true;
        break;
      case 'none':
        break;
    }
  }
  return false;
}

/** Bit flags of a policy value, so the Bridge can filter listings in SQL. */
export const ROLE_BITS: Record<PolicyRole, number> = { all: 1, user: 2, manager: 4, owner: 8, none: 0 };

export function policyBits(value: PolicyValue): number {
  let bits = 0;
  for (const role of value.split(',')) bits |= ROLE_BITS[role as PolicyRole] ?? 0;
  return bits;
}

export function samePolicy(a: RoomPolicy, b: RoomPolicy): boolean {
  return a.get === b.get && a.list === b.list && a.update === b.update && a.delete === b.delete && a.updatePolicy === b.updatePolicy;
}
