/**
 * Baseline peers of the memory benchmark: many plain `ws` connections in one process, each to a room
 * of bench/procs/ws-room-server.ts (`/room/<n>`), sitting idle. Served by bench/procs/peers.ts under
 * the `ws.` prefix, beside the sealroom and socket.io peers.
 */
import WebSocket from 'ws';
import type { Handler } from '../lib/worker.ts';

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

export function wsPeers(): Record<string, Handler> {
  const sockets: WebSocket[] = [];
  return {
    /** `count` connections to each room. */
    async connect(p: { url: string; rooms: Array<{ room: number; count: number }> }) {
      for (const { room, count } of p.rooms) {
        for (let i = 0; i < count; i++) sockets.push(await open(`${p.url}/room/${room}`));
      }
      return sockets.length;
    },

    disconnect() {
      for (const s of sockets) s.close();
      sockets.length = 0;
      return null;
    },

    count() {
      return sockets.filter((s) => s.readyState === WebSocket.OPEN).length;
    },
  };
}
