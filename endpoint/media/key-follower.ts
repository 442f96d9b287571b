/**
 * Keeps the frame worker's keys in step with the KeyRing (docs/media/frame-encryption.md "Keys"): for
 * each room with protected tracks, the epoch keys held (the newest and those in their grace period) and
 * this client's member index, handed over again whenever they change.
 *
 * The KeyRing has no change event, and a rotation reaches it after the room head is announced
 * (endpoint/rooms/room-api.ts verifies the head, then unwraps the keys). So the follower looks at the
 * ring every `pollMs` (a few map lookups per followed room) and at once when a head is announced. A
 * newer epoch is handed over within one poll of the ring holding it, and the worker then switches all
 * senders of the room at once; an epoch whose grace ended in the ring leaves the worker within one poll.
 * Rotations themselves arrive as for data tracks: `streamRoomUpdated` makes the real-time plane fetch
 * the room (endpoint/realtime/key-refresh.ts), and so does a frame naming a newer epoch (`refresh`).
 */
import type { Connection } from '../connection.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import { memberIndexOf } from '../realtime/data-track-crypto.ts';
import type { KeyRefresher } from '../realtime/key-refresh.ts';
import { MEDIA_HEAD_HASH_BYTES, type RoomMediaKeys } from './frame-cryptor.ts';

/** How often the KeyRing is looked at for each followed room. In ms. */
export const KEY_POLL_MS = 250;
/** `handed` once the ring forgot a room whose keys were handed over: the worker was told to forget them. */
const NONE = 'none';
/** Epochs below the newest that are looked up (the grace period keeps only a few). */
const EPOCHS_SCANNED = 16;

export interface KeyFollowerDeps {
  connection: Pick<Connection, 'userId' | 'log'>;
  rooms: RoomApi;
  keys: KeyRing;
  refresher: KeyRefresher;
  /** Where each room's keys go (the frame worker). */
  sink: (roomId: string, keys: RoomMediaKeys) => void;
  pollMs?: number;
}

interface Followed {
  /** The epochs last handed over, newest first, the member index and the head: `"5,4|2|7:ab12..."`. */
  handed: string;
  newest: number | undefined;
  memberIndex: number | undefined;
  running: Promise<void> | undefined;
  again: boolean;
  /** The room was fetched because no key was held. */
  fetched: boolean;
}

export class MediaKeyFollower {
  readonly #rooms = new Map<string, Followed>();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #stopHeads: () => void;

  constructor(private readonly d: KeyFollowerDeps) {
    this.#stopHeads = d.rooms.onTrustedHead((roomId) => {
      if (this.#rooms.has(roomId)) this.sync(roomId);
    });
  }

  /** Starts following a room (idempotent) and hands its keys over now. */
  follow(roomId: string): void {
    if (!this.#rooms.has(roomId)) {
      this.#rooms.set(roomId, { handed: '', newest: undefined, memberIndex: undefined, running: undefined, again: false, fetched: false });
      this.#timer ??= startTimer(() => {
        for (const id of this.#rooms.keys()) this.sync(id);
      }, this.d.pollMs ?? KEY_POLL_MS);
    }
    this.sync(roomId);
  }

  unfollow(roomId: string): void {
    this.#rooms.delete(roomId);
    if (this.#rooms.size === 0) this.#stop();
  }

  /** A frame named a newer epoch: fetch the room (joining a fetch in flight), then hand the keys over. */
  refresh(roomId: string): void {
    if (!this.#rooms.has(roomId)) return;
    void this.d.refresher.refresh(roomId).then(() => this.sync(roomId));
  }

  /** Hands the room's keys over if they changed since the last time; one run per room at a time. */
  sync(roomId: string): void {
    const room = this.#rooms.get(roomId);
    if (room === undefined) return;
    if (room.running !== undefined) {
      room.again = true;
      return;
    }
    room.running = this.#sync(roomId, room)
      .catch((error: unknown) => this.d.connection.log.warn({ roomId, reason: (error as Error).message }, 'media E2EE: handing the room keys over failed'))
      .finally(() => {
        room.running = undefined;
        if (room.again) {
          room.again = false;
          this.sync(roomId);
        }
      });
  }

  /** Resolves once no hand-over is running for the room (tests). */
  async settled(roomId: string): Promise<void> {
    while (this.#rooms.get(roomId)?.running !== undefined) await this.#rooms.get(roomId)!.running;
  }

  close(): void {
    this.#rooms.clear();
    this.#stop();
    this.#stopHeads();
  }

  async #sync(roomId: string, room: Followed): Promise<void> {
    const { keys } = this.d;
    if (keys.newestEpoch(roomId) === undefined && !room.fetched) {
      // Not read yet (the session joins rooms first, so this is rare): fetch it once.
      room.fetched = true;
      await this.d.refresher.refresh(roomId);
    }
    const newest = keys.newestEpoch(roomId);
    if (this.#rooms.get(roomId) !== room) return; // unfollowed meanwhile
    if (newest === undefined) {
      // The ring forgot the room (deleted): so does the worker.
      if (room.handed !== '' && room.handed !== NONE) {
        room.handed = NONE;
        room.newest = undefined;
        this.d.sink(roomId, { userId: this.d.connection.userId, memberIndex: undefined, epochs: [] });
      }
      return;
    }
    const epochs: { epoch: number; key: Uint8Array }[] = [];
    for (let epoch = newest; epoch >= Math.max(1, newest - EPOCHS_SCANNED); epoch--) {
      const key = keys.get(roomId, epoch);
      // A copy: the ring wipes its keys in place when the room is forgotten, which may happen during the await below.
      if (key !== undefined) epochs.push({ epoch, key: key.slice() });
    }
    // The index comes from the verified head, like the data-track sender's (data-track-crypto.ts), and
    // the head itself goes into every frame this client sends (frame-cryptor.ts, "Stamp").
    const trusted = await this.d.rooms.trustedHead(roomId);
    if (this.#rooms.get(roomId) !== room) return;
    if (room.newest !== newest || room.memberIndex === undefined) {
      room.memberIndex = trusted === undefined ? undefined : memberIndexOf(trusted.record, this.d.connection.userId);
      room.newest = newest;
    }
    const head = trusted === undefined ? undefined : { version: trusted.record.version, hash: trusted.hash.slice(0, MEDIA_HEAD_HASH_BYTES) };
    const handed = `${epochs.map((e) => e.epoch).join(',')}|${room.memberIndex ?? '-'}|${head === undefined ? '-' : `${head.version}:${head.hash.join('.')}`}`;
    if (handed === room.handed) return;
    room.handed = handed;
    this.d.sink(roomId, { userId: this.d.connection.userId, memberIndex: room.memberIndex, epochs, head });
    this.d.connection.log.debug(
      { roomId, epochs: epochs.map((e) => e.epoch), memberIndex: room.memberIndex },
      'media E2EE: room keys handed to the frame worker',
    );
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** An interval that does not keep a Node process alive (browsers have no `unref`). */
function startTimer(run: () => void, ms: number): ReturnType<typeof setInterval> {
  const timer = setInterval(run, ms);
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
