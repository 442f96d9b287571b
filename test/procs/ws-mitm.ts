/**
 * A man in the middle for tests: a TCP proxy in front of a Bridge that reads the WebSocket frames the
 * Bridge sends (after the HTTP 101 upgrade), decodes each binary message with protocol/ws.ts
 * `decodeFrame`, and lets a test flip a byte of, drop, reorder or replace CHUNK_DOWN frames. With
 * `hooks`, it also rewrites text messages in either direction (the Bridge's JSON events, the client's
 * requests) and injects messages towards the client: what a malicious Bridge could do. Everything else
 * (HTTP, binary client-to-Bridge traffic) passes unchanged. Server frames are unmasked and
 * unfragmented (RFC 6455 section 5; the Bridge sends whole messages without compression); client
 * frames are masked and, from the `ws` client, unfragmented too.
 *
 * In-process: `startWsMitm(bridgeUrl, tamper)`. As a process:
 *   node --import tsx test/procs/ws-mitm.ts <bridgeUrl> <flip|drop|swap> <chunkIndex>
 * prints `{"url": ...}` and tampers with that chunk index of every stream.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { decodeFrame, encodeChunkFrame, FRAME_CHUNK_DOWN } from '../../protocol/ws.ts';

/**
 * What to do with one CHUNK_DOWN frame: `nth` counts the frames of its stream, 0 being the header.
 * `{ replace }` sends these payload bytes instead (same stream number and last flag).
 */
export type TamperAction = 'pass' | 'drop' | 'flip' | 'swapWithNext' | { replace: Uint8Array };
export type Tamper = (frame: { streamNo: number; last: boolean; payload: Uint8Array; payloadBytes: number }, nth: number) => TamperAction;

export interface WsMitmHooks {
  /** A text message from the Bridge: return what the client gets instead (the same string to pass). */
  downText?(text: string): string;
  /** A text message from the client: return what the Bridge gets instead. */
  upText?(text: string): string;
}

export interface WsMitm {
  url: string;
  /** CHUNK_DOWN frames tampered with so far. */
  tampered(): number;
  /** Sends a message to every client connected through the relay: text as a text frame, bytes as binary. */
  inject(message: string | Uint8Array): void;
  close(): Promise<void>;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export async function startWsMitm(targetUrl: string | (() => string), tamper: Tamper, hooks: WsMitmHooks = {}): Promise<WsMitm> {
  // A function target is read per connection, so the proxy can exist before the Bridge it fronts (whose
  // `loginUrls` must name the proxy's URL: a login signs the URL its client used).
  const target = () => new URL(typeof targetUrl === 'function' ? targetUrl() : targetUrl);
  const sockets = new Set<Socket>();
  const downstreams = new Set<DownstreamParser>();
  let count = 0;
  const server: Server = createServer((client) => {
    const { port: targetPort, hostname } = target();
    const upstream = connect(Number(targetPort), hostname);
    sockets.add(client);
    sockets.add(upstream);
    const upText = hooks.upText;
    if (upText === undefined) client.on('data', (d: Buffer) => upstream.write(d));
    else {
      const up = new UpstreamParser((bytes) => upstream.write(bytes), upText);
      client.on('data', (d: Buffer) => up.push(d));
    }
    const down = new DownstreamParser(
      (bytes) => client.write(bytes),
      tamper,
      () => count++,
      hooks.downText,
    );
    downstreams.add(down);
    upstream.on('data', (d: Buffer) => down.push(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      downstreams.delete(down);
    };
    for (const s of [client, upstream]) {
      s.on('close', end);
      s.on('error', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    tampered: () => count,
    inject(message) {
      for (const down of downstreams) down.inject(message);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Bridge-to-client bytes of one TCP connection: passed through until a 101, then frame by frame. */
class DownstreamParser {
  private buffer = Buffer.alloc(0);
  private mode: 'http' | 'ws' | 'raw' = 'http';
  private readonly seen = new Map<number, number>();
  private held: { streamNo: number; bytes: Buffer } | undefined;

  constructor(
    private readonly out: (bytes: Buffer) => void,
    private readonly tamper: Tamper,
    private readonly counted: () => void,
    private readonly downText: ((text: string) => string) | undefined,
  ) {}

  /** A whole message to the client, between the frames the Bridge sends (only once the socket is open). */
  inject(message: string | Uint8Array): void {
    if (this.mode !== 'ws') return;
    this.out(typeof message === 'string' ? serverFrame(0x1, Buffer.from(message, 'utf8')) : serverFrame(0x2, Buffer.from(message)));
  }

  push(data: Buffer): void {
    if (this.mode === 'raw') return this.out(data);
    this.buffer = Buffer.concat([this.buffer, data]);
    if (this.mode === 'http') {
      const end = this.buffer.indexOf(HEADER_END);
      if (end < 0) return;
      const head = this.buffer.subarray(0, end + HEADER_END.length);
      this.mode = head.toString('latin1').startsWith('HTTP/1.1 101') ? 'ws' : 'raw';
      this.out(this.mode === 'raw' ? this.buffer : head);
      this.buffer = this.mode === 'raw' ? Buffer.alloc(0) : this.buffer.subarray(head.length);
    }
    this.frames();
  }

  private frames(): void {
    for (;;) {
      const b = this.buffer;
      // A masked server frame is a protocol error; it is passed on.
      const extent = frameExtent(b);
      if (extent === undefined) return;
      const { offset, length } = extent;
      const frame = Buffer.from(b.subarray(0, offset + length));
      this.buffer = b.subarray(offset + length);
      const opcode = b[0]! & 0x0f;
      if (opcode === 0x1 && this.downText !== undefined) {
        const text = frame.subarray(offset).toString('utf8');
        const changed = this.downText(text);
        this.out(changed === text ? frame : serverFrame(0x1, Buffer.from(changed, 'utf8')));
        continue;
      }
      this.frame(frame, offset, opcode === 0x2);
    }
  }

  private frame(bytes: Buffer, payloadOffset: number, binary: boolean): void {
    const decoded = binary ? decodeFrame(bytes.subarray(payloadOffset)) : undefined;
    if (decoded?.type !== 'chunk' || bytes[payloadOffset] !== FRAME_CHUNK_DOWN) return this.out(bytes);
    const nth = this.seen.get(decoded.streamNo) ?? 0;
    this.seen.set(decoded.streamNo, nth + 1);
    const held = this.held;
    if (held !== undefined && held.streamNo === decoded.streamNo) {
      this.held = undefined;
      this.out(bytes);
      this.out(held.bytes);
      return;
    }
    const action = this.tamper({ streamNo: decoded.streamNo, last: decoded.last, payload: decoded.payload, payloadBytes: decoded.payload.length }, nth);
    if (action !== 'pass') this.counted();
    if (typeof action === 'object') {
      return this.out(serverFrame(0x2, Buffer.from(encodeChunkFrame(FRAME_CHUNK_DOWN, decoded.streamNo, decoded.last, action.replace))));
    }
    switch (action) {
      case 'pass':
        return this.out(bytes);
      case 'drop':
        return;
      case 'flip': {
        // A byte in the middle of the sealed chunk (ciphertext or tag), after the 6-byte CHUNK header.
        const at = payloadOffset + 6 + Math.floor(decoded.payload.length / 2);
        bytes[at] = bytes[at]! ^ 0x01;
        return this.out(bytes);
      }
      case 'swapWithNext':
        this.held = { streamNo: decoded.streamNo, bytes };
        return;
      default: {
        const never: never = action;
        throw new Error(`unknown action ${String(never)}`);
      }
    }
  }
}

/** The length field of a frame header (RFC 6455 section 5.2), for a payload of `length` bytes. */
function lengthField(length: number, mask: number): Buffer {
  if (length < 126) return Buffer.from([mask | length]);
  if (length < 0x1_0000) {
    const b = Buffer.alloc(3);
    b[0] = mask | 126;
    b.writeUInt16BE(length, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = mask | 127;
  b.writeBigUInt64BE(BigInt(length), 1);
  return b;
}

/** A whole unmasked server frame (FIN set). */
function serverFrame(opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode]), lengthField(payload.length, 0), payload]);
}

/** A whole client frame, masked with a fresh key as RFC 6455 section 5.3 requires. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const key = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from([0x80 | opcode]), lengthField(payload.length, 0x80), key, masked]);
}

/**
 * Where the payload of the WebSocket frame at the start of `b` begins and how long it is (RFC 6455
 * section 5.2), or undefined while the frame is not whole yet.
 */
function frameExtent(b: Buffer): { offset: number; length: number; masked: boolean } | undefined {
  if (b.length < 2) return undefined;
  let length = b[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (b.length < 4) return undefined;
    length = b.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (b.length < 10) return undefined;
    length = Number(b.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (b[1]! & 0x80) !== 0;
  if (masked) offset += 4;
  return b.length < offset + length ? undefined : { offset, length, masked };
}

/** Client-to-Bridge bytes: passed through until the upgrade request ends, then frame by frame. */
class UpstreamParser {
  private buffer = Buffer.alloc(0);
  private mode: 'http' | 'ws' | 'raw' = 'http';

  constructor(
    private readonly out: (bytes: Buffer) => void,
    private readonly upText: (text: string) => string,
  ) {}

  push(data: Buffer): void {
    if (this.mode === 'raw') return this.out(data);
    this.buffer = Buffer.concat([this.buffer, data]);
    if (this.mode === 'http') {
      const end = this.buffer.indexOf(HEADER_END);
      if (end < 0) return;
      const head = this.buffer.subarray(0, end + HEADER_END.length);
      // A plain HTTP request (REST, with a body and keep-alive) is passed through as it is.
      this.mode = /^upgrade:\s*websocket/im.test(head.toString('latin1')) ? 'ws' : 'raw';
      this.out(this.mode === 'raw' ? this.buffer : head);
      this.buffer = this.mode === 'raw' ? Buffer.alloc(0) : this.buffer.subarray(head.length);
    }
    for (;;) {
      const b = this.buffer;
      const extent = frameExtent(b);
      if (extent === undefined) return;
      const { offset, length, masked } = extent;
      const keyAt = offset - 4;
      const frame = Buffer.from(b.subarray(0, offset + length));
      this.buffer = b.subarray(offset + length);
      if ((frame[0]! & 0x0f) !== 0x1 || (frame[0]! & 0x80) === 0 || !masked) {
        this.out(frame);
        continue;
      }
      const payload = frame.subarray(offset);
      for (let i = 0; i < payload.length; i++) payload[i]! ^= frame[keyAt + (i & 3)]!;
      this.out(clientFrame(0x1, Buffer.from(this.upText(payload.toString('utf8')), 'utf8')));
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [url, mode, at] = process.argv.slice(2);
  const actions: Record<string, TamperAction> = { flip: 'flip', drop: 'drop', swap: 'swapWithNext' };
  const action = actions[mode ?? ''];
  if (url === undefined || action === undefined) {
    process.stderr.write('usage: ws-mitm.ts <bridgeUrl> <flip|drop|swap> <chunkIndex>\n');
    process.exit(2);
  }
  const index = Number(at ?? 2);
  const mitm = await startWsMitm(url, (_frame, nth) => (nth === index ? action : 'pass'));
  process.stdout.write(`${JSON.stringify({ url: mitm.url })}\n`);
}
