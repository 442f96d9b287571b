/** Identifiers and bearer secrets the Bridge issues, and the hashes it stores instead of secrets. */
import { createHash, randomBytes } from 'node:crypto';

/** A random identifier: 128 bits, base64url, with a readable prefix (`sol_`, `ctx_`, `key_`). */
export function newId(prefix: string): string {
  return prefix + randomBytes(16).toString('base64url');
}

/** A bearer secret: 256 bits, base64url (43 characters), with a prefix that says what it is. */
export function newSecret(prefix: 'srk_' | 'srt_'): string {
  return prefix + randomBytes(32).toString('base64url');
}

/**
 * Secrets are stored as SHA-256: they are 256-bit random values, so a plain hash is enough (no
 * password hashing needed) and a database dump reveals no usable key or token.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
