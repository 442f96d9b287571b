/** Room fixtures for tests: build real signed records with real wrapped keys through the record builder. */
import { randomBytes } from 'node:crypto';
import { utf8 } from '../crypto/bytes.ts';
import { sign } from '../crypto/identity.ts';
import { DEFAULT_POLICY, type RoomPolicy } from '../protocol/policy.ts';
import { verifyGenesis, verifySuccessor, type VerifiedVersion } from '../protocol/room-chain.ts';
import type { Member } from '../protocol/room-record.ts';
import { buildGenesis, buildSuccessor, type Author, type BuiltVersion, type MetaSealer } from '../endpoint/rooms/record-builder.ts';
import type { Store } from '../bridge/store/types.ts';
import { rest } from './harness.ts';
import { gate } from './http-proxy.ts';
import type { TestUser } from './identities.ts';

/** The Bridge never opens private meta, so Bridge tests may seal it with random bytes. */
export const opaqueSealer: MetaSealer = async () => new Uint8Array(randomBytes(44));

export const member = (user: TestUser): Member => ({ userId: user.userId, publicKey: user.publicKey });

let counter = 0;
export function newRoomId(): string {
  return `room_${Date.now().toString(36)}_${(counter++).toString(36).padStart(4, '0')}`;
}

export interface RoomSpec {
  users: TestUser[];
  managers: TestUser[];
  policy?: Partial<RoomPolicy>;
  publicMeta?: Uint8Array | object;
}

function metaBytes(meta: RoomSpec['publicMeta']): Uint8Array {
  if (meta === undefined) return new Uint8Array();
  return meta instanceof Uint8Array ? meta : utf8(JSON.stringify(meta));
}

/** A test user as the author of a version: it signs with its own seed. */
const authorOf = (user: TestUser): Author => ({ userId: user.userId, publicKey: user.publicKey, sign: (message) => sign(user.seed, message) });

export async function genesis(contextId: string, author: TestUser, spec: RoomSpec, roomId = newRoomId()): Promise<BuiltVersion> {
  return buildGenesis(
    { roomId, contextId },
    {
      users: spec.users.map(member),
      managers: spec.managers.map(member),
      policy: { ...DEFAULT_POLICY, ...spec.policy },
      publicMeta: metaBytes(spec.publicMeta),
      sealPrivateMeta: opaqueSealer,
    },
    authorOf(author),
  );
}

export async function successor(
  prev: VerifiedVersion,
  epochKey: Uint8Array | undefined,
  author: TestUser,
  spec: RoomSpec,
  rotate = false,
): Promise<BuiltVersion> {
  return buildSuccessor(
    prev,
    epochKey,
    {
      users: spec.users.map(member),
      managers: spec.managers.map(member),
      policy: { ...DEFAULT_POLICY, ...spec.policy },
      publicMeta: metaBytes(spec.publicMeta),
      sealPrivateMeta: opaqueSealer,
    },
    authorOf(author),
    { rotate },
  );
}

/** Reads a room's whole chain over REST, page by page, and verifies it, returning the head. */
export async function verifiedHead(url: string, token: string, roomId: string): Promise<VerifiedVersion> {
  let head: VerifiedVersion | undefined;
  for (let since = 0; ; ) {
    const reply = await rest(url, token).get(`/v1/rooms/${roomId}?since=${since}`);
    if (reply.status !== 200) throw new Error(`GET room: ${reply.status} ${JSON.stringify(reply.body)}`);
    for (const r of reply.body.records as Array<{ record: string; signature: string }>) {
      head = head === undefined ? await verifyGenesis(r) : await verifySuccessor(head, r);
    }
    if (!reply.body.hasMore) break;
    since = head!.record.version;
  }
  if (head === undefined) throw new Error(`GET room ${roomId}: no records`);
  return head;
}

/**
 * Creates a room of `author` alone and updates it until it has `versions` versions, each record
 * carrying `publicMetaBytes` random bytes of public meta (about 4/3 of that in record text).
 */
export async function grownRoom(url: string, token: string, contextId: string, author: TestUser, versions: number, publicMetaBytes: number): Promise<string> {
  const spec = (): RoomSpec => ({ users: [author], managers: [author], publicMeta: new Uint8Array(randomBytes(publicMetaBytes)) });
  const built = await genesis(contextId, author, spec());
  const created = await rest(url, token).post('/v1/rooms', built.request);
  if (created.status !== 201) throw new Error(`POST room: ${created.status} ${JSON.stringify(created.body)}`);
  let head = await verifyGenesis(built.request);
  for (let v = 2; v <= versions; v++) {
    const next = await successor(head, built.epochKey, author, spec());
    const reply = await rest(url, token).put(`/v1/rooms/${built.record.roomId}`, { ...next.request, version: v - 1 });
    if (reply.status !== 200) throw new Error(`PUT room: ${reply.status} ${JSON.stringify(reply.body)}`);
    head = await verifySuccessor(head, next.request);
  }
  return built.record.roomId;
}

/** The Bridge's store holding room reads at a gate: a Bridge that stalls the reads a client needs. */
export interface HeldRoomReads {
  /** From now on, room reads wait until `release` (or `timeoutMs`). */
  hold(timeoutMs: number): void;
  release(): void;
  /** Room reads that reached the store so far. */
  readonly started: number;
}

/** Wraps `store.roomRead` (of a Bridge in this process) so a test can hold room reads. */
export function holdRoomReads(store: Store): HeldRoomReads {
  let current = gate(0);
  current.open();
  let started = 0;
  const real = store.roomRead.bind(store);
  store.roomRead = async (...args) => {
    started++;
    await current.opened;
    return real(...args);
  };
  return {
    hold: (timeoutMs) => {
      current = gate(timeoutMs);
    },
    release: () => current.open(),
    get started() {
      return started;
    },
  };
}
