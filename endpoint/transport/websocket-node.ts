/** Node: WebSockets from the `ws` package (Node 20 has no global WebSocket). */
import { WebSocket } from 'ws';
import { DOWN_MESSAGE_MAX_BYTES } from '../../protocol/ws.ts';
import { joinReceiveTurns } from './receive-turns.ts';
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
  const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: DOWN_MESSAGE_MAX_BYTES, generateMask: zeroMask });
  // Buffers, not ArrayBuffers: a message that arrived in one socket read is a view into that read, with
  // no copy ('arraybuffer' copied every such message: ~7% of a data-track receiver's CPU). What is kept
  // beyond the call is copied by whoever keeps it (endpoint/socket-messages.ts: every frame but DATA;
  // the data-track receiver: a frame it queues), so no view holds a whole read alive (docs/operations/load.md,
  // "Client CPU per message": held views had raised a byte stream receiver's GC time about eightfold).
  socket.binaryType = 'nodebuffer';
  // Its messages are handled in the process's bounded receive turns (receive-turns.ts), so a backlog of
  // incoming traffic cannot hold timers, REST answers and sends back for seconds.
  const turns = joinReceiveTurns(socket);
  socket.once('close', turns.release);
  // `message` listeners straight on ws's emitter: its addEventListener wraps every message in a
  // MessageEvent first. The others (open, close, error) keep ws's WHATWG events.
  const addEventListener = socket.addEventListener.bind(socket);
  const patched = socket as unknown as SocketLike;
  patched.addEventListener = ((type: 'open', listener: (event?: unknown) => void) => {
    if ((type as string) !== 'message') {
      addEventListener(type, listener);
      return;
    }
    socket.on(
      'message',
      turns.handle((data: Buffer, isBinary: boolean) => listener({ data: isBinary ? data : data.toString() })),
    );
  }) as SocketLike['addEventListener'];
  return patched;
};
