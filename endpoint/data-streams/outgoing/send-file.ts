/**
 * `sendFile` sources: a path (Node only, through `#endpoint-fs`), a Blob or File, bytes, or a
 * ReadableStream of bytes. Each yields blocks of at most `FILE_READ_BLOCK_BYTES`, read only as the
 * stream takes them, so a large file is never in memory at once.
 */
import { openFileSource } from '#endpoint-fs';
import { DataStreamError } from '../errors.ts';
import { FILE_READ_BLOCK_BYTES } from '../limits.ts';

export type FileInput = string | Blob | Uint8Array | ReadableStream<Uint8Array>;

export interface Source {
  /** The name the input carries (a path's or a File's), if any. */
  name: string | undefined;
  /** Bytes, when known in advance (not for a ReadableStream). */
  size: number | undefined;
  blocks(): AsyncIterable<Uint8Array>;
  /** Stops reading early (the stream failed). */
  cancel(): void;
}

export async function openSource(input: FileInput): Promise<Source> {
  if (typeof input === 'string') {
    if (input === '') throw DataStreamError.invalidArgument('"file" expected a non-empty path');
    const file = await openFileSource(input);
    return { name: file.name, size: file.size, blocks: () => file.blocks(FILE_READ_BLOCK_BYTES), cancel: () => undefined };
  }
  if (input instanceof Uint8Array) {
    return { name: undefined, size: input.length, blocks: () => sliced(input), cancel: () => undefined };
  }
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    const name = typeof (input as { name?: unknown }).name === 'string' ? (input as File).name : undefined;
    return { name: name === '' ? undefined : name, size: input.size, blocks: () => blobBlocks(input), cancel: () => undefined };
  }
  if (typeof ReadableStream !== 'undefined' && input instanceof ReadableStream) {
    const reader = (input as ReadableStream<Uint8Array>).getReader();
    return {
      name: undefined,
      size: undefined,
      blocks: () => streamBlocks(reader),
      cancel: () => void reader.cancel().catch(() => undefined),
    };
  }
  throw DataStreamError.invalidArgument('"file" expected a path, a Blob, a Uint8Array or a ReadableStream');
}

async function* sliced(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += FILE_READ_BLOCK_BYTES) {
    yield bytes.subarray(offset, Math.min(bytes.length, offset + FILE_READ_BLOCK_BYTES));
  }
}

async function* blobBlocks(blob: Blob): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < blob.size; offset += FILE_READ_BLOCK_BYTES) {
    let buffer: ArrayBuffer;
    try {
      buffer = await blob.slice(offset, Math.min(blob.size, offset + FILE_READ_BLOCK_BYTES)).arrayBuffer();
    } catch (cause) {
      throw new DataStreamError('FileError', 'reading the Blob failed', { cause });
    }
    yield new Uint8Array(buffer);
  }
}

async function* streamBlocks(reader: ReadableStreamDefaultReader<Uint8Array>): AsyncIterable<Uint8Array> {
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (cause) {
        throw new DataStreamError('FileError', 'reading the ReadableStream failed', { cause });
      }
      if (result.done) return;
      if (!(result.value instanceof Uint8Array)) throw DataStreamError.invalidArgument('the ReadableStream expected Uint8Array chunks');
      // A stream's chunk may be larger than a block; the writer splits it into sealed chunks anyway.
      yield result.value;
    }
  } finally {
    reader.releaseLock();
  }
}
