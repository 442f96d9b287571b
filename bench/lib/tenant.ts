/**
 * Benchmark tenants: a solution and a context on the Bridge, with users whose real Ed25519 keys are
 * generated here in bulk and registered through the management API (a few requests in flight).
 */
import type { ManageClient } from '../../bridge/index.ts';
import { generateKeyPair } from '../../crypto/identity.ts';

export interface BenchUser {
  userId: string;
  /** `srsk1...` */
  privateKey: string;
  /** `srpk1...` */
  publicKey: string;
}

export interface BenchTenant {
  solutionId: string;
  contextId: string;
  users: BenchUser[];
}

/** Management requests in flight while registering users. */
const REGISTER_CONCURRENCY = 16;

export async function makeUsers(ids: string[]): Promise<BenchUser[]> {
  const out: BenchUser[] = [];
  for (const userId of ids) out.push({ userId, ...(await generateKeyPair()) });
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects on the first error. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** A solution with one context holding `ids` as users (fresh key pairs). */
export async function makeTenant(manage: ManageClient, ids: string[], name = 'bench'): Promise<BenchTenant> {
  const { solutionId } = await manage.createSolution(name);
  const { contextId } = await manage.createContext(solutionId, `${name}-context`);
  const users = await makeUsers(ids);
  await forEachLimited(users, REGISTER_CONCURRENCY, async (u) => {
    await manage.addContextUser(contextId, u.userId, u.publicKey);
  });
  return { solutionId, contextId, users };
}

/** `{ userId, pubKey }`, the Endpoint's member form. */
export const pubOf = (u: BenchUser) => ({ userId: u.userId, pubKey: u.publicKey });

/** Splits `items` into `parts` nearly equal consecutive slices. */
export function split<T>(items: readonly T[], parts: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < parts; i++) out.push(items.slice(Math.floor((i * items.length) / parts), Math.floor(((i + 1) * items.length) / parts)));
  return out;
}
