/**
 * What arrives on a Connection's socket (connection.ts), decoded and routed: binary frames (only those
 * sent down) to the `frame` hooks, results and errors to the requests waiting for them
 * (pending-requests.ts), events and the media unit's notices to their hooks. A BATCH message (protocol
 * 2: the frames the Bridge wrote in one turn) is routed frame by frame, in order, as if each had come
 * alone. What is malformed or unexpected is dropped and logged.
 */
import { DOWN_MESSAGE_MAX_BYTES, decodeFrame, FRAME_BATCH_DOWN, FRAME_DATA_DOWN, serverMessageSchema, splitBatch } from '../protocol/ws.ts';
import type { ConnectionHooks } from './internal.ts';
import type { Logger } from './logger.ts';
import type { PendingRequests } from './pending-requests.ts';
import type { Emitter } from './util/emitter.ts';

export class SocketMessages {
  readonly #log: Logger;
  readonly #hooks: Emitter<ConnectionHooks>;
  readonly #requests: PendingRequests;

  constructor(log: Logger, hooks: Emitter<ConnectionHooks>, requests: PendingRequests) {
    this.#log = log;
    this.#hooks = hooks;
    this.#requests = requests;
  }

  /** Made once: `handle` runs for every frame. */
  readonly #frameListenerFailed = (error: unknown): void => this.#log.error({ error: String(error) }, 'frame listener failed');

  #binary(bytes: Uint8Array): void {
    const frame = decodeFrame(bytes);
    if (frame === undefined || frame.direction !== 'down') {
      this.#log.warn('dropped a malformed binary frame from the Bridge');
      return;
    }
    this.#hooks.emit('frame', frame, this.#frameListenerFailed);
  }

  /** Browsers' sockets take messages of any size; Node's closes past the same bound (transport/websocket-node.ts). */
  #tooLarge(size: number): void {
    this.#log.warn({ size, max: DOWN_MESSAGE_MAX_BYTES }, 'dropped a message from the Bridge larger than any it sends');
  }

  handle(data: unknown): void {
    if (data instanceof ArrayBuffer || data instanceof Uint8Array) {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (bytes.byteLength > DOWN_MESSAGE_MAX_BYTES) return this.#tooLarge(bytes.byteLength);
      if (bytes[0] !== FRAME_BATCH_DOWN) return this.#binary(binaryFrame(bytes));
      const frames = splitBatch(bytes);
      if (frames === undefined) {
        this.#log.warn('dropped a malformed batch from the Bridge');
        return;
      }
      for (const frame of frames) this.#binary(binaryFrame(frame));
      return;
    }
    const text = String(data);
    // A string of n UTF-16 units is at least n bytes of UTF-8: one longer than the bound is over it.
    if (text.length > DOWN_MESSAGE_MAX_BYTES) return this.#tooLarge(text.length);
    let parsed: ReturnType<typeof serverMessageSchema.safeParse>;
    try {
      parsed = serverMessageSchema.safeParse(JSON.parse(text));
    } catch {
      this.#log.warn('dropped a malformed message from the Bridge');
      return;
    }
    if (!parsed.success) {
      this.#log.warn({ issue: parsed.error.issues[0]?.message }, 'dropped an unexpected message from the Bridge');
      return;
    }
    const message = parsed.data;
    switch (message.kind) {
      case 'result':
      case 'error':
        this.#requests.settle(message);
        return;
      case 'event':
        this.#hooks.emit('event', message.event, (error) => this.#log.error({ error: String(error) }, 'event listener failed'));
        return;
      case 'media':
        // The unit's offers and notices, after a mediaJoin (docs/media/endpoint-media.md).
        this.#hooks.emit('media', message.event, (error) => this.#log.error({ error: String(error) }, 'media listener failed'));
        return;
      default: {
        const never: never = message;
        this.#log.warn({ kind: (never as { kind: string }).kind }, 'unknown message kind');
      }
    }
  }
}

/**
 * A binary frame as its own bytes, where they may be kept. In Node a message may be a view into the
 * socket's read (endpoint/transport/websocket-node.ts), and a frame of a BATCH is a view into the batch:
 * every frame but DATA that does not own its whole buffer is copied, as its bytes may be kept (a byte
 * stream's chunk waits for its reader) and a view would keep the whole read alive. A DATA frame is
 * handled in the call that delivered it; the data-track receiver copies one it queues.
 */
function binaryFrame(bytes: Uint8Array): Uint8Array {
  if (bytes[0] === FRAME_DATA_DOWN || bytes.byteLength === bytes.buffer.byteLength) return bytes;
  return new Uint8Array(bytes);
}
