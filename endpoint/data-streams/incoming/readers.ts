/**
 * The readers a handler gets (LiveKit's shape): `for await`, `readAll({signal, maxBytes})`,
 * `writeToFile` (bytes, Node only), `onProgress` and `info`. Both wrap a ChunkQueue; the text reader
 * decodes UTF-8 as a stream (fatal: invalid UTF-8 is `Malformed`, never replacement characters).
 *
 * `readAll` holds the whole stream in memory, so it stops at `maxBytes` (by default
 * TEXT_READ_ALL_MAX_BYTES or BYTES_READ_ALL_MAX_BYTES) with `LengthExceeded` and cancels the stream:
 * any member may send any size, and a chat handler that read every text stream whole let one member's
 * multi-gigabyte message take every other member's memory. A stream whose signed size is already over
 * fails before anything is read.
 */
import type { Logger } from '../../logger.ts';
import { DataStreamError } from '../errors.ts';
import { BYTES_READ_ALL_MAX_BYTES, TEXT_READ_ALL_MAX_BYTES } from '../limits.ts';
import type { ByteStreamInfo, ByteStreamReader, TextStreamInfo, TextStreamReader } from '../types.ts';
import type { ChunkQueue } from './chunk-queue.ts';
import { checkFileName, drainToFile } from './write-to-file.ts';

/** `maxBytes` of a `readAll`, or the error for a bad one (checked before the reader is taken). */
function readAllMax(maxBytes: number | undefined, fallback: number): number | DataStreamError {
  if (maxBytes === undefined) return fallback;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
    return DataStreamError.invalidArgument(`"maxBytes" expected a non-negative integer, got ${String(maxBytes)}`);
  return maxBytes;
}

/** What both readers share: the queue, progress and cancellation. */
abstract class BaseReader {
  onProgress?: (progress: number | undefined) => void;
  private received = 0;

  constructor(
    protected readonly queue: ChunkQueue,
    protected readonly size: number | undefined,
    private readonly log: Logger,
  ) {}

  /** @internal Plaintext bytes delivered to this reader so far. */
  delivered(bytes: number): void {
    this.received += bytes;
    const progress = this.onProgress;
    if (progress === undefined) return;
    try {
      progress(this.size === undefined ? undefined : this.size === 0 ? 1 : this.received / this.size);
    } catch (error) {
      this.log.warn({ error: String(error) }, 'a stream reader onProgress callback threw');
    }
  }

  /**
   * Each chunk of the stream for `readAll`, at most `maxBytes` in all (`fallback` when not given);
   * past it the stream is cancelled and this fails with `LengthExceeded`.
   */
  protected async *bounded(max: number): AsyncGenerator<Uint8Array> {
    const over = () => {
      const error = DataStreamError.lengthExceeded(`readAll: the stream is over ${max} bytes (pass a larger maxBytes, or read it with for await)`);
      this.queue.cancel(error);
      return error;
    };
    if (this.size !== undefined && this.size > max) throw over();
    let total = 0;
    for (let chunk = await this.queue.next(); chunk !== undefined; chunk = await this.queue.next()) {
      total += chunk.length;
      if (total > max) throw over();
      yield chunk;
    }
  }

  /** Runs `read` with `signal` wired to cancel the stream; the queue lock is taken first. */
  protected async consume<T>(what: string, signal: AbortSignal | undefined, read: () => Promise<T>): Promise<T> {
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw DataStreamError.invalidArgument('"signal" expected an AbortSignal');
    if (signal?.aborted === true) throw DataStreamError.aborted(what, signal.reason);
    this.queue.lock(what);
    const onAbort = () => this.queue.cancel(DataStreamError.aborted(what, signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await read();
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  protected iterate<T>(map: (chunk: Uint8Array) => T | undefined, flush: () => T | undefined): AsyncIterator<T> {
    this.queue.lock('for await');
    let done = false;
    const step = async (): Promise<IteratorResult<T>> => {
      while (!done) {
        const chunk = await this.queue.next();
        if (chunk === undefined) {
          done = true;
          const rest = flush();
          if (rest !== undefined) return { done: false, value: rest };
          break;
        }
        const value = map(chunk);
        if (value !== undefined) return { done: false, value };
      }
      return { done: true, value: undefined };
    };
    return {
      next: step,
      return: async () => {
        done = true;
        this.queue.cancel(DataStreamError.aborted('for await: the loop ended before the stream'));
        return { done: true, value: undefined };
      },
    };
  }
}

export class ByteReader extends BaseReader implements ByteStreamReader {
  private webStream: ReadableStream<Uint8Array> | undefined;

  constructor(
    readonly info: ByteStreamInfo,
    queue: ChunkQueue,
    log: Logger,
  ) {
    super(queue, info.size, log);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.iterate(
      (chunk) => chunk,
      () => undefined,
    );
  }

  readAll(options: { signal?: AbortSignal; maxBytes?: number } = {}): Promise<Uint8Array[]> {
    const max = readAllMax(options.maxBytes, BYTES_READ_ALL_MAX_BYTES);
    if (max instanceof DataStreamError) return Promise.reject(max);
    return this.consume('readAll', options.signal, async () => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of this.bounded(max)) chunks.push(chunk);
      return chunks;
    });
  }

  get readable(): ReadableStream<Uint8Array> {
    if (this.webStream !== undefined) return this.webStream;
    this.queue.lock('readable');
    const queue = this.queue;
    // highWaterMark 0: pull() runs only while the app waits on a read, so nothing is read ahead.
    this.webStream = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          try {
            const chunk = await queue.next();
            if (chunk === undefined) controller.close();
            else controller.enqueue(chunk);
          } catch (error) {
            controller.error(error);
          }
        },
        cancel(reason) {
          queue.cancel(DataStreamError.aborted('readable: cancelled', reason));
        },
      },
      { highWaterMark: 0 },
    );
    return this.webStream;
  }

  async writeToFile(directory: string, name?: string): Promise<string> {
    const fileName = name ?? this.info.name;
    checkFileName(fileName);
    return this.consume('writeToFile', undefined, () =>
      drainToFile(
        directory,
        fileName,
        () => this.queue.next(),
        (error) => this.queue.cancel(error),
      ),
    );
  }
}

export class TextReader extends BaseReader implements TextStreamReader {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(
    readonly info: TextStreamInfo,
    queue: ChunkQueue,
    log: Logger,
  ) {
    super(queue, info.size, log);
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return this.iterate(
      (chunk) => this.decode(chunk, true) || undefined,
      () => this.decode(new Uint8Array(0), false) || undefined,
    );
  }

  readAll(options: { signal?: AbortSignal; maxBytes?: number } = {}): Promise<string> {
    const max = readAllMax(options.maxBytes, TEXT_READ_ALL_MAX_BYTES);
    if (max instanceof DataStreamError) return Promise.reject(max);
    return this.consume('readAll', options.signal, async () => {
      const parts: string[] = [];
      for await (const chunk of this.bounded(max)) parts.push(this.decode(chunk, true));
      parts.push(this.decode(new Uint8Array(0), false));
      return parts.join('');
    });
  }

  private decode(bytes: Uint8Array, more: boolean): string {
    try {
      return this.decoder.decode(bytes, { stream: more });
    } catch (cause) {
      const error = new DataStreamError('Malformed', 'the text stream is not valid UTF-8', { cause });
      this.queue.cancel(error);
      throw error;
    }
  }
}
