/**
 * The load benchmark's baseline (bench/scenarios/load.ts): a plain `ws` room broadcast server. A
 * client connects to `/room/<n>`; every binary message it sends goes, as it is, to every other socket
 * of that room. No auth, no crypto, no framing of its own, no queues beyond the sockets': what a
 * delivery costs at the least on the same WebSocket stack. The memory benchmark holds idle sockets in
 * its rooms: what a joined connection costs at the least.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { serve } from '../lib/worker.ts';

const http = createServer();
const wss = new WebSocketServer({ server: http, maxPayload: 64 * 1024, perMessageDeflate: false });
const rooms = new Map<string, Set<WebSocket>>();
let deliveries = 0;

wss.on('connection', (ws, req) => {
  const room = req.url ?? '/';
  let members = rooms.get(room);
  if (members === undefined) rooms.set(room, (members = new Set()));
  const set = members;
  set.add(ws);
  ws.on('message', (data: RawData, isBinary) => {
    for (const other of set) {
      if (other === ws) continue;
      other.send(data as Buffer, { binary: isBinary });
      deliveries++;
    }
  });
  ws.on('close', () => set.delete(ws));
});

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const { port } = http.address() as AddressInfo;
serve(
  {
    deliveries: () => deliveries,
    /** The memory benchmark's baseline (bench/scenarios/memory.ts): run with --expose-gc. */
    memory: () => {
      globalThis.gc?.();
      return { ...process.memoryUsage(), connections: wss.clients.size };
    },
  },
  { url: `ws://127.0.0.1:${port}`, pid: process.pid },
  () => new Promise<void>((resolve) => wss.close(() => resolve())),
);
