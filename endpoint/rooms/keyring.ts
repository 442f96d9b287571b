/**
 * Epoch keys this client holds, per room. Senders always use the newest epoch; receivers keep older
 * epochs for a bounded grace period after a newer one arrives, so data already in flight still
 * decrypts (DESIGN.md "Rotation"). Keys past their grace are wiped.
 */
export const DEFAULT_EPOCH_GRACE_MS = 60_000;

interface Entry {
  key: Uint8Array;
  /** When a newer epoch superseded this one; undefined while it is the newest. */
  supersededAt: number | undefined;
}

export class KeyRing {
  private readonly rooms = new Map<string, Map<number, Entry>>();

  constructor(
    private readonly graceMs: number = DEFAULT_EPOCH_GRACE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  set(roomId: string, epoch: number, key: Uint8Array): void {
    let epochs = this.rooms.get(roomId);
    if (epochs === undefined) this.rooms.set(roomId, (epochs = new Map()));
    if (epochs.has(epoch)) return;
    const newest = this.newestEpoch(roomId);
    const at = this.now();
    if (newest !== undefined && epoch > newest) {
      for (const entry of epochs.values()) entry.supersededAt ??= at;
    }
    epochs.set(epoch, { key: key.slice(), supersededAt: newest !== undefined && epoch < newest ? at : undefined });
    this.prune(roomId);
  }

  /** The key of an epoch, if held and not past its grace period. */
  get(roomId: string, epoch: number): Uint8Array | undefined {
    this.prune(roomId);
    return this.rooms.get(roomId)?.get(epoch)?.key;
  }

  /** The newest epoch and its key: what senders use. */
  current(roomId: string): { epoch: number; key: Uint8Array } | undefined {
    const epoch = this.newestEpoch(roomId);
    if (epoch === undefined) return undefined;
    return { epoch, key: this.rooms.get(roomId)!.get(epoch)!.key };
  }

  newestEpoch(roomId: string): number | undefined {
    const epochs = this.rooms.get(roomId);
    if (epochs === undefined || epochs.size === 0) return undefined;
    return Math.max(...epochs.keys());
  }

  /** Wipes every key of a room (deleted, or this user removed). */
  forget(roomId: string): void {
    for (const entry of this.rooms.get(roomId)?.values() ?? []) entry.key.fill(0);
    this.rooms.delete(roomId);
  }

  private prune(roomId: string): void {
    const epochs = this.rooms.get(roomId);
    if (epochs === undefined) return;
    const now = this.now();
    for (const [epoch, entry] of epochs) {
      if (entry.supersededAt !== undefined && now - entry.supersededAt > this.graceMs) {
        entry.key.fill(0);
        epochs.delete(epoch);
      }
    }
  }
}
