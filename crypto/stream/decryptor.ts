/**
 * The receiving side of a byte stream (format in format.ts; DESIGN.md, "Byte streams and text streams").
 *
 * The decryptor counts chunks itself: the relay supplies only the bytes and the last flag, so it cannot
 * choose which index a chunk is opened at. Any integrity failure (altered, reordered, dropped,
 * duplicated or extra chunk, input that ends without a final chunk, wrong key, wrong stream id, a bad
 * or missing signature, a malformed final chunk, an oversized chunk) rejects with one error: a
 * `CryptoError` with reason `DecryptFailed`, the same message and no cause, so it is no oracle. A bad
 * signature deliberately uses the same reason: to a receiver it means the same thing (these bytes did
 * not come intact from that sender), and a distinct error would tell an attacker who holds the room
 * key that its forged chunks passed the AEAD. After a failure every later call fails the same way.
 *
 * Data chunks are returned as they arrive (an online AEAD); the sender's signature over the whole
 * stream is checked at the final chunk, so a reader must treat content as final only once the `end`
 * chunk has opened (a room member other than the sender can forge chunks that pass the AEAD, never
 * the signature).
 */
import { backend, type AeadKey, type CryptoBackend } from '../backend/index.ts';
import { assertBytes, assertInt, assertString, fromUtf8 } from '../bytes.ts';
import { assertEd25519PublicKeyEncoding } from '../ed25519-strict.ts';
import { CryptoError } from '../errors.ts';
import { ED25519_PUBLIC_KEY_LENGTH } from '../identity.ts';
import { createContentHasher, type ContentHasher } from './content-hasher.ts';
import {
  STREAM_EPOCH_KEY_BYTES,
  STREAM_ID_BYTES,
  STREAM_MAX_CHUNKS,
  STREAM_TAG_BYTES,
  chunkRole,
  deriveStreamKeys,
  importStreamKey,
  parseFinal,
  roleMaxPlaintextBytes,
  signatureMessage,
  streamAad,
  streamNonce,
  type ChunkRole,
} from './format.ts';

export type OpenedChunk =
  | { kind: 'header'; index: number; header: Uint8Array }
  | { kind: 'data'; index: number; data: Uint8Array }
  /** The stream ended normally; signature checked over header and all content. */
  | { kind: 'end'; index: number; contentBytes: number }
  /** The sender aborted the stream, with its reason; signature checked. */
  | { kind: 'aborted'; index: number; contentBytes: number; reason: string };

export interface StreamDecryptorOptions {
  epochKey: Uint8Array;
  streamId: Uint8Array;
  /** The sender's user id, as the Bridge reports it (it is part of the key). */
  senderId: string;
  /** The sender's Ed25519 public key, from the room record. */
  senderPublicKey: Uint8Array;
  backend?: CryptoBackend;
  /** Chunks at most, header and final chunk included (default `STREAM_MAX_CHUNKS`). */
  maxChunks?: number;
}

export interface StreamDecryptor {
  /**
   * Opens the next chunk: pass the bytes and the last flag exactly as received. Calls may overlap;
   * they are processed in call order.
   */
  open(data: Uint8Array, last: boolean): Promise<OpenedChunk>;
  /** Call when the input has ended: rejects with `DecryptFailed` unless the final chunk opened. */
  finish(): Promise<void>;
}

class Decryptor implements StreamDecryptor {
  private readonly b: CryptoBackend;
  private readonly streamId: Uint8Array;
  private readonly senderId: string;
  private readonly senderPublicKey: Uint8Array;
  private readonly binding: Uint8Array;
  private readonly maxChunks: number;
  private readonly aeadReady: Promise<AeadKey>;
  private aead: AeadKey | undefined;
  private hasher: ContentHasher | undefined;
  private headerHash: Uint8Array | undefined;
  private nextIndex = 0;
  private contentBytes = 0;
  /** The last flag has been taken: no chunk may follow. */
  private sawLast = false;
  private ended = false;
  private failed = false;
  /** Settles when every chunk opened so far has been processed. */
  private tail: Promise<unknown> | undefined;
  /** Chunks opened and not yet processed; when none, a new chunk need not wait for `tail`. */
  private inFlight = 0;

  constructor(options: StreamDecryptorOptions) {
    const { epochKey, streamId, senderId, senderPublicKey } = options;
    assertBytes('epochKey', epochKey, STREAM_EPOCH_KEY_BYTES);
    assertBytes('streamId', streamId, STREAM_ID_BYTES);
    assertString('senderId', senderId);
    assertBytes('senderPublicKey', senderPublicKey, ED25519_PUBLIC_KEY_LENGTH);
    // No signature verifies for a small-order or non-canonical key (docs/security/ed25519.md): say so now.
    assertEd25519PublicKeyEncoding('senderPublicKey', senderPublicKey);
    this.b = options.backend ?? backend();
    this.maxChunks = options.maxChunks ?? STREAM_MAX_CHUNKS;
    assertInt('maxChunks', this.maxChunks, 2, STREAM_MAX_CHUNKS);
    this.streamId = streamId.slice();
    this.senderId = senderId;
    this.senderPublicKey = senderPublicKey.slice();
    const { key, binding } = deriveStreamKeys(epochKey, this.streamId, senderId, this.b);
    this.binding = binding;
    this.aeadReady = importStreamKey(key, this.b);
    this.aeadReady.then((aead) => (this.aead = aead), () => undefined);
  }

  /** Poisons the decryptor and returns the one integrity error. */
  private fail(): CryptoError {
    if (!this.failed) {
      this.failed = true;
      this.hasher?.cancel();
    }
    return CryptoError.decryptFailed();
  }

  open(data: Uint8Array, last: boolean): Promise<OpenedChunk> {
    try {
      // Wrong types are the caller's bug, not the network's: those name the argument.
      assertBytes('data', data);
      if (typeof last !== 'boolean') throw CryptoError.invalidArgument(`"last" expected a boolean, got ${typeof last}`);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.failed || this.sawLast) return Promise.reject(this.fail());
    const index = this.nextIndex++;
    const role = chunkRole(index, last);
    if (last) this.sawLast = true;
    // A final chunk at index 0 or past the limit, or a chunk longer than its role allows, cannot come
    // from an honest sender; refuse it before spending any work on it.
    if ((last && index === 0) || index >= this.maxChunks || data.length > roleMaxPlaintextBytes(role) + STREAM_TAG_BYTES) {
      return Promise.reject(this.fail());
    }
    const nonce = streamNonce(index);
    const aad = streamAad(this.streamId, index, last);
    const opening = this.aead !== undefined ? this.aead.open(nonce, data, aad) : this.aeadReady.then((a) => a.open(nonce, data, aad));
    // Handled here so that a failure is not reported as unhandled while an earlier chunk is pending.
    opening.catch(() => undefined);
    const prior = this.inFlight > 0 ? this.tail : undefined;
    this.inFlight++;
    const result = this.process(prior, opening, index, role);
    this.tail = result;
    return result;
  }

  private async process(prior: Promise<unknown> | undefined, opening: Promise<Uint8Array>, index: number, role: ChunkRole): Promise<OpenedChunk> {
    try {
      if (prior !== undefined) {
        try {
          await prior;
        } catch {
          // The earlier chunk's failure has poisoned the decryptor; checked below.
        }
      }
      let plaintext: Uint8Array;
      try {
        plaintext = await opening;
      } catch {
        throw this.fail();
      }
      if (this.failed) throw this.fail();
      if (role === 'header') {
        this.headerHash = this.b.hash('sha256', plaintext);
        this.hasher = createContentHasher({ backend: this.b });
        return { kind: 'header', index, header: plaintext };
      }
      const hasher = this.hasher!;
      if (role === 'data') {
        const hashed = hasher.update(plaintext);
        this.contentBytes += plaintext.length;
        if (hashed !== undefined) {
          try {
            await hashed;
          } catch {
            throw this.fail();
          }
        }
        return { kind: 'data', index, data: plaintext };
      }
      return await this.verifyFinal(plaintext, index, hasher);
    } finally {
      this.inFlight--;
    }
  }

  private async verifyFinal(plaintext: Uint8Array, index: number, hasher: ContentHasher): Promise<OpenedChunk> {
    const final = parseFinal(plaintext);
    if (final === undefined) throw this.fail();
    let reason = '';
    let contentHash: Uint8Array;
    try {
      if (final.ending === 'abort') reason = fromUtf8(final.reason);
      contentHash = await hasher.digest();
    } catch {
      throw this.fail();
    }
    const message = signatureMessage({
      streamId: this.streamId,
      senderId: this.senderId,
      binding: this.binding,
      headerHash: this.headerHash!,
      contentHash,
      contentBytes: this.contentBytes,
      ending: final.ending,
      reason: final.reason,
    });
    if (!(await this.b.ed25519Verify(final.signature, message, this.senderPublicKey))) throw this.fail();
    if (this.failed) throw this.fail();
    this.ended = true;
    const contentBytes = this.contentBytes;
    return final.ending === 'end' ? { kind: 'end', index, contentBytes } : { kind: 'aborted', index, contentBytes, reason };
  }

  async finish(): Promise<void> {
    if (this.tail !== undefined) await this.tail.catch(() => undefined);
    if (!this.ended) throw this.fail();
  }
}

/**
 * Starts decrypting one byte stream from one sender.
 * @example
 * const dec = createStreamDecryptor({ epochKey, streamId, senderId: 'alice', senderPublicKey });
 * for await (const { data, last } of incoming) {
 *   const chunk = await dec.open(data, last);
 *   if (chunk.kind === 'data') reader.push(chunk.data);
 *   else if (chunk.kind === 'aborted') reader.fail(chunk.reason);
 * }
 * await dec.finish(); // throws DecryptFailed if the stream was cut short
 */
export function createStreamDecryptor(options: StreamDecryptorOptions): StreamDecryptor {
  return new Decryptor(options);
}
