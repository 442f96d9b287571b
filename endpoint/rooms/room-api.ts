/**
 * Stream Room management: create, get, list, update and delete rooms with end-to-end
 * encrypted keys. Nothing the Bridge serves is used before it is verified: the record chain from the
 * last trusted version (signatures, authors, policy, epochs), the key's inclusion proof against the
 * signed key-set root, and the private meta's AEAD. A failure is `RoomTampered` and returns no data;
 * an older head than one seen before is `Rollback`.
 */
import { backend } from '../../crypto/backend/index.ts';
import { fromBase64, toBase64 } from '../../crypto/bytes.ts';
import { verifyInclusion } from '../../crypto/key-set.ts';
import { decodeWrappedKey } from '../../crypto/key-wrap.ts';
import {
  listRoomsResponseSchema,
  roomResponseSchema,
  roomWriteResponseSchema,
  type RoomKey,
  type RoomResponse,
  type VersionedRecord,
} from '../../protocol/api.ts';
import { completePolicy, type RoomPolicy } from '../../protocol/policy.ts';
import { ChainError, verifyChain, type VerifiedVersion } from '../../protocol/room-chain.ts';
import { CONTEXT_ID_PATTERN, ROOM_ID_PATTERN } from '../../protocol/room-record.ts';
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import { connectionInternals, type Signer } from '../internal.ts';
import type { BridgeHttp, RequestOptions } from '../transport/http.ts';
import type { PagingList, PagingQuery, StreamRoom, UserWithPubKey } from '../types.ts';
import type { KeyRing } from './keyring.ts';
import { sealPrivateMeta } from './meta.ts';
import { OpenedMeta } from './opened-meta.ts';
import { KeyTrust, keyUses } from './key-trust.ts';
import { buildGenesis, buildSuccessor, ownVersion, type Author, type RoomContent } from './record-builder.ts';
import { advance, headOf, type TrustedRoom, type TrustStore } from './trust.ts';
import { sharedTurns, type Turns } from '../util/turns.ts';
import { rememberBounded } from '../realtime/ids.ts';
import { MAX_NEWER_EPOCH_ROOMS, NEWER_EPOCH_FETCH_MS } from '../realtime/limits.ts';
import { checkId, checkPolicy, failedItem, isItemStatus, pagingParams, toMembers, toUserWithPubKey } from './room-inputs.ts';

/** Attempts of a forced update that keeps losing the race to other writers. */
const FORCE_ATTEMPTS = 4;
/** Pages of a room's chain a read keeps asked for beyond the one it verifies (`fetchVerified`). */
const READ_AHEAD_PAGES = 2;

interface Verified {
  trust: TrustedRoom;
  head: VerifiedVersion;
  keys: RoomKey[];
}

/** Hears each head this client trusts for a room, verified or built by itself (RoomApi.onTrustedHead). */
export type TrustedHeadListener = (roomId: string, head: VerifiedVersion) => void;

export class RoomApi {
  private readonly http: BridgeHttp;
  private readonly signer: Signer;
  private readonly headListeners = new Set<TrustedHeadListener>();
  private readonly openedMeta = new OpenedMeta();
  /** Per room, the last read made for an epoch newer than any held (`keyFor`). */
  readonly #newerEpochReads = new Map<string, { at: number; done: Promise<void> }>();
  /**
   * Each room's trusted head is read and moved on by one task at a time (`fetchVerified`, `storeTrust`),
   * across every RoomApi of the same store.
   */
  private readonly trustTurns: Turns<string>;

  constructor(
    private readonly connection: Connection,
    private readonly trustStore: TrustStore,
    private readonly keys: KeyRing,
    /** Whose keys this client trusts (pins on first use): every author and member key is checked. */
    private readonly keyTrust: KeyTrust = new KeyTrust(connection, trustStore),
  ) {
    const internals = connectionInternals(connection);
    this.http = internals.http;
    this.signer = internals.signer;
    this.trustTurns = sharedTurns(trustStore, 'rooms');
  }

  /**
   * Calls `listener` with the trusted head each time this client reads and verifies a room or moves its
   * trust on (data tracks stamp it into every frame). Returns the remover.
   */
  onTrustedHead(listener: TrustedHeadListener): () => void {
    this.headListeners.add(listener);
    return () => void this.headListeners.delete(listener);
  }

  private announce(trust: TrustedRoom): void {
    const head = headOf(trust);
    for (const listener of this.headListeners) listener(trust.roomId, head);
  }

  /**
   * Stores a room's new trust after this client wrote a version, in the room's turn, then tells the
   * head listeners. A read that ran meanwhile may have stored that version or a newer one already: the
   * trust never moves back. The same version with another record is a fork. Returns whether the
   * trusted head is this client's version: past it, this client cannot tell that its version is in the
   * chain it trusts (a Bridge can answer a write "taken" while serving another one of that number), so
   * the caller must not use that version's epoch key; the chain's own keys come from reading it.
   */
  private storeTrust(roomId: string, trust: TrustedRoom): Promise<boolean> {
    return this.trustTurns.run(roomId, async () => {
      const current = await this.trustStore.get(roomId);
      if (current !== undefined && current.head.version >= trust.head.version) {
        if (current.head.version === trust.head.version && current.head.hash !== trust.head.hash) {
          throw EndpointError.tampered(`room "${roomId}": version ${trust.head.version} differs from the one verified before`);
        }
        return current.head.version === trust.head.version;
      }
      await this.storeTrustNow(roomId, trust);
      return true;
    });
  }

  /** Stores a room's new trust, then tells the head listeners; the caller holds the room's turn. */
  private async storeTrustNow(roomId: string, trust: TrustedRoom): Promise<void> {
    await this.trustStore.set(roomId, trust);
    this.announce(trust);
  }

  private author(): Author {
    return { userId: this.connection.userId, publicKey: this.connection.publicKey, sign: (message) => this.signer.sign(message) };
  }

  // ---- verification

  /**
   * Verifies records (in order, consecutive) on top of `head`; returns every newly verified version.
   * Which signatures a catch-up checks and why that proves the rest: docs/protocol/room-chain.md.
   */
  private async verifyRecords(
    roomId: string,
    head: VerifiedVersion | undefined,
    records: VersionedRecord[],
    options: RequestOptions,
  ): Promise<VerifiedVersion[]> {
    const first = (head?.record.version ?? 0) + 1;
    for (const [i, r] of records.entries()) {
      if (r.version !== first + i) throw EndpointError.tampered(`room "${roomId}": expected version ${first + i} next, the Bridge sent ${r.version}`);
    }
    let out: VerifiedVersion[];
    try {
      out = await verifyChain(
        head,
        records.map((r) => ({ record: r.record, signature: r.signature })),
      );
    } catch (error) {
      if (error instanceof ChainError) throw EndpointError.tampered(`room "${roomId}": ${error.message}`, error);
      throw error;
    }
    for (const [i, v] of out.entries()) {
      if (v.record.version !== records[i]!.version)
        throw EndpointError.tampered(`room "${roomId}": record version ${v.record.version} served as ${records[i]!.version}`);
      if (v.record.roomId !== roomId) throw EndpointError.tampered(`room "${roomId}": the Bridge served a record of room "${v.record.roomId}"`);
    }
    // The chain rules tie each author to a manager key of the version before; the pins tie every key
    // (version 1's author, every member) to the user it names (docs/security/key-trust.md).
    if (out.length > 0) {
      const uses = keyUses(out.map((v) => v.record));
      await this.keyTrust.check(out[0]!.record.contextId, uses, (message) => EndpointError.tampered(`room "${roomId}": ${message}`), options);
    }
    return out;
  }

  /**
   * Reads the room from the Bridge and verifies everything new since the trusted head, in the room's
   * turn: reads of one room run one after the other, as if the app had awaited each, so a later read
   * starts from what an earlier one trusted and an older head served to it is a rollback
   * (docs/protocol/room-chain.md).
   */
  private fetchVerified(roomId: string, options: RequestOptions): Promise<Verified> {
    return this.trustTurns.run(roomId, () => this.fetchVerifiedNow(roomId, options));
  }

  private async fetchVerifiedNow(roomId: string, options: RequestOptions): Promise<Verified> {
    let trust = await this.trustStore.get(roomId);
    let head = trust === undefined ? undefined : headOf(trust);
    const since = head?.record.version ?? 0;
    let keys: RoomKey[] = [];
    const fresh: VerifiedVersion[] = [];
    let reply: RoomResponse;
    const page = (after: number) => {
      const pending = this.http.request('GET', `/v1/rooms/${encodeURIComponent(roomId)}?since=${after}`, roomResponseSchema, undefined, options);
      pending.catch(() => undefined); // a page left unread when an earlier one fails or ends the chain
      return { after, reply: pending };
    };
    // Pages asked for and not yet read, in order of `after`. Each page is verified while the Bridge
    // serves the ones after it; their `since` is guessed from the size of the page before. A guess
    // that turns out wrong (a page cut short by the Bridge's byte limit) is dropped, unless it is
    // still the right `since` for a later page, and the pages are asked again from where the chain
    // stands. What a page holds is proved by verifying it, never by the guess.
    let ahead = [page(since)];
    for (;;) {
      reply = await ahead.shift()!.reply;
      if (reply.roomId !== roomId) throw EndpointError.tampered(`room "${roomId}": the Bridge answered for "${reply.roomId}"`);
      if (trust !== undefined && reply.version < trust.head.version) throw EndpointError.rollback(roomId, trust.head.version, reply.version);
      keys = reply.keys;
      const last = reply.records.at(-1)?.version;
      if (reply.hasMore && last !== undefined) {
        const asked = ahead;
        const ask = (after: number) => asked.find((p) => p.after === after) ?? page(after);
        ahead = [ask(last)];
        while (ahead.length < READ_AHEAD_PAGES) {
          const after = ahead.at(-1)!.after + reply.records.length;
          if (after >= reply.version) break;
          ahead.push(ask(after));
        }
      }
      // A reader at the head (most reads of a known room) gets no records: nothing to verify or await.
      const verified = reply.records.length === 0 ? [] : await this.verifyRecords(roomId, head, reply.records, options);
      fresh.push(...verified);
      head = verified.at(-1) ?? head;
      if (!reply.hasMore) break;
      if (reply.records.length === 0) throw EndpointError.tampered(`room "${roomId}": the Bridge announced more records and sent none`);
    }
    if (head === undefined) throw EndpointError.tampered(`room "${roomId}": the Bridge sent no records`);
    if (head.record.version !== reply.version) {
      throw EndpointError.tampered(`room "${roomId}": the Bridge says version ${reply.version} but its records end at ${head.record.version}`);
    }
    if (fresh.length > 0) {
      trust = advance(trust, fresh);
      await this.trustStore.set(roomId, trust);
    }
    this.announce(trust!);
    return { trust: trust!, head, keys };
  }

  /**
   * Checks each served key against the signed key-set root of the version that added it, unwraps it
   * with this user's key, and stores it. Returns the head epoch's key, if this user has one.
   */
  private async acceptKeys(verified: Verified): Promise<Uint8Array | undefined> {
    const { trust, head, keys } = verified;
    const roomId = head.record.roomId;
    const userId = this.connection.userId;
    // Newest first: the ring admits an epoch only above every epoch it held (keyring.ts), so an older
    // key served alongside is never taken in and no superseded epoch's grace starts again here.
    for (const key of [...keys].sort((a, b) => b.epoch - a.epoch)) {
      if (this.keys.get(roomId, key.epoch) !== undefined || !this.keys.admits(roomId, key.epoch)) continue;
      const set = trust.keySets.find((k) => k.version === key.version);
      if (set === undefined) continue; // an epoch older than this client keeps keys for
      const wrappedBytes = fromBase64(key.wrapped);
      const entry = { roomId, epoch: key.epoch, recipientId: userId, wrapped: wrappedBytes };
      const proof = { leafIndex: key.leafIndex, treeSize: key.treeSize, path: key.proof.map((p) => fromBase64(p)) };
      if (set.epoch !== key.epoch || key.treeSize !== set.size || !verifyInclusion(entry, proof, fromBase64(set.root))) {
        throw EndpointError.tampered(`room "${roomId}": the wrapped key for epoch ${key.epoch} is not in the key set signed in version ${key.version}`);
      }
      let epochKey: Uint8Array;
      try {
        epochKey = await this.signer.unwrapEpochKey({ wrapped: decodeWrappedKey(wrappedBytes), roomId, epoch: key.epoch, recipientId: userId });
      } catch (cause) {
        if (cause instanceof EndpointError) throw cause; // the connection closed: no key to unwrap with
        throw EndpointError.tampered(`room "${roomId}": the wrapped key for epoch ${key.epoch} does not open`, cause);
      }
      this.keys.set(roomId, key.epoch, epochKey);
    }
    return this.keys.get(roomId, head.record.epoch);
  }

  private async toStreamRoom(verified: Verified, epochKey: Uint8Array | undefined): Promise<StreamRoom> {
    const { trust, head } = verified;
    const r = head.record;
    if (epochKey === undefined) {
      const isMember = [...r.users, ...r.managers].some((m) => m.userId === this.connection.userId);
      throw EndpointError.keyUnavailable(
        isMember
          ? `room "${r.roomId}": the Bridge served no key for epoch ${r.epoch}`
          : `room "${r.roomId}": "${this.connection.userId}" is not a member and holds no key`,
      );
    }
    let privateMeta: Uint8Array;
    try {
      privateMeta = await this.openedMeta.open({ roomId: r.roomId, version: r.version, epoch: r.epoch, epochKey }, r.privateMeta, fromBase64);
    } catch (cause) {
      throw EndpointError.tampered(`room "${r.roomId}": the private meta of version ${r.version} does not decrypt`, cause);
    }
    // One literal: spreading a built object into another (`{ ...base, privateMeta }`) cost about 2 us
    // a read in V8 (docs/operations/room-creates.md, "Verified gets").
    return {
      contextId: r.contextId,
      streamRoomId: r.roomId,
      createDate: trust.createDate,
      creator: trust.creator,
      lastModificationDate: r.timestamp,
      lastModifier: r.author,
      users: r.users.map(toUserWithPubKey),
      managers: r.managers.map(toUserWithPubKey),
      version: r.version,
      publicMeta: fromBase64(r.publicMeta),
      policy: r.policy,
      epoch: r.epoch,
      privateMeta,
      statusCode: 0,
    };
  }

  // ---- API

  async createStreamRoom(
    contextId: string,
    users: UserWithPubKey[],
    managers: UserWithPubKey[],
    publicMeta: Uint8Array,
    privateMeta: Uint8Array,
    policy?: Partial<RoomPolicy>,
    options: RequestOptions = {},
  ): Promise<string> {
    checkId('contextId', contextId, CONTEXT_ID_PATTERN);
    const content = this.content(users, managers, publicMeta, privateMeta, completePolicy(checkPolicy(policy)));
    await this.checkMembers(contextId, content, options);
    const roomId = toBase64Url(backend().randomBytes(16));
    const built = await buildGenesis({ roomId, contextId }, content, this.author());
    await this.http.request('POST', '/v1/rooms', roomWriteResponseSchema, built.request, options);
    if (await this.storeTrust(roomId, advance(undefined, [ownVersion(built)]))) this.keys.set(roomId, 1, built.epochKey);
    return roomId;
  }

  async getStreamRoom(roomId: string, options: RequestOptions = {}): Promise<StreamRoom> {
    checkId('streamRoomId', roomId, ROOM_ID_PATTERN);
    const verified = await this.fetchVerified(roomId, options);
    return this.toStreamRoom(verified, await this.acceptKeys(verified));
  }

  async listStreamRooms(contextId: string, query: PagingQuery, options: RequestOptions = {}): Promise<PagingList<StreamRoom>> {
    checkId('contextId', contextId, CONTEXT_ID_PATTERN);
    const params = pagingParams(query);
    const reply = await this.http.request('GET', `/v1/contexts/${encodeURIComponent(contextId)}/rooms?${params}`, listRoomsResponseSchema, undefined, options);
    const limit = Number(params.get('limit'));
    if (reply.readItems.length > limit) {
      // Each item costs a trust read and maybe a room read: no more than were asked for.
      throw new EndpointError('BridgeRefused', `the Bridge listed ${reply.readItems.length} rooms for a limit of ${limit}`, { bridgeCode: 'BAD_RESPONSE' });
    }
    const readItems: StreamRoom[] = [];
    for (const item of reply.readItems) readItems.push(await this.listItem(item, options));
    return { totalAvailable: reply.totalAvailable, readItems };
  }

  /** A listing carries each room's head record only: verified on the trusted head when it follows it. */
  private async listItem(item: RoomResponse, options: RequestOptions): Promise<StreamRoom> {
    try {
      const verified = await this.trustTurns.run(item.roomId, () => this.listItemVerified(item, options));
      return await this.toStreamRoom(verified, await this.acceptKeys(verified));
    } catch (error) {
      if (!(error instanceof EndpointError) || !isItemStatus(error.reason)) throw error;
      return failedItem(item, error);
    }
  }

  /** A listed room's head, verified on the trusted head when it follows it; the caller holds the room's turn. */
  private async listItemVerified(item: RoomResponse, options: RequestOptions): Promise<Verified> {
    const trust = await this.trustStore.get(item.roomId);
    const served = item.records.at(-1);
    if (trust !== undefined && served !== undefined) {
      if (served.version < trust.head.version) throw EndpointError.rollback(item.roomId, trust.head.version, served.version);
      if (served.version === trust.head.version) {
        if (served.record !== trust.head.signed.record || served.signature !== trust.head.signed.signature) {
          throw EndpointError.tampered(`room "${item.roomId}": version ${served.version} differs from the one verified before`);
        }
        return { trust, head: headOf(trust), keys: item.keys };
      }
      if (served.version === trust.head.version + 1) {
        const fresh = await this.verifyRecords(item.roomId, headOf(trust), [served], options);
        const next = advance(trust, fresh);
        await this.storeTrustNow(item.roomId, next);
        return { trust: next, head: fresh[0]!, keys: item.keys };
      }
    }
    return this.fetchVerifiedNow(item.roomId, options);
  }

  async updateStreamRoom(
    roomId: string,
    users: UserWithPubKey[],
    managers: UserWithPubKey[],
    publicMeta: Uint8Array,
    privateMeta: Uint8Array,
    version: number,
    force: boolean,
    forceGenerateNewKey: boolean,
    policy?: Partial<RoomPolicy>,
    options: RequestOptions = {},
  ): Promise<void> {
    checkId('streamRoomId', roomId, ROOM_ID_PATTERN);
    if (!Number.isSafeInteger(version) || version < 1) throw EndpointError.invalidArgument(`"version" expected a positive integer, got ${String(version)}`);
    const partial = checkPolicy(policy);
    for (let attempt = 1; ; attempt++) {
      // Built on the trusted head without reading the room when that head is the version named: the
      // Bridge refuses the write if the room moved on (one round trip, where a read first made two).
      const trusted = force ? undefined : await this.trustedAt(roomId, version);
      const verified = trusted ?? (await this.fetchVerified(roomId, options));
      const head = verified.head;
      if (!force && head.record.version !== version) throw EndpointError.versionConflict(roomId, head.record.version, version);
      const currentKey = await this.acceptKeys(verified).catch(() => undefined);
      const content = this.content(users, managers, publicMeta, privateMeta, partial === undefined ? head.record.policy : completePolicy(partial));
      await this.checkMembers(head.record.contextId, content, options);
      const built = await buildSuccessor(head, currentKey, content, this.author(), { rotate: forceGenerateNewKey });
      try {
        await this.http.request('PUT', `/v1/rooms/${encodeURIComponent(roomId)}`, roomWriteResponseSchema, { ...built.request, version, force }, options);
      } catch (error) {
        const conflict = error instanceof EndpointError && error.reason === 'VersionConflict';
        // Someone else wrote first. With force, rebuild on the new head and try again.
        if (force && conflict && attempt < FORCE_ATTEMPTS) continue;
        // Built without a read: the version the app hears is the one it can verify, not the Bridge's word.
        if (conflict && trusted !== undefined) throw await this.verifiedConflict(roomId, version, options);
        throw error;
      }
      if (await this.storeTrust(roomId, advance(verified.trust, [ownVersion(built)]))) this.keys.set(roomId, built.record.epoch, built.epochKey);
      return;
    }
  }

  /**
   * The trusted head as `Verified`, with no read, when it is version `version` and this client holds
   * its epoch's key (an update can be built on it); otherwise undefined, and the update reads the room.
   */
  private async trustedAt(roomId: string, version: number): Promise<Verified | undefined> {
    const trust = await this.trustTurns.run(roomId, async () => this.trustStore.get(roomId));
    if (trust === undefined || trust.head.version !== version) return undefined;
    const head = headOf(trust);
    return this.keys.get(roomId, head.record.epoch) === undefined ? undefined : { trust, head, keys: [] };
  }

  /**
   * The conflict of an update built without a read: reads the room and names its verified version.
   * A Bridge that refuses an update based on the head it then serves as current has either another
   * record at that version than the one this client trusts (an honest Bridge refuses a write whose
   * previous hash is not its head's) or is lying: either way the room is tampered with.
   */
  private async verifiedConflict(roomId: string, version: number, options: RequestOptions): Promise<EndpointError> {
    const at = (await this.fetchVerified(roomId, options)).head.record.version;
    if (at !== version) return EndpointError.versionConflict(roomId, at, version);
    return EndpointError.tampered(
      `room "${roomId}": the Bridge refused an update based on version ${version} as out of date, and serves version ${version} as its head`,
    );
  }

  async deleteStreamRoom(roomId: string, options: RequestOptions = {}): Promise<void> {
    checkId('streamRoomId', roomId, ROOM_ID_PATTERN);
    await this.http.request('DELETE', `/v1/rooms/${encodeURIComponent(roomId)}`, undefined, undefined, options);
    this.keys.forget(roomId);
  }

  /** The newest epoch key of a room, verified and unwrapped (fetching the room if needed). */
  async currentKey(roomId: string, options: RequestOptions = {}): Promise<{ epoch: number; key: Uint8Array }> {
    const held = this.keys.current(roomId);
    if (held !== undefined) return held;
    await this.getStreamRoom(roomId, options);
    const key = this.keys.current(roomId);
    if (key === undefined) throw EndpointError.keyUnavailable(`room "${roomId}": no key`);
    return key;
  }

  /**
   * The key of a given epoch, refreshing the room if it is newer than what is held: at most once per
   * room in NEWER_EPOCH_FETCH_MS, later calls wait for that read. The epoch comes from what the Bridge
   * relays (a stream's announcement, a frame): made-up ones must not cost a verified read each.
   */
  async keyFor(roomId: string, epoch: number, options: RequestOptions = {}): Promise<Uint8Array> {
    let key = this.keys.get(roomId, epoch);
    if (key === undefined && epoch > (this.keys.newestEpoch(roomId) ?? 0)) {
      const recent = this.#newerEpochReads.get(roomId);
      if (recent !== undefined && Date.now() - recent.at < NEWER_EPOCH_FETCH_MS) await recent.done;
      else {
        const read = this.getStreamRoom(roomId, options);
        rememberBounded(this.#newerEpochReads, roomId, { at: Date.now(), done: read.then(noop, noop) }, MAX_NEWER_EPOCH_ROOMS);
        await read;
      }
      key = this.keys.get(roomId, epoch);
    }
    if (key === undefined) throw EndpointError.keyUnavailable(`room "${roomId}": no key for epoch ${epoch}`);
    return key;
  }

  /** The verified head record, if this client has verified the room. */
  async trustedHead(roomId: string): Promise<VerifiedVersion | undefined> {
    const trust = await this.trustStore.get(roomId);
    return trust === undefined ? undefined : headOf(trust);
  }

  /** Before a key is wrapped for anyone: every member key must be the pinned key of its user. */
  private async checkMembers(contextId: string, content: RoomContent, options: RequestOptions): Promise<void> {
    const uses = [...content.users, ...content.managers].map((m) => ({ userId: m.userId, publicKey: m.publicKey }));
    await this.keyTrust.check(contextId, uses, (message) => EndpointError.invalidArgument(message), options);
  }

  private content(users: UserWithPubKey[], managers: UserWithPubKey[], publicMeta: Uint8Array, privateMeta: Uint8Array, policy: RoomPolicy): RoomContent {
    if (!(publicMeta instanceof Uint8Array)) throw EndpointError.invalidArgument('"publicMeta" expected a Uint8Array');
    if (!(privateMeta instanceof Uint8Array)) throw EndpointError.invalidArgument('"privateMeta" expected a Uint8Array');
    const meta = privateMeta.slice();
    return {
      users: toMembers('users', users),
      managers: toMembers('managers', managers),
      policy,
      publicMeta,
      sealPrivateMeta: (binding) => sealPrivateMeta(binding, meta),
    };
  }
}

function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function noop(): void {}
