/**
 * The receiving side of PeerPigeon's shape (docs/data-streams/web-streams.md): `receiveBroadcasts(topic)`
 * registers the topic's byte-stream handler, which hands each stream to `streamReceived` listeners as
 * the reader's pull-based `readable`, and reports `streamCompleted` once it was read to its verified
 * end. Both are views over the one reader, not a second transport.
 */
import type { Emitter } from '../../util/emitter.ts';
import type { Logger } from '../../logger.ts';
import type { ByteStreamHandler } from '../types.ts';
import type { BroadcastEventMap } from './types.ts';

export function broadcastHandler(events: Emitter<BroadcastEventMap>, log: Logger): ByteStreamHandler {
  return (reader, { identity, streamRoomId }) => {
    const peer = { peerId: identity, roomId: streamRoomId, streamId: reader.info.id };
    const warn = (error: unknown) => log.warn({ error: String(error) }, 'a broadcast event listener threw');
    if (events.count('streamReceived') === 0) {
      // Nobody to read it: let it go at once rather than hold its sender.
      void reader.readable.cancel('no streamReceived listener').catch(() => undefined);
      return;
    }
    let totalChunks = 0;
    let totalBytes = 0;
    // Counts what passes; flush runs at the verified end (the reader's readable closes only there).
    const counted = reader.readable.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>(
        {
          transform(chunk, controller) {
            totalChunks++;
            totalBytes += chunk.length;
            controller.enqueue(chunk);
          },
          flush() {
            events.emit('streamCompleted', { ...peer, totalChunks, totalBytes }, warn);
          },
        },
        // One chunk may wait on the writable side (a high water mark of 0 there would stop the pipe
        // for good: pipeTo reads only while its destination wants more); none on the readable side.
        { highWaterMark: 1 },
        { highWaterMark: 0 },
      ),
    );
    events.emit('streamReceived', { ...peer, stream: counted, metadata: reader.info }, warn);
  };
}
