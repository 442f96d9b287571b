/**
 * The stream header: chunk 0 of every stream, encrypted like the content (docs/design.md: the Bridge never
 * sees topic, name, type, size or attributes) and signed by the sender (crypto/stream/format.ts: the
 * signature is checked before the header is parsed here). A small versioned JSON object, UTF-8, at
 * most `STREAM_HEADER_MAX_BYTES`:
 *
 *   { "v": 2, "kind": "bytes" | "text", "topic": string, "name": string (bytes streams only),
 *     "mimeType": string, "size"?: integer, "attributes": { string: string }, "timestamp": integer,
 *     "sender": user id, "roomId": room id, "roomVersion": integer, "headHash": base64 (32 bytes),
 *     "receipts"?: true,
 *     text streams only, for chat apps (LiveKit's text-stream fields):
 *     "replyToStreamId"?: stream id, "attachedStreamIds"?: [stream id], "operationType"?: "create" |
 *     "update" | "delete" | "reaction", "version"?: integer }
 *
 * `timestamp` is the sender's clock when it opened the stream: readers refuse a stream whose signed
 * time is outside their replay window (incoming/replay-guard.ts). `roomVersion` and `headHash` are the
 * room head the sender had verified when it opened the stream, so members can compare views.
 * `receipts` asks each receiver for a signed delivery receipt once it has read the stream to its
 * verified end (docs/protocol/receipts.md); the optional keys are left out when unused.
 *
 * Parsing is strict (unknown keys, a wrong version or an oversized header are refused): a signed header
 * is still input from another user. `sender` and `roomId` must equal what the Bridge names (the key
 * and the signature bind the sender too); a mismatch is an integrity failure.
 */
import * as z from '../../protocol/zod.ts';
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import { roomIdSchema, userIdSchema } from '../../protocol/room-record.ts';
import { DataStreamError } from './errors.ts';
import { ATTACHED_STREAMS_MAX, ATTRIBUTES_MAX_ENTRIES, MIME_TYPE_MAX_CHARS, NAME_MAX_BYTES, STREAM_HEADER_MAX_BYTES, TOPIC_MAX_CHARS } from './limits.ts';

export const STREAM_HEADER_VERSION = 2;

export type StreamKind = 'bytes' | 'text';

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;
const topicSchema = z.string().check(z.minLength(1), z.maxLength(TOPIC_MAX_CHARS));
const nameSchema = z.string().check(z.refine((s) => utf8Bytes(s) <= NAME_MAX_BYTES, `expected at most ${NAME_MAX_BYTES} UTF-8 bytes`));
const mimeTypeSchema = z.string().check(z.minLength(1), z.maxLength(MIME_TYPE_MAX_CHARS));
const attributesSchema = z
  .record(z.string(), z.string())
  .check(z.refine((a) => Object.keys(a).length <= ATTRIBUTES_MAX_ENTRIES, `expected at most ${ATTRIBUTES_MAX_ENTRIES} attributes`));
const sizeSchema = z.int().check(z.nonnegative(), z.maximum(Number.MAX_SAFE_INTEGER));
/** A stream id as apps see it (`info.id`): base64url of 16 bytes. */
const streamIdSchema = z.string().check(z.regex(/^[A-Za-z0-9_-]{22}$/, 'expected a stream id (22 base64url characters)'));
/** Chat fields of a text stream (LiveKit's names), inside the encrypted, signed header. */
const chatFields = {
  replyToStreamId: z.optional(streamIdSchema),
  attachedStreamIds: z.optional(z.array(streamIdSchema).check(z.maxLength(ATTACHED_STREAMS_MAX))),
  operationType: z.optional(z.enum(['create', 'update', 'delete', 'reaction'])),
  version: z.optional(sizeSchema),
};
const common = {
  v: z.literal(STREAM_HEADER_VERSION),
  topic: topicSchema,
  mimeType: mimeTypeSchema,
  size: z.optional(sizeSchema),
  attributes: attributesSchema,
  timestamp: z.int().check(z.nonnegative(), z.maximum(Number.MAX_SAFE_INTEGER)),
  sender: userIdSchema,
  roomId: roomIdSchema,
  roomVersion: z.int().check(z.positive(), z.maximum(Number.MAX_SAFE_INTEGER)),
  headHash: z.string().check(z.regex(/^[A-Za-z0-9+/]{43}=$/, 'expected 32 bytes of base64')),
  receipts: z.optional(z.literal(true)),
};

export const streamHeaderSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('bytes'), name: nameSchema, ...common }),
  z.strictObject({ kind: z.literal('text'), ...common, ...chatFields }),
]);
export type StreamHeader = z.infer<typeof streamHeaderSchema>;

/** Validates the sending options once, at the API boundary. */
export const sendOptionsSchema = z.object({
  topic: topicSchema,
  name: z.optional(nameSchema),
  mimeType: z.optional(mimeTypeSchema),
  attributes: z.optional(attributesSchema),
  totalSize: z.optional(sizeSchema),
  ...chatFields,
});

/** Serialises a header; a header over `STREAM_HEADER_MAX_BYTES` is `LengthExceeded`. */
export function encodeHeader(header: StreamHeader): Uint8Array {
  const bytes = utf8(JSON.stringify(header));
  if (bytes.length > STREAM_HEADER_MAX_BYTES) {
    throw DataStreamError.lengthExceeded(
      `the stream header expected at most ${STREAM_HEADER_MAX_BYTES} bytes, got ${bytes.length} (topic, name and attributes)`,
    );
  }
  return bytes;
}

/**
 * Parses a decrypted header of a stream the Bridge says `senderId` sent in `roomId`. Throws `Malformed`
 * for anything that is not a valid header, `Integrity` when it names another sender or room.
 */
export function decodeHeader(bytes: Uint8Array, expected: { senderId: string; roomId: string }): StreamHeader {
  if (bytes.length > STREAM_HEADER_MAX_BYTES) {
    throw new DataStreamError('Malformed', `the stream header expected at most ${STREAM_HEADER_MAX_BYTES} bytes, got ${bytes.length}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes));
  } catch (cause) {
    throw new DataStreamError('Malformed', 'the stream header is not UTF-8 JSON', { cause });
  }
  const parsed = streamHeaderSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DataStreamError('Malformed', `the stream header is invalid at "${issue.path.join('.')}": ${issue.message}`);
  }
  if (parsed.data.sender !== expected.senderId || parsed.data.roomId !== expected.roomId) throw DataStreamError.integrity();
  return parsed.data;
}
