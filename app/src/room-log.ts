/**
 * What a joined room shows, per room: chat messages and file transfers in arrival order, and who is
 * present. Filled by the session's stream handlers (one per topic for all rooms) and by the room's
 * real-time events; the room screen renders it and re-renders on `onChange`. Pure state, no DOM.
 */
export interface TextItem {
  kind: 'text';
  id: string;
  from: string;
  mine: boolean;
  text: string;
  at: number;
}

export interface FileItem {
  kind: 'file';
  id: string;
  from: string;
  mine: boolean;
  name: string;
  size: number | undefined;
  mimeType: string;
  at: number;
  /** 0..1 while moving; undefined when the size is unknown. */
  progress: number | undefined;
  state: 'moving' | 'done' | 'failed';
  /** The received file, to save (incoming, once done). */
  blob?: Blob;
  /** Set when `state` is `failed`. */
  error?: unknown;
  /** The page let go of the received file to keep its memory bounded (file-memory.ts). */
  released?: boolean;
}

export interface NoticeItem {
  kind: 'notice';
  id: string;
  text: string;
  at: number;
}

export type LogItem = TextItem | FileItem | NoticeItem;

/** Items one room keeps; older ones are dropped (the app has no history: the Bridge stores none). */
export const ROOM_LOG_MAX_ITEMS = 500;
/** Received files not saved yet that a flood of other items cannot push out of the log (the newest). */
export const ROOM_LOG_HELD_FILES_MAX = 250;

export class RoomLog {
  readonly items: LogItem[] = [];
  /** userId -> what shows this user here: `conn:<connectionId>` from joins, `stream:<streamId>` from presence streams. */
  readonly #present = new Map<string, Set<string>>();
  readonly #listeners = new Set<() => void>();
  readonly #presenceListeners = new Set<() => void>();
  #nextLocalId = 1;

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Presence changed (who is here), apart from the items. */
  onPresence(listener: () => void): () => void {
    this.#presenceListeners.add(listener);
    return () => this.#presenceListeners.delete(listener);
  }

  #presenceChanged(): void {
    for (const listener of this.#presenceListeners) listener();
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }

  add<T extends LogItem>(item: T): T {
    this.items.push(item);
    if (this.items.length > ROOM_LOG_MAX_ITEMS) {
      // The oldest go first, but the newest ROOM_LOG_HELD_FILES_MAX received files that still hold
      // their bytes go only when nothing else can: a flood of small messages from another member must
      // not throw a file away before its person saved it. The item just added always stays.
      const held = new Set<LogItem>([item]);
      let files = 0;
      for (let i = this.items.length - 1; i >= 0 && files < ROOM_LOG_HELD_FILES_MAX; i--) {
        const x = this.items[i]!;
        if (x.kind === 'file' && x.blob !== undefined) {
          held.add(x);
          files++;
        }
      }
      let excess = this.items.length - ROOM_LOG_MAX_ITEMS;
      const kept = this.items.filter((x) => {
        if (excess === 0 || held.has(x)) return true;
        excess--;
        if (x.kind === 'file') delete x.blob; // what leaves the log gives its bytes back
        return false;
      });
      this.items.splice(0, this.items.length, ...kept);
    }
    this.#changed();
    return item;
  }

  /**
   * An id for a new item. Items are keyed by it, never by a stream id: a sender picks its stream ids,
   * and one reusing another's would take over that person's row.
   */
  newId(prefix: 'in' | 'out'): string {
    return `${prefix}-${this.#nextLocalId++}`;
  }

  notice(text: string, at = Date.now()): void {
    this.add({ kind: 'notice', id: `notice-${this.#nextLocalId++}`, text, at });
  }

  /** Updates a file item in place (progress, completion, failure). */
  updateFile(id: string, change: Partial<Omit<FileItem, 'kind' | 'id'>>): void {
    const item = this.items.find((i): i is FileItem => i.kind === 'file' && i.id === id);
    if (item === undefined) return;
    Object.assign(item, change);
    this.#changed();
  }

  setPresent(userId: string, key: string, present: boolean): void {
    const keys = this.#present.get(userId) ?? new Set<string>();
    if (present) keys.add(key);
    else keys.delete(key);
    if (keys.size === 0) this.#present.delete(userId);
    else this.#present.set(userId, keys);
    this.#presenceChanged();
  }

  clearPresence(): void {
    this.#present.clear();
    this.#presenceChanged();
  }

  isPresent(userId: string): boolean {
    return this.#present.has(userId);
  }
}
