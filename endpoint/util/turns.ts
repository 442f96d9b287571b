/**
 * One task at a time per key, in the order they were asked for: what reads and then writes a piece of
 * trusted state (a context's pins, a room's trusted head) takes its turn, so that two such tasks never
 * interleave and the later one sees what the earlier one wrote.
 */
export class Turns<K> {
  /** Per key, the end of the last task queued; deleted once the queue is empty. */
  readonly #last = new Map<K, Promise<void>>();

  /** Runs `task` once every task of `key` queued before it has ended (fulfilled or not). */
  async run<T>(key: K, task: () => Promise<T>): Promise<T> {
    const before = this.#last.get(key) ?? Promise.resolve();
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const mine = before.then(() => finished);
    this.#last.set(key, mine);
    await before;
    try {
      return await task();
    } finally {
      done();
      if (this.#last.get(key) === mine) this.#last.delete(key);
    }
  }

  /** Keys with a task running or queued (for tests). */
  get size(): number {
    return this.#last.size;
  }
}

const shared = new WeakMap<object, Map<string, Turns<string>>>();

/**
 * The `kind` turns of `owner`, the same for every caller: the StreamApis of one identity in one process
 * share its trust store (stream-api-parts.ts), so they must share its turns too.
 */
export function sharedTurns(owner: object, kind: string): Turns<string> {
  let kinds = shared.get(owner);
  if (kinds === undefined) shared.set(owner, (kinds = new Map()));
  let turns = kinds.get(kind);
  if (turns === undefined) kinds.set(kind, (turns = new Turns<string>()));
  return turns;
}
