/**
 * The sending side of a byte stream (format in format.ts; DESIGN.md, "Byte streams and text streams").
 *
 * Calls may overlap (the WebCrypto backend then pipelines them): each call takes its chunk index and
 * feeds the content hash synchronously, in call order, and the caller sends chunks in index order.
 */
import { backend, type AeadKey, type CryptoBackend } from '../backend/index.ts';
import { assertBytes, assertInt, assertMaxBytes, assertString, utf8 } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { ED25519_SEED_LENGTH, ED25519_SIGNATURE_LENGTH } from '../identity.ts';
import { createContentHasher, type ContentHasher } from './content-hasher.ts';
import {
  STREAM_ABORT_REASON_MAX_BYTES,
  STREAM_CHUNK_MAX_BYTES,
  STREAM_EPOCH_KEY_BYTES,
  STREAM_HEADER_MAX_BYTES,
  STREAM_ID_BYTES,
  STREAM_MAX_CHUNKS,
  deriveStreamKeys,
  importStreamKey,
  encodeFinal,
  signatureMessage,
  streamAad,
  streamNonce,
  type StreamEnding,
} from './format.ts';

/** One encrypted chunk: `data` is ciphertext || 16-byte tag; send it with its index and last flag. */
export interface SealedChunk {
  index: number;
  last: boolean;
  data: Uint8Array;
}

interface StreamEncryptorCommonOptions {
  /** The room's current epoch key (32 bytes). */
  epochKey: Uint8Array;
  /** 16 bytes; random when omitted. Never reuse one with the same epoch key and sender. */
  streamId?: Uint8Array;
  /** The sender's user id: part of the key derivation and of the signed message. */
  senderId: string;
  /** The serialised stream header (topic, name, mime type, size, attributes, timestamp, sender). */
  header: Uint8Array;
  backend?: CryptoBackend;
  /** Chunks at most, header and final chunk included (default `STREAM_MAX_CHUNKS`; only lower). */
  maxChunks?: number;
}

/** Signs a message with the sender's Ed25519 key, returning the 64-byte signature. */
export type StreamSigner = (message: Uint8Array) => Promise<Uint8Array>;

/**
 * The sender's key signs the final chunk. Give either its Ed25519 seed (32 bytes, kept by reference
 * until then) or `sign`, a function that signs with it, for a caller that keeps its seed to itself.
 */
export type StreamEncryptorOptions = StreamEncryptorCommonOptions &
  ({ senderSeed: Uint8Array; sign?: never } | { sign: StreamSigner; senderSeed?: never });

export interface StreamEncryptor {
  readonly streamId: Uint8Array;
  /** Chunk 0, the encrypted header. Must come first, once. */
  header(): Promise<SealedChunk>;
  /**
   * A data chunk of at most `STREAM_CHUNK_MAX_BYTES` (larger is `LimitExceeded`). `bytes` must stay
   * unchanged until the promise settles; the promise also waits when the hash worker is behind.
   */
  write(bytes: Uint8Array): Promise<SealedChunk>;
  /** The final chunk of a stream that ended normally, signed. No call may follow. */
  close(): Promise<SealedChunk>;
  /** The final chunk of an aborted stream, carrying the sender's reason (UTF-8), signed. */
  abort(reason: string): Promise<SealedChunk>;
}

type State = 'new' | 'open' | 'closed';

class Encryptor implements StreamEncryptor {
  readonly streamId: Uint8Array;
  private readonly b: CryptoBackend;
  private readonly senderId: string;
  private readonly sign: StreamSigner;
  private readonly headerBytes: Uint8Array;
  private readonly headerHash: Uint8Array;
  private readonly binding: Uint8Array;
  private readonly maxChunks: number;
  private readonly hasher: ContentHasher;
  private readonly aeadReady: Promise<AeadKey>;
  private aead: AeadKey | undefined;
  private state: State = 'new';
  private nextIndex = 0;
  private contentBytes = 0;

  constructor(options: StreamEncryptorOptions) {
    const { epochKey, senderId, senderSeed, sign, header } = options;
    assertBytes('epochKey', epochKey, STREAM_EPOCH_KEY_BYTES);
    assertString('senderId', senderId);
    if (sign === undefined) assertBytes('senderSeed', senderSeed, ED25519_SEED_LENGTH);
    else if (typeof sign !== 'function' || senderSeed !== undefined) {
      throw CryptoError.invalidArgument('"sign" expected a function, given instead of "senderSeed"');
    }
    assertMaxBytes('header', header, STREAM_HEADER_MAX_BYTES);
    const b = (this.b = options.backend ?? backend());
    if (options.streamId !== undefined) assertBytes('streamId', options.streamId, STREAM_ID_BYTES);
    this.maxChunks = options.maxChunks ?? STREAM_MAX_CHUNKS;
    assertInt('maxChunks', this.maxChunks, 2, STREAM_MAX_CHUNKS);
    this.streamId = (options.streamId ?? this.b.randomBytes(STREAM_ID_BYTES)).slice();
    this.senderId = senderId;
    this.sign = sign ?? ((message) => b.ed25519Sign(senderSeed!, message));
    this.headerBytes = header.slice();
    this.headerHash = this.b.hash('sha256', this.headerBytes);
    const { key, binding } = deriveStreamKeys(epochKey, this.streamId, senderId, this.b);
    this.binding = binding;
    this.hasher = createContentHasher({ backend: this.b });
    this.aeadReady = importStreamKey(key, this.b);
    this.aeadReady.then((aead) => (this.aead = aead), () => undefined);
  }

  private claim(call: string, last: boolean): number {
    if (this.state === 'closed') throw CryptoError.invalidArgument(`stream encryptor: ${call}() after close() or abort()`);
    if (call === 'header') {
      if (this.state !== 'new') throw CryptoError.invalidArgument('stream encryptor: header() called twice');
      this.state = 'open';
    } else if (this.state === 'new') {
      throw CryptoError.invalidArgument(`stream encryptor: ${call}() before header()`);
    }
    // The final chunk may take the last index; data chunks must leave it free.
    const limit = last ? this.maxChunks : this.maxChunks - 1;
    if (this.nextIndex >= limit) {
      throw CryptoError.limitExceeded(`stream encryptor: a stream has at most ${this.maxChunks} chunks`);
    }
    if (last) this.state = 'closed';
    return this.nextIndex++;
  }

  private async seal(index: number, last: boolean, plaintext: Uint8Array): Promise<SealedChunk> {
    const aead = this.aead ?? (await this.aeadReady);
    return { index, last, data: await aead.seal(streamNonce(index), plaintext, streamAad(this.streamId, index, last)) };
  }

  async header(): Promise<SealedChunk> {
    const index = this.claim('header', false);
    return this.seal(index, false, this.headerBytes);
  }

  async write(bytes: Uint8Array): Promise<SealedChunk> {
    assertMaxBytes('bytes', bytes, STREAM_CHUNK_MAX_BYTES);
    const index = this.claim('write', false);
    // Index and hash are taken before the first await, so overlapping calls stay in call order.
    const hashed = this.hasher.update(bytes);
    this.contentBytes += bytes.length;
    const aead = this.aead;
    if (aead !== undefined && hashed === undefined) {
      // The common case, with a single await: per-chunk promise overhead is a measurable share at 16 KiB.
      return { index, last: false, data: await aead.seal(streamNonce(index), bytes, streamAad(this.streamId, index, false)) };
    }
    const sealed = this.seal(index, false, bytes);
    if (hashed !== undefined) {
      // A seal failure must not count as unhandled while the hash wait is pending; it is returned below.
      sealed.catch(() => undefined);
      await hashed;
    }
    return sealed;
  }

  async close(): Promise<SealedChunk> {
    return this.finish('end', new Uint8Array(0), 'close');
  }

  async abort(reason: string): Promise<SealedChunk> {
    if (typeof reason !== 'string') throw CryptoError.invalidArgument(`"reason" expected a string, got ${typeof reason}`);
    const reasonBytes = utf8(reason);
    if (reasonBytes.length > STREAM_ABORT_REASON_MAX_BYTES) {
      throw CryptoError.limitExceeded(
        `"reason" expected at most ${STREAM_ABORT_REASON_MAX_BYTES} UTF-8 bytes, got ${reasonBytes.length}`,
      );
    }
    return this.finish('abort', reasonBytes, 'abort');
  }

  private async finish(ending: StreamEnding, reason: Uint8Array, call: string): Promise<SealedChunk> {
    const index = this.claim(call, true);
    const contentBytes = this.contentBytes;
    const contentHash = await this.hasher.digest();
    const message = signatureMessage({
      streamId: this.streamId,
      senderId: this.senderId,
      binding: this.binding,
      headerHash: this.headerHash,
      contentHash,
      contentBytes,
      ending,
      reason,
    });
    const signature = await this.sign(message);
    assertBytes('signature', signature, ED25519_SIGNATURE_LENGTH);
    return this.seal(index, true, encodeFinal(ending, signature, reason));
  }
}

/**
 * Starts encrypting one byte stream: derive a fresh key for (epoch key, stream id, sender), then
 * header, data chunks and a signed final chunk.
 * @example
 * const enc = createStreamEncryptor({ epochKey, senderId: 'alice', senderSeed, header: headerBytes });
 * send(enc.streamId, await enc.header());
 * for (const piece of pieces) send(enc.streamId, await enc.write(piece));
 * send(enc.streamId, await enc.close()); // or await enc.abort('cancelled by user')
 */
export function createStreamEncryptor(options: StreamEncryptorOptions): StreamEncryptor {
  return new Encryptor(options);
}
