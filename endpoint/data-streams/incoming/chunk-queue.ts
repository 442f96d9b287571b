/**
 * The buffer between a stream's delivery and its app reader. It holds decrypted chunks until the app
 * takes them; what it may hold is bounded by the Bridge's window, because credit (credit.ts) follows
 * what the app takes. One consumer at a time (`for await`, `readAll` or `writeToFile`).
 *
 * A failure is immediate: buffered chunks are dropped and a pending read rejects, since a stream that
 * did not reach its signed end is not data the app may use as complete.
 */
import { DataStreamError } from '../errors.ts';

export interface QueueOwner {
  /** The app took a chunk of `payloadBytes` CHUNK payload bytes; `starved`: none is left buffered. */
  consumed(payloadBytes: number, starved: boolean): void;
  /** The app stopped reading before the end. */
  cancelled(error: DataStreamError): void;
  /** The app read the stream to its verified end (once). */
  drained?(): void;
}

interface Entry {
  data: Uint8Array;
  payloadBytes: number;
}

type State = 'open' | 'ended' | 'failed';

export class ChunkQueue {
  private entries: Entry[] = [];
  private head = 0;
  private state: State = 'open';
  private error: DataStreamError | undefined;
  private waiter: { resolve: (entry: Entry | undefined) => void; reject: (error: DataStreamError) => void } | undefined;
  private locked = false;
  private payloadBytes = 0;
  private drainedOnce = false;

  constructor(private readonly owner: QueueOwner) {}

  /** Chunks waiting for the app. */
  get buffered(): number {
    return this.entries.length - this.head;
  }

  /** CHUNK payload bytes of the chunks waiting (what the Bridge's window bounds). */
  get bufferedBytes(): number {
    return this.payloadBytes;
  }

  push(data: Uint8Array, payloadBytes: number): void {
    if (this.state !== 'open') return;
    const entry = { data, payloadBytes };
    if (this.waiter !== undefined) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      // The app was waiting for this chunk: it reads faster than chunks come.
      this.owner.consumed(payloadBytes, true);
      resolve(entry);
      return;
    }
    this.entries.push(entry);
    this.payloadBytes += payloadBytes;
  }

  /** The stream reached its verified end. */
  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    if (this.waiter !== undefined && this.buffered === 0) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      this.drained();
      resolve(undefined);
    }
  }

  private drained(): void {
    if (this.drainedOnce) return;
    this.drainedOnce = true;
    this.owner.drained?.();
  }

  fail(error: DataStreamError): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.error = error;
    this.entries = [];
    this.head = 0;
    this.payloadBytes = 0;
    if (this.waiter !== undefined) {
      const { reject } = this.waiter;
      this.waiter = undefined;
      reject(error);
    }
  }

  /** The app gives up on the stream (broke out of `for await`, an aborted `readAll`, a failed file). */
  cancel(error: DataStreamError): void {
    if (this.state !== 'open') return;
    this.fail(error);
    this.owner.cancelled(error);
  }

  /** Takes the one consumer slot; throws if a consumer already has it. */
  lock(what: string): void {
    if (this.locked) throw DataStreamError.invalidArgument(`${what}: the reader is already being read`);
    this.locked = true;
  }

  /** The next chunk, or undefined at the verified end; rejects with the stream's error. */
  async next(): Promise<Uint8Array | undefined> {
    if (this.state === 'failed') throw this.error!;
    if (this.head < this.entries.length) {
      const entry = this.entries[this.head]!;
      this.entries[this.head++] = undefined as unknown as Entry;
      if (this.head > 64 && this.head * 2 > this.entries.length) {
        this.entries = this.entries.slice(this.head);
        this.head = 0;
      }
      this.payloadBytes -= entry.payloadBytes;
      this.owner.consumed(entry.payloadBytes, this.payloadBytes === 0);
      return entry.data;
    }
    if (this.state === 'ended') {
      this.drained();
      return undefined;
    }
    const entry = await new Promise<Entry | undefined>((resolve, reject) => (this.waiter = { resolve, reject }));
    return entry?.data;
  }
}
