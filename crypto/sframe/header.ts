/**
 * The SFrame header (RFC 9605 section 4.3): one config byte, then the key ID (KID), then the counter
 * (CTR), both unsigned 64-bit integers in network byte order.
 *
 *   config byte:  |X| K K K |Y| C C C |
 *
 * A value in 0-7 sits in the config byte itself (X or Y = 0, the value in K or C). Any other value
 * follows the config byte in the minimum number of bytes, 1 to 8, with X or Y = 1 and K or C = that
 * length minus one. KID comes before CTR.
 *
 * Section 4.3 says the value MUST be encoded in the minimum number of bytes, so every (KID, CTR) pair
 * has exactly one header. The decoder holds senders to that: a value 0-7 in extended form, or an
 * extended value with a leading zero byte, is refused. This costs a conforming sender nothing, and it
 * means a header re-encodes to the same bytes it was parsed from (the header is the start of the AAD,
 * section 4.4.3, so a second encoding of the same pair would only fail to authenticate later anyway).
 */
import { assertBytes, assertU64 } from '../bytes.ts';
import { CryptoError } from '../errors.ts';

/** The largest KID or CTR: both are 64-bit unsigned integers (RFC 9605 section 4.3). */
export const SFRAME_MAX_U64 = 0xffff_ffff_ffff_ffffn;
/** Longest possible header: config byte, 8-byte KID, 8-byte CTR. */
export const SFRAME_MAX_HEADER_BYTES = 17;

/** A parsed SFrame header. */
export interface SFrameHeader {
  /** Key ID, in [0, 2^64 - 1]. */
  kid: bigint;
  /** Counter, in [0, 2^64 - 1]. */
  ctr: bigint;
}

/** A parsed header and how many bytes of the input it took. */
export interface DecodedSFrameHeader extends SFrameHeader {
  /** Header length in bytes, 1 to 17; the ciphertext starts here. */
  length: number;
}

/**
 * A u64 as two 32-bit halves. Encoding runs once per frame, and plain number arithmetic on the halves
 * is several times cheaper than a loop of bigint shifts.
 */
function halves(value: bigint): [hi: number, lo: number] {
  // Without bigint arithmetic (each result a new bigint) while the value is a safe integer.
  if (value <= MAX_SAFE_BIG) {
    const n = Number(value);
    return [Math.floor(n / 2 ** 32), n >>> 0];
  }
  return [Number(value >> 32n), Number(value & 0xffff_ffffn)];
}

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

function byteLength32(value: number): number {
  return value > 0xff_ffff ? 4 : value > 0xffff ? 3 : value > 0xff ? 2 : 1;
}

/** Bytes needed after the config byte for the value: 0 when it fits in the 3 config bits. */
function extendedLength(hi: number, lo: number): number {
  if (hi !== 0) return 4 + byteLength32(hi);
  return lo < 8 ? 0 : byteLength32(lo);
}

function writeBigEndian(out: Uint8Array, offset: number, hi: number, lo: number, length: number): void {
  let rest = lo;
  for (let i = offset + length - 1, n = 0; i >= offset; i--, n++) {
    if (n === 4) rest = hi;
    out[i] = rest & 0xff;
    rest >>>= 8;
  }
}

/** The header length for a (KID, CTR) pair, without encoding it. */
export function sframeHeaderLength(kid: bigint, ctr: bigint): number {
  assertU64('kid', kid);
  assertU64('ctr', ctr);
  return 1 + extendedLength(...halves(kid)) + extendedLength(...halves(ctr));
}

/**
 * Encodes the header for `kid` and `ctr` in the minimal form RFC 9605 section 4.3 requires.
 * @example encodeSFrameHeader(0x123n, 0x4567n) // 99 0123 4567
 */
export function encodeSFrameHeader(kid: bigint, ctr: bigint): Uint8Array {
  assertU64('kid', kid);
  assertU64('ctr', ctr);
  const [kidHi, kidLo] = halves(kid);
  const [ctrHi, ctrLo] = halves(ctr);
  const kidLength = extendedLength(kidHi, kidLo);
  const ctrLength = extendedLength(ctrHi, ctrLo);
  const out = new Uint8Array(1 + kidLength + ctrLength);
  writeHeader(out, kidHi, kidLo, kidLength, ctrHi, ctrLo, ctrLength);
  return out;
}

/**
 * `encodeSFrameHeader` written into the start of `out` (a sender's reused buffer, at least
 * `SFRAME_MAX_HEADER_BYTES` long) rather than a new array; returns the header's length.
 */
export function writeSFrameHeader(out: Uint8Array, kid: bigint, ctr: bigint): number {
  assertU64('kid', kid);
  assertU64('ctr', ctr);
  if (!(out instanceof Uint8Array) || out.length < SFRAME_MAX_HEADER_BYTES) {
    throw CryptoError.invalidArgument(`"out" expected a Uint8Array of at least ${SFRAME_MAX_HEADER_BYTES} bytes`);
  }
  const [kidHi, kidLo] = halves(kid);
  const [ctrHi, ctrLo] = halves(ctr);
  const kidLength = extendedLength(kidHi, kidLo);
  const ctrLength = extendedLength(ctrHi, ctrLo);
  writeHeader(out, kidHi, kidLo, kidLength, ctrHi, ctrLo, ctrLength);
  return 1 + kidLength + ctrLength;
}

function writeHeader(out: Uint8Array, kidHi: number, kidLo: number, kidLength: number, ctrHi: number, ctrLo: number, ctrLength: number): void {
  // K and C hold either the value itself (X, Y = 0) or the byte length minus one (X, Y = 1).
  const k = kidLength === 0 ? kidLo << 4 : 0x80 | ((kidLength - 1) << 4);
  const c = ctrLength === 0 ? ctrLo : 0x08 | (ctrLength - 1);
  out[0] = k | c;
  writeBigEndian(out, 1, kidHi, kidLo, kidLength);
  writeBigEndian(out, 1 + kidLength, ctrHi, ctrLo, ctrLength);
}

function readExtended(bytes: Uint8Array, offset: number, length: number, field: 'KID' | 'CTR'): bigint {
  // A leading zero byte, or a value that fits in the config byte, is a longer encoding than the
  // minimum that section 4.3 requires.
  if (bytes[offset] === 0 && length > 1) {
    throw CryptoError.invalidArgument(`SFrame header: ${field} is not minimally encoded (leading zero byte)`);
  }
  // Two 32-bit halves in plain numbers, one bigint at the end: this runs twice per received frame.
  let hi = 0;
  let lo = 0;
  for (let i = offset; i < offset + length; i++) {
    hi = ((hi << 8) | (lo >>> 24)) >>> 0;
    lo = ((lo << 8) | bytes[i]!) >>> 0;
  }
  const value = hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  if (value < 8n) {
    throw CryptoError.invalidArgument(`SFrame header: ${field} ${value} must sit in the config byte, not in an extended field`);
  }
  return value;
}

/**
 * Parses the header at the start of `bytes` (an SFrame ciphertext or just its header). Refuses, with
 * `InvalidArgument`, input shorter than the header it announces and a non-minimal encoding.
 */
export function decodeSFrameHeader(bytes: Uint8Array): DecodedSFrameHeader {
  assertBytes('bytes', bytes);
  if (bytes.length === 0) {
    throw CryptoError.invalidArgument('SFrame header: truncated, expected at least 1 byte, got 0');
  }
  const config = bytes[0]!;
  const kidExtended = (config & 0x80) !== 0;
  const ctrExtended = (config & 0x08) !== 0;
  const kidLength = kidExtended ? ((config >> 4) & 0x07) + 1 : 0;
  const ctrLength = ctrExtended ? (config & 0x07) + 1 : 0;
  const length = 1 + kidLength + ctrLength;
  if (bytes.length < length) {
    throw CryptoError.invalidArgument(`SFrame header: truncated, expected ${length} bytes, got ${bytes.length}`);
  }
  const kid = kidExtended ? readExtended(bytes, 1, kidLength, 'KID') : BigInt((config >> 4) & 0x07);
  const ctr = ctrExtended ? readExtended(bytes, 1 + kidLength, ctrLength, 'CTR') : BigInt(config & 0x07);
  return { kid, ctr, length };
}
