/**
 * The signed room version record (docs/design.md, "Room keys and room state").
 *
 * A record is JSON text. Its author signs the exact bytes, and the Bridge stores and serves those bytes
 * unchanged: verifiers check the signature over the bytes they received and only then parse them, so no
 * canonicalisation is needed and nothing outside the signed bytes is ever trusted. Records form a hash
 * chain through `prevHash`.
 */
import * as z from './zod.ts';
import type { CryptoBackend } from '../crypto/backend/index.ts';
import { backend } from '../crypto/backend/index.ts';
import { fromBase64, toBase64, utf8 } from '../crypto/bytes.ts';
import { DOMAIN } from '../crypto/domains.ts';
import { decodePublicKey, sign, verify } from '../crypto/identity.ts';
import { roomPolicySchema, samePolicy, type RoomPolicy } from './policy.ts';

export const ROOM_RECORD_FORMAT = 1;
export const MAX_ROOM_MEMBERS = 4096;
export const MAX_PUBLIC_META_BYTES = 64 * 1024;
/** Sealed private meta: 12-byte nonce + up to 64 KiB of plaintext + 16-byte tag. */
export const MAX_PRIVATE_META_BYTES = 64 * 1024 + 28;
/** Upper bound of one record's bytes, well above 4,096 members with the largest metas. */
export const MAX_RECORD_BYTES = 1024 * 1024;

export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
export const CONTEXT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const USER_ID_PATTERN = /^[A-Za-z0-9._@+-]{1,128}$/;

export const roomIdSchema = z.string().check(z.regex(ROOM_ID_PATTERN, 'expected 16-64 characters of [A-Za-z0-9_-]'));
export const contextIdSchema = z.string().check(z.regex(CONTEXT_ID_PATTERN, 'expected 1-64 characters of [A-Za-z0-9_-]'));
export const userIdSchema = z.string().check(z.regex(USER_ID_PATTERN, 'expected 1-128 characters of [A-Za-z0-9._@+-]'));

export const publicKeyTextSchema = z.string().check(
  z.maxLength(100),
  z.refine(
    (text) => {
      try {
        decodePublicKey(text);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'expected a sealroom public key (srpk1...) with a valid checksum' },
  ),
);

export const memberSchema = z.strictObject({ userId: userIdSchema, publicKey: publicKeyTextSchema });
export type Member = z.infer<typeof memberSchema>;

/** Standard base64: its alphabet, at most two `=` at the end. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** The most base64 characters of `maxBytes` bytes: 4 per 3 bytes, rounded up. */
const base64Chars = (maxBytes: number) => Math.ceil(maxBytes / 3) * 4;

function base64Field(maxBytes: number) {
  return z.string().check(z.maxLength(base64Chars(maxBytes)), z.regex(BASE64, 'expected standard base64'));
}

function memberList(name: string) {
  return z.array(memberSchema).check(
    z.maxLength(MAX_ROOM_MEMBERS),
    z.refine((list) => new Set(list.map((m) => m.userId)).size === list.length, {
      message: `${name} has a duplicate userId`,
    }),
  );
}

const nonNegativeInt = z.int().check(z.nonnegative(), z.maximum(Number.MAX_SAFE_INTEGER));

/** The record's own rules across fields; `members` says whether its member lists are still to be checked. */
function crossFieldRules(members: boolean) {
  return z.superRefine((record: { users: Member[]; managers: Member[]; keySetRoot: string; keySetSize: number }, ctx) => {
    if (members) {
      const keys = new Map(record.users.map((m) => [m.userId, m.publicKey]));
      for (const manager of record.managers) {
        const key = keys.get(manager.userId);
        if (key !== undefined && key !== manager.publicKey) {
          ctx.addIssue({ code: 'custom', message: `"${manager.userId}" has two different public keys`, path: ['managers'] });
        }
      }
      if (new Set([...record.users, ...record.managers].map((m) => m.userId)).size > MAX_ROOM_MEMBERS) {
        ctx.addIssue({ code: 'custom', message: `at most ${MAX_ROOM_MEMBERS} members`, path: ['users'] });
      }
    }
    if ((record.keySetRoot === '') !== (record.keySetSize === 0)) {
      ctx.addIssue({ code: 'custom', message: 'keySetRoot is empty exactly when keySetSize is 0', path: ['keySetRoot'] });
    }
  });
}

/** What a record's successor mostly repeats: the fields `parseRecordText` takes from the record before when they are equal. */
type Carried = Pick<RoomRecord, 'roomId' | 'contextId' | 'creator' | 'author' | 'authorPublicKey' | 'users' | 'managers' | 'policy'>;

/** A field already known to hold a value some record validated: taken as it is. */
const validatedBefore = <T>() => z.custom<T>();

/** Every rule of a record. */
export const roomRecordSchema = z
  .strictObject({
    format: z.literal(ROOM_RECORD_FORMAT),
    roomId: roomIdSchema,
    contextId: contextIdSchema,
    version: nonNegativeInt.check(z.minimum(1)),
    /** base64 of the previous record's hash (`recordHash`), or null for version 1. */
    prevHash: z.nullable(base64Field(32)),
    /** The user id of version 1's author, carried unchanged by every version (the `owner` role). */
    creator: userIdSchema,
    author: userIdSchema,
    authorPublicKey: publicKeyTextSchema,
    /** The author's clock, in milliseconds since the Unix epoch. */
    timestamp: nonNegativeInt,
    users: memberList('users'),
    managers: memberList('managers'),
    policy: roomPolicySchema,
    publicMeta: base64Field(MAX_PUBLIC_META_BYTES),
    privateMeta: base64Field(MAX_PRIVATE_META_BYTES),
    epoch: nonNegativeInt.check(z.minimum(1)),
    /** base64 of the Merkle root of the wrapped keys this version adds (crypto/key-set.ts); "" if none. */
    keySetRoot: z.union([base64Field(32), z.literal('')]),
    keySetSize: nonNegativeInt.check(z.maximum(MAX_ROOM_MEMBERS * 2)),
  })
  .check(crossFieldRules(true));

/** The same rules for a record whose member lists equal those of a record validated before. */
const knownMembersRecordSchema = z
  .strictObject({ ...roomRecordSchema.def.shape, users: validatedBefore<Member[]>(), managers: validatedBefore<Member[]>() })
  .check(crossFieldRules(false));

/** The same rules for a record that repeats every `Carried` field of a record validated before. */
const successorRecordSchema = z
  .strictObject({
    ...roomRecordSchema.def.shape,
    roomId: validatedBefore<string>(),
    contextId: validatedBefore<string>(),
    creator: validatedBefore<string>(),
    author: validatedBefore<string>(),
    authorPublicKey: validatedBefore<string>(),
    users: validatedBefore<Member[]>(),
    managers: validatedBefore<Member[]>(),
    policy: validatedBefore<RoomPolicy>(),
  })
  .check(crossFieldRules(false));

/**
 * The common case of a catch-up, checked without zod: a record that repeats every carried field of the
 * record before it (`parseRecordText`) has nine fields left, each a number, a literal or a base64
 * string. zod's object parse cost about 12 us of a catch-up's 35 us per version
 * (docs/protocol/room-chain.md, "Cost"); these checks cost well under one.
 *
 * The rule: it accepts a subset of what `successorRecordSchema` accepts and returns what
 * `parseRecordText` returns for it through the schema. Anything it is not sure of (a missing or extra
 * field, a value of another type, a bound crossed) is `undefined`, and the caller runs the schema,
 * which then accepts or names the bad field. protocol/room-chain-catch-up.test.ts holds it to this: each
 * field at and around its bounds, and random records parsed both ways.
 */
const RECORD_FIELDS: ReadonlySet<string> = new Set(Object.keys(roomRecordSchema.def.shape));
const HASH_CHARS = base64Chars(32);
const PUBLIC_META_CHARS = base64Chars(MAX_PUBLIC_META_BYTES);
const PRIVATE_META_CHARS = base64Chars(MAX_PRIVATE_META_BYTES);
const isBase64 = (v: unknown, maxChars: number): v is string => typeof v === 'string' && v.length <= maxChars && BASE64.test(v);
/** A safe integer in [min, max], as the schema's `z.int()` with its bounds. */
const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

function successorRecord(fields: Record<string, unknown>, known: Carried): RoomRecord | undefined {
  let count = 0;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key) || !RECORD_FIELDS.has(key)) return undefined;
    count++;
  }
  if (count !== RECORD_FIELDS.size) return undefined;
  const { version, prevHash, timestamp, publicMeta, privateMeta, epoch, keySetRoot, keySetSize } = fields;
  if (
    fields.format !== ROOM_RECORD_FORMAT ||
    !isInt(version, 1) ||
    (prevHash !== null && !isBase64(prevHash, HASH_CHARS)) ||
    !isInt(timestamp, 0) ||
    !isBase64(publicMeta, PUBLIC_META_CHARS) ||
    !isBase64(privateMeta, PRIVATE_META_CHARS) ||
    !isInt(epoch, 1) ||
    (keySetRoot !== '' && !isBase64(keySetRoot, HASH_CHARS)) ||
    !isInt(keySetSize, 0, MAX_ROOM_MEMBERS * 2) ||
    (keySetRoot === '') !== (keySetSize === 0)
  ) {
    return undefined;
  }
  // The schema's field order; the carried fields as `known` holds them (equal to these).
  return {
    format: ROOM_RECORD_FORMAT,
    roomId: known.roomId,
    contextId: known.contextId,
    version,
    prevHash,
    creator: known.creator,
    author: known.author,
    authorPublicKey: known.authorPublicKey,
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

export interface RoomRecord {
  format: typeof ROOM_RECORD_FORMAT;
  roomId: string;
  contextId: string;
  version: number;
  prevHash: string | null;
  creator: string;
  author: string;
  authorPublicKey: string;
  timestamp: number;
  users: Member[];
  managers: Member[];
  policy: RoomPolicy;
  publicMeta: string;
  privateMeta: string;
  epoch: number;
  keySetRoot: string;
  keySetSize: number;
}

/** A record as stored and served: the exact signed bytes and the signature. */
export interface SignedRecord {
  /** The record's JSON text, exactly as signed. */
  record: string;
  /** base64 Ed25519 signature. */
  signature: string;
}

export class RecordFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordFormatError';
  }
}

/** Serialises with a fixed field order. The output is what gets signed, stored and hashed. */
export function encodeRecord(record: RoomRecord): string {
  const ordered: RoomRecord = {
    format: record.format,
    roomId: record.roomId,
    contextId: record.contextId,
    version: record.version,
    prevHash: record.prevHash,
    creator: record.creator,
    author: record.author,
    authorPublicKey: record.authorPublicKey,
    timestamp: record.timestamp,
    users: record.users.map((m) => ({ userId: m.userId, publicKey: m.publicKey })),
    managers: record.managers.map((m) => ({ userId: m.userId, publicKey: m.publicKey })),
    policy: {
      get: record.policy.get,
      list: record.policy.list,
      update: record.policy.update,
      delete: record.policy.delete,
      updatePolicy: record.policy.updatePolicy,
    },
    publicMeta: record.publicMeta,
    privateMeta: record.privateMeta,
    epoch: record.epoch,
    keySetRoot: record.keySetRoot,
    keySetSize: record.keySetSize,
  };
  const text = JSON.stringify(ordered);
  parseRecordText(text); // refuse to produce what no verifier would accept
  return text;
}

/**
 * Parses and validates record text. Throws `RecordFormatError` naming the first bad field.
 *
 * `known` is a record parsed before (the previous version, in a chain). A field this record repeats
 * from it, with the same value, is not validated again: `known` holds a validated value there, and the
 * parsed record shares it (records are never modified). That is all of `Carried` in most successors,
 * or at least the member lists (member for member, with no other field), which consecutive versions
 * mostly keep; checking each member's user id and key was most of the time a catch-up spent parsing
 * (docs/protocol/room-chain.md). The chain rules then see an unchanged membership and policy without
 * comparing them again (protocol/room-chain.ts).
 */
export function parseRecordText(text: string, known?: Carried): RoomRecord {
  if (typeof text !== 'string' || text.length > MAX_RECORD_BYTES) {
    throw new RecordFormatError(`record: expected JSON text of at most ${MAX_RECORD_BYTES} bytes`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RecordFormatError('record: not valid JSON');
  }
  const fields = typeof json === 'object' && json !== null ? (json as Record<keyof Carried, unknown>) : undefined;
  const sameMembers = known !== undefined && fields !== undefined && equalMembers(fields.users, known.users) && equalMembers(fields.managers, known.managers);
  const sameCarried = sameMembers && repeatsCarried(fields!, known!);
  if (sameCarried) {
    const fast = successorRecord(fields as Record<string, unknown>, known!);
    if (fast !== undefined) return fast;
  }
  const result = (sameCarried ? successorRecordSchema : sameMembers ? knownMembersRecordSchema : roomRecordSchema).safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new RecordFormatError(`record.${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const record = result.data as RoomRecord;
  if (sameCarried) return { ...record, users: known!.users, managers: known!.managers, policy: known!.policy };
  return sameMembers ? { ...record, users: known!.users, managers: known!.managers } : record;
}

/** Whether `fields` (parsed JSON) repeat `known`'s carried fields other than the members: the same strings, the same policy. */
function repeatsCarried(fields: Record<keyof Carried, unknown>, known: Carried): boolean {
  if (
    fields.roomId !== known.roomId ||
    fields.contextId !== known.contextId ||
    fields.creator !== known.creator ||
    fields.author !== known.author ||
    fields.authorPublicKey !== known.authorPublicKey
  ) {
    return false;
  }
  const policy = fields.policy as RoomPolicy | null;
  return typeof policy === 'object' && policy !== null && Object.keys(policy).length === 5 && samePolicy(policy, known.policy);
}

/** Whether `list` (parsed JSON) holds exactly the members of `known`: same order, same two fields each. */
function equalMembers(list: unknown, known: Member[]): boolean {
  if (!Array.isArray(list) || list.length !== known.length) return false;
  for (let i = 0; i < list.length; i++) {
    const m = list[i] as Member | null;
    const k = known[i]!;
    if (typeof m !== 'object' || m === null || Object.keys(m).length !== 2 || m.userId !== k.userId || m.publicKey !== k.publicKey) return false;
  }
  return true;
}

const RECORD_TAG = utf8(DOMAIN.roomRecord);
const RECORD_HASH_TAG = utf8(DOMAIN.roomRecordHash);
const textEncoder = new TextEncoder();

/**
 * `lengthPrefixed(tag, utf8(text))` (crypto/bytes.ts) in one buffer: the text is encoded in place,
 * not encoded and then copied (a catch-up hashes every record).
 */
function framedText(tag: Uint8Array, text: string, into?: Uint8Array): Uint8Array {
  const start = 8 + tag.length;
  const size = start + text.length * 3; // UTF-8 takes at most 3 bytes per UTF-16 unit
  const out = into !== undefined && into.length >= size ? into : new Uint8Array(size);
  const view = new DataView(out.buffer, out.byteOffset);
  view.setUint32(0, tag.length);
  out.set(tag, 4);
  const { written } = textEncoder.encodeInto(text, out.subarray(start));
  view.setUint32(4 + tag.length, written);
  return out.subarray(0, start + written);
}

function signedMessage(text: string): Uint8Array {
  return framedText(RECORD_TAG, text);
}

/** Encodes and signs a record with the author's Ed25519 seed. */
export async function signRecord(record: RoomRecord, authorSeed: Uint8Array, b: CryptoBackend = backend()): Promise<SignedRecord> {
  return signRecordWith(record, (message) => sign(authorSeed, message, b));
}

/**
 * Encodes a record and signs it with `signer`, a function that makes the author's Ed25519 signature,
 * for a caller that keeps the seed to itself.
 */
export async function signRecordWith(record: RoomRecord, signer: (message: Uint8Array) => Promise<Uint8Array>): Promise<SignedRecord> {
  const text = encodeRecord(record);
  const signature = await signer(signedMessage(text));
  return { record: text, signature: toBase64(signature) };
}

/** Whether `signature` is the author's signature over the record text. */
export async function verifyRecordSignature(signed: SignedRecord, authorPublicKey: string, b: CryptoBackend = backend()): Promise<boolean> {
  let signature: Uint8Array;
  try {
    signature = fromBase64(signed.signature);
  } catch {
    return false;
  }
  return verify(signature, signedMessage(signed.record), decodePublicKey(authorPublicKey), b);
}

/**
 * Where `recordHash` frames the text it hashes, kept from call to call: a catch-up hashes every record,
 * and a new buffer for each (three times the text's length, zeroed) was most of what hashing cost.
 * Safe to share because `hash` is synchronous and keeps nothing.
 */
let hashScratch = new Uint8Array(0);
/** The scratch stays at most this large (a record of a few hundred members is tens of KB); larger records get their own buffer. */
const HASH_SCRATCH_MAX = 256 * 1024;

/** The chain link: SHA-256 over (domain tag, record text). */
export function recordHash(recordText: string, b: CryptoBackend = backend()): Uint8Array {
  const size = 8 + RECORD_HASH_TAG.length + recordText.length * 3;
  if (size > HASH_SCRATCH_MAX) return b.hash('sha256', framedText(RECORD_HASH_TAG, recordText));
  if (hashScratch.length < size) hashScratch = new Uint8Array(Math.min(HASH_SCRATCH_MAX, Math.max(size, 2 * hashScratch.length)));
  return b.hash('sha256', framedText(RECORD_HASH_TAG, recordText, hashScratch));
}
