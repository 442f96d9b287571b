/** Test identities: real Ed25519 keys, generated once per test file. */
import { decodePrivateKey, generateKeyPair } from '../crypto/identity.ts';

export interface TestUser {
  userId: string;
  privateKey: string;
  publicKey: string;
  seed: Uint8Array;
}

export async function makeUser(userId: string): Promise<TestUser> {
  const pair = await generateKeyPair();
  return { userId, ...pair, seed: decodePrivateKey(pair.privateKey) };
}

export async function makeUsers<const T extends readonly string[]>(...ids: T): Promise<{ [K in T[number]]: TestUser }> {
  const out: Record<string, TestUser> = {};
  for (const id of ids) out[id] = await makeUser(id);
  return out as { [K in T[number]]: TestUser };
}
