/**
 * Byte helpers and the validating asserts that guard every public crypto function (STYLE.md: validate
 * once, at the boundary, and name the bad argument). Browser-safe: no `node:` imports.
 */
import { base64, hex } from '@scure/base';
import { CryptoError } from './errors.ts';

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array of length ${value.length}`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'Array';
  return typeof value;
}

/**
 * Asserts that `value` is a Uint8Array, optionally of one of the given lengths.
 * @example assertBytes('nonce', nonce, 12) // throws `"nonce" expected Uint8Array of length 12, got Uint8Array of length 11`
 */
export function assertBytes(name: string, value: unknown, ...lengths: number[]): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw CryptoError.invalidArgument(`"${name}" expected Uint8Array, got ${describe(value)}`);
  }
  if (lengths.length > 0 && !lengths.includes(value.length)) {
    throw CryptoError.invalidArgument(`"${name}" expected Uint8Array of length ${lengths.join(' or ')}, got length=${value.length}`);
  }
}

/** Asserts a Uint8Array no longer than `max` bytes. */
export function assertMaxBytes(name: string, value: unknown, max: number): asserts value is Uint8Array {
  assertBytes(name, value);
  if (value.length > max) {
    throw CryptoError.limitExceeded(`"${name}" expected at most ${max} bytes, got ${value.length}`);
  }
}

/** Asserts an integer in [min, max]. */
export function assertInt(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw CryptoError.invalidArgument(`"${name}" expected an integer in [${min}, ${max}], got ${String(value)}`);
  }
}

/** Asserts a bigint in [0, max]. */
export function assertU64(name: string, value: unknown, max: bigint = 0xffff_ffff_ffff_ffffn): asserts value is bigint {
  if (typeof value !== 'bigint' || value < 0n || value > max) {
    throw CryptoError.invalidArgument(`"${name}" expected a bigint in [0, ${max}], got ${describe(value)} ${String(value)}`);
  }
}

/** Asserts a non-empty string no longer than `maxLength` UTF-16 units. */
export function assertString(name: string, value: unknown, maxLength = 1024): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw CryptoError.invalidArgument(`"${name}" expected a non-empty string of at most ${maxLength} characters, got ${describe(value)}`);
  }
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * `bytes` preceded by `headroom` zero bytes in one buffer, returned as a view of `bytes`' place in it
 * (see `AeadKey.seal`); `bytes` itself when `headroom` is 0.
 */
export function withHeadroom(bytes: Uint8Array, headroom: number): Uint8Array {
  if (headroom === 0) return bytes;
  const out = new Uint8Array(headroom + bytes.length);
  out.set(bytes, headroom);
  return out.subarray(headroom);
}

/** Constant-time comparison for equal-length inputs; unequal lengths return false at once. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Whether every byte is zero, in time independent of where a non-zero byte sits (an X25519 shared secret's low-order check). */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

export function utf8(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/** Decodes UTF-8, rejecting malformed input rather than replacing it. */
export function fromUtf8(bytes: Uint8Array): string {
  try {
    return textDecoder.decode(bytes);
  } catch (cause) {
    throw new CryptoError('InvalidArgument', 'expected valid UTF-8', { cause });
  }
}

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  return hex.encode(bytes);
}

/** Strict hex; rejects odd lengths and non-hex characters. */
export function fromHex(text: string): Uint8Array {
  try {
    return hex.decode(text);
  } catch (cause) {
    throw new CryptoError('InvalidArgument', 'expected an even-length hex string', { cause });
  }
}

/**
 * Node's Buffer where there is one (about 0.18 against 0.53 us for 32 bytes: a verified read encodes
 * every record's hash), found without importing `node:` so that this file stays browser-safe.
 */
const NodeBuffer = (globalThis as { Buffer?: { from(b: ArrayBufferLike, offset: number, length: number): { toString(e: 'base64'): string } } }).Buffer;

/** Standard base64 with padding: the encoding of binary fields in JSON on the wire. */
export function toBase64(bytes: Uint8Array): string {
  return NodeBuffer === undefined ? base64.encode(bytes) : NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}

/** `toBase64` in JavaScript alone, as browsers run it (the cross-check of Node's). */
export function toBase64Js(bytes: Uint8Array): string {
  return base64.encode(bytes);
}

/** Strict standard base64 with padding; any other character or length is refused. */
export function fromBase64(text: string): Uint8Array {
  if (typeof text !== 'string') throw CryptoError.invalidArgument(`expected a base64 string, got ${describe(text)}`);
  try {
    return base64.decode(text);
  } catch (cause) {
    throw new CryptoError('InvalidArgument', 'expected a base64 string', { cause });
  }
}

export function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

export function u64be(value: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

/** Length-prefixed (u32 big-endian) concatenation: an unambiguous encoding of a tuple of byte strings. */
export function lengthPrefixed(...parts: Uint8Array[]): Uint8Array {
  const framed: Uint8Array[] = [];
  for (const part of parts) framed.push(u32be(part.length), part);
  return concatBytes(...framed);
}

/** Overwrites secret material in place once it is no longer needed. */
export function wipe(...buffers: Uint8Array[]): void {
  for (const buffer of buffers) buffer.fill(0);
}
