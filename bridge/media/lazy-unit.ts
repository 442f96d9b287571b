/**
 * The forwarding unit, loaded on first use. werift and what it pulls in (X.509, mDNS, its codecs) cost
 * a Bridge about 130 ms of start-up CPU here (bench: a profile of the Bridge process's start), and most
 * Bridges, and most of a Bridge's life, carry no media: the werift unit is imported at the first
 * `mediaJoin`, which waits for it once.
 *
 * Order is kept while it loads: a call that arrives meanwhile (a leave, a room change, a closed
 * connection) runs after the calls before it, on the loaded unit. Before any `mediaJoin` there is no
 * session, so there is nothing for those calls to do (docs/media/forwarding-unit.md, "Architecture").
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { IceCandidateWire, MediaBinding, MediaTransport, ResultPayloads } from '../../protocol/ws.ts';
import type { MediaConfig } from './config.ts';
import { MediaError } from './errors.ts';
import { zeroMediaCounters, type MediaClient, type MediaCounters, type MediaDirectory, type MediaUnit, type MediaUnitStats } from './unit.ts';
import type { WeriftMediaUnit } from './werift-unit.ts';

export class LazyMediaUnit implements MediaUnit {
  /** Shared with the unit once it is loaded, so the totals never restart. */
  readonly counters: MediaCounters = zeroMediaCounters();
  readonly #options: { config: MediaConfig; directory: MediaDirectory; log: Logger };
  #unit: WeriftMediaUnit | undefined;
  #loading: Promise<WeriftMediaUnit> | undefined;
  #closed = false;

  /**
   * A Bridge without werift still fails at start, as the static import made it (the CLI's hint names
   * the Bridge's server dependencies). Allowed networks that do not parse are refused with the rest of
   * the configuration (`mediaConfigProblem`).
   */
  constructor(config: MediaConfig, directory: MediaDirectory, log: Logger) {
    this.#options = { config, directory, log };
    assertWeriftInstalled();
  }

  /** The werift unit once loaded by the first `mediaJoin` (diagnostics, tests), else undefined. */
  get unit(): MediaUnit | undefined {
    return this.#unit;
  }

  async join(client: MediaClient, roomId: string): Promise<ResultPayloads['mediaJoin']> {
    return (await this.#load()).join(client, roomId);
  }

  /** Done when it returns, or, while the unit loads, when the promise settles (the hub answers then). */
  leave(client: MediaClient, roomId: string): void | Promise<void> {
    return this.#whenLoaded((unit) => unit.leave(client, roomId));
  }

  async offer(client: MediaClient, roomId: string, sdp: string, tracks: MediaBinding[]): Promise<ResultPayloads['mediaOffer']> {
    return (await this.#load()).offer(client, roomId, sdp, tracks);
  }

  async answer(client: MediaClient, roomId: string, revision: number, sdp: string): Promise<void> {
    return (await this.#load()).answer(client, roomId, revision, sdp);
  }

  async candidate(
    client: MediaClient,
    roomId: string,
    transport: MediaTransport,
    candidate: IceCandidateWire | null,
  ): Promise<ResultPayloads['mediaCandidate']> {
    return (await this.#load()).candidate(client, roomId, transport, candidate);
  }

  roomChanged(roomId: string): void {
    this.#whenLoaded((unit) => unit.roomChanged(roomId));
  }

  connectionClosed(connectionId: string): void {
    this.#whenLoaded((unit) => unit.connectionClosed(connectionId));
  }

  stats(): MediaUnitStats {
    return this.#unit?.stats() ?? { sessions: 0, publishTransports: 0, receiveTransports: 0, tracks: [], candidatesRefused: this.counters.candidatesRefused };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const unit = this.#unit ?? (await this.#loading?.catch(() => undefined));
    await unit?.close();
  }

  /** The unit, imported and made on the first call (a failed import is tried again by the next). */
  #load(): Promise<WeriftMediaUnit> {
    if (this.#closed) return Promise.reject(new MediaError('MEDIA_UNAVAILABLE', 'the forwarding unit is shutting down'));
    if (this.#unit !== undefined) return Promise.resolve(this.#unit);
    // A failed import or a unit that throws while it is made: logged, MEDIA_UNAVAILABLE, and the next
    // call tries again.
    this.#loading ??= import('./werift-unit.ts')
      .then(({ WeriftMediaUnit }) => {
        const unit = new WeriftMediaUnit({ ...this.#options, counters: this.counters });
        this.#unit = unit;
        if (this.#closed) void unit.close();
        return unit;
      })
      .catch((error: unknown) => {
        this.#loading = undefined;
        this.#options.log.error({ err: error }, 'media: the forwarding unit could not be loaded');
        throw new MediaError('MEDIA_UNAVAILABLE', 'the forwarding unit could not be loaded', { cause: error });
      });
    return this.#loading;
  }

  /**
   * Runs `fn` on the unit now, after a load in progress (in call order; the promise settles when it
   * has run, and what it throws is logged), or not at all before any load.
   */
  #whenLoaded(fn: (unit: WeriftMediaUnit) => void): void | Promise<void> {
    if (this.#unit !== undefined) return fn(this.#unit);
    return this.#loading
      ?.then(fn, () => undefined)
      .catch((error: unknown) => this.#options.log.error({ err: error }, 'media: a call queued behind the load failed'));
  }
}

/** Throws what the static import threw when werift is missing (`ERR_MODULE_NOT_FOUND`), without loading it. */
function assertWeriftInstalled(): void {
  try {
    createRequire(import.meta.url).resolve('werift');
  } catch (cause) {
    throw Object.assign(new Error("Cannot find package 'werift', which the Bridge's media forwarding unit needs", { cause }), { code: 'ERR_MODULE_NOT_FOUND' });
  }
}
