/**
 * One stream this connection sends: sealing, flow control and the stream's end.
 *
 * - **Chunks.** Each `write()` is cut into pieces of at most `chunkBytes` (text on UTF-8 boundaries),
 *   sealed in parallel (the encryptor takes each index synchronously, in call order) and handed to the
 *   socket in index order. `write()` resolves once its last piece is on the socket.
 * - **Checkpoints.** No piece crosses the end of a 1 MiB segment of content, and from the second
 *   segment on a signed checkpoint goes out before the first piece past one (crypto/stream/format.ts):
 *   readers hold at most 2 MiB of content no signature covers.
 * - **Allowance.** The Bridge lets a sender run `window` payload bytes ahead of its slowest receiver
 *   (ALLOWANCE frames, protocol/ws.ts). A piece is sealed only once it fits the allowance with
 *   `FINAL_CHUNK_MAX_BYTES` to spare, so every sealed chunk can be sent at once, and `close()` or
 *   `abort()` never wait for a slow receiver. A piece also waits while the socket holds more than
 *   `SEND_BUFFER_HIGH_WATER_BYTES`. So nothing buffers without bound: a slow receiver slows `write()`.
 * - **Pace.** While this process carries real-time tracks, each piece first takes its bytes from the
 *   bulk governor's rate (util/bulk-governor.ts), so the sender's sealing yields to real-time work too.
 * - **End.** `close()` sends the signed end once the writes are out; `abort(reason)` rejects the
 *   writes still waiting, lets chunks already sealed go out (so the stream has no gap), then sends the
 *   signed abort chunk. Final chunks of all streams go through one sequencer, so readers see streams
 *   end in the order their writers reached the end.
 * - **Failure.** The Bridge's abort, a removal, leaving the room or a dropped connection fail the
 *   stream: every pending and later call rejects with that error, and nothing more is sent.
 */
import { utf8 } from '../../../crypto/bytes.ts';
import { encodeChunkFrame, FRAME_CHUNK_UP, writeChunkHeader, type ResultPayloads } from '../../../protocol/ws.ts';
import type { Connection } from '../../connection.ts';
import { EndpointError } from '../../errors.ts';
import { bulkGovernor } from '../../util/bulk-governor.ts';
import { DataStreamError } from '../errors.ts';
import type { StreamKind } from '../header.ts';
import {
  CHECKPOINT_CHUNK_BYTES,
  CHUNK_MIN_BYTES,
  FINAL_CHUNK_MAX_BYTES,
  SEALED_CHUNK_OVERHEAD_BYTES,
  SEND_BUFFER_HIGH_WATER_BYTES,
  STREAM_ABORT_REASON_MAX_BYTES,
  STREAM_CHUNK_MAX_BYTES,
} from '../limits.ts';
import type { Sequencer } from '../sequencer.ts';
import type { SealedChunk, StreamEncryptor } from '../stream-crypto.ts';
import { bytePieceEnd, utf8PieceEnd } from '../utf8.ts';

export interface OutgoingDeps {
  connection: Connection;
  /** Orders the final chunks of all streams of the connection. */
  finals: Sequencer;
  /** The Bridge numbered the stream: route its events here from now on. */
  numbered(stream: OutgoingStream): void;
  /** The stream is over (any way): forget it. */
  forget(stream: OutgoingStream): void;
  /** A write that gets no allowance for this long fails with `Timeout` (0: never). Milliseconds. */
  idleTimeoutMs: number;
}

export interface OpenRequest {
  roomId: string;
  /** base64 of the 16-byte stream id. */
  streamId: string;
  epoch: number;
  destinationIdentities: string[];
}

type State = 'opening' | 'open' | 'ending' | 'ended';

/** Plaintext bytes per data chunk: a quarter window keeps several chunks in flight, 64 KiB at most. */
export function chunkBytesFor(windowBytes: number): number {
  const quarter = Math.floor(windowBytes / 4) - SEALED_CHUNK_OVERHEAD_BYTES;
  return Math.max(CHUNK_MIN_BYTES, Math.min(STREAM_CHUNK_MAX_BYTES, quarter));
}

export class OutgoingStream {
  streamNo: number | undefined;
  /** The user id of each connection the Bridge made a receiver at the open (delivery receipts). */
  receiverIds: string[] = [];
  /** Once the signed end is sealed: the SHA-256 of all the content, as signed (delivery receipts). */
  contentHash: Uint8Array | undefined;
  /** Settles once the stream is over, however it ended. */
  readonly ended: Promise<void>;
  private markEnded!: () => void;
  private state: State = 'opening';
  /** Why pending and later calls fail; set by a failure or a local abort. */
  private failure: DataStreamError | undefined;
  /** No frame may be sent any more (a failure from outside, or the end went out). */
  private dead = false;
  private finalClaimed = false;
  private ending: Promise<void> | undefined;
  /** Payload bytes the Bridge allows, and those reserved by chunks sealed or being sealed. */
  private allowed = 0;
  private reserved = 0;
  private chunkBytes = STREAM_CHUNK_MAX_BYTES;
  /** Plaintext bytes accepted by `write()` (for `totalSize`). */
  private written = 0;
  private writeTail: Promise<void> = Promise.resolve();
  private sendTail: Promise<void> = Promise.resolve();
  private wakers: Array<() => void> = [];
  private readonly stop = new AbortController();

  constructor(
    readonly roomId: string,
    private readonly kind: StreamKind,
    private readonly enc: StreamEncryptor,
    private readonly totalSize: number | undefined,
    private readonly d: OutgoingDeps,
  ) {
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
  }

  /**
   * Opens the stream on the Bridge and sends the sealed header right after the answer, so headers
   * leave in the order the opens were sent (receivers invoke handlers in that order).
   */
  async open(request: OpenRequest, header: SealedChunk): Promise<void> {
    let result: ResultPayloads['byteStreamOpen'];
    try {
      result = await this.d.connection.request('byteStreamOpen', request);
    } catch (error) {
      this.finish();
      if (this.failure !== undefined) throw this.failure;
      throw openRefusal(error, request.roomId);
    }
    this.streamNo = result.streamNo;
    this.receiverIds = Array.isArray(result.receiverIds) ? result.receiverIds.filter((id) => typeof id === 'string') : [];
    // The room may have been left while the request was out; the Bridge has ended the stream then.
    if (this.failure !== undefined) throw this.failure;
    this.d.numbered(this);
    // What the sender may send before the first ALLOWANCE frame: the window, or less where a receiver
    // declared a smaller receive window (protocol 3; docs/protocol/byte-streams.md, "Receive windows").
    const initial = typeof result.allowed === 'number' && result.allowed >= 0 ? Math.min(result.allowed, result.window) : result.window;
    if (header.data.length + FINAL_CHUNK_MAX_BYTES > initial) {
      const error = DataStreamError.lengthExceeded(`the sealed header (${header.data.length} bytes) does not fit the Bridge's window of ${initial} bytes`);
      this.fail(error);
      throw error;
    }
    // Without receivers the Bridge sends an unlimited allowance; nothing is lost by taking it now.
    this.allowance(result.receivers === 0 ? Number.MAX_SAFE_INTEGER : initial);
    this.chunkBytes = chunkBytesFor(initial);
    this.state = 'open';
    this.reserved = header.data.length;
    try {
      this.sendChunk(header);
    } catch (error) {
      this.fail(asStreamError(error));
      throw this.failure;
    }
  }

  /** Why the stream failed or was aborted, once it has (undefined while it is fine, and after a clean end). */
  get error(): DataStreamError | undefined {
    return this.failure;
  }

  /** Plaintext bytes accepted by `write()` so far (all the content, once closed). */
  get contentBytes(): number {
    return this.written;
  }

  /** The Bridge's allowance grew. */
  allowance(allowed: number): void {
    if (allowed <= this.allowed) return;
    this.allowed = allowed;
    this.wake();
  }

  write(bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) return Promise.reject(DataStreamError.invalidArgument('"chunk" expected a Uint8Array'));
    const refused = this.refusal('write');
    if (refused !== undefined) return Promise.reject(refused);
    if (this.totalSize !== undefined && this.written + bytes.length > this.totalSize) {
      return Promise.reject(
        DataStreamError.lengthExceeded(`write(): the stream announced ${this.totalSize} bytes, this write would make ${this.written + bytes.length}`),
      );
    }
    this.written += bytes.length;
    const done = this.writeTail.then(() => this.writeNow(bytes));
    this.writeTail = done.catch(() => undefined);
    return done;
  }

  close(): Promise<void> {
    const refused = this.refusal('close');
    if (refused !== undefined) return Promise.reject(refused);
    this.state = 'ending';
    this.ending = this.closeNow();
    return this.ending;
  }

  abort(reason: string): Promise<void> {
    if (typeof reason !== 'string') return Promise.reject(DataStreamError.invalidArgument(`"reason" expected a string, got ${typeof reason}`));
    const bytes = utf8(reason).length;
    if (bytes > STREAM_ABORT_REASON_MAX_BYTES) {
      return Promise.reject(DataStreamError.lengthExceeded(`"reason" expected at most ${STREAM_ABORT_REASON_MAX_BYTES} UTF-8 bytes, got ${bytes}`));
    }
    // Already over, or its end (close or an earlier abort) is on the way: nothing more to do.
    if (this.dead) return Promise.resolve();
    if (this.failure !== undefined || this.finalClaimed) return (this.ending ?? Promise.resolve()).catch(() => undefined);
    this.failure = DataStreamError.aborted('the stream');
    this.state = 'ending';
    this.wake();
    this.stop.abort();
    this.ending = this.abortNow(reason);
    return this.ending;
  }

  /** The stream failed from outside (Bridge abort, removal, leaving, a dropped connection). */
  fail(error: DataStreamError): void {
    if (this.state === 'ended') return;
    this.dead = true;
    this.failure ??= error;
    this.wake();
    this.stop.abort();
    this.finish();
  }

  private refusal(call: string): DataStreamError | undefined {
    if (this.failure !== undefined) return this.failure;
    if (this.state !== 'open') return DataStreamError.invalidArgument(`${call}() after close() or abort()`);
    return undefined;
  }

  private async writeNow(bytes: Uint8Array): Promise<void> {
    const pieceEnd = this.kind === 'text' ? utf8PieceEnd : bytePieceEnd;
    let last: Promise<void> = Promise.resolve();
    for (let start = 0; start < bytes.length; ) {
      if (this.enc.checkpointDue) {
        if (!this.fits(CHECKPOINT_CHUNK_BYTES)) await this.room(CHECKPOINT_CHUNK_BYTES);
        this.reserved += CHECKPOINT_CHUNK_BYTES;
        last = this.queue(this.enc.checkpoint());
      }
      const end = pieceEnd(bytes, start, Math.min(this.chunkBytes, this.enc.bytesBeforeCheckpoint));
      const piece = bytes.subarray(start, end);
      start = end;
      const size = piece.length + SEALED_CHUNK_OVERHEAD_BYTES;
      const paced = bulkGovernor.reserve(size).waitMs;
      if (paced > 0) await this.pace(paced);
      // Checked in line first: a piece that fits costs no promise (most do, while the pipe flows).
      if (!this.fits(size)) await this.room(size);
      this.reserved += size;
      last = this.queue(this.enc.write(piece));
    }
    await last;
  }

  /** Waits `ms` for the bulk governor, or until the stream fails. */
  private pace(ms: number): Promise<void> {
    const signal = this.stop.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }

  /** Whether a chunk of `size` payload bytes may be sealed now (what `room` waits for), on a stream that has not failed. */
  private fits(size: number): boolean {
    return (
      this.failure === undefined &&
      this.reserved + size + FINAL_CHUNK_MAX_BYTES <= this.allowed &&
      this.d.connection.bufferedAmount <= SEND_BUFFER_HIGH_WATER_BYTES
    );
  }

  /** Waits until a chunk of `size` payload bytes fits the allowance (keeping the end's room) and the socket. */
  private async room(size: number): Promise<void> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (this.reserved + size + FINAL_CHUNK_MAX_BYTES > this.allowed) {
        await this.allowanceOrTimeout();
        continue;
      }
      if (this.d.connection.bufferedAmount <= SEND_BUFFER_HIGH_WATER_BYTES) return;
      try {
        await this.d.connection.drained(SEND_BUFFER_HIGH_WATER_BYTES, this.stop.signal);
      } catch {
        throw this.failure ?? DataStreamError.connectionLost();
      }
    }
  }

  /**
   * Waits for the allowance to grow. The Bridge cuts a stuck receiver after its own timeout, so an
   * allowance that never comes is a Bridge withholding it: past `idleTimeoutMs` the stream ends with
   * `Timeout`, and a signed abort goes out (its room is always kept free).
   */
  private allowanceOrTimeout(): Promise<void> {
    return new Promise<void>((resolve) => {
      const idleMs = this.d.idleTimeoutMs;
      const timer = idleMs > 0 ? setTimeout(() => this.timedOut(idleMs), idleMs) : undefined;
      this.wakers.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private timedOut(idleMs: number): void {
    if (this.failure !== undefined || this.finalClaimed || this.dead) return;
    this.failure = DataStreamError.timeout(`the Bridge allowed nothing more for ${idleMs} ms`);
    this.state = 'ending';
    this.wake();
    this.stop.abort();
    this.ending = this.abortNow('timeout');
    this.ending.catch(() => undefined);
  }

  /** Sends a sealed chunk after every chunk queued before it. */
  private queue(sealing: Promise<SealedChunk>): Promise<void> {
    sealing.catch(() => undefined);
    const sent = this.sendTail.then(async () => this.sendChunk(await sealing));
    this.sendTail = sent.catch((error: unknown) => this.fail(asStreamError(error)));
    return sent;
  }

  private sendChunk(chunk: SealedChunk): void {
    if (this.dead) throw this.failure ?? DataStreamError.connectionLost();
    try {
      // Sealed with room for the CHUNK header (open-stream.ts): written in place, no copy of the chunk.
      const frame =
        chunk.frame !== undefined
          ? writeChunkHeader(chunk.frame, FRAME_CHUNK_UP, this.streamNo!, chunk.last)
          : encodeChunkFrame(FRAME_CHUNK_UP, this.streamNo!, chunk.last, chunk.data);
      this.d.connection.sendFrame(frame);
    } catch (error) {
      throw asStreamError(error);
    }
  }

  private async closeNow(): Promise<void> {
    await this.writeTail;
    if (this.failure !== undefined) throw this.failure;
    if (this.totalSize !== undefined && this.written < this.totalSize) {
      const error = new DataStreamError('Incomplete', `close(): the stream announced ${this.totalSize} bytes, ${this.written} were written`);
      await this.abort('incomplete').catch(() => undefined);
      throw error;
    }
    await this.sendTail;
    try {
      await this.d.finals.run(async () => {
        if (this.failure !== undefined) throw this.failure;
        this.finalClaimed = true;
        const final = await this.enc.close();
        this.sendChunk(final);
        this.contentHash = final.contentHash;
      });
    } catch (error) {
      this.fail(asStreamError(error));
      throw this.failure;
    }
    this.dead = true;
    this.finish();
  }

  private async abortNow(reason: string): Promise<void> {
    // Chunks already sealed go out first: their indexes are taken, and a gap would read as tampering.
    await this.sendTail;
    try {
      await this.d.finals.run(async () => {
        if (this.finalClaimed || this.dead) return;
        this.finalClaimed = true;
        this.sendChunk(await this.enc.abort(reason));
      });
    } finally {
      this.dead = true;
      this.finish();
    }
  }

  private finish(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    // The key and hash state go now (on the bulk thread too), however the stream ended.
    this.enc.dispose();
    this.d.forget(this);
    this.markEnded();
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }
}

function asStreamError(error: unknown): DataStreamError {
  if (error instanceof DataStreamError) return error;
  if (error instanceof EndpointError && error.reason === 'ConnectionLost') return DataStreamError.connectionLost();
  return new DataStreamError('AbnormalEnd', 'sending the stream failed', { cause: error });
}

/** An open the Bridge refused, as the app should see it (other refusals stay EndpointErrors). */
function openRefusal(error: unknown, roomId: string): unknown {
  if (!(error instanceof EndpointError)) return error;
  if (error.reason === 'ConnectionLost') return DataStreamError.connectionLost();
  if (error.bridgeCode === 'NOT_JOINED') return DataStreamError.invalidArgument(`room "${roomId}" is not joined: joinStreamRoom first`);
  return error;
}
