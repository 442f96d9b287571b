/**
 * The common case of a catch-up, checked without zod: a record that repeats every carried field of the
 * record before it (protocol/room-record.ts, `parseRecordText`) has nine fields left to check, each a
 * number, a literal or a base64 string. zod's object parse cost about 12 us of a catch-up's 35 us per
 * version (docs/protocol/room-chain.md, "Cost"); these checks cost well under one.
 *
 * The rule: `successorRecord` accepts a subset of what `successorRecordSchema` accepts, and returns what
 * `parseRecordText` returned for it through the schema. Anything it is not sure of (a missing or extra
 * field, a value of another type, a bound crossed) returns `undefined`, and the caller runs the schema,
 * which then accepts or names the bad field. protocol/room-chain-catch-up.test.ts holds it to this
 * differentially (random records, each parsed both ways).
 */
import { MAX_PRIVATE_META_BYTES, MAX_PUBLIC_META_BYTES, MAX_ROOM_MEMBERS, ROOM_RECORD_FORMAT, type RoomRecord } from './room-record.ts';

/** The fields of a record, in the schema's order. */
const FIELDS = [
  'format',
  'roomId',
  'contextId',
  'version',
  'prevHash',
  'creator',
  'author',
  'authorPublicKey',
  'timestamp',
  'users',
  'managers',
  'policy',
  'publicMeta',
  'privateMeta',
  'epoch',
  'keySetRoot',
  'keySetSize',
] as const satisfies ReadonlyArray<keyof RoomRecord>;
const KNOWN_FIELDS: ReadonlySet<string> = new Set(FIELDS);

/** The schema's base64 fields: standard alphabet, at most two `=` at the end, 4 characters per 3 bytes. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64Chars = (maxBytes: number) => Math.ceil(maxBytes / 3) * 4;
const HASH_CHARS = base64Chars(32);
/** Read on first use: room-record.ts imports this module, so its constants are not set yet at load. */
let bounds: { publicMeta: number; privateMeta: number; keySetSize: number } | undefined;

const isBase64 = (v: unknown, maxChars: number): v is string => typeof v === 'string' && v.length <= maxChars && BASE64.test(v);
/** A safe integer in [min, max], as the schema's `z.int()` with its bounds. */
const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

/**
 * `fields` (parsed JSON whose carried fields equal `known`'s) as the record, or undefined to leave it to
 * the schema. The record shares `known`'s member lists and policy, as `parseRecordText` does.
 */
export function successorRecord(fields: Record<string, unknown>, known: Pick<RoomRecord, 'users' | 'managers' | 'policy'>): RoomRecord | undefined {
  let count = 0;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key) || !KNOWN_FIELDS.has(key)) return undefined;
    count++;
  }
  if (count !== FIELDS.length) return undefined;
  const { version, prevHash, timestamp, publicMeta, privateMeta, epoch, keySetRoot, keySetSize } = fields;
  bounds ??= { publicMeta: base64Chars(MAX_PUBLIC_META_BYTES), privateMeta: base64Chars(MAX_PRIVATE_META_BYTES), keySetSize: MAX_ROOM_MEMBERS * 2 };
  if (
    fields.format !== ROOM_RECORD_FORMAT ||
    !isInt(version, 1) ||
    (prevHash !== null && !isBase64(prevHash, HASH_CHARS)) ||
    !isInt(timestamp, 0) ||
    !isBase64(publicMeta, bounds.publicMeta) ||
    !isBase64(privateMeta, bounds.privateMeta) ||
    !isInt(epoch, 1) ||
    (keySetRoot !== '' && !isBase64(keySetRoot, HASH_CHARS)) ||
    !isInt(keySetSize, 0, bounds.keySetSize) ||
    (keySetRoot === '') !== (keySetSize === 0)
  ) {
    return undefined;
  }
  return {
    format: ROOM_RECORD_FORMAT,
    roomId: fields.roomId as string,
    contextId: fields.contextId as string,
    version,
    prevHash,
    creator: fields.creator as string,
    author: fields.author as string,
    authorPublicKey: fields.authorPublicKey as string,
    timestamp,
    users: known.users,
    managers: known.managers,
    policy: known.policy,
    publicMeta,
    privateMeta,
    epoch,
    keySetRoot: keySetRoot as string,
    keySetSize,
  };
}
