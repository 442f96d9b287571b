/**
 * What the Bridge's answer to each WebSocket request must look like (`ResultPayloads` in ws.ts), as the
 * Endpoint checks it before any code reads it (endpoint/pending-requests.ts). The Bridge is not trusted
 * for this any more than for its events (docs/security/bridge-adversary.md): an answer that does not
 * fit fails its request with `BridgeRefused` / `BAD_RESPONSE` and names the field, rather than reaching
 * the Endpoint as a wrong type (a window that is a string, a list that is not a list).
 *
 * Fields are checked, not copied: a valid answer reaches its caller as it came, so a field a newer
 * Bridge adds passes through. Sizes are bounded by the message bound (DOWN_MESSAGE_MAX_BYTES).
 */
import { userIdSchema } from './room-record.ts';
import {
  connectionIdSchema,
  MEDIA_RECEIVE_SDP_MAX_BYTES,
  participantSchema,
  type ResultPayloads,
  STREAM_WINDOW_MAX_BYTES,
  streamIdSchema,
  streamInfoSchema,
  trackIdSchema,
} from './ws.ts';
import * as z from './zod.ts';

const count = z.int().check(z.nonnegative());
const shortString = z.string().check(z.maxLength(1024));

/**
 * The schema of each answer that carries something. The others (`leave`, `unpublish`, ...) carry nothing
 * the Endpoint reads: the message check (serverMessageSchema) has made them an object already.
 */
export const resultSchemas: { [K in keyof ResultPayloads]?: z.ZodMiniType } = {
  hello: z.object({ connectionId: connectionIdSchema, userId: userIdSchema, solutionId: shortString, sessionExpiresAt: z.number() }),
  ping: z.object({ now: z.number() }),
  subscribe: z.object({ subscriptionIds: z.array(shortString) }),
  join: z.object({ participants: z.array(participantSchema), streams: z.array(streamInfoSchema) }),
  publish: z.object({ stream: streamInfoSchema }),
  updateStream: z.object({ stream: streamInfoSchema }),
  listStreams: z.object({ streams: z.array(streamInfoSchema) }),
  subscribeStreams: z.object({
    tracks: z.array(z.object({ streamId: streamIdSchema, trackId: trackIdSchema, trackNo: count, userId: userIdSchema })),
  }),
  byteStreamOpen: z.object({
    // A CHUNK frame carries it as a u32 (ws-frames.ts).
    streamNo: count.check(z.maximum(0xffff_ffff)),
    window: z.int().check(z.positive(), z.maximum(STREAM_WINDOW_MAX_BYTES)),
    allowed: z.optional(count),
    receivers: count,
    receiverIds: z.array(userIdSchema),
  }),
  mediaJoin: z.object({
    iceServers: z.array(z.object({ urls: z.array(shortString), username: z.optional(shortString), credential: z.optional(shortString) })),
    limits: z.object({
      publishedTracks: count,
      receivedTracks: count,
      videoBitrateBps: z.number().check(z.nonnegative()),
      audioBitrateBps: z.number().check(z.nonnegative()),
    }),
  }),
  // The unit's answer may be longer than an offer (candidates, fingerprints and bandwidth lines per section).
  mediaOffer: z.object({
    sdp: z.string().check(z.minLength(1), z.maxLength(MEDIA_RECEIVE_SDP_MAX_BYTES)),
    tracks: z.array(z.object({ mid: z.string().check(z.maxLength(32)), trackNo: count })),
  }),
  mediaCandidate: z.object({ accepted: z.boolean() }),
};

/**
 * Why `result` is not a valid answer to `kind` ("window: Too big: ..."), or undefined when it is.
 * @example resultProblem('byteStreamOpen', { streamNo: 1, window: 'big' }) // 'window: Invalid input: ...'
 */
export function resultProblem(kind: keyof ResultPayloads, result: unknown): string | undefined {
  const schema = resultSchemas[kind];
  if (schema === undefined) return undefined;
  const parsed = schema.safeParse(result);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0]!;
  // Bounded: zod's message can echo what the Bridge sent (the names of unknown keys).
  return `${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`.slice(0, 200);
}
