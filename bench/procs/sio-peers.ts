/**
 * Baseline peers: many socket.io-client connections in one process (websocket transport, one
 * connection each: `forceNew`, no multiplexing), the same roles as sealroom-peers.ts: receivers that
 * record latency, client 0 that sends. Served by bench/procs/peers.ts under the `socketio.` prefix.
 */
import { io, type Socket } from 'socket.io-client';
import { sleep } from '../lib/clock.ts';
import { LatencyLog, makeMessage, sendPaced, stamp } from '../lib/pacing.ts';
import type { Handler } from '../lib/worker.ts';

function connectOne(url: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 10_000 });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => reject(error));
  });
}

export function socketIoPeers(): Record<string, Handler> {
  const sockets: Socket[] = [];
  const latencies = new LatencyLog();
  let background: { stop: boolean; done: Promise<unknown> } | undefined;
  /** Sockets in the room so far (the first `joined` of `sockets`). */
  let joined = 0;

  const first = (): Socket => {
    const s = sockets[0];
    if (s === undefined) throw new Error('no socket connected');
    return s;
  };

  const sendOne = (message: Uint8Array, seq: number, socket = first()): void => {
    stamp(message, seq);
    // socket.io keeps a reference until the packet is encoded; a copy keeps each message intact.
    socket.emit('m', Buffer.from(message));
  };

  return {
    async connect(p: { url: string; count: number }) {
      for (let i = 0; i < p.count; i++) sockets.push(await connectOne(p.url));
      return sockets.length;
    },

    /**
     * The next `count` sockets not yet in a room (default: all the rest) join the server's room (or the
     * one named `room`) and record the latency of what they receive.
     */
    async join(p: { count?: number; room?: string } | null) {
      const next = sockets.slice(joined, p?.count === undefined ? undefined : joined + p.count);
      joined += next.length;
      await Promise.all(
        next.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.on('m', (data: Buffer) => latencies.deliver(new Uint8Array(data.buffer, data.byteOffset, data.length)));
              if (p?.room === undefined) s.emit('join', () => resolve());
              else s.emit('join', p.room, () => resolve());
            }),
        ),
      );
      return null;
    },

    /** `rate` messages a second for `seconds`, from socket 0, or round-robin from the first `senders` sockets. */
    async stream(p: { rate: number; seconds: number; size: number; senders?: number }) {
      const message = makeMessage(p.size);
      const from = sockets.slice(0, p.senders ?? 1);
      if (from.length === 0) throw new Error('no socket connected');
      return { ...(await sendPaced(p.rate, p.seconds, (seq) => sendOne(message, seq, from[seq % from.length]))), errors: 0 };
    },

    startStreaming(p: { rate: number; size: number }) {
      if (background !== undefined) throw new Error('already streaming');
      const message = makeMessage(p.size);
      const state = { stop: false, done: Promise.resolve() as Promise<unknown> };
      state.done = (async () => {
        let seq = 0;
        while (!state.stop) seq += (await sendPaced(p.rate, 0.5, (s) => sendOne(message, s), seq)).sent;
      })();
      background = state;
      return null;
    },

    async stopStreaming() {
      if (background === undefined) return null;
      background.stop = true;
      await background.done;
      background = undefined;
      return null;
    },

    take() {
      return { latencies: latencies.take(), stats: {}, sendErrors: 0, lastSendError: '' };
    },

    received() {
      return latencies.size;
    },

    disconnect() {
      for (const s of sockets) s.disconnect();
      sockets.length = 0;
      joined = 0;
      return null;
    },

    count() {
      return sockets.filter((s) => s.connected).length;
    },

    async settle(p: { ms: number }) {
      await sleep(p.ms);
      return null;
    },
  };
}
