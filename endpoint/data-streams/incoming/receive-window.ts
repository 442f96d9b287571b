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
 * "Receive windows"). So while the governor paces this process, its connections declare what the
 * governor's rate lets through in `LEAD_MS`, shared among them (the rate is the process's, and each of
 * them takes a lead on every stream it receives), in steps of four from STREAM_RECEIVE_WINDOW_MIN_BYTES
 * (160 KiB, the least the Bridge takes) down to it: a stream that opens brings at most that much before
 * the governed credits. A process with one connection, as an app on a device has, declares the whole
 * lead; one that hosts 75 members declares the least, so what it takes in before any credit is 160 KiB
 * per connection and stream, a quarter of what it took when each declared the whole lead
 * (docs/operations/load.md, "The first seconds of the files phase, again"). With one connection, up to
 * 10 MiB (the largest step) and on a path whose credit round trip is under `LEAD_MS / 4`, the lead
 * holds no stream below the governor's own rate (with n, a stream that one connection receives alone
 * gets 1/n of it); a reader that waits on the pipe counts as held, so the rate, and with it the lead,
 * grows while real time is on time (util/bulk-governor.ts). When pacing stops, it declares none again
 * (each stream's window).
 *
 * Declared on every (re)connected socket while the process paces (on a socket whose connection alone
 * carried the real-time tracks, once its rooms are restored and pacing starts again), when the process
 * starts or stops carrying real-time tracks, when `bulkYield` changes, and (at most every `FOLLOW_MS`)
 * when the governor's rate moves the lead to another step or a socket of the process opens (a socket
 * that closes leaves the others' smaller share in place until the next of these: too small a lead costs
 * a little speed, too large one lets in what the governor does not see).
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

/**
 * The receive window of each of `connections` connections (default 1) of a process whose governor is at
 * `rate` bytes per second: a step of 160 KiB x 4^n, at most their share of rate x LEAD_MS.
 */
export function receiveWindowFor(rate: number, connections = 1): number {
  let bytes = STREAM_RECEIVE_WINDOW_MIN_BYTES;
  while (bytes * 4 <= Math.min(STREAM_WINDOW_MAX_BYTES, (rate * LEAD_MS) / 1000 / Math.max(1, connections))) bytes *= 4;
  return bytes;
}

/** This process's connected sockets that declare a receive window: the lead is shared among them. */
export function sharingConnections(): number {
  let connected = 0;
  for (const ref of windows) {
    const w = ref.deref();
    if (w === undefined) windows.delete(ref);
    else if (w.connected) connected++;
  }
  return connected;
}

/** Weakly held: a connection that is gone drops out by itself. */
const windows = new Set<WeakRef<ReceiveWindow>>();
let followTimer: ReturnType<typeof setTimeout> | undefined;

/** Every connection of this process declares again what the governor now wants (Endpoint.setup, presence changes). */
export function refreshReceiveWindows(): void {
  const sharing = sharingConnections();
  for (const ref of windows) ref.deref()?.refresh(sharing);
}

/** Every connection declares again within FOLLOW_MS: the rate moved, or a socket joined those sharing it. */
function followSoon(): void {
  if (followTimer !== undefined || windows.size === 0) return;
  followTimer = setTimeout(() => {
    followTimer = undefined;
    refreshReceiveWindows();
  }, FOLLOW_MS);
  (followTimer as { unref?: () => void }).unref?.();
}

onRealtimeChange(refreshReceiveWindows);
bulkGovernor.onRateChange(followSoon);

/** What one connection declared, kept in step with the governor. */
export class ReceiveWindow {
  /** What the Bridge holds for this socket (null: each stream's window; undefined: not known, a request failed). */
  #declared: number | null | undefined = null;
  /** Between the socket's open and its close (the connection's state changes only after the close hooks ran). */
  #open = false;

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

  /** Whether the socket is connected (it then shares the process's lead). */
  get connected(): boolean {
    return this.#open && this.connection.state === 'connected';
  }

  /** The socket is new (connected or reconnected): the Bridge holds nothing for it yet. */
  socketOpened(): void {
    this.#declared = null;
    this.#open = true;
    this.refresh();
    followSoon();
  }

  /** The socket closed: what it declared went with it. */
  socketClosed(): void {
    this.#declared = null;
    this.#open = false;
  }

  /** Declares what the governor wants now, if that is not what the Bridge holds (`sharing`: the process's connected sockets). */
  refresh(sharing = sharingConnections()): void {
    // Not connected: the next socket declares it (socketOpened).
    if (!this.connected) return;
    const wanted = bulkGovernor.pacing ? receiveWindowFor(bulkGovernor.rate, sharing) : null;
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
