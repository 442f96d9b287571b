/**
 * How far behind a connection's reader is, from the Bridge's side (docs/protocol/data-tracks.md,
 * "Deadlines at the Bridge").
 *
 * The data queue drops a lossy frame older than its deadline when its turn comes, but it only sees its
 * own backlog: the kernel takes everything until its buffers are full (a send buffer of up to 4 MiB
 * here, and the reader's receive buffer of up to 32 MiB), so for a reader that is behind, seconds of
 * frames can wait there, counted as delivered, each to arrive late (docs/operations/load.md, "Over
 * capacity: stalled clients, and what the kernel holds").
 *
 * So while a connection receives real-time frames, the Bridge sends it a WebSocket ping now and then
 * (at most one out at a time, `LAG_PROBE_INTERVAL_MS` after the last answer). RFC 6455 has the peer
 * answer a ping with a pong once it has read it, and a ping goes behind everything written before it, so
 * a pong says the reader has read all of that (in Node, with `ws`, also handled it; a browser answers
 * from its network stack, which covers the kernel's share). While a probe is out, the reader is behind
 * by at least its age less the quickest round trip seen lately (which is the path, not a backlog): that
 * is `lagMs`, which the data queue adds to a frame's age (relay/data-queue.ts).
 *
 * Nothing here is new to a client: every WebSocket client answers pings. A client that never answers
 * is the hub's heartbeat's business (it terminates it); one that answers late only has its own lossy
 * frames dropped. Made on a connection's first real-time frame, so idle connections carry none of it.
 */

/** How long after a probe's answer the next may go out. Milliseconds. */
export const LAG_PROBE_INTERVAL_MS = 250;
/**
 * A probe out this long is given up (a new one may go): a backstop, since a pong to a later heartbeat
 * ping answers it too (`pong`). Milliseconds.
 */
const PROBE_GIVE_UP_MS = 60_000;
/** The quickest round trip is kept over the last one to two of these. Milliseconds. */
const RTT_WINDOW_MS = 20_000;
/** A probe's payload: this byte, then its number (u32 big-endian). Heartbeat pings carry none. */
const PROBE_TAG = 0x4c;
const PROBE_BYTES = 5;

/** What can send a ping: ws's WebSocket. */
export interface Pinger {
  ping(data: Buffer): void;
}

export class ReceiverLag {
  #seq = 0;
  /** The probe out now: its number and when it was sent (performance.now()). */
  #probe: { id: number; at: number } | undefined;
  #answeredAt = Number.NEGATIVE_INFINITY;
  /** The quickest round trip in the current window and in the one before. Milliseconds. */
  #quickest = Number.POSITIVE_INFINITY;
  #quickestBefore = Number.POSITIVE_INFINITY;
  #windowAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly socket: Pinger) {
    // Not guessable, so a reader cannot answer a probe it has not read.
    this.#seq = (Math.random() * 0x1_0000_0000) >>> 0;
  }

  /** Whether a probe should go with a real-time message sent now: none is out, and the last was answered long enough ago. */
  due(now: number): boolean {
    if (this.#probe !== undefined && now - this.#probe.at > PROBE_GIVE_UP_MS) this.#probe = undefined;
    return this.#probe === undefined && now - this.#answeredAt >= LAG_PROBE_INTERVAL_MS;
  }

  /** Sends a probe (after the message it goes with, so that its answer covers it). */
  probe(now: number): void {
    this.#seq = (this.#seq + 1) >>> 0;
    const payload = Buffer.allocUnsafe(PROBE_BYTES);
    payload[0] = PROBE_TAG;
    payload.writeUInt32BE(this.#seq, 1);
    this.#probe = { id: this.#seq, at: now };
    this.socket.ping(payload);
  }

  /**
   * A pong came. The probe's own answers it. So does the answer to a heartbeat ping sent after the probe
   * (`heartbeatSentAt`: when the hub's last ping went, if its pong is awaited): pongs come in order, and
   * RFC 6455 lets a peer that is behind answer only the latest ping it read, so the probe's own pong may
   * never come.
   */
  pong(data: Buffer, now: number, heartbeatSentAt?: number): void {
    const probe = this.#probe;
    if (probe === undefined) return;
    let sentAt: number;
    if (data.length === PROBE_BYTES && data[0] === PROBE_TAG && data.readUInt32BE(1) === probe.id) sentAt = probe.at;
    else if (data.length === 0 && heartbeatSentAt !== undefined && heartbeatSentAt >= probe.at) sentAt = heartbeatSentAt;
    else return;
    this.#sample(now - sentAt, now);
    this.#probe = undefined;
    this.#answeredAt = now;
  }

  #sample(rtt: number, now: number): void {
    if (now - this.#windowAt >= 2 * RTT_WINDOW_MS) {
      // Nothing measured for a whole window before this one: the old round trips are another path's.
      this.#quickestBefore = Number.POSITIVE_INFINITY;
      this.#quickest = rtt;
      this.#windowAt = now;
    } else if (now - this.#windowAt >= RTT_WINDOW_MS) {
      this.#quickestBefore = this.#quickest;
      this.#quickest = rtt;
      this.#windowAt = now;
    } else if (rtt < this.#quickest) this.#quickest = rtt;
  }

  /**
   * How far behind the reader is now, in milliseconds: the age of the probe out, less the quickest round
   * trip lately; 0 when no probe is out, and before the first answer (no round trip to compare with).
   */
  lagMs(now: number): number {
    const probe = this.#probe;
    if (probe === undefined) return 0;
    const quickest = Math.min(this.#quickest, this.#quickestBefore);
    if (quickest === Number.POSITIVE_INFINITY) return 0;
    return Math.max(0, now - probe.at - quickest);
  }
}
