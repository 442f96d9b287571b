/**
 * Challenge-response login (docs/design.md, "Identities"). The Bridge issues a random single-use nonce; the
 * client signs (domain tag, nonce, bridge URL, timestamp) with its Ed25519 key. The URL binding stops a
 * malicious Bridge from relaying a user's login to another Bridge; the timestamp bounds the window.
 */
import { lengthPrefixed, u64be, utf8 } from '../crypto/bytes.ts';
import { DOMAIN } from '../crypto/domains.ts';

export const AUTH_NONCE_BYTES = 32;

/** The origin of a Bridge URL (scheme, host, port), which is what a login signs. */
export function bridgeOrigin(url: string): string {
  return new URL(url).origin;
}

export function authMessage(nonce: Uint8Array, bridgeUrl: string, timestamp: number): Uint8Array {
  return lengthPrefixed(utf8(DOMAIN.auth), nonce, utf8(bridgeOrigin(bridgeUrl)), u64be(timestamp));
}
