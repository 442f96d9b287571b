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
 * STREAM_RECEIVE_WINDOW_MIN_BYTES (160 KiB, the least the Bridge takes) down to it: a stream that opens
 * brings at most that much before the governed credits. Up to 10 MiB (the largest step) and on a path
 * whose credit round trip is under `LEAD_MS / 4`, the lead holds no stream below the governor's own
 * rate; a reader that waits on the pipe counts as held, so the rate, and with it the lead, grows while
 * real time is on time (util/bulk-governor.ts). When pacing stops, it declares none again (each
 * stream's window).
 *
 * Declared on every (re)connected socket while the process paces (on a socket whose connection alone
 * carried the real-time tracks, once its rooms are restored and pacing starts again), when the process
 * starts or stops carrying real-time tracks, when `bulkYield` changes, and (at most every `FOLLOW_MS`)
 * when the governor's rate moves the lead to another step.
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

/** The receive window for a governor at `rate` bytes per second: a step of 160 KiB x 4^n, at most rate x LEAD_MS. */
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
  /** What the Bridge holds for this socket (null: each stream's window; undefined: not known, a request failed). */
  #declared: number | null | undefined = null;

  constructor(
    private readonly connection: Pick<Connection, 'request' | 'state'>,
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
    // Not connected: the next socket declares it (socketOpened).
    if (this.connection.state !== 'connected') return;
    const wanted = bulkGovernor.pacing ? receiveWindowFor(bulkGovernor.rate) : null;
    if (wanted === this.#declared) return;
    this.#declared = wanted;
    this.connection.request('byteStreamReceiveWindow', { bytes: wanted }).catch((error: unknown) => {
      // The socket closed (socketClosed already says null), or the request timed out, when the Bridge
      // may or may not hold it: unknown, so the next refresh declares it whatever it wants.
      if (this.#declared === wanted) this.#declared = undefined;
      this.log.debug({ error: String(error), bytes: wanted }, 'the receive window was not declared');
    });
  }
}
