/**
 * `writeToFile`: a stream into a file, written to a temporary file beside it and moved into place only
 * after the stream's verified end (signature checked); on any error the partial file is removed.
 * Names are one plain path component (LiveKit's Rust and Swift SDKs refuse the same): no separators,
 * no `..`, not absolute, not empty. The default name is the sender's, which is untrusted input and is
 * checked the same way.
 */
import { createFileSink } from '#endpoint-fs';
import { DataStreamError } from '../errors.ts';
import { NAME_MAX_BYTES } from '../limits.ts';

/** Throws `InvalidArgument` unless `name` is a safe file name. */
export function checkFileName(name: unknown): asserts name is string {
  const refuse = (why: string) => {
    throw DataStreamError.invalidArgument(`"name" expected a plain file name, got one that ${why}`);
  };
  if (typeof name !== 'string') throw DataStreamError.invalidArgument(`"name" expected a string, got ${typeof name}`);
  if (name === '') refuse('is empty');
  if (/[/\\]/.test(name)) refuse('contains a path separator');
  if (name.includes('..') || name === '.') refuse('contains "." or ".."');
  if (/^[A-Za-z]:/.test(name)) refuse('starts with a drive letter');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(name)) refuse('contains a control character');
  if (new TextEncoder().encode(name).length > NAME_MAX_BYTES) refuse(`is longer than ${NAME_MAX_BYTES} UTF-8 bytes`);
}

/**
 * Drains `next` into `directory/name`; returns the file's path. `cancel` is told when the file side
 * fails, so the stream is let go.
 */
export async function drainToFile(
  directory: string,
  name: string,
  next: () => Promise<Uint8Array | undefined>,
  cancel: (error: DataStreamError) => void,
): Promise<string> {
  if (typeof directory !== 'string' || directory === '') throw DataStreamError.invalidArgument('"directory" expected a non-empty string');
  const sink = await createFileSink(directory, name).catch((error: unknown) => {
    cancel(error instanceof DataStreamError ? error : DataStreamError.aborted('writeToFile', error));
    throw error;
  });
  try {
    for (;;) {
      const chunk = await next();
      if (chunk === undefined) break;
      try {
        await sink.write(chunk);
      } catch (error) {
        cancel(error as DataStreamError);
        throw error;
      }
    }
    return await sink.commit();
  } catch (error) {
    await sink.discard();
    throw error;
  }
}
