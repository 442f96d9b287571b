/**
 * A connection of this Bridge that joined a room (Participant, ./state.ts). Most joined connections sit
 * idle: they never publish, subscribe to a data track or open a byte stream. So what only those uses
 * need (the data-track queue, the byte-stream maps, the retired numbers) is made on first use, and an
 * idle participant holds its rooms and a few numbers (docs/operations/memory.md).
 */
import type { RealtimeConnection } from '../connection.ts';
import { DataQueue } from './data-queue.ts';
import { BoundedSet } from './numbers.ts';
import type { ByteStream, Participant, RelayState, RoomState } from './state.ts';

/**
 * Track and stream numbers a connection used and that ended (unpublished, aborted, cut by a removal)
 * are remembered, so frames it had already sent are dropped quietly instead of closing its socket as
 * a protocol error. Per connection, in numbers.
 */
const RETIRED_NUMBERS_PER_CONNECTION = 4096;

export class LocalParticipant implements Participant {
  readonly userId: string;
  readonly rooms = new Map<string, RoomState>();
  published = 0;
  unconsumedBytes = 0;
  endedBytes = 0;
  peakBytes = 0;
  readonly retiredTracks = new BoundedSet<number>(RETIRED_NUMBERS_PER_CONNECTION);
  readonly retiredStreams = new BoundedSet<number>(RETIRED_NUMBERS_PER_CONNECTION);
  #data: DataQueue | undefined;
  #sending: Map<number, ByteStream> | undefined;
  #receiving: Map<number, ByteStream> | undefined;

  constructor(
    readonly conn: RealtimeConnection,
    private readonly st: RelayState,
  ) {
    this.userId = conn.userId;
  }

  /** Made by the first data-track frame, purge or stats (an idle participant has none). */
  get data(): DataQueue {
    this.#data ??= this.makeDataQueue();
    return this.#data;
  }

  get sending(): Map<number, ByteStream> {
    this.#sending ??= new Map();
    return this.#sending;
  }

  get receiving(): Map<number, ByteStream> {
    this.#receiving ??= new Map();
    return this.#receiving;
  }

  /** The connection is gone: stops the data queue's timers, if it has one (makes none). */
  closeData(): void {
    this.#data?.close();
  }

  private makeDataQueue(): DataQueue {
    const c = this.st.config;
    const counters = this.st.counters;
    return new DataQueue(this.conn, {
      queueBytes: c.dataQueueBytes,
      highWaterBytes: c.dataHighWaterBytes,
      reportIntervalMs: c.dataDroppedReportIntervalMs,
      // Counts coalesce rather than pile up behind a socket that is not draining at all.
      reportHoldBytes: c.dataHighWaterBytes + c.maxMessageBytes,
      onDrop: (cause) => {
        if (cause === 'deadline') counters.dataDroppedDeadline++;
        else counters.dataDroppedSlow++;
      },
      onReliableOverflow: (trackNo) => this.st.onReliableOverflow?.(this, trackNo),
    });
  }
}
