/**
 * The receive window a connection declares to the Bridge (docs/protocol/byte-streams.md, "Receive
 * windows"): how far a sender may run ahead of what this connection consumed, on each stream it
 * receives.
 *
 * The bulk governor (util/bulk-governor.ts) paces a process's byte streams through their credits. What
 * a credit does not cover is the lead a stream opens with: a sender may send a whole window to every
 * receiver before any credit, and the Bridge forwards it. A room-wide stream of 1-2 MiB sent to 29
 * members brought each receiving process a window (1 MiB by default) per copy at once, ungoverned: in
 * the load benchmark's files phase most received bytes came that way (docs/operations/load.md,
 * "Receive windows"). So while the governor paces this process, each of its connections declares
 * what the governor's rate lets through in `LEAD_MS`, in steps of four from
 * STREAM_RECEIVE_WINDOW_MIN_BYTES (128 KiB, the least the Bridge takes) down to it: a stream that opens
 * brings at most that much before the governed credits. On a path whose credit round trip is under
 * `LEAD_MS / 4`, the lead never holds a stream below the governor's own rate. When pacing stops, it
 * declares none again (each stream's window).
 *
 * Declared on every (re)connected socket before the requests that restore its rooms, when the process
 * starts or stops carrying real-time tracks, when `bulkYield` changes, and (at most every
 * `FOLLOW_MS`) when the governor's rate moves the lead to another step. A Bridge that does not know the
 * request (older than protocol 3) keeps each stream's window.
 */
import type { Connection } from '../../connection.ts';
import type { Logger } from '../../logger.ts';
import { STREAM_RECEIVE_WINDOW_MIN_BYTES, STREAM_WINDOW_MAX_BYTES } from '../../../protocol/ws.ts';
import { bulkGovernor } from '../../util/bulk-governor.ts';
import { onRealtimeChange } from '../../util/realtime-presence.ts';

/** The lead is what the governor's rate lets through in this long. Milliseconds. */
export const LEAD_MS = 200;
/** A change of the rate reaches the Bridge within this long (one declaration per connection then). Milliseconds. */
export const FOLLOW_MS = 500;

/** The receive window for a governor at `rate` bytes per second: a step of 128 KiB x 4^n, at most rate x LEAD_MS. */
export function receiveWindowFor(rate: number): number {
  let bytes = STREAM_RECEIVE_WINDOW_MIN_BYTES;
  while (bytes * 4 <= Math.min(STREAM_WINDOW_MAX_BYTES, (rate * LEAD_MS) / 1000)) bytes *= 4;
  return bytes;
}

/** Weakly held: a connection that is gone drops out by itself. */
const windows = new Set<WeakRef<ReceiveWindow>>();
let followTimer: ReturnType<typeof setTimeout> | undefined;

/** Every connection of this process declares again what the governor now wants (Endpoint.setup, presence changes). */
export function refreshReceiveWindows(): void {
  for (const ref of windows) {
    const w = ref.deref();
    if (w === undefined) windows.delete(ref);
    else w.refresh();
  }
}

onRealtimeChange(refreshReceiveWindows);
bulkGovernor.onRateChange(() => {
  if (followTimer !== undefined || windows.size === 0) return;
  followTimer = setTimeout(() => {
    followTimer = undefined;
    refreshReceiveWindows();
  }, FOLLOW_MS);
  (followTimer as { unref?: () => void }).unref?.();
});

/** What one connection declared, kept in step with the governor. */
export class ReceiveWindow {
  /** What the Bridge holds for this socket (null: each stream's window). */
  #declared: number | null = null;

  constructor(
    private readonly connection: Pick<Connection, 'request'>,
    private readonly log: Logger,
  ) {
    windows.add(new WeakRef(this));
  }

  /** The receive window in force for streams opening now, or undefined for each stream's window. */
  get bytes(): number | undefined {
    return this.#declared ?? undefined;
  }

  /** The socket is new (connected or reconnected): the Bridge holds nothing for it yet. */
  socketOpened(): void {
    this.#declared = null;
    this.refresh();
  }

  /** The socket closed: what it declared went with it. */
  socketClosed(): void {
    this.#declared = null;
  }

  /** Declares what the governor wants now, if that is not what the Bridge holds. */
  refresh(): void {
    const wanted = bulkGovernor.pacing ? receiveWindowFor(bulkGovernor.rate) : null;
    if (wanted === this.#declared) return;
    this.#declared = wanted;
    this.connection.request('byteStreamReceiveWindow', { bytes: wanted }).catch((error: unknown) => {
      // Not connected (the next socket declares it again), or a Bridge without receive windows: either
      // way the Bridge holds each stream's window for this socket.
      if (this.#declared === wanted) this.#declared = null;
      this.log.debug({ error: String(error), bytes: wanted }, 'the receive window was not declared');
    });
  }
}
