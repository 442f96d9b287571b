/** Node: WebSockets from the `ws` package (Node 20 has no global WebSocket). */
import { WebSocket } from 'ws';
import type { SocketFactory, SocketLike } from './websocket.ts';

export const createSocket: SocketFactory = (url) =>
  new WebSocket(url, { perMessageDeflate: false, maxPayload: 8 * 1024 * 1024 }) as unknown as SocketLike;
