/** Limits and tuning of byte and text streams. Each constant names its unit. */
import { STREAM_WINDOW_MAX_BYTES } from '../../protocol/ws.ts';
import { STREAM_ABORT_REASON_MAX_BYTES, STREAM_CHUNK_MAX_BYTES, STREAM_RECIPIENTS_MAX } from './stream-crypto.ts';

export { STREAM_ABORT_REASON_MAX_BYTES, STREAM_CHUNK_MAX_BYTES };

/**
 * `destinationIdentities` per stream at most. A private stream carries a wrap of its key for each
 * destination in chunk 0, which every destination receives (crypto/stream/keying.ts).
 */
export const DESTINATIONS_MAX = STREAM_RECIPIENTS_MAX;

/** The serialised stream header (chunk 0) at most: topic, name, mime type, attributes and the rest. */
export const STREAM_HEADER_MAX_BYTES = 16_384;
/** A topic's length at most, in UTF-16 code units (as JavaScript counts). */
export const TOPIC_MAX_CHARS = 256;
/** A stream's name (a file name) at most, in UTF-8 bytes, like most file systems. */
export const NAME_MAX_BYTES = 255;
export const MIME_TYPE_MAX_CHARS = 255;
/** How long a sender waits for delivery receipts after its stream's end, by default. Milliseconds. */
export const DEFAULT_RECEIPT_TIMEOUT_MS = 10_000;
/** `receiptTimeoutMs` at most: the Bridge relays receipts for 120 s after a stream's end (docs/protocol/receipts.md). */
export const RECEIPT_TIMEOUT_MAX_MS = 120_000;
/** `attachedStreamIds` of a text stream at most. */
export const ATTACHED_STREAMS_MAX = 64;
/** Attributes per stream at most. */
export const ATTRIBUTES_MAX_ENTRIES = 64;
/** The AEAD tag each sealed chunk adds (AES-256-GCM). */
export const SEALED_CHUNK_OVERHEAD_BYTES = 16;
/**
 * Payload bytes the signed final chunk can take at most: ending (1), signature (64), reason, tag.
 * Writers keep this much of the Bridge's allowance free, so `close()` and `abort()` never wait for a
 * slow receiver.
 */
export const FINAL_CHUNK_MAX_BYTES = 1 + 64 + STREAM_ABORT_REASON_MAX_BYTES + SEALED_CHUNK_OVERHEAD_BYTES;
/** Payload bytes of a checkpoint chunk (the sender's signature over the content so far, sealed). */
export const CHECKPOINT_CHUNK_BYTES = 64 + SEALED_CHUNK_OVERHEAD_BYTES;
/** Data chunks are at least this big (unless the write is smaller), whatever the window. */
export const CHUNK_MIN_BYTES = 1024;
/**
 * The writer pauses while the socket holds more than this, so nothing piles up in the socket when the
 * network is slower than the Bridge's allowance (all streams of a connection share the socket).
 */
export const SEND_BUFFER_HIGH_WATER_BYTES = 1024 * 1024;
/** A reader that has consumed this fraction of the window since its last credit sends one at once. */
export const CREDIT_BATCH_FRACTION = 4;
/** A reader's consumed bytes below the batch reach the Bridge within this many ms anyway. */
export const CREDIT_FLUSH_MS = 20;
/**
 * While the bulk governor holds a reader's credit back (util/bulk-governor.ts), the credit that waits
 * covers at most this much (one chunk): the process's held streams take turns in small steps, so each
 * shows progress to the Bridge well within its stuck-reader timeout.
 */
export const GOVERNED_CREDIT_BYTES = 64 * 1024;
/** `sendFile` reads its source in blocks of this size; each is sealed as a few chunks in parallel. */
export const FILE_READ_BLOCK_BYTES = 1024 * 1024;
/**
 * A stream that carries nothing for this long fails with `Timeout`: a reader that gets no chunk (while
 * it holds no unread data), a writer that gets no allowance. Longer than the Bridge's cut of a stuck
 * receiver (10 s by default), so a slow receiver is cut there first. `streamIdleTimeoutMs` sets it.
 */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 60_000;

/**
 * Incoming streams one connection holds at once. The Bridge bounds what each sender opens
 * (`maxOpenStreamsPerConnection`), not what one receiver gets from many: past this, an announced stream
 * is rejected at once (`byteStreamReject`) and counted (`dataStreamStats().refusedOpens`), so a Bridge
 * cannot make a client hold streams without end.
 */
export const INCOMING_STREAMS_MAX = 256;
/**
 * Incoming streams from one sender (user) a connection holds at once: a member with several
 * connections, each at the Bridge's `maxOpenStreamsPerConnection` and trickling a chunk now and then,
 * took every place of INCOMING_STREAMS_MAX, and every other member's streams were refused. Past this,
 * that sender's announced streams are rejected the same way and counted in `refusedOpens`.
 */
export const INCOMING_STREAMS_PER_SENDER_MAX = 64;
/**
 * Payload bytes of one incoming stream that arrived and are not yet consumed, at most. Flow control
 * keeps an honest Bridge within the stream's window (at most `streamWindowMaxBytes`, 8 MiB by default
 * and never above STREAM_WINDOW_MAX_BYTES, docs/protocol/byte-streams.md "Window"); past this the
 * Bridge ignored it, and the stream fails (`AbnormalEnd`) before its chunks are queued.
 */
export const INCOMING_UNCONSUMED_MAX_BYTES = STREAM_WINDOW_MAX_BYTES;
/** The same over all incoming streams of a connection. */
export const INCOMING_UNCONSUMED_TOTAL_MAX_BYTES = 256 * 1024 * 1024;

/**
 * What a text stream's `readAll()` reads at most unless given `maxBytes` (UTF-8 bytes): a chat
 * message's size many times over. Past it, `LengthExceeded` and the stream is cancelled.
 */
export const TEXT_READ_ALL_MAX_BYTES = 1024 * 1024;
/** The same for a byte stream's `readAll()`; larger files go through `for await`, `readable` or `writeToFile`. */
export const BYTES_READ_ALL_MAX_BYTES = 64 * 1024 * 1024;
