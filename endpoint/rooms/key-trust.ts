/**
 * Which public key this client trusts for each user of a context (docs/design.md "Trust model",
 * docs/security/key-trust.md). The Bridge serves the directory, so it is trusted at most on first use:
 * the first time a user's key matters, the client reads the directory (with its history), asks the
 * app's verifier if there is one, and pins what it got. From then on only pinned keys are accepted: a
 * different key is `KeyChanged` (with an event) until the app accepts it, or, for a user whose safety
 * number was compared, until it is compared again. A former key counts only for versions signed while
 * it was the user's key.
 */
import { decodePublicKey } from '../../crypto/identity.ts';
import { normalizeSafetyNumber, safetyNumber } from '../../crypto/safety-number.ts';
import { contextUsersResponseSchema, DIRECTORY_READ_MAX_USERS } from '../../protocol/api.ts';
import { CONTEXT_ID_PATTERN, USER_ID_PATTERN, type Member, type RoomRecord } from '../../protocol/room-record.ts';
import type { Connection } from '../connection.ts';
import { EndpointError } from '../errors.ts';
import { connectionInternals } from '../internal.ts';
import type { BridgeHttp, RequestOptions } from '../transport/http.ts';
import type { KeyChangedEvent, UserVerificationRequest, UserVerifier } from '../types.ts';
import { sharedTurns, type Turns } from '../util/turns.ts';
import type { FormerKey, TrustStore, UserPin } from './trust.ts';

/** How long a user's directory entry, read for first-use pins, is reused, in milliseconds. */
const DIRECTORY_TTL_MS = 60_000;
/**
 * Former keys of one user a client takes from the directory (docs/security/key-trust.md): each is kept
 * in the user's pin and asked about; a user whose key was replaced more often than this reads as
 * tampered. Operators replace a key when a device is lost, a few times in a user's life.
 */
export const MAX_FORMER_KEYS = 64;
/**
 * Slack around a former key's window, in milliseconds: a version's time is its author's clock, the
 * window's ends are the Bridge's.
 */
export const KEY_WINDOW_SKEW_MS = 60_000;
/** How long the app's verifier may take before the keys it was asked about are refused. */
export const DEFAULT_USER_VERIFIER_TIMEOUT_MS = 30_000;

/** A user's keys as the directory lists them, and when this client read them (Date.now()). */
interface DirectoryUser {
  current: string | null;
  former: FormerKey[];
  readAt: number;
}

/** What this client read of a context's directory: each user it asked about who is listed. */
type Directory = Map<string, DirectoryUser>;

/**
 * The encoded `userIds` of one directory read at most, in characters. 100 ids fit Node's 16 KiB header
 * limit as written, but `@` and `+` take three characters each once encoded: reads are split by this
 * as well as by `DIRECTORY_READ_MAX_USERS`.
 */
const DIRECTORY_READ_MAX_QUERY_CHARS = 8192;

/**
 * One key to check. `at` is the time the version that names it was signed (a read); without `at` the
 * key is about to receive a wrapped key in a version this client writes, so it must be the current one.
 */
export interface KeyUse {
  userId: string;
  publicKey: string;
  at?: number;
}

export interface KeyTrustOptions {
  verifyUsers?: UserVerifier;
  verifierTimeoutMs?: number;
  onKeyChanged?: (event: KeyChangedEvent) => void;
}

export class KeyTrust {
  readonly #connection: Connection;
  readonly #http: BridgeHttp;
  readonly #store: TrustStore;
  readonly #verifyUsers: UserVerifier | undefined;
  readonly #verifierTimeoutMs: number;
  readonly #onKeyChanged: (event: KeyChangedEvent) => void;
  readonly #directories = new Map<string, Directory>();
  /** KeyChanged events already sent, so a room read in a loop does not repeat them. */
  readonly #announced = new Set<string>();
  /**
   * Pin changes (first use, `verifyUser`, `acceptKeyChange`) take their turn per context, shared by
   * every KeyTrust of the same store.
   */
  readonly #pinChanges: Turns<string>;

  constructor(connection: Connection, store: TrustStore, options: KeyTrustOptions = {}) {
    this.#connection = connection;
    this.#http = connectionInternals(connection).http;
    this.#store = store;
    this.#pinChanges = sharedTurns(store, 'pins');
    this.#verifyUsers = options.verifyUsers;
    this.#verifierTimeoutMs = options.verifierTimeoutMs ?? DEFAULT_USER_VERIFIER_TIMEOUT_MS;
    this.#onKeyChanged = options.onKeyChanged ?? (() => undefined);
  }

  /**
   * Checks every key against the pins of `contextId`, pinning users seen for the first time. Throws
   * `KeyChanged` for a key that is not the pinned one, `KeyRejected` when the app's verifier refused a
   * user, and `unknown(message)` for a user the directory never had or a former key used outside its
   * window (`RoomTampered` for what the Bridge served, `InvalidArgument` for what the app passed).
   */
  async check(contextId: string, uses: KeyUse[], unknown: (message: string) => EndpointError, options: RequestOptions = {}): Promise<void> {
    const byKey = new Map<string, { userId: string; publicKey: string; first: number | undefined; last: number | undefined; write: boolean }>();
    for (const u of uses) {
      if (u.userId === this.#connection.userId && u.publicKey === this.#connection.publicKey) continue;
      const k = `${u.userId}\u0000${u.publicKey}`;
      const seen = byKey.get(k);
      if (seen === undefined) {
        byKey.set(k, { userId: u.userId, publicKey: u.publicKey, first: u.at, last: u.at, write: u.at === undefined });
      } else if (u.at === undefined) {
        seen.write = true;
      } else {
        seen.first = seen.first === undefined ? u.at : Math.min(seen.first, u.at);
        seen.last = seen.last === undefined ? u.at : Math.max(seen.last, u.at);
      }
    }
    if (byKey.size === 0) return;
    const pins = new Map<string, UserPin>();
    const unpinned = new Set<string>();
    for (const { userId } of byKey.values()) {
      if (pins.has(userId) || unpinned.has(userId)) continue;
      const pin = await this.#getPin(contextId, userId);
      if (pin === undefined) unpinned.add(userId);
      else pins.set(userId, pin);
    }
    const refused = new Set<string>();
    if (unpinned.size > 0) {
      // One pinning at a time per context, and the pins read again inside it: two reads that meet the
      // same new user at once would otherwise each read the directory and each pin what they got, so a
      // Bridge that answered them differently would have two keys of one user accepted, one per room.
      await this.#pinChanges.run(contextId, async () => {
        const still: string[] = [];
        for (const userId of unpinned) {
          const pin = await this.#getPin(contextId, userId);
          if (pin === undefined) still.push(userId);
          else pins.set(userId, pin);
        }
        if (still.length === 0) return;
        for (const pin of await this.#pinFirstUse(contextId, still, refused, options)) pins.set(pin.userId, pin);
      });
    }
    let failure: EndpointError | undefined;
    for (const use of byKey.values()) {
      const error = this.#judge(contextId, use, pins.get(use.userId), refused.has(use.userId), unknown);
      failure ??= error;
    }
    if (failure !== undefined) throw failure;
  }

  #judge(
    contextId: string,
    use: { userId: string; publicKey: string; first: number | undefined; last: number | undefined; write: boolean },
    pin: UserPin | undefined,
    refused: boolean,
    unknown: (message: string) => EndpointError,
  ): EndpointError | undefined {
    const who = `"${use.userId}" in context "${contextId}"`;
    if (refused) return keyRejected(contextId, use.userId, use.publicKey, `the app's verifier refused the keys of ${who}`);
    if (pin === undefined) return unknown(`${who} is not a user of the context directory`);
    if (pin.publicKey === use.publicKey) return undefined;
    const former = pin.former.find((f) => f.publicKey === use.publicKey);
    if (former !== undefined) {
      if (use.write) return unknown(`the key given for ${who} is a former key of that user, not its current one`);
      const inWindow = (t: number) => (former.from === null || t >= former.from - KEY_WINDOW_SKEW_MS) && t <= former.until + KEY_WINDOW_SKEW_MS;
      if (inWindow(use.first!) && inWindow(use.last!)) return undefined;
      return unknown(
        `a version signed at ${use.last === use.first ? use.first : `${use.first}..${use.last}`} names a key of ${who} that was its key only until ${former.until}`,
      );
    }
    const event: KeyChangedEvent = {
      type: 'keyChanged',
      contextId,
      userId: use.userId,
      pinnedKey: pin.publicKey,
      newKey: use.publicKey,
      verified: pin.verified,
    };
    const id = `${contextId}\u0000${use.userId}\u0000${pin.publicKey}\u0000${use.publicKey}`;
    if (!this.#announced.has(id)) {
      this.#announced.add(id);
      this.#onKeyChanged(event);
    }
    return new EndpointError(
      'KeyChanged',
      `${who} is presented with a key that is not the one this client pinned${pin.verified ? ' and verified' : ''}; ` +
        (pin.verified ? 'compare safety numbers again (verifyUser)' : 'accept it with acceptKeyChange, or compare safety numbers'),
      { details: { contextId, userId: use.userId, pinnedKey: pin.publicKey, newKey: use.publicKey, verified: pin.verified } },
    );
  }

  /**
   * The 60-digit safety number of this user and `userId`, over the key the directory lists for
   * `userId` now (which may be a new key waiting for `verifyUser` or `acceptKeyChange`).
   */
  async safetyNumber(contextId: string, userId: string, options: RequestOptions = {}): Promise<string> {
    checkIds(contextId, userId);
    const key = await this.#currentKey(contextId, userId, options);
    return this.#number(userId, key);
  }

  /**
   * Marks `userId` verified: `number` must be the safety number over the key the directory lists now.
   * That key becomes the pinned one (the old one kept as a former key).
   */
  async verifyUser(contextId: string, userId: string, number: string, options: RequestOptions = {}): Promise<void> {
    checkIds(contextId, userId);
    if (typeof number !== 'string') throw EndpointError.invalidArgument('"safetyNumber" expected a string of 60 digits');
    // The entry as read now: the key compared is the key pinned, whatever later reads put in the cache.
    const listed = this.#listed(await this.#directory(contextId, [userId], options, true), contextId, userId);
    const key = listed.current;
    if (normalizeSafetyNumber(number) !== this.#number(userId, key)) {
      throw keyRejected(contextId, userId, key, `the safety number given for "${userId}" does not match its key in context "${contextId}"`);
    }
    await this.#repin(contextId, userId, listed, true);
  }

  /**
   * Pins the key the directory lists now for a user whose key changed. Refused for a verified user
   * (`KeyChanged`: compare safety numbers and call `verifyUser`) and when the app's verifier says no.
   */
  async acceptKeyChange(contextId: string, userId: string, options: RequestOptions = {}): Promise<void> {
    checkIds(contextId, userId);
    const listed = this.#listed(await this.#directory(contextId, [userId], options, true), contextId, userId);
    // Judged again in the turn (#repinNow), against the pin as it is then.
    await this.#repin(contextId, userId, listed, false);
  }

  #number(userId: string, key: string): string {
    if (userId === this.#connection.userId) throw EndpointError.invalidArgument('"userId": a safety number is between this user and another one');
    return safetyNumber(
      { userId: this.#connection.userId, publicKey: decodePublicKey(this.#connection.publicKey) },
      { userId, publicKey: decodePublicKey(key) },
    );
  }

  async #currentKey(contextId: string, userId: string, options: RequestOptions): Promise<string> {
    return this.#directoryKey(await this.#directory(contextId, [userId], options, true), contextId, userId);
  }

  #directoryKey(directory: Directory, contextId: string, userId: string): string {
    return this.#listed(directory, contextId, userId).current;
  }

  /** The directory's entry of a current user of the context (the entry object is never changed, only replaced). */
  #listed(directory: Directory, contextId: string, userId: string): DirectoryUser & { current: string } {
    const listed = directory.get(userId);
    if (listed === undefined || listed.current === null) throw new EndpointError('NotFound', `"${userId}" is not a user of context "${contextId}"`);
    return listed as DirectoryUser & { current: string };
  }

  /**
   * `listed` (the entry the caller judged) becomes the pin of `userId` (after the verifier), the old key
   * kept as former; `verified` for `verifyUser`, which compared its number. Without it
   * (`acceptKeyChange`), the pin as it is in the turn decides: already that key, nothing changes; a
   * verified user's other key is `KeyChanged`.
   */
  #repin(contextId: string, userId: string, listed: DirectoryUser & { current: string }, verified: boolean): Promise<void> {
    return this.#pinChanges.run(contextId, () => this.#repinNow(contextId, userId, listed, verified));
  }

  async #repinNow(contextId: string, userId: string, listed: DirectoryUser & { current: string }, verified: boolean): Promise<void> {
    const pin = await this.#getPin(contextId, userId);
    if (!verified && pin?.publicKey === listed.current) return;
    if (!verified && pin?.verified === true) {
      throw new EndpointError('KeyChanged', `"${userId}" was verified by safety number: its new key needs verifyUser, not acceptKeyChange`, {
        details: { contextId, userId, pinnedKey: pin.publicKey, newKey: listed.current, verified: true },
      });
    }
    const known = new Set([pin?.publicKey, ...(pin?.former ?? []).map((f) => f.publicKey)]);
    const fresh = [
      ...(listed.current !== null && !known.has(listed.current) ? [{ contextId, userId, pubKey: listed.current }] : []),
      ...listed.former.filter((f) => !known.has(f.publicKey)).map((f) => ({ contextId, userId, pubKey: f.publicKey, removedAt: f.until })),
    ];
    const answers = await this.#ask(fresh);
    const no = fresh.find((_, i) => !answers[i]);
    if (no !== undefined) throw keyRejected(contextId, userId, no.pubKey, `the app's verifier refused a key of "${userId}" in context "${contextId}"`);
    const former = [...(pin?.former ?? [])];
    if (pin !== undefined && pin.publicKey !== null && pin.publicKey !== listed.current) {
      const retired = listed.former.find((f) => f.publicKey === pin.publicKey);
      former.push({ publicKey: pin.publicKey, from: retired?.from ?? null, until: retired?.until ?? Date.now() });
    }
    for (const f of listed.former) if (!former.some((g) => g.publicKey === f.publicKey)) former.push(f);
    await this.#setPins([{ contextId, userId, publicKey: listed.current, pinnedAt: Date.now(), verified, former }]);
  }

  /** Pins users seen for the first time, from the directory, with the app's verifier's consent. */
  async #pinFirstUse(contextId: string, userIds: string[], refused: Set<string>, options: RequestOptions): Promise<UserPin[]> {
    const directory = await this.#directory(contextId, userIds, options, false);
    const candidates: UserPin[] = [];
    for (const userId of userIds) {
      const listed = directory.get(userId);
      if (listed === undefined) continue; // judged as unknown by the caller
      candidates.push({ contextId, userId, publicKey: listed.current, pinnedAt: Date.now(), verified: false, former: listed.former });
    }
    if (candidates.length === 0) return [];
    const requests: Array<{ userId: string; request: UserVerificationRequest }> = [];
    for (const pin of candidates) {
      if (pin.publicKey !== null) requests.push({ userId: pin.userId, request: { contextId, userId: pin.userId, pubKey: pin.publicKey } });
      for (const f of pin.former) requests.push({ userId: pin.userId, request: { contextId, userId: pin.userId, pubKey: f.publicKey, removedAt: f.until } });
    }
    const answers = await this.#ask(requests.map((r) => r.request));
    requests.forEach((r, i) => {
      if (!answers[i]) refused.add(r.userId);
    });
    // A user is pinned only when every key the directory lists for it passed: a refused user is asked
    // about again next time, and refused again, rather than pinned without its refused key.
    const accepted = candidates.filter((pin) => !refused.has(pin.userId));
    await this.#setPins(accepted);
    return accepted;
  }

  /** The app's verdict on each key (all true without a verifier). Fails closed. */
  async #ask(requests: UserVerificationRequest[]): Promise<boolean[]> {
    if (requests.length === 0 || this.#verifyUsers === undefined) return requests.map(() => true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const answers = await Promise.race([
        Promise.resolve().then(() => this.#verifyUsers!(requests.map((r) => ({ ...r })))),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(EndpointError.timeout('verifyUsers', this.#verifierTimeoutMs)), this.#verifierTimeoutMs);
        }),
      ]);
      if (!Array.isArray(answers) || answers.length !== requests.length) {
        throw new EndpointError(
          'KeyRejected',
          `verifyUsers answered ${Array.isArray(answers) ? answers.length : typeof answers} verdicts for ${requests.length} keys`,
        );
      }
      return answers.map((a) => a === true);
    } catch (cause) {
      if (cause instanceof EndpointError) throw cause;
      throw new EndpointError('KeyRejected', 'verifyUsers failed, so no key it was asked about is trusted', { cause });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * What the directory of `contextId` lists for `userIds` (current and former keys). Only the users
   * asked about are read, in reads of `DIRECTORY_READ_MAX_USERS` ids and `DIRECTORY_READ_MAX_QUERY_CHARS`
   * encoded characters at most: a client that joins a room of 30 in a
   * context of 100,000 reads 30 entries, not the whole directory. An entry is read again when `fresh`,
   * when older than `DIRECTORY_TTL_MS`, or when the user was not listed.
   */
  async #directory(contextId: string, userIds: string[], options: RequestOptions, fresh: boolean): Promise<Directory> {
    let directory = this.#directories.get(contextId);
    if (directory === undefined) this.#directories.set(contextId, (directory = new Map()));
    const now = Date.now();
    const stale = (userId: string) => fresh || now - (directory.get(userId)?.readAt ?? -Infinity) >= DIRECTORY_TTL_MS;
    for (const asked of directoryReads([...new Set(userIds)].filter(stale))) {
      const listed = await this.#readDirectory(contextId, asked, options);
      // Only what was asked: a user the Bridge lists unasked is ignored (directory-reads.test.ts).
      for (const userId of asked) {
        const entry = listed.get(userId);
        if (entry === undefined) directory.delete(userId);
        else directory.set(userId, entry);
      }
    }
    return directory;
  }

  /**
   * One directory read of `userIds` (with history). The caller takes the entries of the users it asked
   * about and nothing else: a key the Bridge lists for a user nobody asked about is never pinned.
   */
  async #readDirectory(contextId: string, userIds: string[], options: RequestOptions): Promise<Directory> {
    const query = `history=true&userIds=${userIds.map(encodeURIComponent).join(',')}`;
    const reply = await this.#http.request(
      'GET',
      `/v1/contexts/${encodeURIComponent(contextId)}/users?${query}`,
      contextUsersResponseSchema,
      undefined,
      options,
    );
    const users: Directory = new Map();
    const asked = new Set(userIds);
    const readAt = Date.now();
    const formerKeys = new Map<string, Set<string>>();
    const entry = (userId: string) => {
      let u = users.get(userId);
      if (u === undefined) users.set(userId, (u = { current: null, former: [], readAt }));
      return u;
    };
    for (const u of reply.users) {
      if (!asked.has(u.userId)) continue; // never pinned, never kept
      const e = entry(u.userId);
      if (e.current !== null && e.current !== u.publicKey) throw EndpointError.tampered(`the directory of context "${contextId}" lists "${u.userId}" twice`);
      e.current = u.publicKey;
    }
    for (const u of reply.formerUsers ?? []) {
      if (!asked.has(u.userId)) continue;
      const e = entry(u.userId);
      let seen = formerKeys.get(u.userId);
      if (seen === undefined) formerKeys.set(u.userId, (seen = new Set()));
      if (u.publicKey === e.current || seen.has(u.publicKey)) continue; // removed and added again
      if (seen.size === MAX_FORMER_KEYS) {
        // Each is pinned, written and offered to the app's verifier: a Bridge must not make that unbounded.
        throw EndpointError.tampered(`the directory of context "${contextId}" lists more than ${MAX_FORMER_KEYS} former keys of "${u.userId}"`);
      }
      seen.add(u.publicKey);
      e.former.push({ publicKey: u.publicKey, from: u.addedAt ?? null, until: u.removedAt });
    }
    return users;
  }

  async #getPin(contextId: string, userId: string): Promise<UserPin | undefined> {
    try {
      return await this.#store.getPin(contextId, userId);
    } catch (cause) {
      throw storeFailed('reading a pinned key', cause);
    }
  }

  async #setPins(pins: UserPin[]): Promise<void> {
    if (pins.length === 0) return;
    try {
      await this.#store.setPins(pins);
    } catch (cause) {
      throw storeFailed('storing pinned keys', cause);
    }
  }
}

function checkIds(contextId: unknown, userId: unknown): void {
  if (typeof contextId !== 'string' || !CONTEXT_ID_PATTERN.test(contextId)) {
    throw EndpointError.invalidArgument(`"contextId" is not a valid id: "${String(contextId).slice(0, 80)}"`);
  }
  if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)) {
    throw EndpointError.invalidArgument(`"userId" is not a valid id: "${String(userId).slice(0, 80)}"`);
  }
}

function keyRejected(contextId: string, userId: string, publicKey: string, message: string): EndpointError {
  return new EndpointError('KeyRejected', message, { details: { contextId, userId, publicKey } });
}

function storeFailed(what: string, cause: unknown): EndpointError {
  if (cause instanceof EndpointError) return cause;
  return new EndpointError('TrustStoreFailed', `${what} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
}

/** `userIds` in groups of at most `DIRECTORY_READ_MAX_USERS` ids and `DIRECTORY_READ_MAX_QUERY_CHARS` encoded characters. */
export function directoryReads(userIds: readonly string[]): string[][] {
  const reads: string[][] = [];
  let read: string[] = [];
  let chars = 0;
  for (const userId of userIds) {
    const length = encodeURIComponent(userId).length + 1;
    if (read.length === DIRECTORY_READ_MAX_USERS || (read.length > 0 && chars + length > DIRECTORY_READ_MAX_QUERY_CHARS)) {
      reads.push(read);
      read = [];
      chars = 0;
    }
    read.push(userId);
    chars += length;
  }
  if (read.length > 0) reads.push(read);
  return reads;
}

/**
 * Every key the versions name, its author's and each member's, with the times of the versions that name
 * it. A member list shared by consecutive versions (parseRecordText) is listed once, at the earliest and
 * latest of their times: KeyTrust.check judges a key by exactly that span, and a catch-up of a thousand
 * versions would otherwise list every member a thousand times.
 */
export function keyUses(records: RoomRecord[]): Array<{ userId: string; publicKey: string; at: number }> {
  const out: Array<{ userId: string; publicKey: string; at: number }> = [];
  const lists = new Map<Member[], { first: number; last: number }>();
  for (const r of records) {
    out.push({ userId: r.author, publicKey: r.authorPublicKey, at: r.timestamp });
    for (const list of [r.users, r.managers]) {
      const span = lists.get(list);
      if (span === undefined) lists.set(list, { first: r.timestamp, last: r.timestamp });
      else {
        span.first = Math.min(span.first, r.timestamp);
        span.last = Math.max(span.last, r.timestamp);
      }
    }
  }
  for (const [list, { first, last }] of lists) {
    for (const m of list) {
      out.push({ userId: m.userId, publicKey: m.publicKey, at: first });
      if (last !== first) out.push({ userId: m.userId, publicKey: m.publicKey, at: last });
    }
  }
  return out;
}
