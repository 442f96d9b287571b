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

/**
 * `text` with its last character changed, so a checksummed key no longer decodes. Always a different
 * character: replacing it with a fixed one failed one run in 32, when the key already ended in it.
 */
export function mistype(text: string): string {
  const last = text.at(-1);
  return `${text.slice(0, -1)}${last === 'q' ? 'p' : 'q'}`;
}
