/**
 * Stateless login challenges (docs/security/login.md). A nonce carries its expiry and a MAC under a
 * Bridge secret over (solution, public key, expiry, random), so issuing one stores nothing: a flood of
 * challenges costs the Bridge a hash each and no storage, and cannot crowd out anyone else's challenge.
 * Single use is enforced when a login succeeds, by recording the nonce until it expires.
 *
 * Layout, 32 bytes (AUTH_NONCE_BYTES): expiresAt u64be (8) || random (8) || MAC (16), where MAC is the
 * first 16 bytes of HMAC-SHA256(secret, tag || len-prefixed solution id and public key || first 16 bytes).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { concatBytes, lengthPrefixed, u64be, utf8 } from '../../crypto/bytes.ts';
import { AUTH_NONCE_BYTES } from '../../protocol/auth.ts';

const MAC_TAG = 'sealroom/v1/auth-challenge';
const HEAD_BYTES = 16;
const MAC_BYTES = AUTH_NONCE_BYTES - HEAD_BYTES;
/** The name of the MAC key in the store's Bridge secrets. */
export const CHALLENGE_SECRET_NAME = 'auth-challenge-mac';
export const CHALLENGE_SECRET_BYTES = 32;

export type NonceCheck = { ok: true; expiresAt: number } | { ok: false; reason: 'malformed' | 'forged' | 'expired' };

export class ChallengeNonces {
  readonly #secret: Uint8Array;

  constructor(secret: Uint8Array) {
    if (secret.length !== CHALLENGE_SECRET_BYTES) throw new RangeError(`challenge secret: expected ${CHALLENGE_SECRET_BYTES} bytes`);
    this.#secret = secret;
  }

  #mac(solutionId: string, publicKey: string, head: Uint8Array): Buffer {
    return createHmac('sha256', this.#secret)
      .update(lengthPrefixed(utf8(MAC_TAG), utf8(solutionId), utf8(publicKey), head))
      .digest()
      .subarray(0, MAC_BYTES);
  }

  issue(solutionId: string, publicKey: string, expiresAt: number): Uint8Array {
    const head = concatBytes(u64be(expiresAt), randomBytes(HEAD_BYTES - 8));
    return concatBytes(head, this.#mac(solutionId, publicKey, head));
  }

  /** Whether `nonce` was issued by this Bridge for this solution and key, and has not expired. */
  check(nonce: Uint8Array, solutionId: string, publicKey: string, now: number): NonceCheck {
    if (nonce.length !== AUTH_NONCE_BYTES) return { ok: false, reason: 'malformed' };
    const head = nonce.subarray(0, HEAD_BYTES);
    const expected = this.#mac(solutionId, publicKey, head);
    if (!timingSafeEqual(expected, nonce.subarray(HEAD_BYTES))) return { ok: false, reason: 'forged' };
    const expiresAt = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0));
    if (expiresAt <= now) return { ok: false, reason: 'expired' };
    return { ok: true, expiresAt };
  }
}
