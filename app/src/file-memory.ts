/**
 * What received files may hold in the page's memory (docs/app.md, "Limits"). A file is held whole until
 * it is saved, since the page has nowhere else to put it, and other members decide how many files
 * arrive and how large. Each file is capped (`FILE_MAX_BYTES` in session.ts); these bound them together:
 * the bytes of files still arriving, and the files kept to be saved, whose oldest are let go past the
 * bound (their rows then say so). Pure state, no DOM.
 */
import type { FileItem, RoomLog } from './room-log.ts';

/** Bytes of files still arriving, over every room. */
export const FILES_ARRIVING_MAX_BYTES = 512 * 1024 * 1024;
/** Bytes of received files kept to be saved, over every room. */
export const FILES_KEPT_MAX_BYTES = 1024 * 1024 * 1024;

export class FileMemory {
  #arriving = 0;
  /** Files kept, oldest first, with the log that shows each. */
  readonly #kept: Array<{ item: FileItem; log: RoomLog }> = [];

  constructor(
    readonly arrivingMaxBytes = FILES_ARRIVING_MAX_BYTES,
    readonly keptMaxBytes = FILES_KEPT_MAX_BYTES,
  ) {}

  get arrivingBytes(): number {
    return this.#arriving;
  }

  /** Counts `bytes` more of a file arriving; false, counting nothing, when that would pass the bound. */
  take(bytes: number): boolean {
    if (this.#arriving + bytes > this.arrivingMaxBytes) return false;
    this.#arriving += bytes;
    return true;
  }

  /** Counts off what a file that finished or failed had taken. */
  release(bytes: number): void {
    this.#arriving = Math.max(0, this.#arriving - bytes);
  }

  /**
   * Keeps a received file (its item holds the blob). Past the bound the oldest kept files are let go,
   * never the newest: their items lose the blob and are marked `released`.
   */
  keep(item: FileItem, log: RoomLog): void {
    this.#kept.push({ item, log });
    let total = 0;
    for (let i = this.#kept.length - 1; i >= 0; i--) {
      const { item: kept, log: keptLog } = this.#kept[i]!;
      const size = kept.blob?.size;
      if (size === undefined) {
        this.#kept.splice(i, 1); // gone already (the room's log dropped it)
        continue;
      }
      total += size;
      if (total > this.keptMaxBytes && kept !== item) {
        keptLog.updateFile(kept.id, { blob: undefined, released: true });
        this.#kept.splice(i, 1);
        total -= size;
      }
    }
  }
}
