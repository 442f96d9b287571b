/**
 * One stream this connection receives: its decryptor (made from the sender the Bridge names, that
 * sender's public key in the verified room, and the key of the stream: the epoch's, or this reader's
 * wrap of a private stream's), its credit, and, once the signed header has opened, the reader the app
 * gets and the sender's view of the room.
 */
import type { CryptoBackend } from '../../../crypto/backend/index.ts';
import { fromBase64 } from '../../../crypto/bytes.ts';
import { decodePublicKey } from '../../../crypto/identity.ts';
import { membersOf } from '../../../protocol/room-chain.ts';
import type { ServerEvent } from '../../../protocol/ws.ts';
import type { RoomApi } from '../../rooms/room-api.ts';
import { streamBackend } from '../../util/realtime-presence.ts';
import { DataStreamError } from '../errors.ts';
import { base64ToUrl } from '../ids.ts';
import type { StreamHeader } from '../header.ts';
import { createStreamDecryptor, type OpenedChunk, type StreamDecryptor, type StreamReaderKey } from '../stream-crypto.ts';
import type { ChunkQueue } from './chunk-queue.ts';
import { Credit } from './credit.ts';
import type { ByteReader, TextReader } from './readers.ts';

export type OpenedEvent = Extract<ServerEvent, { type: 'byteStreamOpened' }>;

const GIVE = { give: true } as const;

/** What a delivery step gets when the stream ended while the step waited. */
export const GONE = Symbol('gone');

/**
 * The room head the sender had verified when it opened the stream, from its signed header: the room
 * version and that version's record hash. Members compare it with their own to detect a split view.
 */
export interface SenderRoomView {
  roomVersion: number;
  headHash: Uint8Array;
}

/** The incoming stream behind each reader handed to a handler (internal: readers stay public-only). */
const byReader = new WeakMap<object, IncomingStream>();

/** The signed room view of the stream a handler's reader reads, for this library's own modules. */
export function senderRoomViewOf(reader: object): SenderRoomView | undefined {
  return byReader.get(reader)?.senderView;
}

export class IncomingStream {
  readonly streamNo: number;
  /** The public id: base64url of the 16-byte stream id. */
  readonly id: string;
  /** The 16-byte stream id, base64 (as the Bridge names it). */
  readonly streamIdBase64: string;
  readonly roomId: string;
  readonly senderId: string;
  readonly senderConnectionId: string;
  readonly credit: Credit;
  /** Settles with GONE once the stream is over, so no step waits on a stream nobody reads. */
  readonly gone: Promise<typeof GONE>;
  header: StreamHeader | undefined;
  /** From the signed header (internal; not on the reader's public `info`). */
  senderView: SenderRoomView | undefined;
  private readerValue: ByteReader | TextReader | undefined;
  queue: ChunkQueue | undefined;
  /** Plaintext bytes delivered (checked against the header's size). */
  contentBytes = 0;
  /** At the verified end: the SHA-256 of all the content, as the sender signed it (delivery receipts). */
  contentHash: Uint8Array | undefined;
  /** When a chunk last arrived or the app last consumed one (performance.now(), ms): the idle clock. */
  lastActivity = performance.now();
  done = false;
  /** Chunks that arrived and wait for their delivery step (util/cooperative.ts). */
  waitingChunks = 0;
  /** The Bridge aborted it with `removed`: whose removal it was is told by the `streamRoomLeft` after it. */
  removal: ReturnType<typeof setTimeout> | undefined;
  private decryptor: StreamDecryptor | undefined;
  /** The bulk thread's backend, when this stream's chunk work runs there (chosen at its start). */
  private readonly backend: CryptoBackend | undefined;
  private readonly decryptorReady: Promise<StreamDecryptor>;
  private markGone!: (value: typeof GONE) => void;
  /** The copy of the epoch key fetched for this stream, wiped when it ends. */
  private readonly epochKey: { copy?: Uint8Array } = {};

  /** Payload bytes that arrived and the app has not consumed yet (flow control bounds it: limits.ts). */
  unconsumed = 0;

  constructor(
    event: OpenedEvent,
    rooms: RoomApi,
    readerKey: StreamReaderKey | undefined,
    sendCredit: (offset: number, starved: boolean) => void,
    /** The same summed over the connection's incoming streams. */
    private readonly ledger: { unconsumed: number },
    /** The receive window this connection declared now (receive-window.ts), undefined for the stream's. */
    receiveWindow: () => number | undefined = () => undefined,
  ) {
    this.streamNo = event.streamNo;
    this.id = base64ToUrl(event.streamId);
    this.streamIdBase64 = event.streamId;
    this.roomId = event.roomId;
    this.senderId = event.senderId;
    this.senderConnectionId = event.senderConnectionId;
    // Credits go in quarters of what the sender may run ahead of this reader now.
    this.credit = new Credit(() => Math.min(event.window, receiveWindow() ?? event.window), sendCredit);
    this.gone = new Promise((resolve) => (this.markGone = resolve));
    // On the bulk thread while this process carries real-time tracks (docs/operations/realtime-priorities.md).
    this.backend = streamBackend();
    this.decryptorReady = makeDecryptor(rooms, event, readerKey, this.epochKey, this.backend);
    this.decryptorReady.then(
      (d) => (this.decryptor = d),
      () => undefined,
    );
  }

  get reader(): ByteReader | TextReader | undefined {
    return this.readerValue;
  }

  set reader(reader: ByteReader | TextReader | undefined) {
    this.readerValue = reader;
    if (reader !== undefined) byReader.set(reader, this);
  }

  /** Chunks are opened on the bulk thread: opening may start as they arrive, not at their turn. */
  get threaded(): boolean {
    return this.backend !== undefined;
  }

  /**
   * True until the header has opened (sender fetched, then the key: an epoch key may be fetched, a
   * wrap unwrapped): until then, a delivery step also watches `gone`, so a stream that ends meanwhile
   * does not hold the pipeline. After that, opening is CPU work that always settles.
   */
  get preparing(): boolean {
    return this.decryptor === undefined || this.header === undefined;
  }

  /**
   * A chunk of `payloadBytes` arrived (its work waits for its turn): credit counts it, the idle clock
   * restarts, and the stream is not idle while the chunk waits.
   */
  arrived(payloadBytes: number): void {
    this.lastActivity = performance.now();
    this.credit.arrive(payloadBytes);
    this.waitingChunks++;
    this.unconsumed += payloadBytes;
    this.ledger.unconsumed += payloadBytes;
  }

  /** An arrived chunk's turn came (whether or not the stream still takes it). */
  taken(): void {
    this.waitingChunks--;
  }

  /**
   * Opens the next chunk in arrival order (the decryptor keeps the order of its calls). `give`: the
   * payload's buffer is the socket message's own and nothing reads it again (the bulk thread takes it
   * without a copy).
   */
  open(payload: Uint8Array, last: boolean, give = false): Promise<OpenedChunk> {
    const options = give ? GIVE : undefined;
    const opening =
      this.decryptor !== undefined ? this.decryptor.open(payload, last, options) : this.decryptorReady.then((d) => d.open(payload, last, options));
    opening.catch(() => undefined);
    return opening;
  }

  /**
   * The app took `payloadBytes` of CHUNK payload (`starved`: nothing of the stream is left buffered
   * here): credit follows, and the idle clock restarts.
   */
  consumed(payloadBytes: number, starved: boolean): void {
    this.lastActivity = performance.now();
    this.credit.consume(payloadBytes, starved);
    const taken = Math.min(payloadBytes, this.unconsumed);
    this.unconsumed -= taken;
    this.ledger.unconsumed -= taken;
  }

  /**
   * Idle: nothing arrived and nothing was consumed for `idleMs`, while this side holds no unread data
   * (an app that does not read is what holds the sender back then, and its buffer is bounded) and no
   * chunk waits for its step (a busy process is not a silent sender), and the bulk governor holds no
   * credit of it back (util/bulk-governor.ts: the sender waits for this process, not the reverse).
   */
  idleSince(now: number, idleMs: number): boolean {
    return !this.done && this.waitingChunks === 0 && !this.credit.held && (this.queue?.bufferedBytes ?? 0) === 0 && now - this.lastActivity > idleMs;
  }

  /** Marks the stream over; returns false if it already was. */
  end(): boolean {
    if (this.done) return false;
    this.done = true;
    this.epochKey.copy?.fill(0);
    // Its key and hash state go now, on the bulk thread too, whether or not the stream reached its end.
    this.decryptorReady.then(
      (d) => d.dispose(),
      () => undefined,
    );
    clearTimeout(this.removal);
    this.credit.dispose();
    this.ledger.unconsumed -= this.unconsumed;
    this.unconsumed = 0;
    this.markGone(GONE);
    return true;
  }
}

async function makeDecryptor(
  rooms: RoomApi,
  e: OpenedEvent,
  reader: StreamReaderKey | undefined,
  held: { copy?: Uint8Array },
  backend: CryptoBackend | undefined,
): Promise<StreamDecryptor> {
  // Fetched at once, as most streams are room streams, but used only if chunk 0 says this is one (a
  // private stream opens with this reader's wrap instead). A copy: the key ring may wipe its own when
  // the room is forgotten meanwhile; the decryptor wipes it once used, the stream's end in any case.
  const epochKey = rooms.keyFor(e.roomId, e.epoch).then(
    (key) => (held.copy = key.slice()),
    (cause: unknown) => {
      throw new DataStreamError('KeyUnavailable', `room "${e.roomId}": no key for epoch ${e.epoch}`, { cause });
    },
  );
  epochKey.catch(() => undefined);
  const senderPublicKey = await senderKey(rooms, e.roomId, e.senderId);
  return createStreamDecryptor({
    epochKey: () => epochKey,
    reader,
    streamId: fromBase64(e.streamId),
    senderId: e.senderId,
    senderPublicKey,
    ...(backend ? { backend } : {}),
  });
}

/** The sender's public key from the verified room (read again once, if it joined after our last read). */
async function senderKey(rooms: RoomApi, roomId: string, senderId: string): Promise<Uint8Array> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const head = await rooms.trustedHead(roomId);
    const publicKey = head === undefined ? undefined : membersOf(head.record).get(senderId);
    if (publicKey !== undefined) return decodePublicKey(publicKey);
    if (attempt === 0) await rooms.getStreamRoom(roomId).catch(() => undefined);
  }
  throw new DataStreamError('KeyUnavailable', `room "${roomId}": "${senderId}" is not a member of the verified room`);
}
