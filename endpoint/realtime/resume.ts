/**
 * Resume after a reconnect (LiveKit resumes; so do we). When the socket drops, what this connection had
 * in each joined room is noted: its published streams (suspended under their handles) and its remote
 * subscriptions. When the connection is back, each room is joined again (read and verified again, so a
 * removal meanwhile fails it), the streams are republished with the same handles and track ids, and the
 * subscriptions are made again; a subscription to a stream not yet republished (its publisher is
 * reconnecting too) waits for its `streamPublished`. A `streamRoomResumed` event per room tells the app
 * what was restored and what could not be.
 *
 * The other side of the same drop: when a publisher's connection drops, the Bridge unpublishes its
 * streams, and this connection's subscriptions to them would be gone. They wait `REPUBLISH_WAIT_MS`
 * for the publisher to republish the same handle, and are made again then. A publisher that failed
 * over from a dead Bridge republishes before its old connection is reported gone: a stream
 * unpublished and republished under the same handle by the same user within moments is subscribed
 * again too (docs/operations/failover.md).
 */
import { EndpointError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { JoinedRoom } from './joined-rooms.ts';
import type { StreamRoomResumedEvent } from './types.ts';

interface Subscription {
  streamId: string;
  /** Undefined: the whole stream (tracks added later included). */
  trackIds: string[] | undefined;
  /** Waiting ends then (performance.now()); undefined: as long as the room stays joined. */
  until?: number;
  /** Only this publisher's stream of that id is taken. */
  userId?: string;
}

/** How long a subscription waits for its stream after its publisher's connection dropped. Ms. */
export const REPUBLISH_WAIT_MS = 60_000;
/** How long an unpublished stream's subscription is kept to see whether its publisher dropped. Ms. */
const UNPUBLISHED_MEMORY_MS = 5_000;
const UNPUBLISHED_MEMORY_ENTRIES = 1024;

interface RoomPlan {
  roomId: string;
  streams: string[];
  subscriptions: Subscription[];
}

export interface ResumeDeps {
  log: Logger;
  join(roomId: string): Promise<void>;
  republish(handle: string): Promise<void>;
  /** The room could not be rejoined: its local streams end for good. */
  endRoom(roomId: string, error: EndpointError): void;
  subscribe(roomId: string, add: Array<{ streamId: string; trackId?: string }>): Promise<void>;
  isJoined(roomId: string): boolean;
  emit(event: StreamRoomResumedEvent): void;
}

export class Resumer {
  #plans: RoomPlan[] = [];
  /** Subscriptions waiting for their stream to be published again, by room. */
  readonly #pending = new Map<string, Map<string, Subscription>>();
  /** Subscribed streams just unpublished, by room and publishing connection, until we know why. */
  readonly #unpublished = new Map<string, { roomId: string; connectionId: string; at: number; subscription: Subscription }>();

  constructor(private readonly d: ResumeDeps) {}

  /** The socket dropped: note what `room` had, before it is left locally. */
  note(room: JoinedRoom, suspendedStreams: string[]): void {
    const subscriptions: Subscription[] = [];
    for (const [streamId, trackIds] of room.subscribed) {
      const stream = room.streams.get(streamId);
      const whole = stream !== undefined && [...stream.tracks.keys()].every((id) => trackIds.has(id));
      subscriptions.push({ streamId, trackIds: whole ? undefined : [...trackIds] });
    }
    // Subscriptions still waiting from an earlier resume are kept too.
    for (const waiting of this.#pending.get(room.roomId)?.values() ?? []) subscriptions.push(waiting);
    this.#pending.delete(room.roomId);
    this.#plans.push({ roomId: room.roomId, streams: suspendedStreams, subscriptions });
  }

  /** The room was left for good (left, removed, deleted): nothing waits in it any more. */
  forget(roomId: string): void {
    this.#pending.delete(roomId);
  }

  /** The connection is back: restore every noted room, in parallel. */
  resume(): void {
    const plans = this.#plans;
    this.#plans = [];
    for (const plan of plans) {
      this.restore(plan).catch((error: unknown) => this.d.log.error({ roomId: plan.roomId, error: String(error) }, 'resuming a room failed'));
    }
  }

  /**
   * A stream this connection was subscribed to was unpublished (before `streamRoomLeft` tells whether
   * its publisher's connection dropped): keep the subscription for a moment.
   */
  unpublished(room: JoinedRoom, streamId: string, connectionId: string, userId: string): void {
    const trackIds = room.subscribed.get(streamId);
    if (trackIds === undefined) return;
    const stream = room.streams.get(streamId);
    const whole = stream !== undefined && [...stream.tracks.keys()].every((id) => trackIds.has(id));
    const key = `${room.roomId}\n${streamId}`;
    this.#unpublished.delete(key);
    if (this.#unpublished.size >= UNPUBLISHED_MEMORY_ENTRIES) this.#unpublished.delete(this.#unpublished.keys().next().value as string);
    this.#unpublished.set(key, {
      roomId: room.roomId,
      connectionId,
      at: performance.now(),
      subscription: { streamId, trackIds: whole ? undefined : [...trackIds], userId },
    });
  }

  /**
   * Another connection left the room. If it dropped (`disconnected`), its publisher is likely to come
   * back and republish under the same handles: the subscriptions to its streams wait for that a while.
   */
  participantLeft(roomId: string, connectionId: string, reason: string): void {
    const now = performance.now();
    for (const [key, entry] of this.#unpublished) {
      if (now - entry.at > UNPUBLISHED_MEMORY_MS) this.#unpublished.delete(key);
      else if (entry.roomId === roomId && entry.connectionId === connectionId) {
        this.#unpublished.delete(key);
        if (reason === 'disconnected') this.wait(roomId, { ...entry.subscription, until: now + REPUBLISH_WAIT_MS });
      }
    }
  }

  private wait(roomId: string, subscription: Subscription): void {
    let waiting = this.#pending.get(roomId);
    if (waiting === undefined) this.#pending.set(roomId, (waiting = new Map()));
    waiting.set(subscription.streamId, subscription);
  }

  /** A stream was published in a joined room: make the subscriptions that waited for it. */
  published(roomId: string, streamId: string, userId: string): void {
    const key = `${roomId}\n${streamId}`;
    const recent = this.#unpublished.get(key);
    if (recent !== undefined && recent.subscription.userId === userId && performance.now() - recent.at <= UNPUBLISHED_MEMORY_MS) {
      // Republished under the same handle by its user before its old connection was reported gone: its
      // publisher failed over to another Bridge, which ended the old stream first (docs/operations/failover.md).
      this.#unpublished.delete(key);
      this.wait(roomId, recent.subscription);
    }
    const waiting = this.#pending.get(roomId)?.get(streamId);
    if (waiting === undefined) return;
    this.#pending.get(roomId)!.delete(streamId);
    if ((waiting.until !== undefined && performance.now() > waiting.until) || (waiting.userId !== undefined && waiting.userId !== userId)) return;
    this.d.subscribe(roomId, wire(waiting)).catch((error: unknown) => {
      this.d.log.warn({ roomId, streamId, error: String(error) }, 'a subscription waiting for its stream failed');
    });
  }

  private async restore(plan: RoomPlan): Promise<void> {
    const { roomId } = plan;
    try {
      await this.d.join(roomId);
    } catch (cause) {
      const error = cause instanceof EndpointError ? cause : new EndpointError('ConnectionLost', `rejoining room "${roomId}" failed`, { cause });
      this.d.endRoom(roomId, error);
      this.d.emit({
        type: 'streamRoomResumed',
        streamRoomId: roomId,
        status: 'failed',
        error,
        streams: plan.streams.map((streamId) => ({ streamId, status: 'failed', error })),
        subscriptions: plan.subscriptions.map((s) => ({ streamId: s.streamId, ...trackIds(s), status: 'failed' })),
      });
      return;
    }
    const streams = await Promise.all(
      plan.streams.map(async (streamId): Promise<StreamRoomResumedEvent['streams'][number]> => {
        try {
          await this.d.republish(streamId);
          return { streamId, status: 'republished' };
        } catch (cause) {
          return { streamId, status: 'failed', error: cause instanceof EndpointError ? cause : new EndpointError('BridgeRefused', String(cause), { cause }) };
        }
      }),
    );
    const subscriptions: StreamRoomResumedEvent['subscriptions'] = [];
    for (const s of plan.subscriptions) {
      try {
        await this.d.subscribe(roomId, wire(s));
        subscriptions.push({ streamId: s.streamId, ...trackIds(s), status: 'restored' });
      } catch (error) {
        const notThere = error instanceof EndpointError && (error.bridgeCode === 'STREAM_NOT_FOUND' || error.bridgeCode === 'TRACK_NOT_FOUND');
        if (notThere && this.d.isJoined(roomId)) this.wait(roomId, s);
        subscriptions.push({ streamId: s.streamId, ...trackIds(s), status: notThere ? 'pending' : 'failed' });
      }
    }
    this.d.emit({ type: 'streamRoomResumed', streamRoomId: roomId, status: 'restored', streams, subscriptions });
  }
}

function wire(s: Subscription): Array<{ streamId: string; trackId?: string }> {
  return s.trackIds === undefined ? [{ streamId: s.streamId }] : s.trackIds.map((trackId) => ({ streamId: s.streamId, trackId }));
}

function trackIds(s: Subscription): { trackIds?: string[] } {
  return s.trackIds === undefined ? {} : { trackIds: s.trackIds };
}
