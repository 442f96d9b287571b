/**
 * Sending at a fixed rate, and recording delivery latencies, the same way for sealroom and for the
 * baselines. A message carries its send time (bench/lib/clock.ts, the machine-wide monotonic clock) in
 * its first 8 bytes and a sequence number in the next 4; the receiver's latency is its own clock at
 * delivery minus that stamp.
 */
import { nowMs, sleep } from './clock.ts';

/** Bytes at the start of a message that carry its stamp: float64 send time (ms), uint32 sequence. */
export const STAMP_BYTES = 12;

export function stamp(message: Uint8Array, seq: number): void {
  const view = new DataView(message.buffer, message.byteOffset, STAMP_BYTES);
  view.setFloat64(0, nowMs(), true);
  view.setUint32(8, seq, true);
}

export function readStamp(message: Uint8Array): { sentAt: number; seq: number } {
  const view = new DataView(message.buffer, message.byteOffset, STAMP_BYTES);
  return { sentAt: view.getFloat64(0, true), seq: view.getUint32(8, true) };
}

/** A message of `size` bytes with filler after the stamp (random-looking, so nothing compresses it). */
export function makeMessage(size: number): Uint8Array {
  if (size < STAMP_BYTES) throw new RangeError(`"size" expected at least ${STAMP_BYTES} bytes, got ${size}`);
  const message = new Uint8Array(size);
  for (let i = STAMP_BYTES; i < size; i++) message[i] = (i * 2654435761) >>> 24;
  return message;
}

/**
 * Calls `send(seq)` `rate` times a second for `seconds`, on schedule: each wake-up sends every message
 * that is due (timers wake about every millisecond, so at 1,000 msg/s a wake-up sends one or two).
 * Returns how many were sent and how long it took.
 */
export async function sendPaced(rate: number, seconds: number, send: (seq: number) => void, firstSeq = 0): Promise<{ sent: number; elapsedMs: number }> {
  const total = Math.round(rate * seconds);
  const start = nowMs();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((nowMs() - start) * rate) / 1000) + 1);
    while (sent < due) send(firstSeq + sent++);
    if (sent < total) await sleep(1);
  }
  return { sent, elapsedMs: nowMs() - start };
}

/** A growable record of latencies (ms) and of the distinct sequence numbers seen. */
export class LatencyLog {
  private values = new Float64Array(1 << 16);
  private length = 0;
  recording = true;

  /** Records the delivery of a stamped message now. */
  deliver(message: Uint8Array): void {
    if (!this.recording) return;
    const { sentAt } = readStamp(message);
    this.push(nowMs() - sentAt);
  }

  push(value: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = value;
  }

  /** Latencies recorded since the last take. */
  get size(): number {
    return this.length;
  }

  /** The latencies recorded since the last take. */
  take(): Float64Array {
    const out = this.values.slice(0, this.length);
    this.length = 0;
    return out;
  }
}
