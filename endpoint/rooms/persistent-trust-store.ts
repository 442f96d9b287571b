/**
 * The default `TrustStore`: pins and trusted room heads that outlive the process (a folder in Node,
 * IndexedDB in browsers: endpoint/platform/trust-kv*.ts), so that neither the pins
 * (docs/security/key-trust.md) nor rollback protection start over at each restart. One entry per room
 * and one per context's pins. Reads are cached: this object is the only writer of its namespace (`open`
 * holds it for the process, so another process, tab or window of the identity gets `TrustStoreBusy`,
 * and the connections of one process share this one object: stream-api-parts.ts). Writes of one entry
 * are serialised and coalesced, and each write replaces its entry atomically.
 * Pins are written durably (fsync) before `setPins` resolves; room heads, written on every read that
 * finds a new version, are not (fsync cost ~7 ms here), so a power loss may bring back an older head.
 * An entry that does not parse fails with `TrustStoreFailed`: it is never silently treated as absent,
 * which would re-pin on first use.
 */
import * as z from '../../protocol/zod.ts';
import { backend } from '../../crypto/backend/index.ts';
import { toHex, utf8 } from '../../crypto/bytes.ts';
import { EndpointError } from '../errors.ts';
import type { TrustKv, TrustKvHold } from '../platform/trust-kv.ts';
import type { TrustedRoom, TrustStore, UserPin } from './trust.ts';

const FORMAT = 1;

const trustedRoomSchema = z.object({
  roomId: z.string(),
  contextId: z.string(),
  head: z.object({ version: z.int().check(z.positive()), hash: z.string(), signed: z.object({ record: z.string(), signature: z.string() }) }),
  createDate: z.number(),
  creator: z.string(),
  keySets: z.array(z.object({ version: z.int(), epoch: z.int(), root: z.string(), size: z.int() })),
});

const userPinSchema = z.object({
  contextId: z.string(),
  userId: z.string(),
  publicKey: z.nullable(z.string()),
  pinnedAt: z.number(),
  verified: z.boolean(),
  former: z.array(z.object({ publicKey: z.string(), from: z.nullable(z.number()), until: z.number() })),
});

const roomEntrySchema = z.object({ format: z.literal(FORMAT), room: trustedRoomSchema });
const pinsEntrySchema = z.object({ format: z.literal(FORMAT), contextId: z.string(), users: z.record(z.string(), userPinSchema) });

/** The namespace of one identity: its solution and public key, hashed (no id appears in a path). */
export function trustNamespace(solutionId: string, publicKey: string): string {
  return toHex(backend().hash('sha256', utf8(`${solutionId}\u0000${publicKey}`))).slice(0, 32);
}

/** Room ids remembered as having no entry (PersistentTrustStore's negative cache). */
export const ABSENT_ROOMS_CACHED = 1024;

export class PersistentTrustStore implements TrustStore {
  readonly #kv: TrustKv;
  /** roomId -> trusted room. */
  readonly #rooms = new Map<string, TrustedRoom>();
  /**
   * Rooms known to have no entry (deleted, or never trusted), at most ABSENT_ROOMS_CACHED, the oldest
   * forgotten first (read again when asked). A Bridge names as many room ids as it likes (events,
   * listings), so this cache is bounded; trusted rooms are not, as each needs a record a member signed.
   */
  readonly #absent = new Set<string>();
  /** contextId -> (userId -> pin), loaded whole. */
  readonly #pins = new Map<string, Promise<Map<string, UserPin>>>();
  /** Per entry key: the value still to write, and the write in progress. */
  readonly #pending = new Map<string, string>();
  readonly #writing = new Map<string, Promise<void>>();
  #hold: TrustKvHold | undefined;
  /** The hold was lost: nothing more is written, not even what was queued. */
  #lost: EndpointError | undefined;
  /** The store was closed: nothing new is written (what was queued before is). */
  #closed: EndpointError | undefined;
  readonly #changes = new Set<Promise<void>>();

  constructor(kv: TrustKv) {
    this.#kv = kv;
  }

  /**
   * Takes the namespace for this instance alone (the cache above is only right for its one writer).
   * Fails with `TrustStoreBusy` while another instance of the identity holds it, in this process or
   * another (another tab or window in browsers).
   */
  async open(): Promise<void> {
    if (this.#hold !== undefined) return;
    try {
      this.#hold = await this.#kv.hold((error) => {
        this.#lost ??= new EndpointError(
          'TrustStoreBusy',
          `trust store: this instance lost its hold on the store (${error.message}); nothing more is written`,
          {
            cause: error,
          },
        );
      });
    } catch (cause) {
      if ((cause as { code?: unknown }).code !== 'ELOCKED') throw failed('taking the store', cause);
      throw new EndpointError(
        'TrustStoreBusy',
        'trust store: another instance of this identity (another tab, window, worker or process) holds it; close that one first, or give each its own trustDir',
        { cause },
      );
    }
    if (this.#closed !== undefined) {
      // Closed while the hold was being taken (its connection went): let go of it at once.
      const hold = this.#hold;
      this.#hold = undefined;
      await hold.release().catch(() => undefined);
      throw this.#closed;
    }
  }

  /** Lets the changes under way finish, then releases the hold; no change starts after. Idempotent. */
  async close(): Promise<void> {
    this.#closed ??= new EndpointError('TrustStoreFailed', 'trust store: closed (its connection was disconnected)');
    await Promise.allSettled([...this.#changes]);
    await Promise.allSettled([...this.#writing.values()]);
    const hold = this.#hold;
    this.#hold = undefined;
    await hold?.release().catch(() => undefined);
  }

  #markAbsent(roomId: string): void {
    this.#absent.delete(roomId);
    this.#absent.add(roomId);
    if (this.#absent.size > ABSENT_ROOMS_CACHED) this.#absent.delete(this.#absent.values().next().value as string);
  }

  async get(roomId: string): Promise<TrustedRoom | undefined> {
    const cached = this.#rooms.get(roomId);
    if (cached !== undefined || this.#absent.has(roomId)) return cached;
    const key = `room/${roomId}`;
    const text = await this.#read(key);
    const room = text === undefined ? undefined : (this.#parse(key, text, roomEntrySchema).room as TrustedRoom);
    // A set() or delete() that raced this read wins: it is newer.
    if (this.#rooms.has(roomId) || this.#absent.has(roomId)) return this.#rooms.get(roomId);
    if (room === undefined) this.#markAbsent(roomId);
    else this.#rooms.set(roomId, room);
    return room;
  }

  set(roomId: string, room: TrustedRoom): Promise<void> {
    return this.#change(() => {
      this.#rooms.set(roomId, room);
      this.#absent.delete(roomId);
      return this.#write(`room/${roomId}`, JSON.stringify({ format: FORMAT, room }), false);
    });
  }

  delete(roomId: string): Promise<void> {
    return this.#change(async () => {
      this.#rooms.delete(roomId);
      this.#markAbsent(roomId);
      this.#pending.delete(`room/${roomId}`);
      await (this.#writing.get(`room/${roomId}`) ?? Promise.resolve()).catch(() => undefined);
      if (this.#lost !== undefined) throw this.#lost;
      await this.#kv.remove(`room/${roomId}`).catch((cause: unknown) => {
        throw failed(`removing room "${roomId}"`, cause);
      });
    });
  }

  async getPin(contextId: string, userId: string): Promise<UserPin | undefined> {
    return (await this.#contextPins(contextId)).get(userId);
  }

  setPins(pins: UserPin[]): Promise<void> {
    return this.#change(async () => {
      const contexts = new Set(pins.map((p) => p.contextId));
      const writes: Promise<void>[] = [];
      for (const contextId of contexts) {
        const users = await this.#contextPins(contextId);
        for (const pin of pins) if (pin.contextId === contextId) users.set(pin.userId, pin);
        writes.push(this.#write(`pins/${contextId}`, JSON.stringify({ format: FORMAT, contextId, users: Object.fromEntries(users) }), true));
      }
      await Promise.all(writes);
    });
  }

  /** Runs a change unless the store is closed or lost; `close` waits for the changes under way. */
  #change(task: () => Promise<void>): Promise<void> {
    const stopped = this.#lost ?? this.#closed;
    if (stopped !== undefined) return Promise.reject(stopped);
    const running = task();
    this.#changes.add(running);
    const done = () => this.#changes.delete(running);
    void running.then(done, done);
    return running;
  }

  #contextPins(contextId: string): Promise<Map<string, UserPin>> {
    let loaded = this.#pins.get(contextId);
    if (loaded === undefined) {
      const key = `pins/${contextId}`;
      loaded = this.#read(key).then((text) => {
        if (text === undefined) return new Map<string, UserPin>();
        const entry = this.#parse(key, text, pinsEntrySchema);
        if (entry.contextId !== contextId) throw failed(`reading "${key}"`, new Error('the entry belongs to another context'));
        return new Map(Object.entries(entry.users) as Array<[string, UserPin]>);
      });
      loaded.catch(() => this.#pins.delete(contextId));
      this.#pins.set(contextId, loaded);
    }
    return loaded;
  }

  async #read(key: string): Promise<string | undefined> {
    try {
      return await this.#kv.read(key);
    } catch (cause) {
      throw failed(`reading "${key}"`, cause);
    }
  }

  #parse<S extends z.ZodMiniType>(key: string, text: string, schema: S): z.infer<S> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw failed(`reading "${key}"`, cause);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw failed(`reading "${key}"`, new Error(`unexpected content at ${parsed.error.issues[0]?.path.join('.') ?? '?'}`));
    return parsed.data;
  }

  /**
   * Writes `value` under `key` after any write of that key in progress; values set meanwhile are
   * coalesced into the newest. Resolves once a write holding this value (or a newer one) is done.
   */
  #write(key: string, value: string, durable: boolean): Promise<void> {
    if (this.#lost !== undefined) return Promise.reject(this.#lost);
    this.#pending.set(key, value);
    const previous = this.#writing.get(key) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const latest = this.#pending.get(key);
        if (latest === undefined) return; // an earlier turn wrote it, or it was deleted
        this.#pending.delete(key);
        if (this.#lost !== undefined) throw this.#lost;
        try {
          await this.#kv.write(key, latest, durable);
        } catch (cause) {
          throw failed(`writing "${key}"`, cause);
        }
      });
    this.#writing.set(key, next);
    void next.then(
      () => this.#writing.get(key) === next && this.#writing.delete(key),
      () => this.#writing.get(key) === next && this.#writing.delete(key),
    );
    return next;
  }
}

function failed(what: string, cause: unknown): EndpointError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  const detail = typeof code === 'string' ? ` (${code})` : cause instanceof Error ? `: ${cause.message}` : '';
  return new EndpointError('TrustStoreFailed', `trust store: ${what} failed${detail}`, { cause });
}
