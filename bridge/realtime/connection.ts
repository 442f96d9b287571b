/**
 * One authenticated WebSocket of an Endpoint, as the Bridge sees it, with its outbound budget
 * (docs/operations/limits.md): what the Bridge holds for a socket is bounded whatever its client does.
 *
 * - Every message sent (results, events, data frames, stream chunks) is checked against the budget:
 *   `outboundBudgetBytes` plus the byte-stream bytes in flight to it (which end-to-end flow control
 *   bounds). A socket past it does not read what it is sent; it is closed with `outboundOverflow` and
 *   dropped soon after, as uWebSockets' `maxBackpressure` does.
 * - Messages in flight are capped (`maxRequestsInFlight`), and while a socket is at that cap or its
 *   outbound buffer is over `readPauseBytes` (plus its stream bytes in flight), the Bridge stops
 *   reading it and holds what it already read in a short queue, handled in order once the socket
 *   drains: a client that sends requests but does not read the answers stalls itself (TCP
 *   backpressure), not the Bridge. A queue past `maxHeldMessages` closes the socket (4429).
 * - Byte-stream chunks are bulk: they go through a per-connection queue (./send-scheduler.ts) that lets
 *   about one chunk into the socket at a time, so results, events and data-track frames overtake
 *   them (docs/operations/realtime-priorities.md). What waits there counts toward the budget as if it
 *   sat in the socket.
 * - A client that speaks protocol 2 gets the binary frames written in one turn of the event loop
 *   (data-track frames, allowances) as one BATCH message (protocol/ws-frames.ts), sent at the end of
 *   the turn, or at once before any text message or chunk so that nothing overtakes them.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import {
  BATCH_MAX_FRAMES,
  CLOSE,
  encodeBatch,
  type ParsedQuery,
  type ResultPayloads,
  type ServerEvent,
  type ClientRequestKind,
  type MediaEvent,
} from '../../protocol/ws.ts';
import type { SessionRow } from '../store/types.ts';
import { ReceiverLag } from './receiver-lag.ts';
import { BulkQueue } from './send-scheduler.ts';
import { corkForTurn, flushTurn } from './turn-cork.ts';

/** While reading is paused, how often the Bridge checks whether it may resume. Milliseconds. */
const RESUME_CHECK_MS = 25;
/** A batch is sent at once when it holds this many bytes, or BATCH_MAX_FRAMES frames (protocol/ws-frames.ts). */
const BATCH_MAX_BYTES = 64 * 1024;
/** After closing an overflowing socket, how long its close frame may take before it is dropped. Ms. */
const OVERFLOW_TERMINATE_MS = 2000;

export interface ConnectionLimits {
  outboundBudgetBytes: number;
  readPauseBytes: number;
  maxRequestsInFlight: number;
  /**
   * Text messages read but held while the socket is over its limits. Reading stops at once, so only
   * what one read already brought in lands here; a client that fills it is flooding.
   */
  maxHeldMessages: number;
}

/**
 * What the connection asks of the hub. One object serves every connection (each call names it): a
 * closure per socket would be held for as long as the socket is open (docs/operations/memory.md).
 */
export interface ConnectionHooks {
  /** Byte-stream payload bytes sent to this socket and not yet reported consumed. */
  streamBytesInFlight(conn: RealtimeConnection): number;
  /** The socket was closed for overflowing its outbound budget (for metrics and logs). */
  overflowed(conn: RealtimeConnection): void;
  /**
   * The Bridge closed the socket: what it holds (rooms, streams, media, signals) ends now, not once
   * the client answers the close frame, which a client that ignores it never does (ws waits 30 s).
   */
  closing(conn: RealtimeConnection): void;
}

/**
 * Per-connection state is made on first use: an idle joined connection holds none of the held-message
 * queue, bulk lane or subscription map (docs/operations/memory.md).
 */
export class RealtimeConnection {
  /** Set by `hello`; every other message is refused before it. */
  session: SessionRow | undefined;
  /** Event subscriptions: subscription id -> query; made by the first subscribe (./room-events.ts). */
  subscriptions: Map<string, ParsedQuery> | undefined;
  closed = false;
  /** A ping was sent and its pong has not come yet (the hub's heartbeat). */
  awaitingPong = false;
  /** Settles when `hello` has been handled; messages that arrive meanwhile wait for it. */
  hello: Promise<void> | undefined;
  /** When the socket was accepted (Date.now()), to replace the oldest of a user's sockets. */
  readonly openedAt = Date.now();
  #inFlight = 0;
  #resumeTimer: ReturnType<typeof setInterval> | undefined;
  /** Messages held while the socket is over its limits, in order; made when the first one is held. */
  #held: Array<() => Promise<void>> | undefined;
  /** The bulk lane (./send-scheduler.ts), made by the first byte-stream chunk: read it through `#bulk`. */
  #bulkQueue: BulkQueue | undefined;
  /** Whether the client takes BATCH frames (protocol 2, set by `hello`). */
  batching = false;
  /** Whether the client starts its byte streams from the open result's `allowed` (protocol 3, set by `hello`). */
  startsFromAllowed = false;
  /**
   * How far a sender may run ahead of what this connection consumed, when less than a stream's window
   * (`byteStreamReceiveWindow`; undefined: the stream's window). relay/byte-streams.ts.
   */
  receiveWindowBytes: number | undefined = undefined;
  /** Binary frames written in this turn of the event loop and not yet sent (batching only). */
  #batch: Batch | undefined;
  /** How far behind the reader is (./receiver-lag.ts), made by the first binary frame. */
  #lag: ReceiverLag | undefined;
  /** When the hub's heartbeat ping went (performance.now()), while its pong is awaited. */
  #heartbeatSentAt: number | undefined;

  constructor(
    readonly id: string,
    readonly socket: WebSocket,
    readonly address: string,
    private readonly limits: ConnectionLimits,
    private readonly hooks: ConnectionHooks,
    /** The socket under the WebSocket: text messages of one turn leave in one write (./turn-cork.ts). */
    private readonly raw?: Duplex,
  ) {}

  /** The bulk lane, made on first use. Reads that must not make one use `#bulkQueue`. */
  get #bulk(): BulkQueue {
    this.#bulkQueue ??= new BulkQueue((frame, done) => {
      this.flushBatch();
      this.socket.send(frame, { binary: true }, done);
      if (this.raw !== undefined) flushTurn(this.raw);
    });
    return this.#bulkQueue;
  }

  get userId(): string {
    if (this.session === undefined) throw new Error('connection is not authenticated');
    return this.session.userId;
  }

  /**
   * Bytes the Bridge holds for this socket: queued in the socket and not yet handed to the kernel, plus
   * byte-stream chunks waiting in its bulk queue.
   */
  get bufferedAmount(): number {
    return this.socket.bufferedAmount + (this.#bulkQueue?.queuedBytes ?? 0) + (this.#batch?.bytes ?? 0);
  }

  /**
   * What a real-time frame written now waits behind, less the bulk share in the socket (at most about
   * one chunk): data-track pacing (./relay/data-queue.ts) looks at this, so bulk never holds it back.
   */
  get priorityBufferedAmount(): number {
    return Math.max(0, this.socket.bufferedAmount + (this.#batch?.bytes ?? 0) - (this.#bulkQueue?.inFlightBytes ?? 0));
  }

  /**
   * How far behind the reader is now, in milliseconds, by the WebSocket pings the Bridge sends while
   * real-time frames go out (./receiver-lag.ts): the data queue adds it to a lossy frame's age.
   */
  get receiverLagMs(): number {
    return this.#lag === undefined ? 0 : this.#lag.lagMs(performance.now());
  }

  /** The hub's heartbeat pings the reader now. */
  heartbeat(): void {
    this.awaitingPong = true;
    this.#heartbeatSentAt = performance.now();
    this.socket.ping();
  }

  /** A pong from the reader (the hub's heartbeat's, or a lag probe's). */
  pong(data: Buffer): void {
    this.#lag?.pong(data, performance.now(), this.awaitingPong ? this.#heartbeatSentAt : undefined);
    // Any pong says the reader is alive (a peer that is behind may answer only the latest ping).
    this.awaitingPong = false;
  }

  /** The most this socket may hold now: the budget plus its byte-stream bytes in flight. */
  get outboundCapBytes(): number {
    return this.limits.outboundBudgetBytes + this.hooks.streamBytesInFlight(this);
  }

  /**
   * Past this the socket is not draining: the Bridge stops reading it, and cuts it from the byte
   * streams it receives (`too_slow`) before its whole budget is reached.
   */
  get softCapBytes(): number {
    return this.limits.readPauseBytes + this.hooks.streamBytesInFlight(this);
  }

  /** Sends a text message (JSON, or its UTF-8 bytes when one encoding serves many sockets). */
  private sendText(message: string | Buffer): void {
    if (this.closed) return;
    this.flushBatch();
    if (this.raw !== undefined) corkForTurn(this.raw);
    this.socket.send(message, { binary: false });
    this.checkBudget();
  }

  result<K extends ClientRequestKind>(id: number, result: ResultPayloads[K]): void {
    this.sendText(JSON.stringify({ kind: 'result', id, result }));
  }

  /** `retryAfter`: seconds until a retry may succeed (rate limits, overload). */
  error(id: number, code: string, message: string, retryAfter?: number): void {
    this.sendText(
      JSON.stringify(retryAfter === undefined ? { kind: 'error', id, code, message } : { kind: 'error', id, code, message, retryAfter: Math.ceil(retryAfter) }),
    );
  }

  event(event: ServerEvent): void {
    this.sendText(JSON.stringify({ kind: 'event', event }));
  }

  /** An event encoded once by `encodeEvent` for every socket it goes to (a room's broadcast). */
  encodedEvent(message: Buffer): void {
    this.sendText(message);
  }

  /** Media signalling from the forwarding unit (bridge/media). */
  media(event: MediaEvent): void {
    this.sendText(JSON.stringify({ kind: 'media', event }));
  }

  /** Sends a binary frame; the callback fires once the socket has taken it (for pacing). */
  binary(frame: Uint8Array, done?: (error?: Error) => void): void {
    if (this.closed) {
      done?.(new Error('closed'));
      return;
    }
    if (!this.batching) {
      this.sendRealtime(frame, done);
      this.checkBudget();
      return;
    }
    let batch = this.#batch;
    if (batch === undefined) {
      batch = this.#batch = { frames: [], bytes: 0, done: [] };
      queueMicrotask(this.#flushBatch);
    }
    batch.frames.push(frame);
    batch.bytes += frame.length;
    if (done !== undefined) batch.done.push(done);
    if (batch.bytes >= BATCH_MAX_BYTES || batch.frames.length >= BATCH_MAX_FRAMES) this.flushBatch();
    this.checkBudget();
  }

  readonly #flushBatch = (): void => this.flushBatch();

  /** Sends the frames written in this turn: one alone as itself, several as one BATCH message. */
  private flushBatch(): void {
    const batch = this.#batch;
    if (batch === undefined) return;
    this.#batch = undefined;
    const { frames, done } = batch;
    if (this.closed) {
      for (const d of done) d(new Error('closed'));
      return;
    }
    const message = frames.length === 1 ? frames[0]! : encodeBatch(frames, batch.bytes);
    const callback =
      done.length <= 1
        ? done[0]
        : (error?: Error) => {
            for (const d of done) d(error);
          };
    this.sendRealtime(message, callback);
  }

  /**
   * Writes a message of real-time frames, and a lag probe after it when one is due (./receiver-lag.ts):
   * both leave in one write.
   */
  private sendRealtime(message: Uint8Array, done?: (error?: Error) => void): void {
    const now = performance.now();
    const lag = (this.#lag ??= new ReceiverLag(this.socket));
    const probe = lag.due(now);
    if (probe && this.raw !== undefined) corkForTurn(this.raw);
    this.socket.send(message, { binary: true }, done);
    if (probe) lag.probe(now);
    if (this.raw !== undefined) flushTurn(this.raw);
  }

  /**
   * Sends a byte-stream chunk of stream `streamNo` through the bulk queue: in order with the other
   * chunks, behind every result, event and data frame sent meanwhile.
   */
  bulk(streamNo: number, frame: Uint8Array): number {
    if (this.closed) return -1;
    const no = this.#bulk.push(streamNo, frame);
    this.checkBudget();
    return no;
  }

  /** Forgets the chunks of stream `streamNo` still queued here (the stream was cut or aborted for this socket). */
  dropBulk(streamNo: number): void {
    this.#bulkQueue?.drop(streamNo);
  }

  /**
   * Calls `release` once every chunk queued so far has left the Bridge (the socket handed it to the
   * kernel) or was dropped; at once when none is held or the socket closed (./send-scheduler.ts).
   */
  afterBulk(release: () => void): void {
    if (this.#bulkQueue === undefined) release();
    else this.#bulkQueue.afterSent(release);
  }

  /**
   * When the socket last took a chunk (performance.now()), while chunks wait here or in the socket
   * (the chunk numbered `no`, as `bulk` returned it, when given); undefined when none does.
   */
  bulkWaiting(no?: number): number | undefined {
    const q = this.#bulkQueue;
    if (q === undefined || !(no === undefined ? q.holding : q.holds(no))) return undefined;
    return q.lastSentAt;
  }

  /**
   * Runs a text message's handler now, or holds it (in order) while the socket is over its limits; the
   * Bridge stops reading the socket meanwhile. Counts it in flight until its handler settles.
   */
  schedule(handler: () => Promise<void>): void {
    if (this.closed) return;
    const held = this.#held;
    if ((held !== undefined && held.length > 0) || this.mustPause()) {
      if (held !== undefined && held.length >= this.limits.maxHeldMessages) {
        this.close(CLOSE.rateLimited, 'too many messages while the Bridge waits for this socket to drain');
        return;
      }
      (this.#held ??= []).push(handler);
      this.pause();
      return;
    }
    this.run(handler);
  }

  private run(handler: () => Promise<void>): void {
    this.#inFlight++;
    void handler().finally(() => {
      this.#inFlight--;
      this.drain();
    });
  }

  /** Runs held messages while the socket is within its limits. */
  private drain(): void {
    const held = this.#held;
    if (held === undefined) return;
    while (held.length > 0 && !this.closed && !this.mustPause()) this.run(held.shift()!);
    if (held.length === 0) this.#held = undefined;
  }

  /** Stops reading the socket until it is within its limits and its held messages ran. */
  private pause(): void {
    if (this.closed || this.#resumeTimer !== undefined) return;
    this.socket.pause();
    this.#resumeTimer = setInterval(() => {
      this.drain();
      if (this.closed || (this.#held === undefined && !this.mustPause())) {
        clearInterval(this.#resumeTimer);
        this.#resumeTimer = undefined;
        if (!this.closed) this.socket.resume();
      }
    }, RESUME_CHECK_MS);
    this.#resumeTimer.unref();
  }

  private mustPause(): boolean {
    return this.#inFlight >= this.limits.maxRequestsInFlight || this.bufferedAmount > this.softCapBytes;
  }

  private checkBudget(): void {
    // The fixed budget first: below it, the stream bytes in flight (a lookup) need not be counted.
    const buffered = this.bufferedAmount;
    if (this.closed || buffered <= this.limits.outboundBudgetBytes || buffered <= this.outboundCapBytes) return;
    this.hooks.overflowed(this);
    this.close(CLOSE.outboundOverflow, 'outbound buffer over budget: the client is not reading');
    // The close frame waits behind what is buffered; a client that does not read never gets it.
    setTimeout(() => this.socket.terminate(), OVERFLOW_TERMINATE_MS).unref();
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.flushBatch();
    this.closed = true;
    this.#bulkQueue?.close();
    this.#held = undefined;
    clearInterval(this.#resumeTimer);
    this.#resumeTimer = undefined;
    // Close reasons are limited to 123 bytes by RFC 6455 section 5.5.
    this.socket.close(code, reason.slice(0, 120));
    this.hooks.closing(this);
  }
}

/** The text message of `event`, encoded once for every connection it goes to (`encodedEvent`). */
export function encodeEvent(event: ServerEvent): Buffer {
  return Buffer.from(JSON.stringify({ kind: 'event', event }));
}

interface Batch {
  frames: Uint8Array[];
  bytes: number;
  done: Array<(error?: Error) => void>;
}
