/**
 * An SFrame context (RFC 9605 section 4.4): the key store, per-KID send counters and per-KID replay
 * windows of one participant, which is a sender for its own KID and a receiver for everyone else's.
 *
 * - Keys are derived (section 4.4.2) and imported once per KID, in `addKey`, and reused for every frame.
 * - `encrypt` takes the next counter of that KID and never reuses one: the counter is reserved before
 *   the first await, so concurrent calls get distinct counters, and it refuses to wrap past 2^64 - 1
 *   (section 4.4.3 derives the nonce from CTR; a repeated counter would repeat a nonce).
 * - `decrypt` parses the header, finds the key by KID, checks the replay window, decrypts, and only
 *   then commits the counter (section 7.5 and RFC 3711 section 3.3.2), so a forged frame moves nothing.
 */
import { backend as defaultBackend, type CryptoBackend } from '../backend/index.ts';
import { assertBytes, assertInt, assertMaxBytes, assertU64 } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { decryptSFrame, encryptSFrame, openSFrameSync, sealSFrameSync, type SFrameScratch } from './frame.ts';
import { type DecodedSFrameHeader, decodeSFrameHeader, SFRAME_MAX_HEADER_BYTES, SFRAME_MAX_U64 } from './header.ts';
import { createSFrameKey, type SFrameKey } from './keys.ts';
import { DEFAULT_REPLAY_WINDOW_SIZE, ReplayWindow } from './replay-window.ts';
import { DEFAULT_SFRAME_SUITE, sframeSuite, type SFrameSuite, type SFrameSuiteName } from './suites.ts';

/** Default largest frame payload: 1 MiB, above a 4K video keyframe at ordinary bitrates. */
export const DEFAULT_SFRAME_MAX_FRAME_BYTES = 1024 * 1024;
/** Default largest metadata (for media, the RTP header with its extensions). */
export const DEFAULT_SFRAME_MAX_METADATA_BYTES = 16 * 1024;
/** Upper bound for `maxFrameBytes`: 64 MiB, far beyond any frame, still bounding memory. */
export const SFRAME_FRAME_BYTES_LIMIT = 64 * 1024 * 1024;
/** The message of the error for a KID that has no key here. The KID is public (it is in the header). */
export const UNKNOWN_KEY_ID_MESSAGE = 'SFrame: unknown key id';

/** Options of an `SFrameContext`. */
export interface SFrameContextOptions {
  /** Cipher suite of every key in this context; default `AES_128_GCM_SHA256_128` (docs/design.md). */
  suite?: SFrameSuiteName;
  /** Crypto backend; default `backend()` at construction. */
  backend?: CryptoBackend;
  /**
   * Largest plaintext `encrypt` accepts, in bytes; `decrypt` refuses an SFrame ciphertext longer than
   * this plus the largest header and the tag, before parsing it. Default 1 MiB.
   */
  maxFrameBytes?: number;
  /** Largest metadata (AAD beyond the header) in bytes, both ways. Default 16 KiB. */
  maxMetadataBytes?: number;
  /** Size of each KID's replay window, in [64, 65536]; default 128. */
  replayWindowSize?: number;
}

/** A decrypted frame and where it came from. */
export interface SFrameDecrypted {
  /** The KID of the header: which sender (and epoch), under sealroom's layout (kid.ts). */
  kid: bigint;
  /** The frame's counter. */
  ctr: bigint;
  plaintext: Uint8Array;
}

interface KeyEntry {
  readonly key: SFrameKey;
  /** The counter the next `encrypt` under this KID uses; 2^64 once exhausted. */
  nextCtr: bigint;
  readonly window: ReplayWindow;
}

function unknownKeyId(): CryptoError {
  // Not DecryptFailed: a missing key is a local state (a key not yet received, an epoch already
  // dropped), and the KID is in cleartext anyway, so saying so leaks nothing.
  return CryptoError.invalidKey(UNKNOWN_KEY_ID_MESSAGE);
}

/**
 * Encrypts and decrypts SFrame ciphertexts for a set of KIDs.
 * @example
 * const ctx = new SFrameContext();
 * await ctx.addKey(kid, baseKey);
 * const frame = await ctx.encrypt(kid, rtpHeader, payload);
 * const { plaintext } = await peer.decrypt(rtpHeader, frame);
 */
export class SFrameContext {
  readonly suite: SFrameSuite;
  readonly maxFrameBytes: number;
  readonly maxMetadataBytes: number;
  readonly replayWindowSize: number;
  readonly #backend: CryptoBackend;
  readonly #keys = new Map<bigint, KeyEntry>();
  /** KIDs whose `addKey` is still deriving, each with a token naming that call: a second add or a
   * remove must see them, and an add cancelled by a remove must not install its key later. */
  readonly #pending = new Map<bigint, symbol>();
  /** AAD and nonce buffers of `encryptSync` and `decryptSync`, reused frame after frame (neither yields). */
  readonly #scratch: SFrameScratch = { aad: new Uint8Array(64), nonce: new Uint8Array(12) };

  constructor(options: SFrameContextOptions = {}) {
    this.suite = sframeSuite(options.suite ?? DEFAULT_SFRAME_SUITE);
    this.#backend = options.backend ?? defaultBackend();
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_SFRAME_MAX_FRAME_BYTES;
    assertInt('maxFrameBytes', this.maxFrameBytes, 0, SFRAME_FRAME_BYTES_LIMIT);
    this.maxMetadataBytes = options.maxMetadataBytes ?? DEFAULT_SFRAME_MAX_METADATA_BYTES;
    assertInt('maxMetadataBytes', this.maxMetadataBytes, 0, SFRAME_FRAME_BYTES_LIMIT);
    this.replayWindowSize = options.replayWindowSize ?? DEFAULT_REPLAY_WINDOW_SIZE;
    // Validates the size once here rather than on the first key.
    new ReplayWindow({ size: this.replayWindowSize });
  }

  /**
   * Derives and stores the key for `kid` from `baseKey` (RFC 9605 section 4.4.2). Refuses a KID that is
   * already present: replacing it would restart its send counter at 0 and repeat nonces. Removing and
   * re-adding a KID also restarts the counter, so a sender must never re-add a (KID, base key) pair it
   * has sent with; sealroom's KIDs carry random session bits for exactly this (kid.ts).
   */
  async addKey(kid: bigint, baseKey: Uint8Array): Promise<void> {
    assertU64('kid', kid);
    assertBytes('baseKey', baseKey);
    if (this.#keys.has(kid) || this.#pending.has(kid)) {
      throw CryptoError.invalidArgument('"kid" is already in this SFrame context; remove it first');
    }
    const token = Symbol('addKey');
    this.#pending.set(kid, token);
    let key: SFrameKey;
    try {
      key = await createSFrameKey(this.suite, baseKey, kid, this.#backend);
    } catch (error) {
      if (this.#pending.get(kid) === token) this.#pending.delete(kid);
      throw error;
    }
    // A removeKey during the derivation cancelled this add (and a later addKey may own the KID now).
    if (this.#pending.get(kid) !== token) return;
    this.#pending.delete(kid);
    this.#keys.set(kid, { key, nextCtr: 0n, window: new ReplayWindow({ size: this.replayWindowSize }) });
  }

  /** Forgets the key, counter and replay window of `kid`. Returns whether there was one. */
  removeKey(kid: bigint): boolean {
    assertU64('kid', kid);
    const pending = this.#pending.delete(kid);
    return this.#keys.delete(kid) || pending;
  }

  /** Whether a key for `kid` is ready. */
  hasKey(kid: bigint): boolean {
    return this.#keys.has(kid);
  }

  /** The KIDs that have a key, in insertion order. */
  kids(): bigint[] {
    return [...this.#keys.keys()];
  }

  /**
   * Encrypts one frame under `kid` with that KID's next counter and returns the SFrame ciphertext,
   * header || ct || tag. Throws `LimitExceeded` once the counter space (2^64 frames) is used up, and
   * for a plaintext over `maxFrameBytes` or metadata over `maxMetadataBytes`.
   */
  async encrypt(kid: bigint, metadata: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    assertU64('kid', kid);
    assertMaxBytes('metadata', metadata, this.maxMetadataBytes);
    assertMaxBytes('plaintext', plaintext, this.maxFrameBytes);
    const entry = this.#keys.get(kid);
    if (entry === undefined) throw unknownKeyId();
    const ctr = entry.nextCtr;
    if (ctr > SFRAME_MAX_U64) {
      throw CryptoError.limitExceeded('SFrame: the counter of this key id is exhausted (2^64 frames); use a new key id');
    }
    // Reserved before any await: concurrent encrypts never share a counter.
    entry.nextCtr = ctr + 1n;
    return encryptSFrame(entry.key, ctr, metadata, plaintext);
  }

  /**
   * `encrypt` without a promise, where the KID's AEAD encrypts synchronously (the node backend's AES-GCM
   * suites): the same checks, errors, counter and bytes. Returns undefined, having used no counter, for
   * a KID whose key is async only (WebCrypto): use `encrypt` for it. With `headroom`, the frame is a
   * view that starts that many bytes into its buffer, and those bytes are the caller's (a transport
   * header goes there without another copy). Lets a sender send a frame in the call that made it.
   */
  encryptSync(kid: bigint, metadata: Uint8Array, plaintext: Uint8Array, headroom = 0): Uint8Array | undefined {
    assertU64('kid', kid);
    assertMaxBytes('metadata', metadata, this.maxMetadataBytes);
    assertMaxBytes('plaintext', plaintext, this.maxFrameBytes);
    assertInt('headroom', headroom, 0, SFRAME_FRAME_BYTES_LIMIT);
    const entry = this.#keys.get(kid);
    if (entry === undefined) throw unknownKeyId();
    if (entry.key.aead.sealSync === undefined) return undefined;
    const ctr = entry.nextCtr;
    if (ctr > SFRAME_MAX_U64) {
      throw CryptoError.limitExceeded('SFrame: the counter of this key id is exhausted (2^64 frames); use a new key id');
    }
    entry.nextCtr = ctr + 1n;
    return sealSFrameSync(entry.key, ctr, metadata, plaintext, this.#scratch, headroom);
  }

  /**
   * Decrypts one SFrame ciphertext. Throws `InvalidArgument` for a malformed header, `InvalidKey` with
   * `UNKNOWN_KEY_ID_MESSAGE` for a KID without a key, `Replay` for a counter seen before or older than
   * the window, `DecryptFailed` for every authentication failure, and `LimitExceeded` for oversized input.
   * The counter is marked as seen only after the frame authenticated.
   */
  async decrypt(metadata: Uint8Array, frame: Uint8Array): Promise<SFrameDecrypted> {
    assertMaxBytes('metadata', metadata, this.maxMetadataBytes);
    assertMaxBytes('frame', frame, this.maxFrameBytes + SFRAME_MAX_HEADER_BYTES + this.suite.tagLength);
    const header = decodeSFrameHeader(frame);
    const entry = this.#keys.get(header.kid);
    if (entry === undefined) throw unknownKeyId();
    entry.window.check(header.ctr);
    const plaintext = await decryptSFrame(entry.key, header, frame, metadata);
    // commit checks again: a copy of this frame may have been accepted while we decrypted.
    entry.window.commit(header.ctr);
    return { kid: header.kid, ctr: header.ctr, plaintext };
  }

  /**
   * `decrypt` without a promise, where the KID's AEAD decrypts synchronously (the node backend's AES-GCM
   * suites): the same checks, in the same order, and the same errors. Returns undefined, having checked
   * and changed nothing, for a KID whose key is async only (WebCrypto): use `decrypt` for it. Lets a
   * receiver handle a frame in the call that delivered it, with no promise or microtask per frame.
   * `header`, when given, must be `decodeSFrameHeader(frame)` (a receiver that parsed it already).
   */
  decryptSync(metadata: Uint8Array, frame: Uint8Array, header?: DecodedSFrameHeader): SFrameDecrypted | undefined {
    assertMaxBytes('metadata', metadata, this.maxMetadataBytes);
    assertMaxBytes('frame', frame, this.maxFrameBytes + SFRAME_MAX_HEADER_BYTES + this.suite.tagLength);
    const parsed = header ?? decodeSFrameHeader(frame);
    const entry = this.#keys.get(parsed.kid);
    if (entry === undefined) throw unknownKeyId();
    if (entry.key.aead.openSync === undefined) return undefined;
    entry.window.check(parsed.ctr);
    const plaintext = openSFrameSync(entry.key, parsed, frame, metadata, this.#scratch);
    entry.window.commit(parsed.ctr);
    return { kid: parsed.kid, ctr: parsed.ctr, plaintext };
  }

  /**
   * Sets the next send counter of `kid`, for tests of the counter limit and for resuming a sender that
   * persisted its counter. Refuses to move it backwards, which would reuse nonces.
   */
  setNextCounter(kid: bigint, next: bigint): void {
    assertU64('kid', kid);
    assertU64('next', next, SFRAME_MAX_U64 + 1n);
    const entry = this.#keys.get(kid);
    if (entry === undefined) throw unknownKeyId();
    if (next < entry.nextCtr) {
      throw CryptoError.invalidArgument(`"next" expected at least the current counter ${entry.nextCtr}, got ${next}`);
    }
    entry.nextCtr = next;
  }
}
