/** A small typed event emitter (browser-safe; node:events is not). A throwing listener never stops the others. */
export class Emitter<Events extends Record<string, unknown>> {
  /**
   * Per type, the listeners as an array that is replaced, never changed, when one is added or
   * removed: an emit calls those that were there when it began, and allocates nothing (it runs for
   * every frame a connection receives).
   */
  private readonly listeners = new Map<keyof Events, ReadonlyArray<(payload: never) => void>>();

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(type: K, listener: (payload: Events[K]) => void): () => void {
    const fn = listener as (payload: never) => void;
    const now = this.listeners.get(type) ?? [];
    if (!now.includes(fn)) this.listeners.set(type, [...now, fn]);
    return () => {
      const left = (this.listeners.get(type) ?? []).filter((l) => l !== fn);
      if (left.length === 0) this.listeners.delete(type);
      else this.listeners.set(type, left);
    };
  }

  emit<K extends keyof Events>(type: K, payload: Events[K], onError?: (error: unknown) => void): void {
    const listeners = this.listeners.get(type);
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        (listener as (payload: Events[K]) => void)(payload);
      } catch (error) {
        onError?.(error);
      }
    }
  }

  count(type: keyof Events): number {
    return this.listeners.get(type)?.length ?? 0;
  }
}
