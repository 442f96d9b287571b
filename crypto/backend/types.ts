/**
 * The primitives sealroom's formats are built from, behind one interface with three implementations:
 *
 * - `node` (node:crypto, OpenSSL): the fast path in Node. Bulk AES-GCM, X25519 and Ed25519 are native.
 * - `web` (WebCrypto, with libsodium-wrappers for what a browser lacks): the fast path in browsers.
 * - `js` (@noble): the audited pure-JS reference. Tests cross-check the other two against it; it is
 *   never the hot path (docs/design.md, "Measured facts").
 *
 * Bulk operations are async because WebCrypto is; the node backend runs them synchronously inside.
 * Hashes and HMAC over small inputs are sync everywhere (noble in browsers, where WebCrypto has no sync
 * or incremental digest).
 */

/** An AEAD key imported once and used for many messages. Output of `seal` is ciphertext || 16-byte tag. */
export interface AeadKey {
  /**
   * With `headroom` (default 0), the output is a view that starts `headroom` bytes into its buffer, and
   * those bytes (zeroed) are the caller's: a frame header written there sends the sealed bytes without
   * copying them again (the node backend writes ciphertext and tag straight after the room).
   */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, headroom?: number): Promise<Uint8Array>;
  /** Rejects with `CryptoError` reason `DecryptFailed` when authentication fails. */
  open(nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /**
   * `open` without a promise, where the backend decrypts synchronously (node:crypto); absent elsewhere
   * (WebCrypto is async only). Throws `CryptoError` reason `DecryptFailed` when authentication fails.
   * Per-message paths (data-track frames) use it to run without a microtask per message.
   */
  openSync?(nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array;
  /**
   * `seal` without a promise, where the backend encrypts synchronously (node:crypto); absent elsewhere.
   * The same output, `headroom` included. Per-message paths (data-track frames) use it to send a
   * message in the call that made it.
   */
  sealSync?(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, headroom?: number): Uint8Array;
}

/** Incremental hash. `digest()` may be called once; `snapshot()` (the digest so far, the hash going on) any time before. */
export interface IncrementalHash {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
  snapshot(): Uint8Array;
}

export type HashName = 'sha256' | 'sha512';

export interface X25519KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * Byte-stream chunk work away from the caller's thread: AES-256-GCM under a stream's key and the
 * stream's running SHA-256 of content. Only the node backend has it (bulk-thread.ts: a worker at the
 * lowest OS priority), so a busy event loop handles real-time traffic first.
 */
export interface BulkCrypto {
  /** A stream's 32-byte key (copied) and an empty content hash, held on the thread until `close()`. */
  stream(key: Uint8Array): BulkStream;
  /** `CryptoBackend.ed25519Verify`, on the thread: a stream's signatures queue there with its chunks. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean>;
}

/** Calls on one stream are handled in call order. */
export interface BulkStream {
  /**
   * `AeadKey.open`; with `hash`, the plaintext then joins the content hash (only if it authenticated).
   * With `give`, the caller gives `ciphertext`'s whole buffer away (it holds no other view of it and
   * reads none again): it is transferred instead of copied, and the plaintext comes back in it.
   */
  open(nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array, hash: boolean, give?: boolean): Promise<Uint8Array>;
  /** `AeadKey.seal` (with its `headroom`); with `hash`, the plaintext joins the content hash first. */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, headroom: number, hash: boolean): Promise<Uint8Array>;
  /** The content hash over the bytes of every call made before this one; the hash goes on. */
  snapshot(): Promise<Uint8Array>;
  /** The final content hash (once; sealing and opening without `hash` may go on after it). */
  digest(): Promise<Uint8Array>;
  /** Forgets the key and the hash (later calls fail). */
  close(): void;
}

export interface CryptoBackend {
  readonly name: 'node' | 'web' | 'js';

  /** Where present, byte streams do their chunk work here instead of on the calling thread. */
  readonly bulk?: BulkCrypto;

  randomBytes(length: number): Uint8Array;

  hash(name: HashName, data: Uint8Array): Uint8Array;
  createHash(name: HashName): IncrementalHash;
  hmac(name: HashName, key: Uint8Array, data: Uint8Array): Uint8Array;

  /** AES-GCM with a 16- or 32-byte key, 12-byte nonce and 16-byte tag. */
  aesGcm(key: Uint8Array): Promise<AeadKey>;
  /** ChaCha20-Poly1305 (RFC 8439), 32-byte key, 12-byte nonce, 16-byte tag. */
  chacha20Poly1305(key: Uint8Array): Promise<AeadKey>;
  /** AES-CTR with a 16-byte initial counter block, the whole block incrementing (RFC 9605 4.5.1). */
  aesCtr(key: Uint8Array, counterBlock: Uint8Array, data: Uint8Array): Promise<Uint8Array>;

  x25519Generate(): Promise<X25519KeyPair>;
  x25519PublicKey(secretKey: Uint8Array): Promise<Uint8Array>;
  /** Rejects a low-order peer key (all-zero shared secret), as RFC 7748 section 6.1 and RFC 9180 require. */
  x25519(secretKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array>;

  /** The 32-byte Ed25519 public key of a 32-byte seed. */
  ed25519PublicKey(seed: Uint8Array): Promise<Uint8Array>;
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array>;
  /**
   * Ed25519 verification under sealroom's one rule (docs/security/ed25519.md): `ed25519Precheck` first
   * (S < L; A and R canonical and not of small order), then the cofactorless equation. False, never a
   * throw, for malformed input.
   */
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean>;
}
