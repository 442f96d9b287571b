/** Node: local files for `writeToFile` and `sendFile(path)` (selected by `#endpoint-fs` in package.json). */
import { randomBytes } from 'node:crypto';
import { link, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DataStreamError } from '../data-streams/errors.ts';
import type { CreateFileSink, FileSink, OpenFileSource } from './fs.ts';

function fileError(what: string, cause: unknown): DataStreamError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  return new DataStreamError('FileError', `${what} failed${typeof code === 'string' ? ` (${code})` : ''}`, { cause });
}

const errorCode = (error: unknown) => (error as { code?: unknown } | undefined)?.code;

export const createFileSink: CreateFileSink = async (directory, name) => {
  const dir = resolve(directory);
  const target = join(dir, name);
  // The name was checked to be one plain path component; this is the second lock on the same door.
  if (dirname(target) !== dir || basename(target) !== name) throw DataStreamError.invalidArgument('"name" expected a plain file name');
  const temp = join(dir, `.sealroom-${randomBytes(12).toString('hex')}.partial`);
  let handle: FileHandle;
  try {
    handle = await open(temp, 'wx');
  } catch (error) {
    throw fileError('creating a file in the target folder', error);
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  const sink: FileSink = {
    async write(bytes) {
      try {
        for (let offset = 0; offset < bytes.length; ) {
          const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
          offset += bytesWritten;
        }
      } catch (error) {
        throw fileError('writing the file', error);
      }
    },
    async commit() {
      try {
        await close();
        // link() fails with EEXIST instead of replacing a file; where links are not supported, rename
        // after checking (a small race, only on such file systems).
        try {
          await link(temp, target);
          await unlink(temp);
        } catch (error) {
          if (errorCode(error) === 'EEXIST') throw error;
          const exists = await stat(target).then(
            () => true,
            () => false,
          );
          if (exists) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
          await rename(temp, target);
        }
        return target;
      } catch (error) {
        await sink.discard();
        throw fileError('moving the received file into place', error);
      }
    },
    async discard() {
      await close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
    },
  };
  return sink;
};

export const openFileSource: OpenFileSource = async (path) => {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    size = info.size;
  } catch (error) {
    throw fileError('opening the file to send', error);
  }
  return {
    name: basename(path),
    size,
    async *blocks(blockBytes) {
      let handle: FileHandle;
      try {
        handle = await open(path, 'r');
      } catch (error) {
        throw fileError('opening the file to send', error);
      }
      try {
        for (;;) {
          const buffer = new Uint8Array(blockBytes);
          let bytesRead: number;
          try {
            ({ bytesRead } = await handle.read(buffer, 0, blockBytes, null));
          } catch (error) {
            throw fileError('reading the file to send', error);
          }
          if (bytesRead === 0) return;
          yield bytesRead === blockBytes ? buffer : buffer.subarray(0, bytesRead);
        }
      } finally {
        await handle.close().catch(() => undefined);
      }
    },
  };
};
