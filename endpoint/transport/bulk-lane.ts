/**
 * The bulk lane of one socket (docs/operations/realtime-priorities.md): byte-stream CHUNK frames wait
 * here and enter the socket only while it holds less than `BULK_SHARE_BYTES`, so a request, a credit
 * or a data-track frame sent at any moment waits behind about one chunk in the socket's own buffer,
 * not behind the megabyte a stream may have in flight. What waits here counts in the Connection's
 * `bufferedAmount`, so the streams' own high-water mark (endpoint/data-streams/limits.ts) bounds it.
 *
 * Pumped from the socket's write callbacks where it has them (`ws` in Node), else by a short timer
 * (WebSockets have no drain event).
 */
import type { SocketLike } from './websocket.ts';
import { SOCKET_OPEN } from './websocket.ts';

/** Bulk enters the socket only while it holds less than this. Bytes (one 64 KiB chunk). */
export const BULK_SHARE_BYTES = 64 * 1024;
/** While frames wait and no write callback is due, the lane looks at the socket again after this. Ms. */
const PUMP_POLL_MS = 2;
/** The frame array is compacted once this many slots at its head are spent. */
const COMPACT_AFTER_FRAMES = 256;

/** `ws`'s send takes a callback fired once the frame was written; a browser's ignores it. */
type SendWithCallback = (data: Uint8Array, done: (error?: Error) => void) => void;

export class BulkLane {
  #frames: Array<Uint8Array | undefined> = [];
  #head = 0;
  #queuedBytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly socket: SocketLike) {}

  /** Bytes waiting here, not yet in the socket. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  push(frame: Uint8Array): void {
    this.#frames.push(frame);
    this.#queuedBytes += frame.length;
    this.pump();
  }

  private readonly written = (): void => this.pump();

  private pump(): void {
    const socket = this.socket;
    if (socket.readyState !== SOCKET_OPEN) {
      // The socket is gone: the streams fail on their own (ConnectionLost); nothing here is sent.
      this.#frames = [];
      this.#head = 0;
      this.#queuedBytes = 0;
      return;
    }
    while (this.#head < this.#frames.length && socket.bufferedAmount < BULK_SHARE_BYTES) {
      const frame = this.#frames[this.#head]!;
      this.#frames[this.#head++] = undefined;
      this.#queuedBytes -= frame.length;
      (socket.send as SendWithCallback)(frame, this.written);
    }
    if (this.#head === this.#frames.length) {
      this.#frames.length = 0;
      this.#head = 0;
    } else if (this.#head >= COMPACT_AFTER_FRAMES) {
      this.#frames = this.#frames.slice(this.#head);
      this.#head = 0;
    }
    // A browser never calls back: look again soon. `ws` calls back as the kernel takes each frame.
    if (this.#queuedBytes > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.pump();
      }, PUMP_POLL_MS);
    }
  }
}

const lanes = new WeakMap<SocketLike, BulkLane>();

/** The bulk lane of a socket, made on first use and forgotten with the socket. */
export function bulkLane(socket: SocketLike): BulkLane {
  let lane = lanes.get(socket);
  if (lane === undefined) lanes.set(socket, (lane = new BulkLane(socket)));
  return lane;
}

/** Bulk bytes a socket holds: in its buffer and waiting in its lane. */
export function queuedBulkBytes(socket: SocketLike): number {
  return lanes.get(socket)?.queuedBytes ?? 0;
}
