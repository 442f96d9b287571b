/**
 * The five SFrame cipher suites of RFC 9605 section 8.1 and their parameters (section 4.4.1).
 *
 * Suites 1-3 are the AES-CTR + HMAC constructions of section 4.5 with truncated tags (for audio, where
 * 16 bytes of tag per 20 ms frame is a real cost); suites 4 and 5 are plain AES-GCM. sealroom's default
 * is suite 4, AES_128_GCM_SHA256_128 (docs/design.md, "Data tracks and media frames").
 */
import type { HashName } from '../backend/index.ts';
import { CryptoError } from '../errors.ts';

/** Cipher suite names, as RFC 9605 section 8.1 spells them. */
export type SFrameSuiteName =
  | 'AES_128_CTR_HMAC_SHA256_80'
  | 'AES_128_CTR_HMAC_SHA256_64'
  | 'AES_128_CTR_HMAC_SHA256_32'
  | 'AES_128_GCM_SHA256_128'
  | 'AES_256_GCM_SHA512_128';

/** The two-byte cipher suite identifiers of RFC 9605 section 8.1 (the IANA registry values). */
export const AES_128_CTR_HMAC_SHA256_80 = 0x0001;
export const AES_128_CTR_HMAC_SHA256_64 = 0x0002;
export const AES_128_CTR_HMAC_SHA256_32 = 0x0003;
export const AES_128_GCM_SHA256_128 = 0x0004;
export const AES_256_GCM_SHA512_128 = 0x0005;

/** sealroom's default suite (docs/design.md). */
export const DEFAULT_SFRAME_SUITE: SFrameSuiteName = 'AES_128_GCM_SHA256_128';

/** The parameters of one suite, named as in RFC 9605 section 4.4.1. */
export interface SFrameSuite {
  readonly name: SFrameSuiteName;
  /** Two-byte identifier (section 8.1); goes into the key and salt labels (section 4.4.2). */
  readonly id: number;
  /** Hash of HKDF (and of HMAC for the CTR suites). */
  readonly hash: HashName;
  /** `Nh`: output size of the hash in bytes. */
  readonly hashLength: number;
  /** `Nk`: size of sframe_key. For CTR-HMAC it is the AES key plus the HMAC key (section 4.5). */
  readonly keyLength: number;
  /** `Nn`: nonce size in bytes, and the size of sframe_salt. */
  readonly nonceLength: number;
  /** `Nt`: authentication tag size in bytes. */
  readonly tagLength: number;
  /** `Nka` for the CTR-HMAC suites: the AES key part of sframe_key; undefined for GCM. */
  readonly encKeyLength: number | undefined;
  /** Which AEAD construction. */
  readonly aead: 'aes-gcm' | 'aes-ctr-hmac';
  /**
   * Length of a base key that sealroom derives for this suite (see kid.ts): the security level of
   * the cipher, 16 bytes for the AES-128 suites, 32 for AES-256. RFC 9605 puts no length on base_key
   * (it only feeds HKDF-Extract, section 4.4.2), so more bytes than the cipher's strength would buy
   * nothing.
   */
  readonly baseKeyLength: number;
}

function ctrHmac(name: SFrameSuiteName, id: number, tagLength: number): SFrameSuite {
  // Section 4.5 and 8.1: Nka = 16, Nh = 32, Nk = Nka + Nh = 48, Nn = 12.
  return {
    name,
    id,
    hash: 'sha256',
    hashLength: 32,
    keyLength: 48,
    nonceLength: 12,
    tagLength,
    encKeyLength: 16,
    aead: 'aes-ctr-hmac',
    baseKeyLength: 16,
  };
}

/** Every suite by name. */
export const SFRAME_SUITES: Readonly<Record<SFrameSuiteName, SFrameSuite>> = {
  AES_128_CTR_HMAC_SHA256_80: ctrHmac('AES_128_CTR_HMAC_SHA256_80', AES_128_CTR_HMAC_SHA256_80, 10),
  AES_128_CTR_HMAC_SHA256_64: ctrHmac('AES_128_CTR_HMAC_SHA256_64', AES_128_CTR_HMAC_SHA256_64, 8),
  AES_128_CTR_HMAC_SHA256_32: ctrHmac('AES_128_CTR_HMAC_SHA256_32', AES_128_CTR_HMAC_SHA256_32, 4),
  AES_128_GCM_SHA256_128: {
    name: 'AES_128_GCM_SHA256_128',
    id: AES_128_GCM_SHA256_128,
    hash: 'sha256',
    hashLength: 32,
    keyLength: 16,
    nonceLength: 12,
    tagLength: 16,
    encKeyLength: undefined,
    aead: 'aes-gcm',
    baseKeyLength: 16,
  },
  AES_256_GCM_SHA512_128: {
    name: 'AES_256_GCM_SHA512_128',
    id: AES_256_GCM_SHA512_128,
    hash: 'sha512',
    hashLength: 64,
    keyLength: 32,
    nonceLength: 12,
    tagLength: 16,
    encKeyLength: undefined,
    aead: 'aes-gcm',
    baseKeyLength: 32,
  },
};

/** Every suite name, in identifier order. */
export const SFRAME_SUITE_NAMES: readonly SFrameSuiteName[] = Object.freeze(
  Object.values(SFRAME_SUITES)
    .sort((a, b) => a.id - b.id)
    .map((suite) => suite.name),
);

/** The parameters of a suite given by name; refuses anything else with `InvalidArgument`. */
export function sframeSuite(name: SFrameSuiteName): SFrameSuite {
  if (typeof name !== 'string' || !Object.hasOwn(SFRAME_SUITES, name)) {
    throw CryptoError.invalidArgument(
      `"suite" expected one of ${SFRAME_SUITE_NAMES.join(', ')}, got ${typeof name === 'string' ? JSON.stringify(name.slice(0, 64)) : typeof name}`,
    );
  }
  return SFRAME_SUITES[name];
}

/** The parameters of a suite given by its two-byte identifier (section 8.1). */
export function sframeSuiteById(id: number): SFrameSuite {
  for (const suite of Object.values(SFRAME_SUITES)) if (suite.id === id) return suite;
  throw CryptoError.invalidArgument(`"suite" expected an identifier in [1, 5], got ${String(id)}`);
}
