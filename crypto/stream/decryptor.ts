/**
 * The receiving side of a byte stream (format in format.ts; docs/design.md, "Byte streams and text streams").
 *
 * The decryptor counts chunks itself: the relay supplies only the bytes and the last flag, so it cannot
 * choose which index a chunk is opened at, nor which role (header, data, checkpoint, final) it plays.
 * Any integrity failure (altered, reordered, dropped, duplicated or extra chunk, input that ends without
 * a final chunk, wrong key, wrong stream id, a bad or missing signature, a malformed keying prefix or
 * final chunk, an oversized chunk, a data chunk across a checkpoint, a private stream with no wrap for
 * this reader) rejects with one error: a `CryptoError` with reason `DecryptFailed`, the same message
 * and no cause, so it is no oracle. A bad signature deliberately uses the same reason: to a receiver it
 * means the same thing (these bytes did not come intact from that sender), and a distinct error would
 * tell an attacker who holds the room key that its forged chunks passed the AEAD. After a failure
 * every later call fails the same way.
 *
 * What is authenticated when:
 * - the header is returned only once the sender's header signature verified (stream id, sender,
 *   recipients, header): a room member cannot open a stream in another member's name;
 * - data chunks are returned as they arrive (an online AEAD). A room member other than the sender can
 *   forge chunks that pass the AEAD, never a signature: the next checkpoint fails then, so a reader
 *   gets at most `STREAM_UNSIGNED_MAX_BYTES` of content that no signature covers; it must treat
 *   content as final only once the `end` chunk has opened.
 */
import { backend, type BulkStream, type CryptoBackend } from '../backend/index.ts';
import { assertBytes, assertInt, assertString, fromUtf8 } from '../bytes.ts';
import { assertEd25519PublicKeyEncoding } from '../ed25519-strict.ts';
import { CryptoError } from '../errors.ts';
import { ED25519_PUBLIC_KEY_LENGTH } from '../identity.ts';
import { createContentHasher, type ContentHasher } from './content-hasher.ts';
import {
  STREAM_CHECKPOINT_INTERVAL_BYTES,
  STREAM_EPOCH_KEY_BYTES,
  STREAM_ID_BYTES,
  STREAM_MAX_CHUNKS,
  STREAM_SIGNATURE_BYTES,
  STREAM_TAG_BYTES,
  checkpointSignatureMessage,
  deriveStreamKeys,
  headerSignatureMessage,
  importStreamKey,
  parseFinal,
  roleMaxPlaintextBytes,
  signatureMessage,
  streamAad,
  streamNonce,
  type ChunkRole,
} from './format.ts';
import { parseKeying, STREAM_KEYING_MAX_BYTES, type StreamKeying, type UnwrapStreamSecretParams } from './keying.ts';

export type OpenedChunk =
  /** The header, its signature checked; `recipients` is empty for a room stream. */
  | { kind: 'header'; index: number; header: Uint8Array; recipients: string[] }
  | { kind: 'data'; index: number; data: Uint8Array }
  /** The sender signed the content up to `contentBytes` (one segment before the checkpoint's position). */
  | { kind: 'checkpoint'; index: number; contentBytes: number }
  /** The stream ended normally; signature checked over header and all content (`contentHash`, SHA-256). */
  | { kind: 'end'; index: number; contentBytes: number; contentHash: Uint8Array }
  /** The sender aborted the stream, with its reason; signature checked. */
  | { kind: 'aborted'; index: number; contentBytes: number; reason: string };

/** How this reader opens a private stream: its own id, and an unwrap with its own key. */
export interface StreamReaderKey {
  roomId: string;
  recipientId: string;
  /** `unwrapStreamSecret` (keying.ts) with this reader's seed; a failure to open must be a `CryptoError`. */
  unwrap(params: Omit<UnwrapStreamSecretParams, 'recipientSeed' | 'backend'>): Promise<Uint8Array>;
}

export interface StreamDecryptorOptions {
  /**
   * The key of a room stream: the epoch key the Bridge names (32 bytes), or a function that fetches it
   * when chunk 0 says the stream is a room stream (what it returns is wiped after use). An error it
   * throws that is not a `CryptoError` (no key for that epoch) passes through unchanged.
   */
  epochKey: Uint8Array | (() => Promise<Uint8Array>);
  /** For a private stream: this reader's id and unwrap. Without it, a private stream does not open. */
  reader?: StreamReaderKey;
  streamId: Uint8Array;
  /** The sender's user id, as the Bridge reports it (it is part of the key and of every signature). */
  senderId: string;
  /** The sender's Ed25519 public key, from the room record. */
  senderPublicKey: Uint8Array;
  backend?: CryptoBackend;
  /** Chunks at most, header and final chunk included (default `STREAM_MAX_CHUNKS`). */
  maxChunks?: number;
  /** Content per segment (default `STREAM_CHECKPOINT_INTERVAL_BYTES`); the sender's must match. */
  checkpointIntervalBytes?: number;
}

export interface StreamDecryptor {
  /**
   * Opens the next chunk: pass the bytes and the last flag exactly as received. Calls may overlap;
   * they are processed in call order.
   */
  open(data: Uint8Array, last: boolean, options?: OpenOptions): Promise<OpenedChunk>;
  /** Call when the input has ended: rejects with `DecryptFailed` unless the final chunk opened. */
  finish(): Promise<void>;
  /** Drops the stream's key and hash state now (a stream abandoned before its end); later calls fail. */
  dispose(): void;
}

export interface OpenOptions {
  /**
   * The caller gives `data`'s whole buffer away: it holds no other view of it and reads none again.
   * On the bulk thread (backend/bulk-thread.ts) the buffer is then transferred rather than copied, and
   * the chunk's plaintext comes back in it; elsewhere it changes nothing.
   */
  give?: boolean;
}

/** Opens a chunk; on the bulk thread, a data chunk's plaintext (`hash`) joins the content hash there. */
interface ChunkOpener {
  open(nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array, hash: boolean, give?: boolean): Promise<Uint8Array>;
}

class Decryptor implements StreamDecryptor {
  private readonly b: CryptoBackend;
  private readonly epochKey: Uint8Array | (() => Promise<Uint8Array>);
  private readonly reader: StreamReaderKey | undefined;
  private readonly streamId: Uint8Array;
  private readonly senderId: string;
  private readonly senderPublicKey: Uint8Array;
  private readonly maxChunks: number;
  private readonly interval: number;
  /** Set once chunk 0 named the keying; settles once the stream key is ready. */
  private aeadReady: Promise<ChunkOpener> | undefined;
  private aead: ChunkOpener | undefined;
  /**
   * The backend's bulk thread, when it has one: chunks are opened and the content hashed there
   * (backend/bulk-thread.ts), and `bulk` holds the stream once its key is known. Else both happen
   * here: `aead` opens, `hasher` hashes.
   */
  private readonly threaded: boolean;
  private bulk: BulkStream | undefined;
  /** `seenContent` at the last segment end a snapshot was asked for (threaded). */
  private seenSegmentEnd = 0;
  private binding: Uint8Array | undefined;
  /** An error from fetching the key that is not an integrity failure (it passes through). */
  private keyError: unknown;
  private keying: { bytes: Uint8Array; keying: StreamKeying } | undefined;
  private hasher: ContentHasher | undefined;
  /** Snapshots of the content hash at the last segment end and the one before (what a checkpoint signs). */
  private snapshot: Promise<Uint8Array> | undefined;
  private previousSnapshot: Promise<Uint8Array> | undefined;
  /** Content bytes processed at the last segment end. */
  private segmentEndBytes = 0;
  private headerHash: Uint8Array | undefined;
  private nextIndex = 0;
  /** Content bytes processed (from plaintexts, in order). */
  private contentBytes = 0;
  /** Content bytes announced by the chunks taken so far (from their lengths, at `open` time). */
  private seenContent = 0;
  /** `seenContent` at the last checkpoint taken. */
  private seenCheckpoint = 0;
  /** The last flag has been taken: no chunk may follow. */
  private sawLast = false;
  private ended = false;
  private failed = false;
  /** Settles when every chunk opened so far has been processed. */
  private tail: Promise<unknown> | undefined;
  /** Chunks opened and not yet processed; when none, a new chunk need not wait for `tail`. */
  private inFlight = 0;

  constructor(options: StreamDecryptorOptions) {
    const { epochKey, streamId, senderId, senderPublicKey, reader } = options;
    if (typeof epochKey !== 'function') assertBytes('epochKey', epochKey, STREAM_EPOCH_KEY_BYTES);
    assertBytes('streamId', streamId, STREAM_ID_BYTES);
    assertString('senderId', senderId);
    assertBytes('senderPublicKey', senderPublicKey, ED25519_PUBLIC_KEY_LENGTH);
    // No signature verifies for a small-order or non-canonical key (docs/security/ed25519.md): say so now.
    assertEd25519PublicKeyEncoding('senderPublicKey', senderPublicKey);
    if (reader !== undefined) {
      assertString('reader.roomId', reader.roomId);
      assertString('reader.recipientId', reader.recipientId);
      if (typeof reader.unwrap !== 'function') throw CryptoError.invalidArgument('"reader.unwrap" expected a function');
    }
    this.b = options.backend ?? backend();
    this.threaded = this.b.bulk !== undefined;
    this.maxChunks = options.maxChunks ?? STREAM_MAX_CHUNKS;
    assertInt('maxChunks', this.maxChunks, 2, STREAM_MAX_CHUNKS);
    this.interval = options.checkpointIntervalBytes ?? STREAM_CHECKPOINT_INTERVAL_BYTES;
    assertInt('checkpointIntervalBytes', this.interval, 1, Number.MAX_SAFE_INTEGER);
    this.epochKey = typeof epochKey === 'function' ? epochKey : epochKey.slice();
    this.reader = reader;
    this.streamId = streamId.slice();
    this.senderId = senderId;
    this.senderPublicKey = senderPublicKey.slice();
  }

  /** Poisons the decryptor and returns the one integrity error. */
  private fail(): CryptoError {
    if (!this.failed) {
      this.failed = true;
      this.hasher?.cancel();
      this.bulk?.close();
    }
    return CryptoError.decryptFailed();
  }

  /** The role of the next chunk, from its position; also checks its length for that role. */
  private roleOf(index: number, last: boolean, length: number): ChunkRole | undefined {
    // A final chunk at index 0 or past the limit, or a chunk longer than its role allows, cannot come
    // from an honest sender; refuse it before spending any work on it.
    if (last && index === 0) return undefined;
    let role: ChunkRole;
    if (last) role = 'final';
    else if (index === 0) role = 'header';
    else if (this.seenContent >= 2 * this.interval && this.seenContent > this.seenCheckpoint && this.seenContent % this.interval === 0) role = 'checkpoint';
    else role = 'data';
    if (index >= this.maxChunks || length < STREAM_TAG_BYTES || length > roleMaxPlaintextBytes(role) + STREAM_TAG_BYTES) return undefined;
    if (role === 'checkpoint') {
      if (length !== roleMaxPlaintextBytes(role) + STREAM_TAG_BYTES) return undefined;
      this.seenCheckpoint = this.seenContent;
    } else if (role === 'data') {
      const bytes = length - STREAM_TAG_BYTES;
      // Not across a multiple of the interval: the checkpoint there must come between.
      if ((this.seenContent % this.interval) + bytes > this.interval) return undefined;
      this.seenContent += bytes;
    }
    return role;
  }

  open(data: Uint8Array, last: boolean, options?: OpenOptions): Promise<OpenedChunk> {
    try {
      // Wrong types are the caller's bug, not the network's: those name the argument.
      assertBytes('data', data);
      if (typeof last !== 'boolean') throw CryptoError.invalidArgument(`"last" expected a boolean, got ${typeof last}`);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.failed || this.sawLast) return Promise.reject(this.fail());
    const index = this.nextIndex++;
    if (last) this.sawLast = true;
    let sealed = data;
    if (index === 0) {
      // Chunk 0: the keying prefix in clear, then the sealed header.
      const parsed = last ? undefined : parseKeying(data.subarray(0, STREAM_KEYING_MAX_BYTES));
      if (parsed === undefined) return Promise.reject(this.fail());
      this.keying = { bytes: data.slice(0, parsed.length), keying: parsed.keying };
      sealed = data.subarray(parsed.length);
      this.aeadReady = this.streamKey(parsed.keying);
      this.aeadReady.then(
        (aead) => (this.aead = aead),
        () => undefined,
      );
    }
    const role = this.roleOf(index, last, sealed.length);
    if (role === undefined) return Promise.reject(this.fail());
    const nonce = streamNonce(index);
    const aad = streamAad(this.streamId, index, role);
    const hash = role === 'data';
    const give = options?.give === true;
    const opening =
      this.aead !== undefined ? this.aead.open(nonce, sealed, aad, hash, give) : this.aeadReady!.then((a) => a.open(nonce, sealed, aad, hash, give));
    // Handled here so that a failure is not reported as unhandled while an earlier chunk is pending.
    opening.catch(() => undefined);
    const snapshot = this.threaded && hash ? this.segmentSnapshot() : undefined;
    const prior = this.inFlight > 0 ? this.tail : undefined;
    this.inFlight++;
    const result = this.process(prior, opening, index, role, snapshot);
    this.tail = result;
    return result;
  }

  /**
   * Threaded, after a data chunk that ends a segment: the content hash at that point, asked of the
   * bulk thread right behind the chunk (calls keep their order there; the chunks after it are hashed
   * later). The checkpoint a segment on signs it.
   */
  private segmentSnapshot(): Promise<Uint8Array> | undefined {
    if (this.seenContent % this.interval !== 0 || this.seenContent <= this.seenSegmentEnd) return undefined;
    this.seenSegmentEnd = this.seenContent;
    // Asked the way the chunk's open was (`aead` is set only once the opens chained on the key ran),
    // so it lands on the thread right behind that chunk.
    const snapshot = this.aead !== undefined ? this.bulk!.snapshot() : this.aeadReady!.then(() => this.bulk!.snapshot());
    snapshot.catch(() => undefined);
    return snapshot;
  }

  /** The stream key, from the epoch key (a room stream) or this reader's wrap (a private stream). */
  private async streamKey(keying: StreamKeying): Promise<ChunkOpener> {
    let ikm: Uint8Array;
    let owned = true;
    try {
      if (keying.kind === 'room') {
        if (typeof this.epochKey === 'function') ikm = await this.epochKey();
        else {
          ikm = this.epochKey;
          owned = false;
        }
        assertBytes('epochKey', ikm, STREAM_EPOCH_KEY_BYTES);
      } else {
        const reader = this.reader;
        const mine = reader === undefined ? undefined : keying.recipients.find((r) => r.recipientId === reader.recipientId);
        // Not a recipient: a Bridge delivered a private stream to a member it was not sent to.
        if (reader === undefined || mine === undefined) throw this.fail();
        ikm = await reader.unwrap({
          wrapped: mine.wrapped,
          roomId: reader.roomId,
          streamId: this.streamId,
          senderId: this.senderId,
          recipientId: reader.recipientId,
        });
      }
    } catch (error) {
      if (error instanceof CryptoError) throw this.fail();
      this.keyError = error;
      this.fail();
      throw error;
    }
    const { key, binding } = deriveStreamKeys(ikm, this.streamId, this.senderId, this.b);
    if (owned) ikm.fill(0);
    this.binding = binding;
    if (this.b.bulk !== undefined) {
      const bulk = this.b.bulk.stream(key);
      key.fill(0);
      this.bulk = bulk;
      if (this.failed) bulk.close();
      return bulk;
    }
    const aead = await importStreamKey(key, this.b);
    return { open: (nonce, ciphertext, aad) => aead.open(nonce, ciphertext, aad) };
  }

  private async process(
    prior: Promise<unknown> | undefined,
    opening: Promise<Uint8Array>,
    index: number,
    role: ChunkRole,
    snapshot: Promise<Uint8Array> | undefined,
  ): Promise<OpenedChunk> {
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
        if (this.keyError !== undefined) throw this.keyError;
        throw this.fail();
      }
      if (this.failed) throw this.keyError ?? this.fail();
      switch (role) {
        case 'header':
          return await this.verifyHeader(plaintext, index);
        case 'data': {
          // Threaded, the bulk thread hashed it already, and asked for the snapshot of a segment end.
          if (!this.threaded) this.hasher!.update(plaintext);
          this.contentBytes += plaintext.length;
          if (this.contentBytes % this.interval === 0 && this.contentBytes > this.segmentEndBytes) this.endSegment(snapshot);
          return { kind: 'data', index, data: plaintext };
        }
        case 'checkpoint':
          return await this.verifyCheckpoint(plaintext, index);
        case 'final':
          return await this.verifyFinal(plaintext, index);
        default: {
          const never: never = role;
          throw new Error(`unknown role ${String(never)}`);
        }
      }
    } finally {
      this.inFlight--;
    }
  }

  private async verifyHeader(plaintext: Uint8Array, index: number): Promise<OpenedChunk> {
    const signature = plaintext.subarray(0, STREAM_SIGNATURE_BYTES);
    const header = plaintext.slice(STREAM_SIGNATURE_BYTES);
    const { bytes: keying, keying: parsed } = this.keying!;
    const message = headerSignatureMessage({ streamId: this.streamId, senderId: this.senderId, binding: this.binding!, keying, header });
    if (!(await this.b.ed25519Verify(signature, message, this.senderPublicKey))) throw this.fail();
    if (this.failed) throw this.fail();
    this.headerHash = this.b.hash('sha256', header);
    if (!this.threaded) this.hasher = createContentHasher({ backend: this.b });
    const recipients = parsed.kind === 'room' ? [] : parsed.recipients.map((r) => r.recipientId);
    return { kind: 'header', index, header, recipients };
  }

  /**
   * A segment ended: a snapshot of the content hash is asked for now (a checkpoint needs it a segment
   * later), or was asked of the bulk thread behind the chunk (`asked`).
   */
  private endSegment(asked: Promise<Uint8Array> | undefined): void {
    this.segmentEndBytes = this.contentBytes;
    const snapshot = asked ?? (this.threaded ? Promise.reject(this.fail()) : this.hasher!.snapshot());
    snapshot.catch(() => undefined);
    this.previousSnapshot = this.snapshot;
    this.snapshot = snapshot;
  }

  /** A content hash, or the integrity failure if it failed (the hasher was cancelled by a failure). */
  private async hashOf(hash: Promise<Uint8Array>): Promise<Uint8Array> {
    try {
      return await hash;
    } catch {
      throw this.fail();
    }
  }

  private async verifyCheckpoint(signature: Uint8Array, index: number): Promise<OpenedChunk> {
    // Signed one segment late: its snapshot was asked for an interval ago, so this rarely waits.
    const contentHash = await this.hashOf(this.previousSnapshot!);
    const contentBytes = this.contentBytes - this.interval;
    const message = checkpointSignatureMessage({
      streamId: this.streamId,
      senderId: this.senderId,
      binding: this.binding!,
      headerHash: this.headerHash!,
      contentHash,
      contentBytes,
    });
    if (!(await this.b.ed25519Verify(signature, message, this.senderPublicKey))) throw this.fail();
    if (this.failed) throw this.fail();
    return { kind: 'checkpoint', index, contentBytes };
  }

  private async verifyFinal(plaintext: Uint8Array, index: number): Promise<OpenedChunk> {
    const final = parseFinal(plaintext);
    if (final === undefined) throw this.fail();
    let reason = '';
    try {
      if (final.ending === 'abort') reason = fromUtf8(final.reason);
    } catch {
      throw this.fail();
    }
    const contentHash = await this.hashOf(this.bulk !== undefined ? this.bulk.digest() : this.hasher!.digest());
    this.bulk?.close();
    const message = signatureMessage({
      streamId: this.streamId,
      senderId: this.senderId,
      binding: this.binding!,
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
    return final.ending === 'end' ? { kind: 'end', index, contentBytes, contentHash } : { kind: 'aborted', index, contentBytes, reason };
  }

  async finish(): Promise<void> {
    if (this.tail !== undefined) await this.tail.catch(() => undefined);
    if (!this.ended) throw this.fail();
  }

  dispose(): void {
    this.failed = true;
    this.hasher?.cancel();
    this.bulk?.close();
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
