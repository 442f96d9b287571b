/**
 * The room read's response (`GET /v1/rooms/:id`) checked without zod's machinery on the path that
 * every read of a room takes: the same checks as `roomResponseSchema`, written out (docs/operations/
 * room-creates.md, "Verified gets"). It only ever accepts what the schema accepts, with the same
 * output (new objects holding only the schema's fields); anything else goes to the schema itself, which
 * then rejects it with its usual issue (or, where this check is stricter than the schema, accepts it).
 * `room-response.test.ts` holds it to the schema over valid responses and mutations of every field.
 */
import { BASE64_PATTERN, roomResponseSchema, type RoomKey, type RoomResponse, type VersionedRecord } from './api.ts';
import { CONTEXT_ID_PATTERN, MAX_RECORD_BYTES, ROOM_ID_PATTERN } from './room-record.ts';

/** `base64Schema(64)` and `base64Schema(32)`'s length bounds, and the wrapped key's (`base64Schema(1024)`). */
const SIGNATURE_CHARS = Math.ceil(64 / 3) * 4;
const HASH_CHARS = Math.ceil(32 / 3) * 4;
const WRAPPED_CHARS = Math.ceil(1024 / 3) * 4;
/** `roomKeySchema.proof`'s length bound. */
const MAX_PROOF_HASHES = 32;

type Obj = Record<string, unknown>;

/** As zod's `isObject`: an object, not null, not an array. */
function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `z.int()`: a number that is a safe integer. */
function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function isBase64(value: unknown, maxChars: number): value is string {
  return typeof value === 'string' && value.length <= maxChars && BASE64_PATTERN.test(value);
}

function record(value: unknown): VersionedRecord | undefined {
  if (!isObject(value)) return undefined;
  // `versionedRecordSchema` is strict: no other key.
  for (const key of Object.keys(value)) if (key !== 'record' && key !== 'signature' && key !== 'version') return undefined;
  const { record, signature, version } = value;
  if (typeof record !== 'string' || record.length < 2 || record.length > MAX_RECORD_BYTES) return undefined;
  if (!isBase64(signature, SIGNATURE_CHARS) || !isInt(version) || version <= 0) return undefined;
  return { record, signature, version };
}

function key(value: unknown): RoomKey | undefined {
  if (!isObject(value)) return undefined;
  const { epoch, version, wrapped, leafIndex, treeSize, proof } = value;
  if (!isInt(epoch) || epoch <= 0 || !isInt(version) || version <= 0 || !isBase64(wrapped, WRAPPED_CHARS)) return undefined;
  if (!isInt(leafIndex) || leafIndex < 0 || !isInt(treeSize) || treeSize <= 0) return undefined;
  if (!Array.isArray(proof) || proof.length > MAX_PROOF_HASHES) return undefined;
  const path: string[] = [];
  for (const hash of proof) {
    if (!isBase64(hash, HASH_CHARS)) return undefined;
    path.push(hash);
  }
  return { epoch, version, wrapped, leafIndex, treeSize, proof: path };
}

/** The response when it passes every check of `roomResponseSchema`; undefined otherwise. */
export function checkRoomResponse(value: unknown): RoomResponse | undefined {
  if (!isObject(value)) return undefined;
  const { roomId, contextId, version, epoch, records, hasMore, keys } = value;
  if (typeof roomId !== 'string' || !ROOM_ID_PATTERN.test(roomId) || typeof contextId !== 'string' || !CONTEXT_ID_PATTERN.test(contextId)) return undefined;
  if (!isInt(version) || version <= 0 || !isInt(epoch) || epoch <= 0 || typeof hasMore !== 'boolean') return undefined;
  if (!Array.isArray(records) || !Array.isArray(keys)) return undefined;
  const outRecords: VersionedRecord[] = [];
  for (const r of records) {
    const checked = record(r);
    if (checked === undefined) return undefined;
    outRecords.push(checked);
  }
  const outKeys: RoomKey[] = [];
  for (const k of keys) {
    const checked = key(k);
    if (checked === undefined) return undefined;
    outKeys.push(checked);
  }
  return { roomId, contextId, version, epoch, records: outRecords, hasMore, keys: outKeys };
}

/** `roomResponseSchema` as the Endpoint's HTTP client takes it (`safeParse`), checked by hand first. */
export const roomResponseParser = {
  safeParse(value: unknown): ReturnType<typeof roomResponseSchema.safeParse> {
    const checked = checkRoomResponse(value);
    return checked === undefined ? roomResponseSchema.safeParse(value) : { success: true, data: checked };
  },
};
