/**
 * The per-user and per-session socket caps across Bridges (docs/operations/limits.md, "Across
 * Bridges"): `maxSocketsPerUser` and `maxSocketsPerSession` count a user's sockets on every Bridge,
 * and past a cap the oldest sockets close with 4410 (replaced), wherever they are, as they do on one
 * Bridge.
 *
 * Each Bridge announces the sockets it authenticates and closes on `<prefix>.sockets` (JSON: `{origin,
 * open: {id, u, s, at}}`, `{origin, close}`; `u` and `s` are SHA-256 hashes of the user and the session,
 * so no token hash crosses) and keeps everyone's. Every Bridge ranks a user's sockets the same way
 * (by `at`, the authenticating Bridge's clock in ms with a fraction, then origin and id) and closes
 * its own among the oldest past the cap, so the newest `max` stay, whichever Bridge they are on. The
 * cap may be exceeded for one NATS hop (the time the others take to hear of a new socket).
 *
 * A Bridge that starts or is back on NATS asks for everybody's sockets (`{origin, hello}`); each answers
 * with `{origin, reset}` then its sockets in pages (`{origin, state}`). While this Bridge is cut off it
 * forgets the others' sockets: the caps count its own clients only (per Bridge) until it is back. A
 * Bridge silent on `<prefix>.nodes` too long is gone (./room-fanout.ts), and its sockets with it.
 */
import { createHash } from 'node:crypto';
import type { RealtimeConnection } from '../realtime/connection.ts';
import type { Replacement, SocketDirectory } from '../realtime/hub.ts';
import type { NatsLink, NatsSubscription } from './nats.ts';

/** Sockets per state message (each about 150 bytes of JSON; NATS refuses payloads past 1 MiB by default). */
const STATE_PAGE = 2000;

interface Entry {
  readonly origin: string;
  readonly id: string;
  /** Hashes of the user (solution and user id) and of the session. */
  readonly u: string;
  readonly s: string;
  /** When the socket was authenticated, ms since the Unix epoch on its Bridge's clock. */
  readonly at: number;
}

type Message =
  | { origin: string; open: Omit<Entry, 'origin'> }
  | { origin: string; close: string }
  | { origin: string; hello: true }
  | { origin: string; reset: true }
  | { origin: string; state: Array<Omit<Entry, 'origin'>> };

export interface SocketCapCounters {
  /** Sockets here closed because of sockets on other Bridges. */
  socketsReplacedRemotely: number;
}

export class ClusterSocketCaps implements SocketDirectory {
  readonly counters: SocketCapCounters = { socketsReplacedRemotely: 0 };
  /** Every socket known, by origin then connection id. */
  private readonly byOrigin = new Map<string, Map<string, Entry>>();
  /** The same, by user hash and by session hash. */
  private readonly byKey = new Map<string, Set<Entry>>();
  private readonly sub: NatsSubscription;
  private readonly offChange: () => void;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly link: NatsLink,
    private readonly subject: string,
    private readonly origin: string,
    private readonly caps: { maxSocketsPerUser: number; maxSocketsPerSession: number },
    /** Closes a socket of this Bridge as replaced. */
    private readonly replace: (r: Replacement) => void,
  ) {
    this.sub = link.subscribe(subject, (data) => this.onMessage(data));
    this.offChange = link.onChange((up) => {
      if (!up) {
        // Cut off: the others' sockets are no longer known; the caps count this Bridge's own.
        for (const origin of [...this.byOrigin.keys()]) if (origin !== this.origin) this.forget(origin);
        return;
      }
      this.announce();
      this.publish({ origin: this.origin, hello: true });
    });
    this.publish({ origin: this.origin, hello: true });
  }

  // ---- SocketDirectory: what the hub tells us

  opened(conn: RealtimeConnection): Replacement[] {
    const entry = this.entryOf(conn);
    this.add(entry);
    this.publish({ origin: this.origin, open: { id: entry.id, u: entry.u, s: entry.s, at: entry.at } });
    return this.excess(entry);
  }

  closed(connectionId: string): void {
    const entry = this.byOrigin.get(this.origin)?.get(connectionId);
    if (entry === undefined) return;
    this.remove(entry);
    this.publish({ origin: this.origin, close: connectionId });
  }

  /** Another Bridge is gone (silent too long): its sockets no longer count. */
  originGone(origin: string): void {
    this.forget(origin);
  }

  /** Whether a socket of another Bridge is known here (for tests and diagnostics). */
  knows(connectionId: string): boolean {
    for (const [origin, mine] of this.byOrigin) if (origin !== this.origin && mine.has(connectionId)) return true;
    return false;
  }

  /** Sockets of other Bridges known here now (for tests and diagnostics). */
  remoteSockets(): number {
    let n = 0;
    for (const [origin, mine] of this.byOrigin) if (origin !== this.origin) n += mine.size;
    return n;
  }

  close(): void {
    this.sub.unsubscribe();
    this.offChange();
  }

  // ---- ranking

  /** This Bridge's sockets among the oldest past a cap of the entry's user or session. */
  private excess(entry: Entry): Replacement[] {
    const out: Replacement[] = [];
    for (const [key, max, what] of [
      [entry.s, this.caps.maxSocketsPerSession, 'session'],
      [entry.u, this.caps.maxSocketsPerUser, 'user'],
    ] as const) {
      const set = this.byKey.get(key);
      if (set === undefined || set.size <= max) continue;
      const ranked = [...set].sort(byAge);
      for (const old of ranked.slice(0, set.size - max)) {
        if (old.origin !== this.origin) continue;
        // Gone from the count at once, so the next check does not pick it again.
        this.closed(old.id);
        out.push({ connectionId: old.id, what, max });
      }
    }
    return out;
  }

  private entryOf(conn: RealtimeConnection): Entry {
    const session = conn.session!;
    return {
      origin: this.origin,
      id: conn.id,
      u: hash(`user\n${session.solutionId}\n${session.userId}`),
      s: hash(`session\n${session.tokenHash}`),
      at: performance.timeOrigin + performance.now(),
    };
  }

  // ---- what the other Bridges tell us

  private onMessage(data: Uint8Array): void {
    let m: Message;
    try {
      m = JSON.parse(this.decoder.decode(data)) as Message;
    } catch {
      return;
    }
    if (typeof m?.origin !== 'string' || m.origin === this.origin) return;
    if ('open' in m) {
      const entry = remoteEntry(m.origin, m.open);
      if (entry === undefined) return;
      this.add(entry);
      for (const r of this.excess(entry)) this.replaceRemotely(r);
    } else if ('close' in m) {
      const entry = this.byOrigin.get(m.origin)?.get(m.close);
      if (entry !== undefined) this.remove(entry);
    } else if ('hello' in m) {
      // A Bridge started or is back: it hears this one's sockets (and forgets what it knew of them).
      this.announce();
    } else if ('reset' in m) {
      this.forget(m.origin);
    } else if ('state' in m && Array.isArray(m.state)) {
      for (const one of m.state) {
        const entry = remoteEntry(m.origin, one);
        if (entry === undefined) continue;
        this.add(entry);
        for (const r of this.excess(entry)) this.replaceRemotely(r);
      }
    }
  }

  private replaceRemotely(r: Replacement): void {
    this.counters.socketsReplacedRemotely++;
    this.replace(r);
  }

  /** Tells the others every socket of this Bridge (after a hello, or when back on NATS). */
  private announce(): void {
    this.publish({ origin: this.origin, reset: true });
    const mine = [...(this.byOrigin.get(this.origin)?.values() ?? [])].map(({ id, u, s, at }) => ({ id, u, s, at }));
    for (let i = 0; i < mine.length; i += STATE_PAGE) this.publish({ origin: this.origin, state: mine.slice(i, i + STATE_PAGE) });
  }

  private add(entry: Entry): void {
    let mine = this.byOrigin.get(entry.origin);
    if (mine === undefined) this.byOrigin.set(entry.origin, (mine = new Map()));
    const old = mine.get(entry.id);
    if (old !== undefined) this.remove(old);
    mine.set(entry.id, entry);
    for (const key of [entry.u, entry.s]) {
      let set = this.byKey.get(key);
      if (set === undefined) this.byKey.set(key, (set = new Set()));
      set.add(entry);
    }
  }

  private remove(entry: Entry): void {
    const mine = this.byOrigin.get(entry.origin);
    if (mine?.get(entry.id) !== entry) return;
    mine.delete(entry.id);
    if (mine.size === 0) this.byOrigin.delete(entry.origin);
    for (const key of [entry.u, entry.s]) {
      const set = this.byKey.get(key);
      set?.delete(entry);
      if (set?.size === 0) this.byKey.delete(key);
    }
  }

  private forget(origin: string): void {
    for (const entry of [...(this.byOrigin.get(origin)?.values() ?? [])]) this.remove(entry);
  }

  private publish(message: Message): void {
    // Buffered while down: late is better than never for an open or a close (a hello is sent again when back).
    this.link.publish(this.subject, this.encoder.encode(JSON.stringify(message)), 'buffer');
  }
}

function hash(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** Oldest first; ties (same time on two Bridges) by origin, then id: the same order on every Bridge. */
function byAge(x: Entry, y: Entry): number {
  return x.at - y.at || (x.origin < y.origin ? -1 : x.origin > y.origin ? 1 : x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
}

function remoteEntry(origin: string, e: unknown): Entry | undefined {
  const o = e as Partial<Entry> | null;
  if (typeof o?.id !== 'string' || typeof o.u !== 'string' || typeof o.s !== 'string' || typeof o.at !== 'number' || !Number.isFinite(o.at)) return undefined;
  return { origin, id: o.id, u: o.u, s: o.s, at: o.at };
}
