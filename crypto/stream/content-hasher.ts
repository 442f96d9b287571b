/**
 * The running SHA-256 of a stream's content, which the checkpoints and the final chunk's signature
 * cover (docs/design.md, "Byte streams and text streams"): the backend's incremental hash (node:crypto's
 * streaming `createHash` in Node, noble in browsers), on the calling thread.
 *
 * It used to move to a worker thread for large streams. Handing the worker a chunk meant copying it
 * into a shared ring (the app owns a sender's bytes, the reader a receiver's, so neither can be
 * transferred), and measured end to end (bench/scenarios/throughput.ts, CPU per byte of sender, Bridge
 * and receiver) the copy and the wake-ups cost more than the hash they moved: removing the worker
 * took a 256 MiB stream from 6.9 to 5.7 ns a byte (docs/design.md, "Measured facts").
 *
 * Streams that start while the process carries real-time tracks hash on the bulk thread instead, with
 * their AES-GCM, in one hand-over per chunk (backend/bulk-thread.ts; docs/operations/realtime-priorities.md,
 * "The bulk thread"): there the cost buys the event loop's time for real-time frames.
 */
import { backend, type CryptoBackend, type IncrementalHash } from '../backend/index.ts';
import { CryptoError } from '../errors.ts';

export interface ContentHasher {
  /** Adds bytes (hashed at once: the caller may reuse its buffer afterwards). Ignored after `cancel()`. */
  update(bytes: Uint8Array): void;
  /** The SHA-256 of everything added. May be called once (then, or after `cancel()`, it rejects). */
  digest(): Promise<Uint8Array>;
  /** The SHA-256 of everything added so far, while the hash goes on. */
  snapshot(): Promise<Uint8Array>;
  /** Drops the state without a digest (a failed or abandoned stream). */
  cancel(): void;
}

export interface ContentHasherOptions {
  backend?: CryptoBackend;
}

/**
 * A SHA-256 of stream content.
 * @example
 * const hasher = createContentHasher();
 * hasher.update(chunk);
 * const contentHash = await hasher.digest();
 */
export function createContentHasher(options: ContentHasherOptions = {}): ContentHasher {
  const b = options.backend ?? backend();
  let h: IncrementalHash | undefined = b.createHash('sha256');
  const gone = () => Promise.reject(CryptoError.invalidArgument('content hasher: used after digest() or cancel()'));
  return {
    update(bytes) {
      h?.update(bytes);
    },
    digest() {
      if (h === undefined) return gone();
      const out = h.digest();
      h = undefined;
      return Promise.resolve(out);
    },
    snapshot: () => (h === undefined ? gone() : Promise.resolve(h.snapshot())),
    cancel() {
      h = undefined;
    },
  };
}
