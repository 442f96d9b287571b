/** Runs async tasks one after another, in the order they were handed in. */
export class Sequencer {
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * Runs `task` once every task handed in before it has settled; a failed task does not stop the rest.
   * @example await finals.run(async () => send(await encryptor.close()));
   */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
