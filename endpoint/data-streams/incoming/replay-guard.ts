/**
 * Refuses a stream id seen before (docs/design.md, "Byte streams and text streams"): a Bridge that replays a
 * whole signed stream gets it refused, not shown twice.
 *
 * Memory is bounded by time and by count, tied to the header's signed time (`timestamp`, the sender's
 * clock when it opened the stream), and kept per sender of a room (the header's verified sender: a
 * replay cannot be passed off as another member's):
 * - a stream whose signed time is more than `STREAM_REPLAY_WINDOW_MS` from this reader's clock, either
 *   way, is refused outright: it is too old to be remembered, or from a clock too far off;
 * - inside the window, a sender's ids are remembered until their time leaves the window;
 * - past `STREAM_IDS_PER_SENDER_MAX` ids of one sender, or `STREAM_IDS_PER_ROOM_MAX` in a room (then
 *   the sender with the most), the older half of that sender's ids (by signed time) is forgotten and
 *   that sender's floor rises to the newest time forgotten: a stream of that sender at or below its
 *   floor is refused, since its id might have been among those forgotten. Honest streams arrive in
 *   about the order they were opened, so only a sender's own flood costs anything, and only that
 *   sender's streams delayed behind it by more than the history kept. Before, the floor was the
 *   room's: one member who sent 16,385 streams signed ten minutes ahead had every member's streams
 *   refused as replayed for ten minutes.
 *
 * The memory lives as long as the Endpoint (not across restarts; see docs/security/bridge-adversary.md).
 */

/** How far a stream's signed time may be from this reader's clock, either way. Ms. */
export const STREAM_REPLAY_WINDOW_MS = 10 * 60_000;
/** Stream ids remembered per sender of a room at most (about 100 bytes each): 3 new streams a second for the window. */
export const STREAM_IDS_PER_SENDER_MAX = 2048;
/** Stream ids remembered per room at most, over all its senders. */
export const STREAM_IDS_PER_ROOM_MAX = 16_384;

export type ReplayVerdict = 'fresh' | 'replayed' | 'outside_window';

interface SenderMemory {
  /** Stream id -> signed time. */
  ids: Map<string, number>;
  /** This sender's streams at or below this signed time are refused (their ids may have been forgotten). */
  floor: number;
}

interface RoomMemory {
  senders: Map<string, SenderMemory>;
  /** Ids over all senders. */
  size: number;
}

export interface ReplayGuardOptions {
  windowMs?: number;
  idsPerSenderMax?: number;
  idsPerRoomMax?: number;
  /** The reader's clock, ms since the Unix epoch (tests move it). */
  now?: () => number;
}

export class ReplayGuard {
  private readonly rooms = new Map<string, RoomMemory>();
  private readonly windowMs: number;
  private readonly idsPerSenderMax: number;
  private readonly idsPerRoomMax: number;
  private readonly now: () => number;
  private admitted = 0;

  constructor(options: ReplayGuardOptions = {}) {
    this.windowMs = options.windowMs ?? STREAM_REPLAY_WINDOW_MS;
    this.idsPerSenderMax = Math.max(2, options.idsPerSenderMax ?? STREAM_IDS_PER_SENDER_MAX);
    this.idsPerRoomMax = Math.max(2, options.idsPerRoomMax ?? STREAM_IDS_PER_ROOM_MAX);
    this.now = options.now ?? Date.now;
  }

  /** Admits a sender's stream once: `fresh` (now remembered), or why it is refused. */
  admit(roomId: string, senderId: string, streamId: string, signedTime: number): ReplayVerdict {
    const now = this.now();
    if (Math.abs(signedTime - now) > this.windowMs) return 'outside_window';
    let room = this.rooms.get(roomId);
    if (room === undefined) this.rooms.set(roomId, (room = { senders: new Map(), size: 0 }));
    let sender = room.senders.get(senderId);
    if (sender === undefined) room.senders.set(senderId, (sender = { ids: new Map(), floor: -Infinity }));
    if (signedTime <= sender.floor || sender.ids.has(streamId)) return 'replayed';
    sender.ids.set(streamId, signedTime);
    room.size++;
    if (sender.ids.size > this.idsPerSenderMax) {
      this.expire(room, sender, now);
      if (sender.ids.size > this.idsPerSenderMax / 2) this.halve(room, sender);
    }
    if (room.size > this.idsPerRoomMax) {
      for (const s of room.senders.values()) this.expire(room, s, now);
      let largest = sender;
      for (const s of room.senders.values()) if (s.ids.size > largest.ids.size) largest = s;
      if (room.size > this.idsPerRoomMax) this.halve(room, largest);
    }
    if (++this.admitted % 1024 === 0) this.sweep(now);
    return 'fresh';
  }

  /** Ids remembered in a room, of one sender or of all (for tests). */
  size(roomId: string, senderId?: string): number {
    const room = this.rooms.get(roomId);
    if (room === undefined) return 0;
    return senderId === undefined ? room.size : (room.senders.get(senderId)?.ids.size ?? 0);
  }

  /** Forgets the older half of a sender's ids (by signed time), raising its floor to the newest forgotten. */
  private halve(room: RoomMemory, sender: SenderMemory): void {
    const entries = [...sender.ids].sort((a, b) => a[1] - b[1]);
    const drop = entries.length - Math.floor(entries.length / 2);
    for (let i = 0; i < drop; i++) sender.ids.delete(entries[i]![0]);
    room.size -= drop;
    sender.floor = Math.max(sender.floor, entries[drop - 1]![1]);
  }

  /** Forgets a sender's ids whose time left the window: a replay of those is refused by its time. */
  private expire(room: RoomMemory, sender: SenderMemory, now: number): void {
    for (const [id, time] of sender.ids) {
      if (time < now - this.windowMs) {
        sender.ids.delete(id);
        room.size--;
      }
    }
  }

  /** Now and then: senders and rooms whose every id left the window are forgotten whole. */
  private sweep(now: number): void {
    for (const [roomId, room] of this.rooms) {
      for (const [senderId, sender] of room.senders) {
        this.expire(room, sender, now);
        if (sender.ids.size === 0 && sender.floor < now - this.windowMs) room.senders.delete(senderId);
      }
      if (room.senders.size === 0) this.rooms.delete(roomId);
    }
  }
}
