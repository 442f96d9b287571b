/**
 * Broadcasts in PeerPigeon's shape (docs/data-streams/web-streams.md): a `WritableStream<Uint8Array>`
 * that sends one byte stream to the room (or its destinations). Loaded on first use (lazy.ts).
 *
 * The sink's `write()` is the byte stream's `write()`, which waits while the slowest receiver is a
 * window behind (outgoing/outgoing-stream.ts). While it waits, the WritableStream counts the chunk as
 * queued, so `desiredSize` falls to 0 or below and `ready` stays pending: `pipeTo` and a writer that
 * awaits `ready` stop pulling from their source. What the sender holds is bounded by the queue's high
 * water mark plus the chunk being sealed.
 *
 * `close()` resolves once the signed end is on the socket; `broadcastStreamComplete` follows when the
 * receipts are in (or their wait passed). `abort(reason)` sends the signed abort: receivers get
 * `AbnormalEnd` with the reason, the sender `broadcastStreamAborted`.
 */
import type { DataStreamsApi, Sending } from '../data-streams-api.ts';
import { DataStreamError } from '../errors.ts';
import { openSource, type FileInput } from '../outgoing/send-file.ts';
import { abortOnSignal, abortReasonText, checkSignal } from '../outgoing/writers.ts';
import type { BroadcastMetadata, BroadcastOptions, BroadcastStreamComplete } from './types.ts';
import { mimeTypeOf } from '../mime-type.ts';

export interface Broadcast {
  sink: UnderlyingSink<Uint8Array>;
  /** Settles with the completion event (after receipts), or rejects with why the broadcast failed. */
  report: Promise<BroadcastStreamComplete>;
}

export function broadcastSink(api: DataStreamsApi, roomId: string, options: BroadcastOptions): Broadcast {
  let sending: Sending | undefined;
  let metadata: BroadcastMetadata | undefined;
  let chunks = 0;
  let bytes = 0;
  let over = false;
  let name = 'unnamed';
  /** A sink call (write, close, abort) is running: it reports its own failure, with its own reason. */
  let busy = false;
  let settle!: { resolve: (event: BroadcastStreamComplete) => void; reject: (error: unknown) => void };
  const report = new Promise<BroadcastStreamComplete>((resolve, reject) => (settle = { resolve, reject }));
  report.catch(() => undefined);

  /** The broadcast ended before its end: tell the app once, with the reason receivers see. */
  const failed = (error: unknown, reason: string) => {
    if (over) return;
    over = true;
    if (sending !== undefined && metadata !== undefined) {
      api.broadcastEvents.emit('broadcastStreamAborted', { streamId: sending.info.id, roomId, reason, metadata }, (e) =>
        api.connection.log.warn({ error: String(e) }, 'a broadcastStreamAborted listener threw'),
      );
    }
    settle.reject(error);
  };
  const reasonOf = (error: unknown) => abortReasonText(options.signal?.aborted === true ? options.signal.reason : error);

  const sink: UnderlyingSink<Uint8Array> = {
    async start(controller) {
      try {
        if (typeof options !== 'object' || options === null) throw DataStreamError.invalidArgument('"options" expected an object');
        checkSignal(options.signal, 'createBroadcastStream');
        name = options.name ?? name;
        const mimeType = options.mimeType ?? (await mimeTypeOf(name));
        sending = await api.open('bytes', {
          roomId,
          topic: options.topic,
          name,
          mimeType,
          ...(options.totalSize === undefined ? {} : { totalSize: options.totalSize }),
          ...(options.attributes === undefined ? {} : { attributes: options.attributes }),
          ...(options.destinationIdentities === undefined ? {} : { destinationIdentities: options.destinationIdentities }),
          receipts: options.receipts ?? true,
          ...(options.receiptTimeoutMs === undefined ? {} : { receiptTimeoutMs: options.receiptTimeoutMs }),
        });
      } catch (error) {
        failed(error, 'open failed');
        throw error;
      }
      const { info } = sending;
      metadata = {
        topic: info.topic,
        name: info.name ?? name,
        mimeType: info.mimeType,
        ...(info.size === undefined ? {} : { size: info.size }),
        attributes: info.attributes,
      };
      abortOnSignal(sending.stream, options.signal);
      // A failure from outside (the connection dropped, the room was left) while no write is pending:
      // the app hears of it now, and the WritableStream errors.
      const { stream } = sending;
      void stream.ended.then(() => {
        if (over || busy || stream.error === undefined) return;
        failed(stream.error, reasonOf(stream.error));
        controller.error(stream.error);
      });
    },
    async write(chunk) {
      busy = true;
      try {
        await sending!.stream.write(chunk);
      } catch (error) {
        // A refused write (not bytes, past totalSize) ends the stream too: receivers must not wait for it.
        const reason = reasonOf(error);
        await sending!.stream.abort(reason).catch(() => undefined);
        failed(error, reason);
        throw error;
      } finally {
        busy = false;
      }
      chunks++;
      bytes += chunk.length;
    },
    async close() {
      const s = sending!;
      busy = true;
      try {
        await s.stream.close();
      } catch (error) {
        failed(error, reasonOf(error));
        throw error;
      } finally {
        busy = false;
      }
      over = true;
      void (s.delivery ?? Promise.resolve(undefined)).then((delivery) => {
        const event: BroadcastStreamComplete = {
          streamId: s.info.id,
          roomId,
          totalBytes: bytes,
          totalChunks: chunks,
          metadata: metadata!,
          ...(delivery === undefined ? {} : { delivered: delivery.delivered, failed: delivery.failed }),
        };
        api.broadcastEvents.emit('broadcastStreamComplete', event, (e) =>
          api.connection.log.warn({ error: String(e) }, 'a broadcastStreamComplete listener threw'),
        );
        settle.resolve(event);
      });
    },
    async abort(reason) {
      const text = abortReasonText(reason);
      busy = true;
      await sending?.stream.abort(text).catch(() => undefined);
      failed(DataStreamError.aborted('the broadcast', reason), text);
    },
  };
  return { sink, report };
}

/**
 * Sends a file (a path in Node, a Blob or File) or bytes through a broadcast stream: its name, size and
 * type come from the file unless given. Resolves with the completion event (after receipts).
 */
export async function broadcastSource(
  open: (roomId: string, options: BroadcastOptions) => { writable: WritableStream<Uint8Array>; report: Promise<BroadcastStreamComplete> },
  input: FileInput,
  options: BroadcastOptions & { roomId: string },
): Promise<BroadcastStreamComplete> {
  if (typeof options !== 'object' || options === null) throw DataStreamError.invalidArgument('"options" expected an object');
  checkSignal(options.signal, 'broadcastFile');
  const source = await openSource(input);
  const name = options.name ?? source.name ?? 'unnamed';
  const { roomId, ...rest } = options;
  const { writable, report } = open(roomId, { ...rest, name, ...(source.size === undefined ? {} : { totalSize: source.size }) });
  const writer = writable.getWriter();
  try {
    for await (const block of source.blocks()) {
      await writer.ready;
      await writer.write(block);
    }
    await writer.close();
  } catch (error) {
    source.cancel();
    await writer.abort(error).catch(() => undefined);
    throw error;
  }
  return report;
}
