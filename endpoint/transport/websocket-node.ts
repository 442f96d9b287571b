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

export const createSocket: SocketFactory = (url) =>
  new WebSocket(url, { perMessageDeflate: false, maxPayload: 8 * 1024 * 1024, generateMask: zeroMask }) as unknown as SocketLike;
