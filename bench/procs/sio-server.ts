/**
 * Baseline: a socket.io server in its own process, what many teams would build instead of sealroom. A
 * client `join`s a room (the one room `bench` unless it names another, as bench/data-track-cpu.ts's
 * clients do); a `m` message from a client is broadcast to the other members of its room
 * (`socket.to(room).emit`), as plaintext, with no authentication and no encryption.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { serve } from '../lib/worker.ts';

const ROOM = 'bench';

const http = createServer();
const io = new Server(http, { serveClient: false, transports: ['websocket'], maxHttpBufferSize: 1024 * 1024 + 1024 });
io.on('connection', (socket) => {
  let room = ROOM;
  // `join(ack)` or `join(roomName, ack)`.
  socket.on('join', (first?: unknown, second?: unknown) => {
    if (typeof first === 'string') room = first;
    void socket.join(room);
    const ack = typeof first === 'function' ? first : second;
    if (typeof ack === 'function') ack();
  });
  socket.on('m', (data: Buffer) => {
    socket.to(room).emit('m', data);
  });
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const { port } = http.address() as AddressInfo;

serve(
  {
    memory: () => {
      globalThis.gc?.();
      return { ...process.memoryUsage(), connections: io.engine.clientsCount };
    },
  },
  { url: `http://127.0.0.1:${port}`, pid: process.pid },
  () => new Promise<void>((resolve) => void io.close(() => resolve())),
);
