/**
 * Epoch keys this client holds, per room. Senders always use the newest epoch; receivers keep older
 * epochs for a bounded grace period after a newer one arrives, so data already in flight still
 * decrypts (docs/design.md "Rotation"). Keys past their grace are wiped.
 *
 * A superseded epoch is never admitted again (docs/design.md "Data tracks and media frames"). The ring
 * remembers, per room, the newest epoch it ever held, and refuses any key below it that it does not
 * hold right now: once an epoch's grace is over its key is gone for good, whatever the Bridge serves
 * later (it keeps every wrapped key a user ever had, and a re-read of the room would otherwise restart
 * the grace of an old epoch that a removed member still holds; docs/security/bridge-adversary.md).
 * The same holds after `forget`. So callers that admit several epochs at once admit the newest first.
 */
export const DEFAULT_EPOCH_GRACE_MS = 60_000;

interface Entry {
  key: Uint8Array;
  /** When a newer epoch superseded this one; undefined while it is the newest. */
  supersededAt: number | undefined;
}

export class KeyRing {
  private readonly rooms = new Map<string, Map<number, Entry>>();
  /** The newest epoch ever held, per room: epochs below it are admitted only while still held. */
  private readonly floors = new Map<string, number>();
  /** Rooms holding a superseded epoch, whose grace may run out: the only ones `prune` has to look at (it runs for every received frame). */
  private readonly inGrace = new Set<string>();

  constructor(
    private readonly graceMs: number = DEFAULT_EPOCH_GRACE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Stores the key of an epoch. Returns false, and stores nothing, for an epoch older than the newest
   * this ring ever held (a superseded epoch is never re-admitted); true otherwise (also when held).
   */
  set(roomId: string, epoch: number, key: Uint8Array): boolean {
    this.prune(roomId);
    let epochs = this.rooms.get(roomId);
    if (epochs?.has(epoch) === true) return true;
    if (!this.admits(roomId, epoch)) return false;
    if (epochs === undefined) this.rooms.set(roomId, (epochs = new Map()));
    const at = this.now();
    for (const entry of epochs.values()) entry.supersededAt ??= at;
    if (epochs.size > 0) this.inGrace.add(roomId);
    epochs.set(epoch, { key: key.slice(), supersededAt: undefined });
    this.floors.set(roomId, epoch);
    return true;
  }

  /** Whether `set` would store this epoch's key: held now, or newer than every epoch ever held. */
  admits(roomId: string, epoch: number): boolean {
    if (this.get(roomId, epoch) !== undefined) return true;
    return epoch > (this.floors.get(roomId) ?? 0);
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

  /**
   * Wipes every key of a room (deleted, or this user removed). The newest epoch it held stays known,
   * so none of these epochs can come back.
   */
  forget(roomId: string): void {
    for (const entry of this.rooms.get(roomId)?.values() ?? []) entry.key.fill(0);
    this.rooms.delete(roomId);
    this.inGrace.delete(roomId);
  }

  private prune(roomId: string): void {
    if (!this.inGrace.has(roomId)) return;
    const epochs = this.rooms.get(roomId);
    if (epochs === undefined) return;
    const now = this.now();
    let left = 0;
    for (const [epoch, entry] of epochs) {
      if (entry.supersededAt === undefined) continue;
      if (now - entry.supersededAt > this.graceMs) {
        entry.key.fill(0);
        epochs.delete(epoch);
      } else left++;
    }
    if (left === 0) this.inGrace.delete(roomId);
  }
}
