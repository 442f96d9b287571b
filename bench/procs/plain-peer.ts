/**
 * Baseline peers for byte-stream throughput: a plain WebSocket sender that pushes N bytes in 64 KiB
 * messages through bench/procs/plain-relay.ts (keeping at most WINDOW_BYTES unacknowledged by its own
 * socket), and a receiver that counts them. Times are on the shared monotonic clock.
 */
import WebSocket from 'ws';
import { nowMs, sleep } from '../lib/clock.ts';
import { serve } from '../lib/worker.ts';

/** Bytes the sender lets its socket hold before it waits. */
const WINDOW_BYTES = 1024 * 1024;

let socket: WebSocket | undefined;
/** Bytes received since the socket opened (never reset: a reset could race the next run's data). */
let received = 0;
let waiter: { total: number; resolve: (at: number) => void } | undefined;

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // A zero mask, as sealroom's Node transport uses: both sides skip masking work, so the baseline is
    // the physical limit of the same WebSocket stack, not a slower one.
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 * 1024 * 1024, generateMask: (m) => void m.fill(0) });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

serve({
  async connect(p: { url: string; role: 'send' | 'recv' }) {
    socket = await open(`${p.url}/${p.role}`);
    if (p.role === 'recv') {
      socket.on('message', (data: Buffer) => {
        received += data.length;
        if (waiter !== undefined && received >= waiter.total) {
          const w = waiter;
          waiter = undefined;
          w.resolve(nowMs());
        }
      });
    }
    return null;
  },

  /** Receiver: resolves with the time the `total`-th byte since the socket opened arrived. */
  expect(p: { total: number }) {
    if (received >= p.total) throw new Error(`already received ${received} bytes, more than the ${p.total} expected`);
    return new Promise<number>((resolve) => (waiter = { total: p.total, resolve }));
  },

  /**
   * Sender: pushes `bytes` in `chunkBytes` messages; returns the start time. `rateMBps`: at most this
   * many MB/s (10^6 bytes/s), each message sent when it is due (a wake-up sends all that are due), so the
   * relay's CPU per byte can be read at another system's rate (bench/scenarios/throughput.ts).
   */
  async send(p: { bytes: number; chunkBytes: number; rateMBps?: number }) {
    const ws = socket!;
    const chunk = Buffer.alloc(p.chunkBytes);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
    const startAt = nowMs();
    let inFlight = 0;
    let wake: (() => void) | undefined;
    for (let sent = 0; sent < p.bytes; sent += chunk.length) {
      if (p.rateMBps !== undefined) {
        const wait = startAt + sent / (p.rateMBps * 1000) - nowMs();
        if (wait > 0) await sleep(wait);
      }
      while (inFlight + chunk.length > WINDOW_BYTES) await new Promise<void>((resolve) => (wake = resolve));
      inFlight += chunk.length;
      ws.send(chunk, (error) => {
        if (error !== undefined && error !== null) throw error;
        inFlight -= chunk.length;
        const w = wake;
        wake = undefined;
        w?.();
      });
    }
    return { startAt };
  },
});
