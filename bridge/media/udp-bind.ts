/**
 * How the unit's transports bind their UDP socket (docs/media/forwarding-unit.md, "What keeps the
 * Bridge safe from its clients' media"). werift 0.25.2, given a port range, first probes for a free
 * port with a throwaway socket, closes it, and binds the transport's own socket there later, with no
 * 'error' listener. Another process can take the port in between (a second Bridge on this host with
 * the same `portRange`, any ephemeral bind inside it): the bind's 'error' then had no listener and
 * stopped the whole Bridge, and had it been caught, the 'listening' werift waits for would never have
 * come, stalling the unit's negotiation of that transport for good. Each probe also scanned the range from its first
 * port, one event-loop turn per port in use.
 *
 * `fixUdpBind` (once per process) binds the transport's own socket directly, with a listener:
 * through the range from where the last search stopped (next fit), on to the next port when one is
 * taken. A range found full is not searched again for FULL_RANGE_RETRY_MS: offers meanwhile fail at
 * once (MEDIA_UNAVAILABLE), so a member cannot make the unit scan thousands of ports per offer.
 */
import type { Socket } from 'node:dgram';
import { UdpTransport } from 'werift';

/** After a search found every port of a range taken, the range counts as full this long. */
export const FULL_RANGE_RETRY_MS = 1000;

/** What the fix reads of werift's UdpTransport (werift 0.25.2). */
interface Transport {
  socket: Socket;
  socketType: 'udp4' | 'udp6';
  options: { port?: number; portRange?: [number, number]; interfaceAddresses?: Partial<Record<'udp4' | 'udp6', string>> };
}

/** Binds `socket` once; rejects with the bind's error (the socket may bind again after). */
function bindOnce(socket: Socket, port: number | undefined, address: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => {
      socket.off('listening', listening);
      reject(error);
    };
    const listening = () => {
      socket.off('error', failed);
      resolve();
    };
    socket.once('error', failed);
    socket.once('listening', listening);
    socket.bind({ port, address });
  });
}

/** Per range: where the next search starts, and until when it counts as full. */
const ranges = new Map<string, { next: number; fullUntil: number }>();

/** Binds a port of [min, max], next fit; rejects when every port is taken. */
async function bindInRange(socket: Socket, [min, max]: [number, number], address: string | undefined, now: number): Promise<void> {
  const key = `${address ?? ''}:${min}-${max}`;
  const range = ranges.get(key) ?? { next: min, fullUntil: 0 };
  ranges.set(key, range);
  if (now < range.fullUntil) throw new Error(`every UDP port in [${min}, ${max}] was taken a moment ago`);
  const size = max - min + 1;
  for (let i = 0; i < size; i++) {
    const port = min + ((range.next - min + i) % size);
    try {
      await bindOnce(socket, port, address);
      range.next = port === max ? min : port + 1;
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EACCES') throw error;
    }
  }
  range.fullUntil = now + FULL_RANGE_RETRY_MS;
  throw new Error(`every UDP port in [${min}, ${max}] is taken`);
}

let fixed = false;

/** Replaces werift's UdpTransport.init (idempotent). A werift upgrade must keep `init` as where a transport binds. */
export function fixUdpBind(now: () => number = performance.now.bind(performance)): void {
  if (fixed) return;
  fixed = true;
  // `init` is private in werift's types.
  (UdpTransport.prototype as unknown as { init(this: Transport): Promise<void> }).init = async function init(this: Transport) {
    const address = this.options.interfaceAddresses?.[this.socketType];
    try {
      if (this.options.portRange !== undefined && !this.options.port) await bindInRange(this.socket, this.options.portRange, address, now());
      else await bindOnce(this.socket, this.options.port || undefined, address);
    } catch (error) {
      // werift drops a transport whose init failed without closing it: its socket (a descriptor since
      // the first bind attempt) is closed here.
      this.socket.close();
      throw error;
    }
  };
}
