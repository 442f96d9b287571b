/**
 * Local file access for byte streams (`writeToFile`, `sendFile(path)`). Node has it
 * (fs-node.ts); browsers do not (fs-web.ts throws `Unsupported`). `#endpoint-fs` in package.json
 * picks one by import condition, so nothing under endpoint/ imports `node:` modules directly and the
 * browser bundle stays clean.
 */

/** A file being written: bytes go to a temporary file that becomes the real one only on `commit`. */
export interface FileSink {
  /** Appends bytes; resolves once they are written. */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes the temporary file and gives it its final name (never replacing a file); returns the path. */
  commit(): Promise<string>;
  /** Closes and removes the temporary file. Never rejects. */
  discard(): Promise<void>;
}

/** A file to send. */
export interface FileSource {
  /** The file's name without its folder. */
  name: string;
  /** Its size in bytes when opened. */
  size: number;
  /** Reads the file in blocks of at most `blockBytes`, each a fresh buffer. */
  blocks(blockBytes: number): AsyncIterable<Uint8Array>;
}

export type CreateFileSink = (directory: string, name: string) => Promise<FileSink>;
export type OpenFileSource = (path: string) => Promise<FileSource>;
