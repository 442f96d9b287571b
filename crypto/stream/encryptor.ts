/**
 * The sending side of a byte stream (format in format.ts; docs/design.md, "Byte streams and text streams").
 *
 * Calls may overlap (the WebCrypto backend then pipelines them): each call takes its chunk index and
 * feeds the content hash synchronously, in call order, and the caller sends chunks in index order.
 *
 * No write may cross a multiple of `checkpointIntervalBytes` (`bytesBeforeCheckpoint` says how much the
 * next may carry), and where a checkpoint is due (`checkpointDue`) the caller seals it (`checkpoint()`)
 * before the next write; the reader refuses a stream that does otherwise. A snapshot of the content
 * hash is asked for as soon as a segment's last byte is written, and signed as soon as it comes; the
 * checkpoint a segment later seals that signature, so `checkpoint()` does not wait for the signer.
 */
import { backend, type AeadKey, type BulkStream, type CryptoBackend } from '../backend/index.ts';
import { assertBytes, assertInt, assertMaxBytes, assertString, concatBytes, utf8, withHeadroom } from '../bytes.ts';
import { CryptoError } from '../errors.ts';
import { ED25519_SEED_LENGTH, ED25519_SIGNATURE_LENGTH } from '../identity.ts';
import { createContentHasher, type ContentHasher } from './content-hasher.ts';
import {
  STREAM_ABORT_REASON_MAX_BYTES,
  STREAM_CHECKPOINT_INTERVAL_BYTES,
  STREAM_CHUNK_MAX_BYTES,
  STREAM_EPOCH_KEY_BYTES,
  STREAM_HEADER_MAX_BYTES,
  STREAM_ID_BYTES,
  STREAM_MAX_CHUNKS,
  checkpointSignatureMessage,
  deriveStreamKeys,
  encodeFinal,
  encodeSignedHeader,
  headerSignatureMessage,
  importStreamKey,
  signatureMessage,
  streamAad,
  streamNonce,
  type ChunkRole,
  type StreamEnding,
} from './format.ts';
import { assertStreamRecipients, encodeKeying, STREAM_SECRET_BYTES, wrapStreamSecret, type StreamRecipients } from './keying.ts';

/** One encrypted chunk: `data` is ciphertext || 16-byte tag; send it with its index and last flag. */
export interface SealedChunk {
  index: number;
  last: boolean;
  data: Uint8Array;
  /**
   * With `frameHeaderBytes`: `data` preceded by that many zero bytes in the same buffer, for the
   * caller's frame header (written in place, the frame sent without another copy of the chunk).
   */
  frame?: Uint8Array;
  /** The final chunk only: the SHA-256 of all the content, as its signature covers it (delivery receipts sign it too). */
  contentHash?: Uint8Array;
}

interface StreamEncryptorCommonOptions {
  /** 16 bytes; random when omitted. Never reuse one with the same epoch key and sender. */
  streamId?: Uint8Array;
  /** The sender's user id: part of the key derivation and of every signed message. */
  senderId: string;
  /** The serialised stream header (topic, name, mime type, size, attributes, timestamp, sender...). */
  header: Uint8Array;
  backend?: CryptoBackend;
  /** Chunks at most, header and final chunk included (default `STREAM_MAX_CHUNKS`; only lower). */
  maxChunks?: number;
  /** Content per segment (default `STREAM_CHECKPOINT_INTERVAL_BYTES`); the reader must use the same. */
  checkpointIntervalBytes?: number;
  /** Room before each chunk's bytes for a frame header (`SealedChunk.frame`), at most 64; default 0. */
  frameHeaderBytes?: number;
}

/** Signs a message with the sender's Ed25519 key, returning the 64-byte signature. */
export type StreamSigner = (message: Uint8Array) => Promise<Uint8Array>;

/**
 * Who can read the stream: give `epochKey` (the room's current epoch key, 32 bytes) for a stream every
 * member reads, or `recipients` for a stream only they read (its key is random and wrapped to each).
 */
export type StreamKeyOptions = { epochKey: Uint8Array; recipients?: never } | { recipients: StreamRecipients; epochKey?: never };

/**
 * The sender's key signs the header, the checkpoints and the final chunk. Give either its Ed25519 seed
 * (32 bytes, kept by reference until then) or `sign`, a function that signs with it, for a caller that
 * keeps its seed to itself.
 */
export type StreamEncryptorOptions = StreamEncryptorCommonOptions &
  StreamKeyOptions &
  ({ senderSeed: Uint8Array; sign?: never } | { sign: StreamSigner; senderSeed?: never });

export interface StreamEncryptor {
  readonly streamId: Uint8Array;
  /** Chunk 0: the keying prefix and the signed, encrypted header. Must come first, once. */
  header(): Promise<SealedChunk>;
  /**
   * A data chunk of at most `STREAM_CHUNK_MAX_BYTES` and at most `bytesBeforeCheckpoint` (larger is
   * `LimitExceeded`; a write while `checkpointDue` is `InvalidArgument`). `bytes` must stay unchanged
   * until the promise settles.
   */
  write(bytes: Uint8Array): Promise<SealedChunk>;
  /** True at the end of a segment from the second on: `checkpoint()` must come before the next write. */
  readonly checkpointDue: boolean;
  /** Content bytes the next write may carry: up to the end of the segment (0 while a checkpoint is due). */
  readonly bytesBeforeCheckpoint: number;
  /** The signed checkpoint over the content up to the previous segment's end. Only while `checkpointDue`. */
  checkpoint(): Promise<SealedChunk>;
  /** The final chunk of a stream that ended normally, signed. No call may follow. */
  close(): Promise<SealedChunk>;
  /** The final chunk of an aborted stream, carrying the sender's reason (UTF-8), signed. */
  abort(reason: string): Promise<SealedChunk>;
  /** Drops the stream's key and hash state now (a stream given up before its final chunk); later calls fail. */
  dispose(): void;
}

type State = 'new' | 'open' | 'closed';

/** `frameHeaderBytes` at most: room for any frame header, not a way to make buffers grow. */
const FRAME_HEADER_MAX_BYTES = 64;

class Encryptor implements StreamEncryptor {
  readonly streamId: Uint8Array;
  private readonly b: CryptoBackend;
  private readonly senderId: string;
  private readonly sign: StreamSigner;
  private readonly headerBytes: Uint8Array;
  private readonly headerHash: Uint8Array;
  private readonly binding: Uint8Array;
  private readonly maxChunks: number;
  private readonly interval: number;
  private readonly headroom: number;
  /** The keying prefix of chunk 0 (a private stream's wraps take a moment). */
  private readonly keying: Promise<Uint8Array>;
  /** On this thread (no bulk thread): the content hash, and the key (`aead`, once imported). */
  private readonly hasher: ContentHasher | undefined;
  /** The backend's bulk thread holds the key and the content hash (backend/bulk-thread.ts). */
  private readonly bulk: BulkStream | undefined;
  /** The signed snapshot of the content hash at the last segment end, and the one before (what a checkpoint seals). */
  private signedSnapshot: Promise<Uint8Array> | undefined;
  private previousSignedSnapshot: Promise<Uint8Array> | undefined;
  private readonly aeadReady: Promise<AeadKey> | undefined;
  private aead: AeadKey | undefined;
  private state: State = 'new';
  private nextIndex = 0;
  private contentBytes = 0;
  /** Content bytes at the last segment end, and at the last checkpoint. */
  private segmentEndBytes = 0;
  private checkpointedBytes = 0;

  constructor(options: StreamEncryptorOptions) {
    const { epochKey, recipients, senderId, senderSeed, sign, header } = options;
    if (recipients === undefined) assertBytes('epochKey', epochKey, STREAM_EPOCH_KEY_BYTES);
    else if (epochKey !== undefined) throw CryptoError.invalidArgument('"recipients" expected instead of "epochKey", not with it');
    else assertStreamRecipients(recipients);
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
    this.interval = options.checkpointIntervalBytes ?? STREAM_CHECKPOINT_INTERVAL_BYTES;
    assertInt('checkpointIntervalBytes', this.interval, 1, Number.MAX_SAFE_INTEGER);
    this.headroom = options.frameHeaderBytes ?? 0;
    assertInt('frameHeaderBytes', this.headroom, 0, FRAME_HEADER_MAX_BYTES);
    this.streamId = (options.streamId ?? this.b.randomBytes(STREAM_ID_BYTES)).slice();
    this.senderId = senderId;
    this.sign = sign ?? ((message) => b.ed25519Sign(senderSeed!, message));
    this.headerBytes = header.slice();
    this.headerHash = this.b.hash('sha256', this.headerBytes);
    let key: Uint8Array;
    if (recipients === undefined) {
      ({ key, binding: this.binding } = deriveStreamKeys(epochKey!, this.streamId, senderId, this.b));
      this.keying = Promise.resolve(encodeKeying({ kind: 'room' }));
    } else {
      // A private stream: its own random secret, wrapped to each recipient and then forgotten.
      const secret = this.b.randomBytes(STREAM_SECRET_BYTES);
      ({ key, binding: this.binding } = deriveStreamKeys(secret, this.streamId, senderId, this.b));
      const context = { roomId: recipients.roomId, streamId: this.streamId, senderId };
      this.keying = wrapStreamSecret(secret, context, recipients.list, this.b).finally(() => secret.fill(0));
      this.keying.catch(() => undefined);
    }
    if (this.b.bulk !== undefined) {
      this.bulk = this.b.bulk.stream(key);
      key.fill(0);
      return;
    }
    this.hasher = createContentHasher({ backend: this.b });
    this.aeadReady = importStreamKey(key, this.b);
    this.aeadReady.then(
      (aead) => (this.aead = aead),
      () => undefined,
    );
  }

  get checkpointDue(): boolean {
    return this.contentBytes >= 2 * this.interval && this.contentBytes > this.checkpointedBytes && this.contentBytes % this.interval === 0;
  }

  get bytesBeforeCheckpoint(): number {
    return this.checkpointDue ? 0 : this.interval - (this.contentBytes % this.interval);
  }

  private claim(call: string, last: boolean): number {
    if (this.state === 'closed') throw CryptoError.invalidArgument(`stream encryptor: ${call}() after close() or abort()`);
    if (call === 'header') {
      if (this.state !== 'new') throw CryptoError.invalidArgument('stream encryptor: header() called twice');
      this.state = 'open';
    } else if (this.state === 'new') {
      throw CryptoError.invalidArgument(`stream encryptor: ${call}() before header()`);
    }
    // The final chunk may take the last index; other chunks must leave it free.
    const limit = last ? this.maxChunks : this.maxChunks - 1;
    if (this.nextIndex >= limit) {
      throw CryptoError.limitExceeded(`stream encryptor: a stream has at most ${this.maxChunks} chunks`);
    }
    if (last) this.state = 'closed';
    return this.nextIndex++;
  }

  private async seal(index: number, role: ChunkRole, plaintext: Uint8Array): Promise<SealedChunk> {
    const nonce = streamNonce(index);
    const aad = streamAad(this.streamId, index, role);
    if (this.bulk !== undefined) return this.sealed(index, role === 'final', await this.bulk.seal(nonce, plaintext, aad, this.headroom, false));
    const aead = this.aead ?? (await this.aeadReady!);
    return this.sealed(index, role === 'final', await aead.seal(nonce, plaintext, aad, this.headroom));
  }

  /** The chunk, with its frame when there is headroom (`data` then starts `headroom` bytes into its buffer). */
  private sealed(index: number, last: boolean, data: Uint8Array): SealedChunk {
    if (this.headroom === 0) return { index, last, data };
    return { index, last, data, frame: new Uint8Array(data.buffer, data.byteOffset - this.headroom, data.length + this.headroom) };
  }

  async header(): Promise<SealedChunk> {
    const index = this.claim('header', false);
    const keying = await this.keying;
    const message = headerSignatureMessage({ streamId: this.streamId, senderId: this.senderId, binding: this.binding, keying, header: this.headerBytes });
    const signature = await this.sign(message);
    assertBytes('signature', signature, ED25519_SIGNATURE_LENGTH);
    const sealed = await this.seal(index, 'header', encodeSignedHeader(signature, this.headerBytes));
    return this.sealed(index, false, withHeadroom(concatBytes(keying, sealed.data), this.headroom));
  }

  async write(bytes: Uint8Array): Promise<SealedChunk> {
    assertMaxBytes('bytes', bytes, STREAM_CHUNK_MAX_BYTES);
    if (this.checkpointDue) throw CryptoError.invalidArgument('stream encryptor: write() while a checkpoint is due; call checkpoint() first');
    if (bytes.length > this.bytesBeforeCheckpoint) {
      throw CryptoError.limitExceeded(`"bytes" expected at most ${this.bytesBeforeCheckpoint} bytes before the next checkpoint, got ${bytes.length}`);
    }
    const index = this.claim('write', false);
    // Index and hash are taken before the first await, so overlapping calls stay in call order (on the
    // bulk thread, the chunk is hashed there, and a segment's snapshot asked right behind it).
    const threaded = this.bulk?.seal(streamNonce(index), bytes, streamAad(this.streamId, index, 'data'), this.headroom, true);
    this.hasher?.update(bytes);
    this.contentBytes += bytes.length;
    if (this.contentBytes % this.interval === 0 && this.contentBytes > this.segmentEndBytes) this.endSegment();
    if (threaded !== undefined) return this.sealed(index, false, await threaded);
    const aead = this.aead;
    if (aead !== undefined) {
      // The common case, with a single await: per-chunk promise overhead is a measurable share at 16 KiB.
      return this.sealed(index, false, await aead.seal(streamNonce(index), bytes, streamAad(this.streamId, index, 'data'), this.headroom));
    }
    return this.seal(index, 'data', bytes);
  }

  async checkpoint(): Promise<SealedChunk> {
    if (!this.checkpointDue) throw CryptoError.invalidArgument('stream encryptor: checkpoint() while none is due');
    const index = this.claim('checkpoint', false);
    this.checkpointedBytes = this.contentBytes;
    // Asked for and signed a segment ago: ready by now (checkpointDue implies two segment ends).
    const signature = await this.previousSignedSnapshot!;
    return this.seal(index, 'checkpoint', signature);
  }

  /**
   * A segment ended (synchronously, in write order): a snapshot of the content hash is asked for now,
   * and signed when it comes, for the checkpoint at the next segment's end.
   */
  private endSegment(): void {
    this.segmentEndBytes = this.contentBytes;
    const contentBytes = this.contentBytes;
    const signed = (this.bulk !== undefined ? this.bulk.snapshot() : this.hasher!.snapshot()).then(async (contentHash) => {
      const message = checkpointSignatureMessage({
        streamId: this.streamId,
        senderId: this.senderId,
        binding: this.binding,
        headerHash: this.headerHash,
        contentHash,
        contentBytes,
      });
      const signature = await this.sign(message);
      assertBytes('signature', signature, ED25519_SIGNATURE_LENGTH);
      return signature;
    });
    // A failure surfaces where the signature is awaited (the next checkpoint).
    signed.catch(() => undefined);
    this.previousSignedSnapshot = this.signedSnapshot;
    this.signedSnapshot = signed;
  }

  async close(): Promise<SealedChunk> {
    return this.finish('end', new Uint8Array(0), 'close');
  }

  async abort(reason: string): Promise<SealedChunk> {
    if (typeof reason !== 'string') throw CryptoError.invalidArgument(`"reason" expected a string, got ${typeof reason}`);
    const reasonBytes = utf8(reason);
    if (reasonBytes.length > STREAM_ABORT_REASON_MAX_BYTES) {
      throw CryptoError.limitExceeded(`"reason" expected at most ${STREAM_ABORT_REASON_MAX_BYTES} UTF-8 bytes, got ${reasonBytes.length}`);
    }
    return this.finish('abort', reasonBytes, 'abort');
  }

  private async finish(ending: StreamEnding, reason: Uint8Array, call: string): Promise<SealedChunk> {
    const index = this.claim(call, true);
    const contentBytes = this.contentBytes;
    const contentHash = await (this.bulk !== undefined ? this.bulk.digest() : this.hasher!.digest());
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
    const sealed = await this.seal(index, 'final', encodeFinal(ending, signature, reason));
    this.bulk?.close();
    return { ...sealed, contentHash };
  }

  dispose(): void {
    this.state = 'closed';
    this.hasher?.cancel();
    this.bulk?.close();
  }
}

/**
 * Starts encrypting one byte stream: derive a fresh key for (epoch key or a random secret, stream id,
 * sender), then the signed header, data chunks with checkpoints, and a signed final chunk.
 * @example
 * const enc = createStreamEncryptor({ epochKey, senderId: 'alice', senderSeed, header: headerBytes });
 * send(enc.streamId, await enc.header());
 * for (const piece of pieces) {
 *   if (enc.checkpointDue) send(enc.streamId, await enc.checkpoint());
 *   send(enc.streamId, await enc.write(piece)); // pieces cut at enc.bytesBeforeCheckpoint
 * }
 * send(enc.streamId, await enc.close()); // or await enc.abort('cancelled by user')
 */
export function createStreamEncryptor(options: StreamEncryptorOptions): StreamEncryptor {
  return new Encryptor(options);
}
