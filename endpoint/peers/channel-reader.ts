/**
 * The reader side of a direct data channel (./direct-stream.ts has the envelope): the streams of one
 * channel by id, each chunk opened after the one before, within the limits a peer may make this side
 * hold: DIRECT_STREAMS_MAX streams per peer until the app has read them, DIRECT_STREAM_HELD_MAX unread
 * bytes per stream (a sender past its credit window fails with `Overloaded`).
 */
import { toBase64 } from '../../crypto/bytes.ts';
import { createStreamDecryptor, type StreamDecryptor } from '../data-streams/stream-crypto.ts';
import { decodeHeader } from '../data-streams/header.ts';
import {
  CHUNK,
  CREDIT,
  DIRECT_STREAM_HELD_MAX,
  DIRECT_STREAMS_MAX,
  DIRECT_WINDOW_BYTES,
  envelope,
  ID_BYTES,
  type IncomingDeps,
  IncomingDirectStream,
  OPEN,
  type OutgoingCredit,
  RECEIPT,
  REJECT,
  SIGNATURE_BYTES,
  streamControl,
} from './direct-stream.ts';
import { PeerError } from './errors.ts';

/** A stream the channel reader knows, from OPEN until its last chunk (or its failure). */
interface Entry {
  stream: IncomingDirectStream | undefined;
  /** Set once OPEN found the keys (undefined: refused, chunks are dropped). */
  dec: StreamDecryptor | undefined;
  /** The chunks in order: each opens after the one before. */
  tail: Promise<void>;
  /** Bytes of chunks received and not opened yet. */
  pending: number;
  /** Gives the stream's place in the peer's budget back (once). */
  release(): void;
}

/** The reader side of one channel: streams by id, in chunk order. */
export class ChannelReader {
  readonly #streams = new Map<string, Entry>();

  constructor(
    private readonly label: string,
    private readonly d: IncomingDeps,
    private readonly credits: Map<string, OutgoingCredit>,
  ) {}

  /** Handles one binary message of the channel; a malformed or unverifiable one fails its stream. */
  async message(bytes: Uint8Array): Promise<void> {
    if (bytes.length < 1 + ID_BYTES) throw new PeerError('InvalidArgument', `a direct frame expected at least ${1 + ID_BYTES} bytes, got ${bytes.length}`);
    const id = bytes.subarray(1, 1 + ID_BYTES);
    const key = toBase64(id);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    switch (bytes[0]) {
      case OPEN: {
        const { budget } = this.d;
        if (bytes.length !== 1 + ID_BYTES + 4 || this.#streams.has(key) || budget.open >= DIRECT_STREAMS_MAX) return this.#reject(id);
        // The place is taken before anything is awaited: OPENs of one SCTP packet arrive between
        // microtasks, and each must see the ones before it.
        budget.open++;
        let released = false;
        const entry: Entry = {
          stream: undefined,
          dec: undefined,
          tail: Promise.resolve(),
          pending: 0,
          release: () => {
            if (released) return;
            released = true;
            budget.open--;
            // A stream the app cancelled midway: its sender stops on REJECT, so no chunk would end it here.
            if (this.#streams.get(key) === entry) this.#streams.delete(key);
          },
        };
        this.#streams.set(key, entry);
        const epoch = view.getUint32(1 + ID_BYTES);
        entry.tail = (async () => {
          const epochKey = this.d.epochKey(epoch);
          const publicKey = await this.d.senderPublicKey();
          if (epochKey === undefined || publicKey === undefined || this.#streams.get(key) !== entry) {
            this.#drop(key, entry);
            return this.#reject(id);
          }
          entry.dec = createStreamDecryptor({
            epochKey: () => Promise.resolve(epochKey.slice()),
            reader: this.d.reader,
            streamId: id.slice(),
            senderId: this.d.senderId,
            senderPublicKey: publicKey,
          });
        })();
        return entry.tail;
      }
      case CHUNK: {
        const entry = this.#streams.get(key);
        if (entry === undefined || bytes.length < 2 + ID_BYTES) return;
        const last = (bytes[1 + ID_BYTES]! & 1) === 1;
        const data = bytes.slice(2 + ID_BYTES);
        // The sender may run DIRECT_WINDOW_BYTES ahead of what the app read, no further.
        if (entry.pending + (entry.stream?.queuedBytes ?? 0) + data.length > DIRECT_STREAM_HELD_MAX) {
          this.#fail(key, entry, new PeerError('Overloaded', `the peer sent past the credit window of a direct stream (${DIRECT_WINDOW_BYTES} bytes)`));
          return this.#reject(id);
        }
        entry.pending += data.length;
        entry.tail = entry.tail.then(async () => {
          try {
            await this.#chunk(key, id.slice(), entry, data, last);
          } finally {
            entry.pending -= data.length;
          }
        });
        return entry.tail;
      }
      case CREDIT:
        if (bytes.length === 1 + ID_BYTES + 8) this.credits.get(key)?.credit(Number(view.getBigUint64(1 + ID_BYTES)));
        return;
      case REJECT:
        this.credits.get(key)?.reject();
        return;
      case RECEIPT:
        if (bytes.length === 1 + ID_BYTES + 8 + SIGNATURE_BYTES) {
          this.credits.get(key)?.receipted(Number(view.getBigUint64(1 + ID_BYTES)), bytes.slice(1 + ID_BYTES + 8));
        }
        return;
      default:
        return;
    }
  }

  async #chunk(key: string, id: Uint8Array, entry: Entry, data: Uint8Array, last: boolean): Promise<void> {
    const dec = entry.dec;
    if (this.#streams.get(key) !== entry || dec === undefined) return;
    try {
      if (entry.stream === undefined) {
        const stream = new IncomingDirectStream(
          this.label,
          id,
          dec,
          (f) => this.d.send(f),
          (hash, bytes) => {
            // Only when the sender asked (the signed header's `receipts`), as on the relay.
            if (stream.header?.receipts === true) void this.#receipt(id, hash, bytes);
          },
          // Read, cancelled or failed: its place in the peer's budget is free (not at its last
          // chunk: a stream the app has not read still holds its data).
          entry.release,
        );
        const opened = await dec.open(data, last);
        if (opened.kind !== 'header') throw new PeerError('SignatureInvalid', 'a direct stream did not start with its signed header');
        streamControl(stream).setHeader(decodeHeader(opened.header, { senderId: this.d.senderId, roomId: this.d.roomId }));
        entry.stream = stream;
        if (!this.d.opened(stream)) {
          this.#drop(key, entry);
          this.#reject(id);
        }
        return;
      }
      if ((await streamControl(entry.stream).chunk(data, last)) === 'end' && this.#streams.get(key) === entry) this.#streams.delete(key);
    } catch (error) {
      this.#fail(
        key,
        entry,
        error instanceof PeerError ? error : new PeerError('SignatureInvalid', 'a direct stream chunk failed to verify', { cause: error }),
      );
    }
  }

  /** The stream goes unread: its key and hash state, and its place in the peer's budget. */
  #drop(key: string, entry: Entry): void {
    if (this.#streams.get(key) === entry) this.#streams.delete(key);
    entry.dec?.dispose();
    entry.release();
  }

  #fail(key: string, entry: Entry, error: PeerError): void {
    this.#drop(key, entry);
    if (entry.stream !== undefined) streamControl(entry.stream).fail(error);
  }

  async #receipt(id: Uint8Array, contentHash: Uint8Array, contentBytes: number): Promise<void> {
    try {
      const at = Date.now();
      const signature = await this.d.signReceipt(id, contentHash, contentBytes, at);
      const frame = envelope(RECEIPT, id, 8, signature);
      frame.view.setBigUint64(1 + ID_BYTES, BigInt(at));
      this.d.send(frame.out);
    } catch {
      // The stream was delivered whole either way; the sender reports no_receipt.
    }
  }

  #reject(id: Uint8Array): void {
    this.d.send(envelope(REJECT, id, 0).out);
  }

  /** The peer closed or was removed: every open stream fails with `error`. */
  failAll(error: PeerError): void {
    // Streams that have not sent their header yet hold a decryptor and a place too.
    for (const [key, entry] of [...this.#streams]) this.#fail(key, entry, error);
  }
}
