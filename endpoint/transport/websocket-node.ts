/** Node: WebSockets from the `ws` package (Node 20 has no global WebSocket). */
import { WebSocket } from 'ws';
import type { SocketFactory, SocketLike } from './websocket.ts';

/**
 * A zero masking key, which makes `ws` skip masking here and unmasking at the Bridge. Client-to-server
 * masking (RFC 6455 section 10.3) exists so that a hostile script in a browser cannot put bytes of its
 * choosing on the wire to poison intermediaries' caches. A Node Endpoint is not such a script, and what
 * it sends in bulk is AES-GCM ciphertext. Profiling a 1 GB stream showed JS masking as about 40% of the
 * sender's CPU. Browsers keep their own random masks.
 */
const zeroMask = (mask: Uint8Array): void => {
  mask.fill(0);
};

export const createSocket: SocketFactory = (url) => {
  const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 8 * 1024 * 1024, generateMask: zeroMask });
  // 'arraybuffer' costs ws a copy per message, but measured on a 256 MiB stream, 'nodebuffer' (slices of
  // ws's read buffers, held by readers) raised the receiver's GC time about eightfold.
  socket.binaryType = 'arraybuffer';
  return socket as unknown as SocketLike;
};
