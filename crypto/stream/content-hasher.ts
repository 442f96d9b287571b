/**
 * The running SHA-256 of a stream's content, which the checkpoints and the final chunk's signature
 * cover (docs/design.md, "Byte streams and text streams"). The value is always a plain SHA-256 of the
 * content bytes in order; only where it is computed differs:
 *
 * - In-thread, with the backend's incremental hash: browsers, the js backend, and small streams.
 * - On the backend's bulk hash (node: a worker_threads worker, see backend/hash-worker.ts) once a
 *   stream's content passes `CONTENT_HASH_OFFLOAD_MIN_BYTES` in chunks of `..._MIN_CHUNK_BYTES` on
 *   average. On one thread, SHA-256 costs about as much as AES-GCM itself; on a free second core it
 *   overlaps with it. Below the threshold the round trip to the worker would cost more than the hash,
 *   so the first bytes are kept (copied, at most the threshold) and either hashed in-thread at the
 *   end or handed over, in order, when the stream grows.
 */
import { backend, type CryptoBackend } from '../backend/index.ts';

/** Content a stream must exceed before its hash moves off-thread. */
export const CONTENT_HASH_OFFLOAD_MIN_BYTES = 65_536;
/**
 * Average chunk size (over the first `CONTENT_HASH_OFFLOAD_MIN_BYTES`) a stream needs for its hash to
 * move off-thread. Per chunk, the worker path costs a record and a wake-up check, which at 1 KiB is as
 * much as hashing the chunk in-thread; measured at 1 KiB it lost (0.46 vs 0.58 of raw AES-GCM).
 */
export const CONTENT_HASH_OFFLOAD_MIN_CHUNK_BYTES = 8192;

export interface ContentHasher {
  /**
   * Adds bytes. Returns a promise when the caller must wait (the worker's ring is full); the bytes must
   * stay unchanged until it settles. Calls are applied in the order they are made.
   */
  update(bytes: Uint8Array): void | Promise<void>;
  /** The SHA-256 of everything added. May be called once. */
  digest(): Promise<Uint8Array>;
  /**
   * The SHA-256 of everything added so far, while the hash goes on (ordered with the updates). On the
   * worker it is taken at the worker's next poll, so it may settle a little later than a digest would.
   */
  snapshot(): Promise<Uint8Array>;
  /** Drops the state without a digest (a failed or abandoned stream). */
  cancel(): void;
}

export interface ContentHasherOptions {
  backend?: CryptoBackend;
  /** Content bytes after which the hash moves to the backend's bulk hash, if it has one. */
  offloadMinBytes?: number;
  /** Average chunk bytes below which the hash stays in-thread anyway. */
  offloadMinChunkBytes?: number;
}

/**
 * A SHA-256 of stream content, off-thread for large streams where the backend can.
 * @example
 * const hasher = createContentHasher();
 * await hasher.update(chunk); // usually returns undefined: no wait
 * const contentHash = await hasher.digest();
 */
export function createContentHasher(options: ContentHasherOptions = {}): ContentHasher {
  const b = options.backend ?? backend();
  const offloadMinBytes = options.offloadMinBytes ?? CONTENT_HASH_OFFLOAD_MIN_BYTES;
  const offloadMinChunkBytes = options.offloadMinChunkBytes ?? CONTENT_HASH_OFFLOAD_MIN_CHUNK_BYTES;
  if (b.createBulkHash === undefined) return inThreadHasher(b);
  const createBulk = b.createBulkHash.bind(b);

  let kept: Uint8Array[] = [];
  let keptBytes = 0;
  /** Where the hash went once the stream passed the threshold. */
  let moved: ContentHasher | undefined;
  return {
    update(bytes) {
      if (moved !== undefined) return moved.update(bytes);
      if (keptBytes + bytes.length <= offloadMinBytes) {
        kept.push(bytes.slice());
        keptBytes += bytes.length;
        return;
      }
      const averageChunk = (keptBytes + bytes.length) / (kept.length + 1);
      moved = averageChunk >= offloadMinChunkBytes ? createBulk('sha256') : inThreadHasher(b);
      // Updates are ordered, so only the last one's promise (if any) needs waiting for; a failure of the
      // earlier ones (the worker stopped) surfaces there and at digest().
      for (const piece of kept) moved.update(piece)?.catch(() => undefined);
      kept = [];
      return moved.update(bytes);
    },
    digest() {
      if (moved !== undefined) return moved.digest();
      const h = b.createHash('sha256');
      for (const piece of kept) h.update(piece);
      kept = [];
      return Promise.resolve(h.digest());
    },
    snapshot() {
      if (moved !== undefined) return moved.snapshot();
      const h = b.createHash('sha256');
      for (const piece of kept) h.update(piece);
      return Promise.resolve(h.digest());
    },
    cancel() {
      kept = [];
      moved?.cancel();
    },
  };
}

function inThreadHasher(b: CryptoBackend): ContentHasher {
  const h = b.createHash('sha256');
  return {
    update(bytes) {
      h.update(bytes);
    },
    digest: () => Promise.resolve(h.digest()),
    snapshot: () => Promise.resolve(h.snapshot()),
    cancel() {},
  };
}
