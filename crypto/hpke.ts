/**
 * HPKE base mode (RFC 9180) with KEM DHKEM(X25519, HKDF-SHA256) (0x0020), KDF HKDF-SHA256 (0x0001) and
 * the AEADs AES-128-GCM (0x0001), AES-256-GCM (0x0002) and ChaCha20Poly1305 (0x0003). sealroom wraps
 * every epoch key with it (docs/design.md, "Room keys and room state"; see key-wrap.ts). The KEM lives in
 * hpke-kem.ts; this file holds the key schedule, the encryption contexts and the public API.
 *
 * X25519, HMAC and the AEADs all come from the crypto backend, so Node runs them natively. Only base
 * mode is implemented: sealroom authenticates senders with signed room records, not with HPKE's auth
 * or PSK modes.
 */
import { backend, type AeadKey, type CryptoBackend } from './backend/index.ts';
import { assertBytes, assertMaxBytes, concatBytes, utf8, wipe } from './bytes.ts';
import { CryptoError } from './errors.ts';
import { HASH_LENGTH_BYTES } from './hkdf.ts';
import {
  EMPTY,
  HPKE_KEM_ID,
  HPKE_SHARED_SECRET_LENGTH_BYTES,
  HPKE_X25519_KEY_LENGTH_BYTES,
  LABEL,
  assertExportLength,
  decap,
  deriveKeyPair,
  encapWith,
  expandLabeled,
  extractLabeled,
  i2osp2,
  type HpkeKeyPair,
} from './hpke-kem.ts';

export {
  HPKE_EXPORT_MAX_BYTES,
  HPKE_KEM_ID,
  HPKE_SHARED_SECRET_LENGTH_BYTES,
  HPKE_X25519_KEY_LENGTH_BYTES,
  KEM_SUITE_ID,
  decap,
  deriveKeyPair,
  encap,
  labeledExpand,
  labeledExtract,
  type HpkeKeyPair,
} from './hpke-kem.ts';

/** The AEADs of RFC 9180 section 7.3 that sealroom supports. */
export type HpkeAead = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

/** RFC 9180 section 7.2: HKDF-SHA256. */
export const HPKE_KDF_ID = 0x0001;
/** RFC 9180 section 7.3. */
export const HPKE_AEAD_ID: Readonly<Record<HpkeAead, number>> = {
  'aes-128-gcm': 0x0001,
  'aes-256-gcm': 0x0002,
  'chacha20-poly1305': 0x0003,
};

/** Nt: every supported AEAD appends a 16-byte tag. */
export const HPKE_TAG_LENGTH_BYTES = 16;
/**
 * RFC 9180 section 7.2.1 asks for at least 64 bytes of info and exporter context; HKDF-SHA256 allows far
 * more. sealroom's infos are under 2 KiB, so a 64 KiB cap refuses nonsense without refusing use.
 */
export const HPKE_INFO_MAX_BYTES = 65_536;
export const HPKE_EXPORTER_CONTEXT_MAX_BYTES = 65_536;

const KEY_LENGTH: Readonly<Record<HpkeAead, number>> = { 'aes-128-gcm': 16, 'aes-256-gcm': 32, 'chacha20-poly1305': 32 };
const NONCE_LENGTH = 12; // Nn of all three AEADs.
const NH = HASH_LENGTH_BYTES.sha256;
const MODE_BASE = 0x00;
/** RFC 9180 section 5.2: the sequence number must stay below 2^(8*Nn) - 1. */
const MAX_SEQUENCE = (1n << BigInt(8 * NONCE_LENGTH)) - 1n;

const HPKE_SUITE_IDS = new Map<HpkeAead, Uint8Array>();
/** suite_id of the key schedule (RFC 9180 section 5.1): "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2). */
export function hpkeSuiteId(aead: HpkeAead): Uint8Array {
  assertAead(aead);
  let id = HPKE_SUITE_IDS.get(aead);
  if (id === undefined) {
    id = concatBytes(utf8('HPKE'), i2osp2(HPKE_KEM_ID), i2osp2(HPKE_KDF_ID), i2osp2(HPKE_AEAD_ID[aead]));
    HPKE_SUITE_IDS.set(aead, id);
  }
  return id;
}

/** The AEAD of an RFC 9180 aead_id, or undefined for one sealroom does not support. */
export function hpkeAeadFromId(id: number): HpkeAead | undefined {
  for (const [name, value] of Object.entries(HPKE_AEAD_ID) as [HpkeAead, number][]) if (value === id) return name;
  return undefined;
}

function assertAead(aead: unknown): asserts aead is HpkeAead {
  if (typeof aead !== 'string' || !Object.hasOwn(KEY_LENGTH, aead)) {
    throw CryptoError.invalidArgument(`"aead" expected 'aes-128-gcm', 'aes-256-gcm' or 'chacha20-poly1305', got ${String(aead)}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Key schedule, RFC 9180 section 5.1

/** The values of the base-mode key schedule; exposed for known-answer tests. */
export interface HpkeKeySchedule {
  keyScheduleContext: Uint8Array;
  secret: Uint8Array;
  key: Uint8Array;
  baseNonce: Uint8Array;
  /** Empty when the caller did not ask for it (single-shot seal and open never export). */
  exporterSecret: Uint8Array;
}

// psk_id_hash is the same for every base-mode setup of a suite (psk_id is empty), so it is computed once.
const PSK_ID_HASHES = new Map<HpkeAead, Uint8Array>();

function schedule(aead: HpkeAead, sharedSecret: Uint8Array, info: Uint8Array, withExporter: boolean, b: CryptoBackend): HpkeKeySchedule {
  const suiteId = hpkeSuiteId(aead);
  let pskIdHash = PSK_ID_HASHES.get(aead);
  if (pskIdHash === undefined) {
    pskIdHash = extractLabeled(suiteId, EMPTY, LABEL.pskIdHash, EMPTY, b);
    PSK_ID_HASHES.set(aead, pskIdHash);
  }
  const infoHash = extractLabeled(suiteId, EMPTY, LABEL.infoHash, info, b);
  const keyScheduleContext = concatBytes(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  // Base mode: psk is empty (RFC 9180 section 5.1.1).
  const secret = extractLabeled(suiteId, sharedSecret, LABEL.secret, EMPTY, b);
  return {
    keyScheduleContext,
    secret,
    key: expandLabeled(suiteId, secret, LABEL.key, keyScheduleContext, KEY_LENGTH[aead], b),
    baseNonce: expandLabeled(suiteId, secret, LABEL.baseNonce, keyScheduleContext, NONCE_LENGTH, b),
    exporterSecret: withExporter ? expandLabeled(suiteId, secret, LABEL.exp, keyScheduleContext, NH, b) : EMPTY,
  };
}

/** KeySchedule in mode_base (RFC 9180 section 5.1): derives key, base nonce and exporter secret. */
export function keyScheduleBase(aead: HpkeAead, sharedSecret: Uint8Array, info: Uint8Array, b: CryptoBackend = backend()): HpkeKeySchedule {
  assertAead(aead);
  assertBytes('sharedSecret', sharedSecret, HPKE_SHARED_SECRET_LENGTH_BYTES);
  assertMaxBytes('info', info, HPKE_INFO_MAX_BYTES);
  return schedule(aead, sharedSecret, info, true, b);
}

/**
 * ComputeNonce (RFC 9180 section 5.2): base_nonce XOR I2OSP(seq, Nn). Refuses `seq` >= 2^96 - 1 with
 * `LimitExceeded`, the point at which the RFC's IncrementSeq raises MessageLimitReachedError.
 */
export function computeNonce(baseNonce: Uint8Array, seq: bigint): Uint8Array {
  assertBytes('baseNonce', baseNonce, NONCE_LENGTH);
  if (typeof seq !== 'bigint' || seq < 0n) throw CryptoError.invalidArgument(`"seq" expected a non-negative bigint, got ${String(seq)}`);
  if (seq >= MAX_SEQUENCE) {
    throw CryptoError.limitExceeded('HPKE context: the message limit (2^96 - 1) is reached (RFC 9180 section 5.2)');
  }
  const nonce = baseNonce.slice();
  for (let i = NONCE_LENGTH - 1, rest = seq; rest > 0n; i--, rest >>= 8n) nonce[i]! ^= Number(rest & 0xffn);
  return nonce;
}

// ---------------------------------------------------------------------------------------------------
// Encryption contexts, RFC 9180 sections 5.2 and 5.3

/** The sender's side of an HPKE context: messages are sealed in order, each with the next sequence number. */
export interface HpkeSenderContext {
  readonly aead: HpkeAead;
  /** Seals the next message. Concurrent calls are numbered in call order. */
  seal(plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  /** Secret export (RFC 9180 section 5.3): `length` bytes bound to `exporterContext`. */
  export(exporterContext: Uint8Array, length: number): Uint8Array;
}

/** The recipient's side: messages must be opened in the order they were sealed. */
export interface HpkeRecipientContext {
  readonly aead: HpkeAead;
  /**
   * Opens the next message; fails with `DecryptFailed` if it does not authenticate, in which case the
   * sequence number does not advance (RFC 9180 section 5.2). Concurrent calls run one at a time, in order.
   */
  open(ciphertext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  /** Secret export (RFC 9180 section 5.3). */
  export(exporterContext: Uint8Array, length: number): Uint8Array;
}

class ContextState {
  seq = 0n;
  /** Opens wait for the previous one, because a failed open must not advance `seq`. */
  tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly aead: HpkeAead,
    readonly key: AeadKey,
    readonly baseNonce: Uint8Array,
    readonly exporterSecret: Uint8Array,
    readonly b: CryptoBackend,
  ) {}

  exportSecret(exporterContext: Uint8Array, length: number): Uint8Array {
    assertMaxBytes('exporterContext', exporterContext, HPKE_EXPORTER_CONTEXT_MAX_BYTES);
    assertExportLength(length);
    return expandLabeled(hpkeSuiteId(this.aead), this.exporterSecret, LABEL.sec, exporterContext, length, this.b);
  }
}

// Lets the test hook below reach a context's sequence number without putting it on the public type.
const STATES = new WeakMap<object, ContextState>();

function senderContext(state: ContextState): HpkeSenderContext {
  const context: HpkeSenderContext = {
    aead: state.aead,
    async seal(plaintext, aad = EMPTY) {
      assertBytes('plaintext', plaintext);
      assertBytes('aad', aad);
      // The sequence number is taken before any await, so concurrent seals never share a nonce.
      const nonce = computeNonce(state.baseNonce, state.seq);
      state.seq += 1n;
      return state.key.seal(nonce, plaintext, aad);
    },
    export: (exporterContext, length) => state.exportSecret(exporterContext, length),
  };
  STATES.set(context, state);
  return context;
}

function recipientContext(state: ContextState): HpkeRecipientContext {
  const context: HpkeRecipientContext = {
    aead: state.aead,
    open(ciphertext, aad = EMPTY) {
      assertBytes('ciphertext', ciphertext);
      assertBytes('aad', aad);
      const run = state.tail.then(async () => {
        const nonce = computeNonce(state.baseNonce, state.seq);
        const plaintext = await openWith(state.key, nonce, ciphertext, aad);
        state.seq += 1n;
        return plaintext;
      });
      state.tail = run.catch(() => undefined);
      return run;
    },
    export: (exporterContext, length) => state.exportSecret(exporterContext, length),
  };
  STATES.set(context, state);
  return context;
}

async function openWith(key: AeadKey, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  try {
    return await key.open(nonce, ciphertext, aad);
  } catch (cause) {
    throw cause instanceof CryptoError && cause.reason === 'DecryptFailed' ? cause : CryptoError.decryptFailed(cause);
  }
}

function importAeadKey(aead: HpkeAead, key: Uint8Array, b: CryptoBackend): Promise<AeadKey> {
  return aead === 'chacha20-poly1305' ? b.chacha20Poly1305(key) : b.aesGcm(key);
}

// ---------------------------------------------------------------------------------------------------
// Public setup and single-shot APIs, RFC 9180 sections 5.1.1 and 6.1

export interface HpkeSenderOptions {
  aead: HpkeAead;
  /** The recipient's 32-byte X25519 public key. */
  recipientPublicKey: Uint8Array;
  /** Application info bound into the key schedule; empty when absent. At most `HPKE_INFO_MAX_BYTES`. */
  info?: Uint8Array;
  backend?: CryptoBackend;
}

export interface HpkeRecipientOptions {
  aead: HpkeAead;
  /** The sender's 32-byte encapsulated key. */
  enc: Uint8Array;
  /** The recipient's 32-byte X25519 secret key. */
  recipientSecretKey: Uint8Array;
  info?: Uint8Array;
  backend?: CryptoBackend;
}

function checkSender(options: HpkeSenderOptions): void {
  assertAead(options.aead);
  assertBytes('recipientPublicKey', options.recipientPublicKey, HPKE_X25519_KEY_LENGTH_BYTES);
  if (options.info !== undefined) assertMaxBytes('info', options.info, HPKE_INFO_MAX_BYTES);
}

function checkRecipient(options: HpkeRecipientOptions): void {
  assertAead(options.aead);
  assertBytes('enc', options.enc, HPKE_X25519_KEY_LENGTH_BYTES);
  assertBytes('recipientSecretKey', options.recipientSecretKey, HPKE_X25519_KEY_LENGTH_BYTES);
  if (options.info !== undefined) assertMaxBytes('info', options.info, HPKE_INFO_MAX_BYTES);
}

interface SenderSetup {
  enc: Uint8Array;
  sharedSecret: Uint8Array;
  schedule: HpkeKeySchedule;
  key: AeadKey;
}

async function setupSender(options: HpkeSenderOptions, ephemeral: HpkeKeyPair | undefined, withExporter: boolean): Promise<SenderSetup> {
  const b = options.backend ?? backend();
  const { sharedSecret, enc } = await encapWith(options.recipientPublicKey, ephemeral, b);
  const keys = schedule(options.aead, sharedSecret, options.info ?? EMPTY, withExporter, b);
  return { enc, sharedSecret, schedule: keys, key: await importAeadKey(options.aead, keys.key, b) };
}

async function setupRecipient(options: HpkeRecipientOptions, withExporter: boolean): Promise<{ keys: HpkeKeySchedule; key: AeadKey }> {
  const b = options.backend ?? backend();
  const sharedSecret = await decap(options.enc, options.recipientSecretKey, b);
  const keys = schedule(options.aead, sharedSecret, options.info ?? EMPTY, withExporter, b);
  wipe(sharedSecret, keys.secret);
  return { keys, key: await importAeadKey(options.aead, keys.key, b) };
}

/**
 * SetupBaseS (RFC 9180 section 5.1.1): encapsulates to `recipientPublicKey` and returns `enc` (send it
 * to the recipient) with a context that seals messages in order.
 */
export async function setupBaseSender(options: HpkeSenderOptions): Promise<{ enc: Uint8Array; context: HpkeSenderContext }> {
  checkSender(options);
  const { enc, sharedSecret, schedule: keys, key } = await setupSender(options, undefined, true);
  wipe(sharedSecret, keys.secret);
  const b = options.backend ?? backend();
  return { enc, context: senderContext(new ContextState(options.aead, key, keys.baseNonce, keys.exporterSecret, b)) };
}

/**
 * SetupBaseR (RFC 9180 section 5.1.1). A tampered or low-order `enc` is not detected here (HPKE has no
 * key confirmation) but makes every `open` fail with `DecryptFailed`.
 */
export async function setupBaseRecipient(options: HpkeRecipientOptions): Promise<HpkeRecipientContext> {
  checkRecipient(options);
  const { keys, key } = await setupRecipient(options, true);
  const b = options.backend ?? backend();
  return recipientContext(new ContextState(options.aead, key, keys.baseNonce, keys.exporterSecret, b));
}

/**
 * Single-shot SealBase (RFC 9180 section 6.1): one message to one recipient.
 * @example const { enc, ciphertext } = await sealBase({ aead: 'aes-128-gcm', recipientPublicKey, info, plaintext })
 */
export async function sealBase(options: HpkeSenderOptions & { plaintext: Uint8Array; aad?: Uint8Array }): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
  checkSender(options);
  assertBytes('plaintext', options.plaintext);
  if (options.aad !== undefined) assertBytes('aad', options.aad);
  const { enc, sharedSecret, schedule: keys, key } = await setupSender(options, undefined, false);
  wipe(sharedSecret, keys.secret);
  // Sequence number 0: the nonce is the base nonce itself.
  return { enc, ciphertext: await key.seal(keys.baseNonce, options.plaintext, options.aad ?? EMPTY) };
}

/**
 * Single-shot OpenBase (RFC 9180 section 6.1). Every failure to authenticate (wrong key, info or aad,
 * tampered enc or ciphertext) is `DecryptFailed` with the same message.
 */
export async function openBase(options: HpkeRecipientOptions & { ciphertext: Uint8Array; aad?: Uint8Array }): Promise<Uint8Array> {
  checkRecipient(options);
  assertBytes('ciphertext', options.ciphertext);
  if (options.aad !== undefined) assertBytes('aad', options.aad);
  const { keys, key } = await setupRecipient(options, false);
  return openWith(key, keys.baseNonce, options.ciphertext, options.aad ?? EMPTY);
}

// ---------------------------------------------------------------------------------------------------
// Test hooks. Not part of the API: crypto/index.ts must not re-export them.

/**
 * @internal For known-answer tests only. Sets up a sender whose ephemeral key is DeriveKeyPair(ikmE),
 * as RFC 9180 Appendix A does, and returns the intermediate values. A fixed ephemeral key voids HPKE's
 * security: never call this outside tests.
 */
export async function setupBaseSenderWithIkmEForTests(
  options: HpkeSenderOptions,
  ikmE: Uint8Array,
): Promise<{ enc: Uint8Array; context: HpkeSenderContext; sharedSecret: Uint8Array; schedule: HpkeKeySchedule }> {
  checkSender(options);
  const b = options.backend ?? backend();
  const ephemeral = await deriveKeyPair(ikmE, b);
  const { enc, sharedSecret, schedule: keys, key } = await setupSender(options, ephemeral, true);
  const context = senderContext(new ContextState(options.aead, key, keys.baseNonce, keys.exporterSecret, b));
  return { enc, context, sharedSecret, schedule: keys };
}

/** @internal For tests only: moves a context's sequence number, to reach the message limit. */
export function setSequenceForTests(context: HpkeSenderContext | HpkeRecipientContext, seq: bigint): void {
  const state = STATES.get(context);
  if (state === undefined) throw CryptoError.invalidArgument('"context" expected an HPKE context');
  state.seq = seq;
}
