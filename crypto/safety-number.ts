/**
 * Safety numbers (docs/security/safety-numbers.md): a short number two users compare out of band (read
 * aloud, side by side) to check that each holds the other's real public key, so that a directory which
 * lied about one of them is caught. The construction is Signal's numeric fingerprint, with sealroom's
 * own domain tag in place of Signal's version number:
 *
 *   h_0     = DOMAIN.safetyNumber || 0x00 || publicKey (32 bytes) || UTF-8(userId)
 *   h_(i+1) = SHA-512(h_i || publicKey)            for i < 5200
 *   half    = six groups of five digits: bytes 5j..5j+4 of h_5200 as a big-endian integer mod 100000
 *
 * The number is the two halves in ascending order, 60 digits: both users compute the same one.
 */
import { backend, type CryptoBackend } from './backend/index.ts';
import { assertBytes, assertString, concatBytes, utf8 } from './bytes.ts';
import { DOMAIN } from './domains.ts';
import { ED25519_PUBLIC_KEY_LENGTH } from './identity.ts';

/** Signal's count: it makes each attempt to find a key with a matching half cost 5,200 hashes. */
export const SAFETY_NUMBER_ITERATIONS = 5200;
export const SAFETY_NUMBER_DIGITS = 60;
const HALF_GROUPS = 6;
const GROUP_BYTES = 5;

export interface SafetyNumberParty {
  userId: string;
  /** The 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

/** The 30 digits of one user: Signal's iterated hash over (tag, key, id), six groups of five digits. */
export function safetyNumberHalf(party: SafetyNumberParty, b: CryptoBackend = backend()): string {
  assertString('userId', party.userId);
  assertBytes('publicKey', party.publicKey, ED25519_PUBLIC_KEY_LENGTH);
  let hash = concatBytes(utf8(DOMAIN.safetyNumber), new Uint8Array([0]), party.publicKey, utf8(party.userId));
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) hash = b.hash('sha512', concatBytes(hash, party.publicKey));
  let digits = '';
  for (let g = 0; g < HALF_GROUPS; g++) {
    let value = 0;
    // 40 bits fit a double exactly.
    for (let i = 0; i < GROUP_BYTES; i++) value = value * 256 + hash[g * GROUP_BYTES + i]!;
    digits += String(value % 100_000).padStart(5, '0');
  }
  return digits;
}

/** The 60-digit safety number of two users; the same whichever of them computes it. */
export function safetyNumber(a: SafetyNumberParty, b: SafetyNumberParty, backendToUse: CryptoBackend = backend()): string {
  const x = safetyNumberHalf(a, backendToUse);
  const y = safetyNumberHalf(b, backendToUse);
  return x <= y ? x + y : y + x;
}

/** Digits only, so that `12345 67890 ...` as displayed compares equal to the plain form. */
export function normalizeSafetyNumber(text: string): string {
  return text.replace(/[\s-]/g, '');
}
