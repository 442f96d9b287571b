/**
 * Refuses a stream id seen before (docs/design.md, "Byte streams and text streams"): a Bridge that replays a
 * whole signed stream gets it refused, not shown twice.
 *
 * Memory is bounded by time and by count, tied to the header's signed time (`timestamp`, the sender's
 * clock when it opened the stream):
 * - a stream whose signed time is more than `STREAM_REPLAY_WINDOW_MS` from this reader's clock, either
 *   way, is refused outright: it is too old to be remembered, or from a clock too far off;
 * - inside the window, the ids of a room's streams are remembered until their time leaves the window;
 * - past `STREAM_IDS_PER_ROOM_MAX` ids in a room, the oldest half (by signed time) is forgotten and the
 *   room's floor rises to the newest time forgotten: a stream at or below the floor is refused, since
 *   its id might have been among those forgotten. Honest streams arrive in about the order they were
 *   opened, so only a flood from one room (more than the maximum inside one window) costs anything:
 *   streams delayed behind it by more than the history it keeps.
 *
 * The memory lives as long as the Endpoint (not across restarts; see docs/security/bridge-adversary.md).
 */

/** How far a stream's signed time may be from this reader's clock, either way. Ms. */
export const STREAM_REPLAY_WINDOW_MS = 10 * 60_000;
/** Stream ids remembered per room at most (about 100 bytes each). */
export const STREAM_IDS_PER_ROOM_MAX = 16_384;

export type ReplayVerdict = 'fresh' | 'replayed' | 'outside_window';

interface RoomMemory {
  /** Stream id -> signed time. */
  ids: Map<string, number>;
  /** Streams at or below this signed time are refused (their ids may have been forgotten). */
  floor: number;
}

export interface ReplayGuardOptions {
  windowMs?: number;
  idsPerRoomMax?: number;
  /** The reader's clock, ms since the Unix epoch (tests move it). */
  now?: () => number;
}

export class ReplayGuard {
  private readonly rooms = new Map<string, RoomMemory>();
  private readonly windowMs: number;
  private readonly idsPerRoomMax: number;
  private readonly now: () => number;
  private admitted = 0;

  constructor(options: ReplayGuardOptions = {}) {
    this.windowMs = options.windowMs ?? STREAM_REPLAY_WINDOW_MS;
    this.idsPerRoomMax = Math.max(2, options.idsPerRoomMax ?? STREAM_IDS_PER_ROOM_MAX);
    this.now = options.now ?? Date.now;
  }

  /** Admits a stream once: `fresh` (now remembered), or why it is refused. */
  admit(roomId: string, streamId: string, signedTime: number): ReplayVerdict {
    const now = this.now();
    if (Math.abs(signedTime - now) > this.windowMs) return 'outside_window';
    let room = this.rooms.get(roomId);
    if (room === undefined) this.rooms.set(roomId, (room = { ids: new Map(), floor: -Infinity }));
    if (signedTime <= room.floor || room.ids.has(streamId)) return 'replayed';
    room.ids.set(streamId, signedTime);
    if (room.ids.size > this.idsPerRoomMax) this.shed(room, now);
    if (++this.admitted % 1024 === 0) this.sweep(now);
    return 'fresh';
  }

  /** Ids remembered in a room (for tests). */
  size(roomId: string): number {
    return this.rooms.get(roomId)?.ids.size ?? 0;
  }

  /** Over the maximum: drop what left the window, then the older half, raising the floor. */
  private shed(room: RoomMemory, now: number): void {
    this.expire(room, now);
    if (room.ids.size <= this.idsPerRoomMax / 2) return;
    const entries = [...room.ids].sort((a, b) => a[1] - b[1]);
    const drop = entries.length - Math.floor(this.idsPerRoomMax / 2);
    for (let i = 0; i < drop; i++) room.ids.delete(entries[i]![0]);
    room.floor = Math.max(room.floor, entries[drop - 1]![1]);
  }

  /** Forgets the ids whose time left the window: a replay of those is refused by its time. */
  private expire(room: RoomMemory, now: number): void {
    for (const [id, time] of room.ids) if (time < now - this.windowMs) room.ids.delete(id);
  }

  /** Now and then: rooms whose every id left the window are forgotten whole. */
  private sweep(now: number): void {
    for (const [roomId, room] of this.rooms) {
      this.expire(room, now);
      if (room.ids.size === 0 && room.floor < now - this.windowMs) this.rooms.delete(roomId);
    }
  }
}
