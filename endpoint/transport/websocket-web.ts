/** Browsers (and runtimes with a global WebSocket). */
import type { SocketFactory, SocketLike } from './websocket.ts';

export const createSocket: SocketFactory = (url) => {
  if (typeof globalThis.WebSocket !== 'function') throw new Error('this runtime has no WebSocket');
  const socket = new globalThis.WebSocket(url);
  socket.binaryType = 'arraybuffer';
  return socket as unknown as SocketLike;
};
