/**
 * The stream header: chunk 0 of every stream, encrypted like the content (DESIGN.md: the Bridge never
 * sees topic, name, type, size or attributes). A small versioned JSON object, UTF-8, at most
 * `STREAM_HEADER_MAX_BYTES`:
 *
 *   { "v": 1, "kind": "bytes" | "text", "topic": string, "name": string (bytes streams only),
 *     "mimeType": string, "size"?: integer, "attributes": { string: string }, "timestamp": integer,
 *     "sender": user id }
 *
 * Parsing is strict (unknown keys, a wrong version or an oversized header are refused): the header
 * authenticates as coming from a room member, but only the final signature proves which one, so it is
 * treated as untrusted input. `sender` must equal the sender the Bridge names (which the key and the
 * signature also bind); a mismatch is an integrity failure.
 */
import { z } from 'zod';
import { fromUtf8, utf8 } from '../../crypto/bytes.ts';
import { userIdSchema } from '../../protocol/room-record.ts';
import { DataStreamError } from './errors.ts';
import { ATTRIBUTES_MAX_ENTRIES, MIME_TYPE_MAX_CHARS, NAME_MAX_BYTES, STREAM_HEADER_MAX_BYTES, TOPIC_MAX_CHARS } from './limits.ts';

export const STREAM_HEADER_VERSION = 1;

export type StreamKind = 'bytes' | 'text';

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;
const topicSchema = z.string().min(1).max(TOPIC_MAX_CHARS);
const nameSchema = z.string().refine((s) => utf8Bytes(s) <= NAME_MAX_BYTES, `expected at most ${NAME_MAX_BYTES} UTF-8 bytes`);
const mimeTypeSchema = z.string().min(1).max(MIME_TYPE_MAX_CHARS);
const attributesSchema = z
  .record(z.string(), z.string())
  .refine((a) => Object.keys(a).length <= ATTRIBUTES_MAX_ENTRIES, `expected at most ${ATTRIBUTES_MAX_ENTRIES} attributes`);
const sizeSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const common = {
  v: z.literal(STREAM_HEADER_VERSION),
  topic: topicSchema,
  mimeType: mimeTypeSchema,
  size: sizeSchema.optional(),
  attributes: attributesSchema,
  timestamp: z.number().int().nonnegative(),
  sender: userIdSchema,
};

export const streamHeaderSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('bytes'), name: nameSchema, ...common }),
  z.strictObject({ kind: z.literal('text'), ...common }),
]);
export type StreamHeader = z.infer<typeof streamHeaderSchema>;

/** Validates the sending options once, at the API boundary. */
export const sendOptionsSchema = z.object({
  topic: topicSchema,
  name: nameSchema.optional(),
  mimeType: mimeTypeSchema.optional(),
  attributes: attributesSchema.optional(),
  totalSize: sizeSchema.optional(),
});

/** Serialises a header; a header over `STREAM_HEADER_MAX_BYTES` is `LengthExceeded`. */
export function encodeHeader(header: StreamHeader): Uint8Array {
  const bytes = utf8(JSON.stringify(header));
  if (bytes.length > STREAM_HEADER_MAX_BYTES) {
    throw DataStreamError.lengthExceeded(`the stream header expected at most ${STREAM_HEADER_MAX_BYTES} bytes, got ${bytes.length} (topic, name and attributes)`);
  }
  return bytes;
}

/**
 * Parses a decrypted header from `senderId` (as the Bridge names it). Throws `Malformed` for anything
 * that is not a valid header, `Integrity` when it names another sender.
 */
export function decodeHeader(bytes: Uint8Array, senderId: string): StreamHeader {
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
  if (parsed.data.sender !== senderId) throw DataStreamError.integrity();
  return parsed.data;
}
