/** Browsers (and runtimes with a global WebSocket). */
import type { SocketFactory, SocketLike } from './websocket.ts';

export const createSocket: SocketFactory = (url) => {
  if (typeof globalThis.WebSocket !== 'function') throw new Error('this runtime has no WebSocket');
  return new globalThis.WebSocket(url) as unknown as SocketLike;
};
