/**
 * The binary frames of the Bridge's WebSocket protocol (protocol/ws.ts has the JSON control messages).
 *
 * Data travels in binary frames with a compact header (see the FRAME_* constants; big-endian):
 *   client -> Bridge   DATA       [0x01][u32 trackNo][SFrame ciphertext]
 *                      CHUNK      [0x02][u32 streamNo][u8 flags][sealed stream chunk]
 *                      CREDIT     [0x03][u32 streamNo][u8 flags][u64 offset]
 *   Bridge -> client   DATA       [0x81][u32 trackNo][SFrame ciphertext]
 *                      CHUNK      [0x82][u32 streamNo][u8 flags][sealed stream chunk]
 *                      ALLOWANCE  [0x83][u32 streamNo][u8 flags][u64 allowed]
 *                      BATCH      [0x84]([u32 length][frame])+   (protocol 2: several DATA or ALLOWANCE
 *                                 frames written in one turn of the Bridge's event loop, one message)
 * trackNo and streamNo are numbers the Bridge assigns; the Bridge maps them to the publishing
 * connection, so a receiver learns the sender's identity from the Bridge, never from the sender.
 *
 * Byte streams use end-to-end credit flow control (docs/protocol/byte-streams.md). Each receiver
 * reports how many payload bytes of a stream it has consumed (CREDIT, an absolute offset); the Bridge
 * lets the sender run at most `window` bytes ahead of the slowest receiver (ALLOWANCE). So a slow
 * reader slows the sender's write() and the Bridge holds at most one window per receiver per stream.
 * Both are binary frames of 14 bytes: they flow several times per window, and as JSON through the
 * message schema they cost the Bridge and the sender more than the chunk they answer. A credit's
 * STARVED flag says the reader had taken everything it was given: the window, not the reader, holds
 * the sender back, and the Bridge may widen it (docs/protocol/byte-streams.md, "Window").
 */

export const FRAME_DATA_UP = 0x01;
export const FRAME_CHUNK_UP = 0x02;
export const FRAME_CREDIT_UP = 0x03;
export const FRAME_DATA_DOWN = 0x81;
export const FRAME_CHUNK_DOWN = 0x82;
export const FRAME_ALLOWANCE_DOWN = 0x83;
/**
 * Several down frames in one WebSocket message (protocol 2): what the Bridge writes to one socket in
 * one turn of its event loop goes as one message, so a receiver of a busy track handles one socket
 * message, not one per frame. Only framing: every frame inside is the one it would have sent alone.
 */
export const FRAME_BATCH_DOWN = 0x84;
/** Each frame in a BATCH is preceded by its length. */
export const BATCH_LENGTH_BYTES = 4;
/**
 * The most frames one BATCH may hold: the Bridge sends a batch once it holds this many, and an Endpoint
 * refuses a batch with more (a 5-byte frame per entry would otherwise let one 8 MiB message make it
 * route over a million frames at once).
 */
export const BATCH_MAX_FRAMES = 256;
/** Chunk flag: this is the stream's final chunk (end or abort). The AEAD authenticates it. */
export const CHUNK_FLAG_LAST = 0x01;
/** Bytes of the binary header before the payload: type + u32 (+ u8 flags for chunks). */
export const DATA_HEADER_BYTES = 5;
export const CHUNK_HEADER_BYTES = 6;
/** A CREDIT or ALLOWANCE frame, whole: type + u32 streamNo + u8 flags + u64 offset. */
export const CREDIT_FRAME_BYTES = 14;
/** Credit flag: the reader had consumed everything that reached it (its app waits for more). */
export const CREDIT_FLAG_STARVED = 0x01;

export function encodeDataFrame(type: typeof FRAME_DATA_UP | typeof FRAME_DATA_DOWN, trackNo: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(DATA_HEADER_BYTES + payload.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, trackNo);
  out.set(payload, DATA_HEADER_BYTES);
  return out;
}

/**
 * Writes a DATA header into the first `DATA_HEADER_BYTES` of `frame`, whose payload is already in place
 * after them (an SFrame ciphertext sealed with that headroom: no copy), and returns it.
 */
export function writeDataHeader(frame: Uint8Array, type: typeof FRAME_DATA_UP | typeof FRAME_DATA_DOWN, trackNo: number): Uint8Array {
  frame[0] = type;
  writeU32(frame, 1, trackNo);
  return frame;
}

export function encodeChunkFrame(type: typeof FRAME_CHUNK_UP | typeof FRAME_CHUNK_DOWN, streamNo: number, last: boolean, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_BYTES + payload.length);
  out.set(payload, CHUNK_HEADER_BYTES);
  return writeChunkHeader(out, type, streamNo, last);
}

/**
 * Writes a CHUNK header into the first `CHUNK_HEADER_BYTES` of `frame`, whose payload is already in
 * place after them (a sealed chunk made with that headroom: no copy), and returns it.
 */
export function writeChunkHeader(frame: Uint8Array, type: typeof FRAME_CHUNK_UP | typeof FRAME_CHUNK_DOWN, streamNo: number, last: boolean): Uint8Array {
  frame[0] = type;
  writeU32(frame, 1, streamNo);
  frame[5] = last ? CHUNK_FLAG_LAST : 0;
  return frame;
}

/**
 * A CREDIT (receiver -> Bridge: consumed up to `offset`; `starved`: nothing it was given is left
 * unread) or ALLOWANCE (Bridge -> sender: may send up to `offset`) frame.
 */
export function encodeCreditFrame(type: typeof FRAME_CREDIT_UP | typeof FRAME_ALLOWANCE_DOWN, streamNo: number, offset: number, starved = false): Uint8Array {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`"offset" expected a non-negative safe integer, got ${offset}`);
  const out = new Uint8Array(CREDIT_FRAME_BYTES);
  out[0] = type;
  writeU32(out, 1, streamNo);
  out[5] = starved && type === FRAME_CREDIT_UP ? CREDIT_FLAG_STARVED : 0;
  writeU32(out, 6, Math.floor(offset / 0x1_0000_0000));
  writeU32(out, 10, offset >>> 0);
  return out;
}

/** u32 big-endian at `at` (no DataView: this runs once per frame). */
function writeU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = value >>> 16;
  out[at + 2] = value >>> 8;
  out[at + 3] = value;
}

/** u32 big-endian at `at`. */
export function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/**
 * The u64 offset of a CREDIT or ALLOWANCE frame, or -1 when the frame is malformed: an offset that is
 * no safe integer (above 2^53 - 1: no stream gets there), or a flag that is not defined (any on an
 * ALLOWANCE).
 */
export function readCreditOffset(frame: Uint8Array): number {
  const allowed = frame[0] === FRAME_CREDIT_UP ? CREDIT_FLAG_STARVED : 0;
  if ((frame[5]! & ~allowed) !== 0) return -1;
  const high = readU32(frame, 6);
  if (high > 0x1f_ffff) return -1;
  return high * 0x1_0000_0000 + readU32(frame, 10);
}

/**
 * Turns a received client frame into the frame the Bridge forwards, in place: an upstream and a
 * downstream frame differ only in the type byte (0x01 -> 0x81, 0x02 -> 0x82), so the relay forwards the
 * very bytes it received to every receiver, with no allocation and no copy of the payload.
 */
export function toDownFrame(frame: Uint8Array): Uint8Array {
  frame[0] = frame[0] === FRAME_DATA_UP ? FRAME_DATA_DOWN : frame[0] === FRAME_CHUNK_UP ? FRAME_CHUNK_DOWN : frame[0]!;
  return frame;
}

export type DecodedFrame =
  | { type: 'data'; direction: 'up' | 'down'; trackNo: number; payload: Uint8Array }
  | { type: 'chunk'; direction: 'up' | 'down'; streamNo: number; last: boolean; payload: Uint8Array }
  /** CREDIT (up: consumed up to `offset`, `starved` flag) or ALLOWANCE (down: the sender may send up to `offset`). */
  | { type: 'credit'; direction: 'up' | 'down'; streamNo: number; offset: number; starved: boolean };

/** Parses a binary frame; undefined if the type byte is unknown or the frame is shorter than its header. */
export function decodeFrame(bytes: Uint8Array): DecodedFrame | undefined {
  if (bytes.length < 1) return undefined;
  switch (bytes[0]) {
    case FRAME_DATA_UP:
    case FRAME_DATA_DOWN:
      if (bytes.length < DATA_HEADER_BYTES) return undefined;
      return {
        type: 'data',
        direction: bytes[0] === FRAME_DATA_UP ? 'up' : 'down',
        trackNo: readU32(bytes, 1),
        payload: bytes.subarray(DATA_HEADER_BYTES),
      };
    case FRAME_CHUNK_UP:
    case FRAME_CHUNK_DOWN: {
      if (bytes.length < CHUNK_HEADER_BYTES) return undefined;
      const flags = bytes[5]!;
      if ((flags & ~CHUNK_FLAG_LAST) !== 0) return undefined;
      return {
        type: 'chunk',
        direction: bytes[0] === FRAME_CHUNK_UP ? 'up' : 'down',
        streamNo: readU32(bytes, 1),
        last: (flags & CHUNK_FLAG_LAST) !== 0,
        payload: bytes.subarray(CHUNK_HEADER_BYTES),
      };
    }
    case FRAME_CREDIT_UP:
    case FRAME_ALLOWANCE_DOWN: {
      if (bytes.length !== CREDIT_FRAME_BYTES) return undefined;
      const offset = readCreditOffset(bytes);
      if (offset < 0) return undefined;
      const up = bytes[0] === FRAME_CREDIT_UP;
      return { type: 'credit', direction: up ? 'up' : 'down', streamNo: readU32(bytes, 1), offset, starved: bytes[5] === CREDIT_FLAG_STARVED };
    }
    default:
      return undefined;
  }
}

/** One BATCH message of `frames` (`bytes`: their lengths summed). */
export function encodeBatch(frames: readonly Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(1 + frames.length * BATCH_LENGTH_BYTES + bytes);
  out[0] = FRAME_BATCH_DOWN;
  let at = 1;
  for (const frame of frames) {
    writeU32(out, at, frame.length);
    out.set(frame, at + BATCH_LENGTH_BYTES);
    at += BATCH_LENGTH_BYTES + frame.length;
  }
  return out;
}

/**
 * The frames of a BATCH message (views into it), or undefined if it is malformed: a length that runs
 * past the end, an empty frame, a batch inside a batch, no frame at all, or more than BATCH_MAX_FRAMES.
 */
export function splitBatch(batch: Uint8Array): Uint8Array[] | undefined {
  if (batch[0] !== FRAME_BATCH_DOWN) return undefined;
  const frames: Uint8Array[] = [];
  let at = 1;
  while (at < batch.length) {
    if (at + BATCH_LENGTH_BYTES > batch.length) return undefined;
    const length = readU32(batch, at);
    at += BATCH_LENGTH_BYTES;
    if (length === 0 || at + length > batch.length || batch[at] === FRAME_BATCH_DOWN) return undefined;
    if (frames.length === BATCH_MAX_FRAMES) return undefined;
    frames.push(batch.subarray(at, at + length));
    at += length;
  }
  return frames.length === 0 ? undefined : frames;
}
