/**
 * Byte streams over a direct data channel (docs/protocol/peer-signalling.md, "Data on the direct
 * path"): the very chunks a relay stream carries (crypto/stream: STREAM AEAD under the room's epoch
 * key, the sender's signatures over header, checkpoints and end), in an envelope of their own instead
 * of the Bridge's CHUNK frame, with the same end-to-end credits: the sender runs at most
 * `DIRECT_WINDOW_BYTES` of content ahead of what the reader consumed.
 *
 *   OPEN    [0x01][16 streamId][u32 epoch]
 *   CHUNK   [0x02][16 streamId][u8 flags (0x01 last)][sealed chunk]
 *   CREDIT  [0x03][16 streamId][u64 consumed content bytes]
 *   REJECT  [0x04][16 streamId]                      (reader side: stop, nobody reads it)
 *   RECEIPT [0x05][16 streamId][u64 at][64 signature] (reader side, after the verified end)
 *
 * RECEIPT is the delivery receipt of docs/protocol/receipts.md, signed by the reader over the same
 * message as on the relay; the sender checks it against the reader's key in the verified room.
 * The reader opens chunks with the sender's key from the verified room and the sender's user id from
 * the signed signalling, so a message read here is verified exactly as one read off the relay.
 */
import { toBase64 } from '../../crypto/bytes.ts';
import { backend } from '../../crypto/backend/index.ts';
import { createStreamEncryptor, type SealedChunk, type StreamDecryptor, type StreamReaderKey, type StreamRecipients } from '../data-streams/stream-crypto.ts';
import type { StreamHeader } from '../data-streams/header.ts';
import { base64ToUrl } from '../data-streams/ids.ts';
import { BYTES_READ_ALL_MAX_BYTES, TEXT_READ_ALL_MAX_BYTES } from '../data-streams/limits.ts';
import { PeerError } from './errors.ts';

export const DIRECT_WINDOW_BYTES = 1024 * 1024;
/** Content per chunk: a sealed chunk stays below 64 KiB, the smallest SCTP message size peers accept. */
export const DIRECT_CHUNK_BYTES = 32 * 1024;
/** Bytes the channel may hold unsent before the sender waits. */
const CHANNEL_HIGH_WATER_BYTES = 1024 * 1024;
/**
 * Streams one peer may have towards this reader at once, over all its channels: from OPEN until the
 * app has read, cancelled or lost the stream (one it finished sending but the app has not read still
 * holds its data). Each holds at most DIRECT_STREAM_HELD_MAX, so a peer at most 16 of those.
 */
export const DIRECT_STREAMS_MAX = 16;
/**
 * Bytes of one stream this reader holds unread at most: the credit window, the chunk the sender may
 * send past it, and the header and checkpoints. A sender past it ignored the credits (DIRECT_WINDOW_BYTES)
 * and its stream fails with `Overloaded`; before, the reader queued whatever arrived.
 */
export const DIRECT_STREAM_HELD_MAX = DIRECT_WINDOW_BYTES + 2 * DIRECT_CHUNK_BYTES + 16 * 1024;

export const OPEN = 0x01;
export const CHUNK = 0x02;
export const CREDIT = 0x03;
export const REJECT = 0x04;
export const RECEIPT = 0x05;
export const SIGNATURE_BYTES = 64;
export const ID_BYTES = 16;

/** The part of a data channel a stream uses (browser RTCDataChannel and werift's alike). */
export interface ChannelLike {
  readonly label: string;
  readonly readyState: string;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
}

export interface SendStreamParams {
  channel: ChannelLike;
  header: StreamHeader;
  headerBytes: Uint8Array;
  epoch: number;
  /** The room's epoch key, or the recipients a random stream key is wrapped to (a private stream). */
  keying: { epochKey: Uint8Array } | { recipients: StreamRecipients };
  senderId: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
  source: AsyncIterable<Uint8Array>;
  onProgress(sent: number): void;
  signal: AbortSignal;
}

/** One outgoing stream's flow control, fed by CREDIT and REJECT from the channel. */
export class OutgoingCredit {
  allowed = DIRECT_WINDOW_BYTES;
  rejected = false;
  /** The reader's signed receipt, once it came (unverified here: the sender checks it). */
  receipt: { at: number; signature: Uint8Array } | undefined;
  #wake: (() => void) | undefined;

  receipted(at: number, signature: Uint8Array): void {
    this.receipt ??= { at, signature };
    this.#wake?.();
  }

  credit(consumed: number): void {
    this.allowed = Math.max(this.allowed, consumed + DIRECT_WINDOW_BYTES);
    this.#wake?.();
  }

  reject(): void {
    this.rejected = true;
    this.#wake?.();
  }

  /** Resolves on the next credit, reject or failure. */
  next(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#wake = undefined;
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** A frame of the envelope: type, stream id, `extra` bytes for the caller to fill, `body`. */
export function envelope(type: number, id: Uint8Array, extra: number, body?: Uint8Array): { out: Uint8Array; view: DataView } {
  const out = new Uint8Array(1 + ID_BYTES + extra + (body?.length ?? 0));
  out[0] = type;
  out.set(id, 1);
  if (body !== undefined) out.set(body, 1 + ID_BYTES + extra);
  return { out, view: new DataView(out.buffer) };
}

/**
 * Sends one stream on the channel: OPEN, the signed header, content chunks within the credit window
 * (a checkpoint where one is due), the signed end. Returns the content byte count. An abort sends the
 * signed abort chunk, so the reader learns the stream ended early rather than waiting.
 */
export async function sendStream(
  p: SendStreamParams,
  credit: OutgoingCredit,
  streamId: Uint8Array = backend().randomBytes(ID_BYTES),
): Promise<{ contentBytes: number; contentHash: Uint8Array }> {
  const enc = createStreamEncryptor({ ...p.keying, streamId, senderId: p.senderId, sign: p.sign, header: p.headerBytes });
  const open = envelope(OPEN, streamId, 4);
  open.view.setUint32(1 + ID_BYTES, p.epoch);
  const put = async (chunk: SealedChunk): Promise<void> => {
    while (p.channel.bufferedAmount > CHANNEL_HIGH_WATER_BYTES && !p.signal.aborted) await new Promise((r) => setTimeout(r, 5));
    if (p.channel.readyState !== 'open') throw new PeerError('ConnectionFailed', `the "${p.channel.label}" channel closed while sending`);
    const frame = envelope(CHUNK, streamId, 1, chunk.data);
    frame.out[1 + ID_BYTES] = chunk.last ? 1 : 0;
    p.channel.send(frame.out);
  };
  try {
    p.channel.send(open.out);
    await put(await enc.header());
    let sent = 0;
    try {
      for await (const input of p.source) {
        let offset = 0;
        while (offset < input.length) {
          if (p.signal.aborted) throw p.signal.reason instanceof Error ? p.signal.reason : new PeerError('Closed', 'the send was aborted');
          if (credit.rejected) throw new PeerError('Declined', `the peer does not read the "${p.channel.label}" channel`);
          if (enc.checkpointDue) await put(await enc.checkpoint());
          const size = Math.min(DIRECT_CHUNK_BYTES, enc.bytesBeforeCheckpoint, input.length - offset);
          if (sent + size > credit.allowed) {
            await credit.next(p.signal);
            continue;
          }
          // The encryptor reads `bytes` until it settles: hand it a copy of the slice it seals.
          await put(await enc.write(input.slice(offset, offset + size)));
          offset += size;
          sent += size;
          p.onProgress(sent);
        }
      }
    } catch (error) {
      // The abort's own failure (sealing or signing it) must not hide the error that ended the send.
      const reason = error instanceof Error ? error.message.slice(0, 200) : 'aborted';
      if (p.channel.readyState === 'open')
        await enc
          .abort(reason)
          .then(put)
          .catch(() => undefined);
      throw error;
    }
    const end = await enc.close();
    await put(end);
    return { contentBytes: sent, contentHash: end.contentHash! };
  } finally {
    // However the send ended (failed, aborted, the channel closed), the stream's key and hash state go
    // now, on the bulk thread too; after close() or abort() they are gone already and this does nothing.
    enc.dispose();
  }
}

/** One peer's count of incoming streams (DIRECT_STREAMS_MAX), shared by its channels. */
export interface DirectStreamBudget {
  open: number;
}

export interface IncomingDeps {
  roomId: string;
  /** The peer's streams, over all its channels. */
  budget: DirectStreamBudget;
  /** The remote user, as the signed signalling established it. */
  senderId: string;
  senderPublicKey(): Promise<Uint8Array | undefined>;
  epochKey(epoch: number): Uint8Array | undefined;
  /** This reader's unwrap, for private streams (their key wrapped to this user, as over the relay). */
  reader: StreamReaderKey;
  /** Signs this reader's receipt message (docs/protocol/receipts.md) for a stream read to its verified end. */
  signReceipt(streamId: Uint8Array, contentHash: Uint8Array, contentBytes: number, at: number): Promise<Uint8Array>;
  /** A verified stream opened: hand it to the app; false: nobody reads it (REJECT). */
  opened(stream: IncomingDirectStream): boolean;
  send(frame: Uint8Array): void;
}

/** A stream read off the direct path; `readable` errors if the stream fails to verify or the peer closes. */
/** What the channel reader drives on a stream; apps do not see it (STYLE.md rule 11). */
interface StreamControl {
  setHeader(header: StreamHeader): void;
  chunk(data: Uint8Array, last: boolean): Promise<'more' | 'end'>;
  fail(error: Error): void;
}
const streamControls = new WeakMap<IncomingDirectStream, StreamControl>();

/** The folder's handle on an incoming stream. */
export function streamControl(stream: IncomingDirectStream): StreamControl {
  return streamControls.get(stream)!;
}

export class IncomingDirectStream {
  #header: StreamHeader | undefined;
  readonly readable: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Opened chunks the app has not pulled yet (at most one credit window: the sender waits for credit). */
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #waiting = false;
  #consumed = 0;
  /** The verified end, once its chunk opened. */
  #ended: { contentHash: Uint8Array; contentBytes: number } | undefined;
  #done = false;

  readonly #id: Uint8Array;
  readonly #dec: StreamDecryptor;
  readonly #sendFrame: (frame: Uint8Array) => void;
  /** The app read the stream to its verified end: the receipt goes out. */
  readonly #onEnd: (contentHash: Uint8Array, contentBytes: number) => void;
  /** Read, cancelled or failed: the stream holds nothing any more (once). */
  readonly #onDone: () => void;

  /** @hideconstructor Made by the channel reader for each verified stream. */
  constructor(
    /** The channel it came on. */
    readonly label: string,
    id: Uint8Array,
    dec: StreamDecryptor,
    sendFrame: (frame: Uint8Array) => void,
    onEnd: (contentHash: Uint8Array, contentBytes: number) => void,
    onDone: () => void,
  ) {
    this.#id = id;
    this.#dec = dec;
    this.#sendFrame = sendFrame;
    this.#onEnd = onEnd;
    this.#onDone = onDone;
    streamControls.set(this, { setHeader: (h) => void (this.#header = h), chunk: (d, l) => this.#chunk(d, l), fail: (e) => this.#fail(e) });
    // Credit goes back as the app pulls: a reader that stops reading holds the sender at one window.
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => void (this.#controller = c),
        pull: () => {
          if (!this.#serve()) this.#waiting = true;
        },
        cancel: () => {
          this.#finish();
          // Nobody reads on: the stream's key and hash state go now (chunks still coming fail to open).
          this.#dec.dispose();
          this.#sendFrame(envelope(REJECT, this.#id, 0).out);
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** The stream's id (base64url of its 16 random bytes, as `info.id` of a relayed stream). */
  get id(): string {
    return base64ToUrl(toBase64(this.#id));
  }

  /** Opened bytes the app has not read yet. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** The sender's signed header (kind, name, mime type, size, `info` as attributes, sender, room). */
  get header(): StreamHeader | undefined {
    return this.#header;
  }

  /**
   * Reads the whole stream as UTF-8 text: at most `maxBytes` (default 1 MiB, TEXT_READ_ALL_MAX_BYTES),
   * else `LengthExceeded` and the stream is cancelled (the peer may send any size).
   */
  async text(options: { maxBytes?: number } = {}): Promise<string> {
    return new TextDecoder().decode(await this.bytes({ maxBytes: options.maxBytes ?? TEXT_READ_ALL_MAX_BYTES }));
  }

  /**
   * Reads the whole stream: at most `maxBytes` (default 64 MiB, BYTES_READ_ALL_MAX_BYTES), else
   * `LengthExceeded` and the stream is cancelled; read larger ones from `readable`.
   */
  async bytes(options: { maxBytes?: number } = {}): Promise<Uint8Array> {
    const max = options.maxBytes ?? BYTES_READ_ALL_MAX_BYTES;
    if (!Number.isSafeInteger(max) || max < 0) throw new PeerError('InvalidArgument', `"maxBytes" expected a non-negative integer, got ${String(max)}`);
    const reader = this.readable.getReader();
    const over = async () => {
      const error = new PeerError('LengthExceeded', `the stream is over ${max} bytes (pass a larger maxBytes, or read it from readable)`);
      await reader.cancel(error).catch(() => undefined);
      return error;
    };
    const size = this.#header?.size;
    if (size !== undefined && size > max) throw await over();
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      total += value.length;
      if (total > max) throw await over();
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** Opens the next chunk (in order). */
  async #chunk(data: Uint8Array, last: boolean): Promise<'more' | 'end'> {
    const opened = await this.#dec.open(data, last);
    switch (opened.kind) {
      case 'header':
      case 'checkpoint':
        return 'more';
      case 'data':
        this.#queue.push(opened.data);
        this.#queuedBytes += opened.data.length;
        if (this.#waiting) this.#waiting = !this.#serve();
        return 'more';
      case 'end':
        this.#ended = { contentHash: opened.contentHash, contentBytes: opened.contentBytes };
        if (this.#waiting) this.#waiting = !this.#serve();
        return 'end';
      case 'aborted':
        // The reason is the sender's own signed text (StreamApi streams hand it on as `abortReason`).
        this.#fail(new PeerError('Closed', 'the sender aborted the stream', { cause: opened.reason }));
        return 'end';
      default: {
        const never: never = opened;
        throw new Error(`unknown chunk ${String(never)}`);
      }
    }
  }

  /** Hands the app the next chunk (or the end); false if there is nothing yet. */
  #serve(): boolean {
    if (this.#done) return true;
    const next = this.#queue.shift();
    if (next === undefined) {
      if (this.#ended === undefined) return false;
      this.#finish();
      this.#controller.close();
      // Read to its verified end by the app: the receipt may go (docs/protocol/receipts.md).
      this.#onEnd(this.#ended.contentHash, this.#ended.contentBytes);
      return true;
    }
    this.#controller.enqueue(next);
    this.#queuedBytes -= next.length;
    this.#consumed += next.length;
    const frame = envelope(CREDIT, this.#id, 8);
    frame.view.setBigUint64(1 + ID_BYTES, BigInt(this.#consumed));
    this.#sendFrame(frame.out);
    return true;
  }

  #fail(error: Error): void {
    // Failed, aborted by the sender or the peer gone: the key and hash state go now (bulk thread too).
    this.#dec.dispose();
    if (this.#done) return;
    this.#finish();
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#controller.error(error);
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#onDone();
  }
}
