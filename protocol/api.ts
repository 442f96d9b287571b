/**
 * Request and response bodies of the Bridge's REST API under /v1 (session auth) and /manage/v1
 * (operator API key). The Bridge validates requests with these schemas; the Endpoint validates
 * responses with them, since it does not trust the Bridge with integrity.
 */
import * as z from './zod.ts';
import { AUTH_NONCE_BYTES } from './auth.ts';
import { contextIdSchema, MAX_RECORD_BYTES, MAX_ROOM_MEMBERS, publicKeyTextSchema, roomIdSchema, USER_ID_PATTERN, userIdSchema } from './room-record.ts';

export const base64Schema = (maxBytes: number) =>
  z.string().check(z.maxLength(Math.ceil(maxBytes / 3) * 4), z.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected standard base64'));

export const solutionIdSchema = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 characters of [A-Za-z0-9_-]'));
export const nameSchema = z.string().check(z.trim(), z.minLength(1), z.maxLength(200));

/** An encoded wrapped key (crypto/key-wrap.ts) is ~100 bytes; 1 KiB leaves room for other suites. */
export const MAX_WRAPPED_KEY_BYTES = 1024;

// ---- Authentication

export const challengeRequestSchema = z.strictObject({
  solutionId: solutionIdSchema,
  publicKey: publicKeyTextSchema,
});
export type ChallengeRequest = z.infer<typeof challengeRequestSchema>;

export const challengeResponseSchema = z.object({
  nonce: base64Schema(AUTH_NONCE_BYTES),
  expiresAt: z.int(),
});
export type ChallengeResponse = z.infer<typeof challengeResponseSchema>;

export const sessionRequestSchema = z.strictObject({
  solutionId: solutionIdSchema,
  publicKey: publicKeyTextSchema,
  nonce: base64Schema(AUTH_NONCE_BYTES),
  /** The client's clock, milliseconds since the Unix epoch. */
  timestamp: z.int().check(z.nonnegative()),
  /** The Bridge URL the client signed. */
  bridgeUrl: z.url().check(z.maxLength(2048)),
  /** base64 Ed25519 signature over protocol/auth.ts authMessage(). */
  signature: base64Schema(64),
});
export type SessionRequest = z.infer<typeof sessionRequestSchema>;

export const sessionResponseSchema = z.object({
  token: z.string(),
  expiresAt: z.int(),
  userId: userIdSchema,
  solutionId: solutionIdSchema,
  contextIds: z.array(contextIdSchema),
});
export type SessionResponse = z.infer<typeof sessionResponseSchema>;

export const meResponseSchema = z.extend(z.omit(sessionResponseSchema, { token: true }), { publicKey: publicKeyTextSchema });
export type MeResponse = z.infer<typeof meResponseSchema>;

/**
 * User ids one directory read may name at most (`GET /v1/contexts/:id/users?userIds=a,b,...`): 100 ids
 * of up to 128 characters keep the URL under Node's 16 KiB header limit as written (the Endpoint also
 * bounds a read's encoded length: endpoint/rooms/key-trust.ts). A client that needs more asks in
 * several reads.
 */
export const DIRECTORY_READ_MAX_USERS = 100;
/** One user id in a pattern (`USER_ID_PATTERN` without its anchors). */
const userIdChars = USER_ID_PATTERN.source.slice(1, -1);
/**
 * Users one page of the directory lists at most (`GET /v1/contexts/:id/users` without `userIds`), and
 * by default. A page of 1,000 users of 128-character ids and their keys is about 200 KiB, with their
 * former keys more, so no member's read makes the Bridge build an answer the size of the whole
 * directory (docs/operations/limits.md, "Pages of a room's chain, and clients that do not read").
 */
export const DIRECTORY_PAGE_MAX_USERS = 1000;
/**
 * A directory read's query. `userIds`: only these users (comma-separated; user ids hold no comma), and
 * with `history` only their former keys. Without it, a page of the context's users in user-id order:
 * at most `limit` users whose ids sort after `after`, and with `history` the former keys of the same
 * users (a user listed once, with every key it had). The answer's `next` is the `after` of the next page.
 */
export const directoryQuerySchema = z
  .strictObject({
    history: z.optional(z.enum(['true', 'false'])),
    after: z.optional(userIdSchema),
    limit: z.optional(z.coerce.number().check(z.int(), z.positive(), z.maximum(DIRECTORY_PAGE_MAX_USERS))),
    userIds: z.optional(
      z
        .string()
        .check(
          z.regex(
            new RegExp(`^${userIdChars}(,${userIdChars}){0,${DIRECTORY_READ_MAX_USERS - 1}}$`),
            `expected 1-${DIRECTORY_READ_MAX_USERS} comma-separated user ids of [A-Za-z0-9._@+-]`,
          ),
        ),
    ),
  })
  .check(
    z.refine((q) => q.userIds === undefined || (q.after === undefined && q.limit === undefined), {
      message: '"after" and "limit" page the whole directory; a read of named "userIds" takes neither',
      path: ['userIds'],
    }),
  );

export const contextUsersResponseSchema = z.object({
  users: z.array(z.object({ userId: userIdSchema, publicKey: publicKeyTextSchema })),
  /** A page that is not the last: the `after` that reads the next one. Absent with `userIds`. */
  next: z.optional(userIdSchema),
  /**
   * With `?history=true`: users removed from the context and the keys they had, each with the time it
   * was added and removed (the Bridge's clock, ms). A client accepts such a key only for versions signed
   * in that window (docs/security/key-trust.md); `addedAt` is absent from older Bridges.
   */
  formerUsers: z.optional(z.array(z.object({ userId: userIdSchema, publicKey: publicKeyTextSchema, addedAt: z.optional(z.int()), removedAt: z.int() }))),
});
export type ContextUsersResponse = z.infer<typeof contextUsersResponseSchema>;

// ---- Rooms

export const signedRecordSchema = z.strictObject({
  record: z.string().check(z.minLength(2), z.maxLength(MAX_RECORD_BYTES)),
  signature: base64Schema(64),
});

export const wrappedKeyUploadSchema = z.strictObject({
  recipientId: userIdSchema,
  epoch: z.int().check(z.positive()),
  wrapped: base64Schema(MAX_WRAPPED_KEY_BYTES),
});
export type WrappedKeyUpload = z.infer<typeof wrappedKeyUploadSchema>;

export const createRoomRequestSchema = z.extend(signedRecordSchema, {
  keys: z.array(wrappedKeyUploadSchema).check(z.maxLength(MAX_ROOM_MEMBERS)),
});
export type CreateRoomRequest = z.infer<typeof createRoomRequestSchema>;

export const updateRoomRequestSchema = z.extend(createRoomRequestSchema, {
  /** The version the client's edit is based on (optimistic concurrency). */
  version: z.int().check(z.positive()),
  /** Apply even if `version` is not the current head (the record must still chain onto the head). */
  force: z._default(z.boolean(), false),
});
export type UpdateRoomRequest = z.input<typeof updateRoomRequestSchema>;

export const roomWriteResponseSchema = z.object({ roomId: roomIdSchema, version: z.int().check(z.positive()) });
export type RoomWriteResponse = z.infer<typeof roomWriteResponseSchema>;

export const versionedRecordSchema = z.extend(signedRecordSchema, { version: z.int().check(z.positive()) });
export type VersionedRecord = z.infer<typeof versionedRecordSchema>;

export const roomKeySchema = z.object({
  epoch: z.int().check(z.positive()),
  /** The version whose signed key-set root covers this key. */
  version: z.int().check(z.positive()),
  wrapped: base64Schema(MAX_WRAPPED_KEY_BYTES),
  leafIndex: z.int().check(z.nonnegative()),
  treeSize: z.int().check(z.positive()),
  proof: z.array(base64Schema(32)).check(z.maxLength(32)),
});
export type RoomKey = z.infer<typeof roomKeySchema>;

export const roomResponseSchema = z.object({
  roomId: roomIdSchema,
  contextId: contextIdSchema,
  /** Head version and epoch, as the Bridge sees them (the client checks them against the records). */
  version: z.int().check(z.positive()),
  epoch: z.int().check(z.positive()),
  /** Records with version > `since`, oldest first, at most one page. */
  records: z.array(versionedRecordSchema),
  /** More records follow: ask again with `since` = the last version here. */
  hasMore: z.boolean(),
  /** The caller's own wrapped keys, newest epoch first. */
  keys: z.array(roomKeySchema),
});
export type RoomResponse = z.infer<typeof roomResponseSchema>;

export const getRoomQuerySchema = z.strictObject({
  since: z._default(z.coerce.number().check(z.int(), z.nonnegative()), 0),
});

export const SORT_BY = ['createDate', 'lastModificationDate'] as const;

export const listRoomsQuerySchema = z.strictObject({
  skip: z._default(z.coerce.number().check(z.int(), z.nonnegative(), z.maximum(1_000_000)), 0),
  limit: z._default(z.coerce.number().check(z.int(), z.positive()), 20),
  sortOrder: z._default(z.enum(['asc', 'desc']), 'desc'),
  sortBy: z._default(z.enum(SORT_BY), 'createDate'),
  lastId: z.optional(roomIdSchema),
  /** A JSON filter over JSON publicMeta (bridge/rooms/query.ts). */
  queryAsJson: z.optional(z.string().check(z.maxLength(16 * 1024))),
});
export type ListRoomsQueryInput = z.input<typeof listRoomsQuerySchema>;

export const listRoomsResponseSchema = z.object({
  totalAvailable: z.int().check(z.nonnegative()),
  /** Each item is the room's head record only (records holds one entry); read the chain with GET. */
  readItems: z.array(roomResponseSchema),
});
export type ListRoomsResponse = z.infer<typeof listRoomsResponseSchema>;

// ---- Management

export const createSolutionRequestSchema = z.strictObject({ name: nameSchema });
export const createContextRequestSchema = z.strictObject({ name: nameSchema });
export const addContextUserRequestSchema = z.strictObject({ publicKey: publicKeyTextSchema });
export const createApiKeyRequestSchema = z.strictObject({ name: nameSchema });

export const solutionSchema = z.object({ solutionId: z.string(), name: z.string(), createdAt: z.number() });
export type Solution = z.infer<typeof solutionSchema>;
export const contextSchema = z.object({ contextId: z.string(), solutionId: z.string(), name: z.string(), createdAt: z.number() });
export type Context = z.infer<typeof contextSchema>;
export const contextUserSchema = z.object({
  contextId: z.string(),
  userId: z.string(),
  publicKey: z.string(),
  createdAt: z.number(),
});
export type ContextUser = z.infer<typeof contextUserSchema>;
export const apiKeyInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.number(),
  lastUsedAt: z.nullable(z.number()),
  revokedAt: z.nullable(z.number()),
});
export type ApiKeyInfo = z.infer<typeof apiKeyInfoSchema>;
export const createdApiKeySchema = z.extend(apiKeyInfoSchema, {
  /** The key itself: shown once, stored only as a hash. */
  key: z.string(),
});
export type CreatedApiKey = z.infer<typeof createdApiKeySchema>;

export const manageRoomSchema = z.object({
  roomId: z.string(),
  contextId: z.string(),
  version: z.number(),
  epoch: z.number(),
  creator: z.string(),
  members: z.number(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type ManageRoom = z.infer<typeof manageRoomSchema>;

export const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.optional(z.record(z.string(), z.unknown())),
    /** Seconds until a retry may succeed (rate limits, shutting down); also in the Retry-After header. */
    retryAfter: z.optional(z.number().check(z.nonnegative())),
  }),
});
