/**
 * Generates crypto/vectors/ed25519-edge-cases.json: Ed25519 edge cases built from their mathematical
 * definitions with @noble/curves' point arithmetic, and the result each must give under sealroom's
 * verification rule (docs/security/ed25519.md).
 *
 *   npx tsx crypto/vectors/ed25519-edge-cases.gen.ts
 *
 * The 12 signature cases follow the categories of K. Chalkias, F. Garillot, V. Nikolaenko, "Taming the
 * many EdDSAs", CT-RSA 2021 (IACR ePrint 2020/1244), section 5: small-order A and R, mixed-order A and
 * R, the cofactored against the cofactorless equation, non-canonical S, and non-canonical R and A
 * encodings hashed as given or re-encoded. They are constructed here, not copied: every key, nonce and
 * message is derived from a fixed label, so the output is deterministic and the test regenerates it.
 * Two more cases follow: an honest signature, and the "universal" signature (A = R = identity, S = 0)
 * that satisfies the cofactorless equation for every message.
 *
 * Decoding follows RFC 8032 section 5.1.3, verification section 5.1.7. Notation: B the base point,
 * L its prime order, p = 2^255 - 19, T a point of order 8, so E[8] = { [j]T : j = 0..7 } holds the 8
 * small-order points. k = SHA-512(R || A || M) mod L.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, equalBytes, toHex, utf8 } from '../bytes.ts';

const Point = ed25519.Point;
type Pt = ReturnType<typeof Point.fromBytes>;
const L = Point.Fn.ORDER;
const P = Point.Fp.ORDER;

export const VECTOR_FILE = fileURLToPath(new URL('./ed25519-edge-cases.json', import.meta.url));

/** What `decodePublicKey` does with a 32-byte string, under our rule. */
export type DecodeOutcome = 'ok' | 'small-order' | 'non-canonical' | 'not-a-point';

export interface PointVector {
  encoding: string;
  description: string;
  expected: DecodeOutcome;
}

export interface Equations {
  cofactorless: boolean;
  cofactored: boolean;
}

export interface SignatureVector {
  id: number;
  name: string;
  description: string;
  message: string;
  publicKey: string;
  signature: string;
  /** The equations with k over A and R as given (RFC 8032) and over their canonical re-encodings. */
  equations: { hashOverGivenBytes: Equations; hashOverReencoded: Equations };
  expected: { verify: boolean; refusedBecause: string[]; decodePublicKey: DecodeOutcome };
}

export interface VectorFile {
  description: string;
  rule: string;
  generator: string;
  points: PointVector[];
  signatures: SignatureVector[];
}

const scalarBytes = (n: bigint): Uint8Array => numberToBytesLE(n, 32);
const signature = (R: Uint8Array, S: bigint): Uint8Array => concatBytes(R, scalarBytes(S));

/** A fixed, nonzero scalar for a label: the "secret" keys and nonces of the constructions. */
function labelScalar(label: string): bigint {
  return (bytesToNumberLE(sha512(utf8(`sealroom ed25519 edge cases: ${label}`))) % (L - 1n)) + 1n;
}

function challenge(R: Uint8Array, A: Uint8Array, message: Uint8Array): bigint {
  return bytesToNumberLE(sha512(concatBytes(R, A, message))) % L;
}

/** RFC 8032 decoding without the canonicity checks (y may be >= p; x = 0 may carry a sign bit). */
function decodeLoose(bytes: Uint8Array): Pt | undefined {
  try {
    return Point.fromBytes(bytes, true);
  } catch {
    return undefined;
  }
}

/**
 * A point of order 8. For Q off the prime-order subgroup, [L]Q kills Q's prime-order part and keeps its
 * torsion part times L mod 8 = 5, so it lies in E[8]; it has order 8 unless [4] of it is the identity.
 */
function torsionGenerator(): Pt {
  for (let y = 2n; y < 64n; y++) {
    const Q = decodeLoose(scalarBytes(y));
    if (Q === undefined) continue;
    const T = Q.multiplyUnsafe(L - 1n).add(Q);
    if (!T.double().double().is0()) return T;
  }
  throw new Error('no point of order 8 found');
}

const T = torsionGenerator();
/** E[8] in the order [0]T, [1]T, ..., [7]T; [j]T has order 8 / gcd(j, 8). */
const E8: Pt[] = Array.from({ length: 8 }, (_, j) => T.multiplyUnsafe(BigInt(j)));
const orderOf = (j: number): number => 8 / gcdWith8(j);
function gcdWith8(j: number): number {
  let g = 8;
  while (j % g !== 0) g /= 2;
  return g;
}
/** The j with point = [j]T, for a small-order point. */
const torsionIndex = (point: Pt): number => E8.findIndex((e) => e.equals(point));

interface NonCanonical {
  encoding: Uint8Array;
  point: Pt;
  description: string;
}

/**
 * Every 32-byte string that RFC 8032 section 5.1.3 refuses only for canonicity: y + p for the y < 19
 * that are on the curve (either sign bit), and x = 0 with the sign bit set (y = 1 and y = p - 1).
 */
function nonCanonicalEncodings(): NonCanonical[] {
  const out: NonCanonical[] = [];
  for (let y = 0n; y < 19n; y++) {
    for (const sign of [0, 1]) {
      const encoding = scalarBytes(P + y);
      encoding[31]! |= sign << 7;
      const point = decodeLoose(encoding);
      if (point !== undefined) out.push({ encoding, point, description: `y = p + ${y}, sign bit ${sign}` });
    }
  }
  for (const [y, name] of [[1n, '1'], [P - 1n, 'p - 1']] as const) {
    const encoding = scalarBytes(y);
    encoding[31]! |= 0x80;
    out.push({ encoding, point: decodeLoose(encoding)!, description: `y = ${name}, x = 0 with the sign bit set` });
  }
  return out;
}

function orderClass(point: Pt): 'small' | 'mixed' | 'prime' {
  if (point.isSmallOrder()) return 'small';
  return point.isTorsionFree() ? 'prime' : 'mixed';
}

function decodeOutcome(encoding: Uint8Array): DecodeOutcome {
  const point = decodeLoose(encoding);
  if (point === undefined) return 'not-a-point';
  if (!equalBytes(point.toBytes(), encoding)) return 'non-canonical';
  return point.isSmallOrder() ? 'small-order' : 'ok';
}

function equations(sig: Uint8Array, message: Uint8Array, publicKey: Uint8Array, reencode: boolean): Equations {
  const A = decodeLoose(publicKey);
  const R = decodeLoose(sig.subarray(0, 32));
  if (A === undefined || R === undefined) return { cofactorless: false, cofactored: false };
  const k = reencode ? challenge(R.toBytes(), A.toBytes(), message) : challenge(sig.subarray(0, 32), publicKey, message);
  // B has order L, so [S]B = [S mod L]B: the equations themselves do not see a non-canonical S.
  const s = bytesToNumberLE(sig.subarray(32)) % L;
  const difference = Point.BASE.multiplyUnsafe(s).subtract(R).subtract(A.multiplyUnsafe(k));
  return { cofactorless: difference.is0(), cofactored: difference.clearCofactor().is0() };
}

/**
 * Our rule (docs/security/ed25519.md), stated on decoded points rather than bytes so that it checks the
 * byte-level pre-check in crypto/ed25519-strict.ts instead of repeating it: every clause violated.
 */
function refusedBecause(sig: Uint8Array, message: Uint8Array, publicKey: Uint8Array): string[] {
  const reasons: string[] = [];
  if (bytesToNumberLE(sig.subarray(32)) >= L) reasons.push('non-canonical S');
  for (const [name, encoding] of [['A', publicKey], ['R', sig.subarray(0, 32)]] as const) {
    const outcome = decodeOutcome(encoding);
    if (outcome !== 'ok') reasons.push(`${outcome} ${name}`);
  }
  if (!equations(sig, message, publicKey, false).cofactorless) reasons.push('cofactorless equation fails');
  return reasons;
}

interface Case {
  name: string;
  description: string;
  message: Uint8Array;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

/** The first message `${label} #i` for which `attempt` builds a case. */
function search(label: string, attempt: (message: Uint8Array) => Omit<Case, 'name' | 'description' | 'message'> | undefined) {
  for (let i = 0; i < 1024; i++) {
    const message = utf8(`${label} #${i}`);
    const built = attempt(message);
    if (built !== undefined) return { message, ...built };
  }
  throw new Error(`no message found for ${label}`);
}

const mod8 = (n: bigint): number => Number(((n % 8n) + 8n) % 8n);

function buildCases(): Case[] {
  const a = labelScalar('a');
  const r = labelScalar('r');
  const rB = Point.BASE.multiply(r);
  const mixedA = Point.BASE.multiply(a).add(T).toBytes(); // [a]B + T: prime-order part and order-8 part
  const smallA = T.toBytes();
  const nonCanonicalSmall = nonCanonicalEncodings().filter((n) => n.point.isSmallOrder());
  const cases: Case[] = [];
  const add = (name: string, description: string, built: Omit<Case, 'name' | 'description'>): void => {
    cases.push({ name, description, ...built });
  };

  // 0: A = T, R = [j]T, S = 0. [0]B = R + [k]A holds when j + k = 0 mod 8.
  add('S = 0, small-order A, small-order R', 'A has order 8, R is small-order and not the identity, S = 0; both equations hold.',
    search('case 0', (m) => {
      for (let j = 1; j < 8; j++) {
        const R = E8[j]!.toBytes();
        if (mod8(BigInt(j) + challenge(R, smallA, m)) === 0) return { publicKey: smallA, signature: signature(R, 0n) };
      }
      return undefined;
    }));
  // 1: A = T, R = [r]B + [j]T, S = r. Holds when j + k = 0 mod 8.
  add('0 < S < L, small-order A, mixed-order R', 'A has order 8; R = [r]B + [j]T, S = r; both equations hold.',
    search('case 1', (m) => {
      for (let j = 1; j < 8; j++) {
        const R = rB.add(E8[j]!).toBytes();
        if (mod8(BigInt(j) + challenge(R, smallA, m)) === 0) return { publicKey: smallA, signature: signature(R, r) };
      }
      return undefined;
    }));
  // 2: A = [a]B + T, R = [j]T, S = k a. Holds when j + k = 0 mod 8.
  add('0 < S < L, mixed-order A, small-order R', 'A = [a]B + T, R = [j]T (j != 0), S = k a; both equations hold.',
    search('case 2', (m) => {
      for (let j = 1; j < 8; j++) {
        const R = E8[j]!.toBytes();
        const k = challenge(R, mixedA, m);
        if (mod8(BigInt(j) + k) === 0) return { publicKey: mixedA, signature: signature(R, (k * a) % L) };
      }
      return undefined;
    }));
  // 3 and 4: A = [a]B + T, R = [r]B + [j]T, S = r + k a. Cofactorless holds iff j + k = 0 mod 8.
  for (const [id, holds] of [[3, true], [4, false]] as const) {
    add(`0 < S < L, mixed-order A, mixed-order R, ${holds ? 'both equations hold' : 'only the cofactored equation holds'}`,
      `A = [a]B + T, R = [r]B + [j]T, S = r + k a, with j + k ${holds ? '=' : '!='} 0 mod 8.`,
      search(`case ${id}`, (m) => {
        for (let j = 1; j < 8; j++) {
          const R = rB.add(E8[j]!).toBytes();
          const k = challenge(R, mixedA, m);
          if ((mod8(BigInt(j) + k) === 0) === holds) return { publicKey: mixedA, signature: signature(R, (r + k * a) % L) };
        }
        return undefined;
      }));
  }
  // 5: A = [a]B + T, R = [r]B, S = r + k a: the cofactorless equation is off by [k]T.
  add('0 < S < L, mixed-order A, prime-order R, only the cofactored equation holds',
    'A = [a]B + T, R = [r]B, S = r + k a, with k != 0 mod 8: the cofactorless equation is off by [k]T.',
    search('case 5', (m) => {
      const R = rB.toBytes();
      const k = challenge(R, mixedA, m);
      return mod8(k) !== 0 ? { publicKey: mixedA, signature: signature(R, (r + k * a) % L) } : undefined;
    }));
  // 6 and 7: an honest signature with S replaced by S + L and by S + mL, the largest that fits in 256 bits.
  const seed = sha512(utf8('sealroom ed25519 edge cases: seed')).subarray(0, 32);
  const honestA = ed25519.getPublicKey(seed);
  const honestMessage = utf8('case 6 and 7');
  const honest = ed25519.sign(honestMessage, seed);
  const S = bytesToNumberLE(honest.subarray(32));
  const m = ((1n << 256n) - 1n - S) / L;
  add('S > L, prime-order A, prime-order R', 'An honest signature with S + L in place of S (still below 2^253).',
    { message: honestMessage, publicKey: honestA, signature: signature(honest.subarray(0, 32), S + L) });
  add('S >> L, prime-order A, prime-order R', `An honest signature with S + ${m}L in place of S (top bits set).`,
    { message: honestMessage, publicKey: honestA, signature: signature(honest.subarray(0, 32), S + m * L) });
  // 8 and 9: A = [a]B + T, R a non-canonical encoding of [j]T, S = k a. Holds when j + k = 0 mod 8.
  for (const [id, reencode] of [[8, true], [9, false]] as const) {
    add(`0 < S < L, mixed-order A, small-order R with a non-canonical encoding, k over ${reencode ? 'the re-encoded' : 'the given'} R`,
      `A = [a]B + T, R a non-canonical encoding of a small-order point, S = k a with k over ${reencode ? "R's canonical re-encoding" : "R's bytes as given"}.`,
      search(`case ${id}`, (msg) => {
        for (const n of nonCanonicalSmall) {
          const k = challenge(reencode ? n.point.toBytes() : n.encoding, mixedA, msg);
          if (mod8(BigInt(torsionIndex(n.point)) + k) === 0) return { publicKey: mixedA, signature: signature(n.encoding, (k * a) % L) };
        }
        return undefined;
      }));
  }
  // 10 and 11: A a non-canonical encoding of [jA]T (not the identity), R = [r]B + [j]T, S = r.
  // Holds when j + k jA = 0 mod 8.
  for (const [id, reencode] of [[10, true], [11, false]] as const) {
    add(`0 < S < L, small-order A with a non-canonical encoding, mixed-order R, k over ${reencode ? 'the re-encoded' : 'the given'} A`,
      `A a non-canonical encoding of a small-order point, R = [r]B + [j]T, S = r with k over ${reencode ? "A's canonical re-encoding" : "A's bytes as given"}.`,
      search(`case ${id}`, (msg) => {
        for (const n of nonCanonicalSmall) {
          const jA = torsionIndex(n.point);
          if (jA === 0) continue;
          for (let j = 1; j < 8; j++) {
            const R = rB.add(E8[j]!).toBytes();
            const k = challenge(R, reencode ? n.point.toBytes() : n.encoding, msg);
            if (mod8(BigInt(j) + k * BigInt(jA)) === 0) return { publicKey: n.encoding, signature: signature(R, r) };
          }
        }
        return undefined;
      }));
  }
  add('honest signature', 'An honest key and signature: the control.', { message: honestMessage, publicKey: honestA, signature: honest });
  const identity = E8[0]!.toBytes();
  add('universal signature: A = identity, R = identity, S = 0',
    'For A = R = identity and S = 0, [0]B = R + [k]A holds for every message: a forgery on any login.',
    { message: utf8('any message at all'), publicKey: identity, signature: signature(identity, 0n) });
  return cases;
}

function pointVectors(): PointVector[] {
  const small = E8.map((point, j) => ({
    encoding: toHex(point.toBytes()),
    description: `[${j}]T, of order ${orderOf(j)}`,
    expected: decodeOutcome(point.toBytes()),
  }));
  const nonCanonical = nonCanonicalEncodings().map((n) => ({
    encoding: toHex(n.encoding),
    description: `${n.description}: a non-canonical encoding of a point of ${orderClass(n.point)} order`,
    expected: decodeOutcome(n.encoding),
  }));
  const notAPoint = scalarBytes(2n);
  return [...small, ...nonCanonical, { encoding: toHex(notAPoint), description: 'y = 2: no x exists', expected: decodeOutcome(notAPoint) }];
}

export function buildEd25519EdgeCases(): VectorFile {
  return {
    description:
      'Ed25519 edge cases, after "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko, CT-RSA 2021), built from their ' +
      'definitions. Hex strings; expected results are under the rule in the named document.',
    rule: 'docs/security/ed25519.md',
    generator: 'crypto/vectors/ed25519-edge-cases.gen.ts',
    points: pointVectors(),
    signatures: buildCases().map((c, id) => {
      const reasons = refusedBecause(c.signature, c.message, c.publicKey);
      return {
        id,
        name: c.name,
        description: c.description,
        message: toHex(c.message),
        publicKey: toHex(c.publicKey),
        signature: toHex(c.signature),
        equations: {
          hashOverGivenBytes: equations(c.signature, c.message, c.publicKey, false),
          hashOverReencoded: equations(c.signature, c.message, c.publicKey, true),
        },
        expected: { verify: reasons.length === 0, refusedBecause: reasons, decodePublicKey: decodeOutcome(c.publicKey) },
      };
    }),
  };
}

export function serializeEd25519EdgeCases(file: VectorFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(VECTOR_FILE, serializeEd25519EdgeCases(buildEd25519EdgeCases()));
}
