/**
 * sealroom's one Ed25519 verification rule (docs/security/ed25519.md), as byte checks that need no
 * field arithmetic, so every backend can afford them before its own verify:
 *
 * - S is canonical: S < L (RFC 8032 section 5.1.7, step 1);
 * - A and R are canonical encodings (RFC 8032 section 5.1.3): y < p, and no x = 0 with the sign bit set;
 * - neither A nor R is a point of small order (one of the 8 points of the torsion subgroup E[8]).
 *
 * The backends then check the cofactorless equation [S]B = R + [k]A by re-encoding and comparing
 * bytes, which OpenSSL, WebCrypto and libsodium do natively and the js backend does by hand. The rule is
 * libsodium's; the pre-check makes node:crypto and WebCrypto (which accept small-order A and R) agree.
 *
 * Everything here is vartime: public keys and signatures are public.
 */
import { CryptoError } from './errors.ts';

export const ED25519_POINT_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/**
 * The y-coordinates of the 8 small-order points, canonical little-endian, sign bit clear: the identity
 * (y = 1), the point of order 2 (y = p - 1), the two of order 4 (y = 0) and the four of order 8
 * (y = y8 and y = p - y8, where y8^2 = (-1 + sqrt(1 + d)) / d). The vector generator derives them from
 * the curve (crypto/vectors/ed25519-edge-cases.gen.ts) and its test checks this table against them.
 */
const SMALL_ORDER_Y: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
].map((hex) => Uint8Array.from(hex.match(/../g)!, (byte) => parseInt(byte, 16)));

/** L = 2^252 + 27742317777372353535851937790883648493, the prime order of B, little-endian. */
const L_BYTES = Uint8Array.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010'.match(/../g)!, (byte) => parseInt(byte, 16));

/** Why a 32-byte string is refused as an Ed25519 point, before any curve arithmetic. */
export type Ed25519EncodingProblem = 'non-canonical' | 'small-order';

/** y >= p = 2^255 - 19 (sign bit ignored): the 19 values p..2^255-1, all non-canonical. */
function yAtLeastP(bytes: Uint8Array, offset: number): boolean {
  if ((bytes[offset + 31]! & 0x7f) !== 0x7f) return false;
  for (let i = 30; i >= 1; i--) if (bytes[offset + i] !== 0xff) return false;
  return bytes[offset]! >= 0xed;
}

/** Whether y (sign bit ignored) equals `y`. */
function yEquals(bytes: Uint8Array, offset: number, y: Uint8Array): boolean {
  if ((bytes[offset + 31]! & 0x7f) !== y[31]) return false;
  for (let i = 0; i < 31; i++) if (bytes[offset + i] !== y[i]) return false;
  return true;
}

/**
 * The problem with the point encoding at `bytes[offset..offset+32)`, or undefined when it passes the
 * byte checks. Undefined does not mean "on the curve": decoding still has to find x.
 */
export function ed25519EncodingProblem(bytes: Uint8Array, offset = 0): Ed25519EncodingProblem | undefined {
  if (yAtLeastP(bytes, offset)) return 'non-canonical';
  const signBit = (bytes[offset + 31]! & 0x80) !== 0;
  for (let i = 0; i < SMALL_ORDER_Y.length; i++) {
    if (yEquals(bytes, offset, SMALL_ORDER_Y[i]!)) {
      // y = 1 and y = p - 1 have x = 0, whose sign bit must be clear (RFC 8032 section 5.1.3, step 4).
      return signBit && (i === 1 || i === 2) ? 'non-canonical' : 'small-order';
    }
  }
  return undefined;
}

/** S < L for the little-endian scalar at `bytes[offset..offset+32)` (RFC 8032 section 5.1.7). */
export function isCanonicalScalar(bytes: Uint8Array, offset = 0): boolean {
  for (let i = 31; i >= 0; i--) {
    const byte = bytes[offset + i]!;
    if (byte !== L_BYTES[i]) return byte < L_BYTES[i]!;
  }
  return false;
}

/**
 * The shared pre-check that every backend's `ed25519Verify` and `verify` in identity.ts run first.
 * False means the signature is invalid under our rule whatever the equation says; true means the
 * backend's cofactorless check decides.
 */
export function ed25519Precheck(signature: Uint8Array, publicKey: Uint8Array): boolean {
  return (
    signature instanceof Uint8Array &&
    publicKey instanceof Uint8Array &&
    signature.length === ED25519_SIGNATURE_BYTES &&
    publicKey.length === ED25519_POINT_BYTES &&
    isCanonicalScalar(signature, ED25519_POINT_BYTES) &&
    ed25519EncodingProblem(signature, 0) === undefined &&
    ed25519EncodingProblem(publicKey, 0) === undefined
  );
}

const PROBLEM_MESSAGE: Record<Ed25519EncodingProblem, string> = {
  'non-canonical': 'expected the canonical encoding of a point (RFC 8032 section 5.1.3), got a non-canonical one',
  'small-order': 'expected a point of large order, got one of the 8 small-order points, which no key pair has',
};

/**
 * Throws `InvalidKey` for a non-canonical or small-order public key. The message names `what` and the
 * problem, never the bytes. Byte checks only; callers that also need "on the curve" decode the point.
 */
export function assertEd25519PublicKeyEncoding(what: string, publicKey: Uint8Array): void {
  const problem = ed25519EncodingProblem(publicKey, 0);
  if (problem !== undefined) throw CryptoError.invalidKey(`${what}: ${PROBLEM_MESSAGE[problem]}`);
}
