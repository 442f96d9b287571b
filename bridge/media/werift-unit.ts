/**
 * The in-process forwarding unit, on werift (pure TypeScript WebRTC: ICE, DTLS-SRTP, RTP/RTCP).
 *
 * Per connection and joined room, a media session holds up to two transports, each its own werift
 * peer connection with one UDP socket: `publish` (the client offers its tracks) and `receive` (the
 * unit offers the tracks the client subscribed to on the relay). Two transports with one offerer
 * each never have glare. Who may publish what and who receives what is read from the relay
 * (`MediaDirectory`) whenever a room changes: the relay stays the one place for membership, tracks
 * and subscriptions (docs/media/forwarding-unit.md, "Architecture").
 */
import type { BlockList } from 'node:net';
import type { Logger } from 'pino';
import type { RTCPeerConnection, RTCPeerConnectionConfig } from 'werift';
import type { IceCandidateWire, MediaBinding, MediaTransport, ResultPayloads } from '../../protocol/ws.ts';
import { allowedNetworks, type MediaConfig } from './config.ts';
import { MediaError } from './errors.ts';
import { unitPeerConfig } from './peer-config.ts';
import { PublishTransport } from './publish-transport.ts';
import { ReceiveTransport } from './receive-transport.ts';
import { MAX_REMOTE_CANDIDATES, remoteCandidatesLeft } from './ice-guard.ts';
import { candidateAllowed } from './sdp.ts';
import type { TrackSource } from './track-source.ts';
import { fixRtcpParser } from './rtcp-guard.ts';
import type { TransportContext } from './transport-context.ts';
import { fairShare } from './fair-share.ts';
import { fixUdpBind } from './udp-bind.ts';
import { zeroMediaCounters, type MediaClient, type MediaCounters, type MediaDirectory, type MediaUnit, type MediaUnitStats } from './unit.ts';

class MediaSession {
  publish: PublishTransport | undefined;
  receive: ReceiveTransport | undefined;
  /** Off after the receive transport failed or timed out, until the client sends mediaJoin again. */
  receiving = true;
  closed = false;

  constructor(
    readonly client: MediaClient,
    readonly roomId: string,
  ) {}

  publishedTracks(): number {
    return this.publish?.sources.size ?? 0;
  }

  receivedTracks(): number {
    return this.receive?.trackCount ?? 0;
  }
}

export interface WeriftMediaUnitOptions {
  config: MediaConfig;
  directory: MediaDirectory;
  log: Logger;
  /** Where the totals go (the lazy unit's, lazy-unit.ts); a fresh set when absent. */
  counters?: MediaCounters;
}

export class WeriftMediaUnit implements MediaUnit {
  readonly #config: MediaConfig;
  readonly #directory: MediaDirectory;
  readonly #log: Logger;
  readonly #networks: BlockList;
  readonly #peerConfig: RTCPeerConnectionConfig;
  /** Sessions by connection id, then room id. */
  readonly #sessions = new Map<string, Map<string, MediaSession>>();
  readonly #byRoom = new Map<string, Set<MediaSession>>();
  /** Bound published tracks, by trackNo. */
  readonly #sources = new Map<number, TrackSource>();
  readonly #closing = new Set<Promise<void>>();
  /** Candidates trickled to each transport (`mediaCandidate`), at most MAX_REMOTE_CANDIDATES. */
  readonly #trickled = new WeakMap<object, number>();
  readonly counters: MediaCounters;
  #closed = false;

  constructor(options: WeriftMediaUnitOptions) {
    this.#config = options.config;
    this.#directory = options.directory;
    this.#log = options.log;
    this.counters = options.counters ?? zeroMediaCounters();
    this.#networks = allowedNetworks(options.config);
    this.#peerConfig = unitPeerConfig(options.config, this.#networks);
    // Process-wide fixes of werift 0.25.2 (each idempotent): how a transport binds its port, how a
    // compound RTCP packet is parsed.
    fixUdpBind();
    fixRtcpParser();
  }

  join(client: MediaClient, roomId: string): ResultPayloads['mediaJoin'] {
    this.#usable();
    if (!this.#directory.joined(client.id, roomId)) throw MediaError.notJoined(roomId);
    const mine = this.#sessions.get(client.id) ?? new Map<string, MediaSession>();
    let session = mine.get(roomId);
    if (session === undefined) {
      const max = this.#config.maxSessionsPerConnection;
      if (mine.size >= max) {
        throw new MediaError('TOO_MANY_MEDIA_SESSIONS', `expected media in at most ${max} rooms per connection, this would be ${mine.size + 1}`);
      }
      session = new MediaSession(client, roomId);
      mine.set(roomId, session);
      this.#sessions.set(client.id, mine);
      let room = this.#byRoom.get(roomId);
      if (room === undefined) this.#byRoom.set(roomId, (room = new Set()));
      room.add(session);
    }
    session.receiving = true;
    this.#syncReceive(session);
    const c = this.#config;
    return {
      iceServers: c.iceServers.map((s) => ({ ...s, urls: [...s.urls] })),
      limits: {
        publishedTracks: c.maxPublishedTracksPerConnection,
        receivedTracks: c.maxReceivedTracksPerConnection,
        videoBitrateBps: c.maxVideoBitrateBps,
        audioBitrateBps: c.maxAudioBitrateBps,
      },
    };
  }

  leave(client: MediaClient, roomId: string): void {
    const session = this.#sessions.get(client.id)?.get(roomId);
    if (session === undefined) return;
    this.#closeSession(session);
    this.roomChanged(roomId);
  }

  async offer(client: MediaClient, roomId: string, sdp: string, tracks: MediaBinding[]): Promise<ResultPayloads['mediaOffer']> {
    const session = this.#session(client, roomId);
    const transport = (session.publish ??= new PublishTransport(this.#context(session)));
    let result: ResultPayloads['mediaOffer'];
    const before = [...transport.sources.values()];
    try {
      result = await transport.negotiate(sdp, tracks);
    } catch (error) {
      // A transport that never answered holds no media: drop it, the next offer starts afresh.
      if (!transport.established && session.publish === transport) {
        transport.close();
        session.publish = undefined;
      }
      throw error;
    }
    // New or ended sources change what subscribers in the room receive; an offer that keeps the same
    // sources (an ICE restart, a codec change) makes no one renegotiate.
    const after = new Set(transport.sources.values());
    if (before.length !== after.size || before.some((source) => !after.has(source))) this.roomChanged(roomId);
    return result;
  }

  async answer(client: MediaClient, roomId: string, revision: number, sdp: string): Promise<void> {
    const session = this.#session(client, roomId);
    if (session.receive === undefined) throw MediaError.notStarted(roomId, 'a receive offer');
    await session.receive.answer(revision, sdp);
  }

  async candidate(
    client: MediaClient,
    roomId: string,
    transport: MediaTransport,
    candidate: IceCandidateWire | null,
  ): Promise<ResultPayloads['mediaCandidate']> {
    const session = this.#session(client, roomId);
    const target = transport === 'publish' ? session.publish : session.receive;
    if (target === undefined) throw MediaError.notStarted(roomId, `a ${transport} transport`);
    if (candidate !== null && candidate.candidate !== '' && !candidateAllowed(candidate.candidate, this.#networks)) {
      this.counters.candidatesRefused++;
      return { accepted: false };
    }
    // werift keeps every candidate for the transport's life and sorts its check list on each one:
    // MAX_REMOTE_CANDIDATES over its life, from its descriptions and trickled alike (ice-guard.ts).
    // Trickled ones are also counted here: before the transport has the client's description, werift
    // holds them in a list of its own that the ICE guard never sees.
    if (candidate !== null && candidate.candidate !== '') {
      const trickled = (this.#trickled.get(target) ?? 0) + 1;
      if (trickled > MAX_REMOTE_CANDIDATES || (target.pc !== undefined && remoteCandidatesLeft(target.pc) <= 0)) {
        this.counters.candidatesRefused++;
        return { accepted: false };
      }
      this.#trickled.set(target, trickled);
    }
    try {
      await target.addCandidate(candidate);
    } catch (error) {
      if (error instanceof MediaError) throw error;
      throw new MediaError('NEGOTIATION_FAILED', `the candidate could not be added: ${(error as Error).message}`, { cause: error });
    }
    return { accepted: true };
  }

  roomChanged(roomId: string): void {
    const sessions = this.#byRoom.get(roomId);
    if (sessions === undefined) return;
    // Departures first: a connection that left (or was removed) loses everything at once.
    for (const session of [...sessions]) if (!this.#directory.joined(session.client.id, roomId)) this.#closeSession(session);
    // Tracks that ended on the relay (unpublished, removed from their stream) stop being forwarded.
    for (const session of sessions) {
      const publish = session.publish;
      if (publish === undefined) continue;
      for (const source of [...publish.sources.values()]) {
        const info = this.#directory.track(source.info.trackNo);
        if (info === undefined || info.connectionId !== session.client.id) publish.unbind(source);
      }
    }
    for (const session of sessions) this.#syncReceive(session);
  }

  connectionClosed(connectionId: string): void {
    const mine = this.#sessions.get(connectionId);
    if (mine === undefined) return;
    const rooms = [...mine.keys()];
    for (const session of [...mine.values()]) this.#closeSession(session);
    for (const roomId of rooms) this.roomChanged(roomId);
  }

  stats(): MediaUnitStats {
    let sessions = 0;
    let publishTransports = 0;
    let receiveTransports = 0;
    for (const mine of this.#sessions.values()) {
      for (const s of mine.values()) {
        sessions++;
        if (s.publish !== undefined) publishTransports++;
        if (s.receive?.pc !== undefined) receiveTransports++;
      }
    }
    return {
      sessions,
      publishTransports,
      receiveTransports,
      tracks: [...this.#sources.values()].map((s) => s.stats()),
      candidatesRefused: this.counters.candidatesRefused,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const mine of [...this.#sessions.values()]) for (const session of [...mine.values()]) this.#closeSession(session);
    await Promise.allSettled([...this.#closing]);
  }

  #usable(): void {
    if (this.#closed) throw new MediaError('MEDIA_UNAVAILABLE', 'the forwarding unit is shutting down');
  }

  /** The session for a request: the connection must be joined and have sent mediaJoin. */
  #session(client: MediaClient, roomId: string): MediaSession {
    this.#usable();
    if (!this.#directory.joined(client.id, roomId)) throw MediaError.notJoined(roomId);
    const session = this.#sessions.get(client.id)?.get(roomId);
    if (session === undefined) throw MediaError.notStarted(roomId, 'media (mediaJoin)');
    return session;
  }

  /** What the session's connection should receive now, capped by its per-connection limit. */
  #syncReceive(session: MediaSession): void {
    if (session.closed || !session.receiving) return;
    const others = this.#otherSessions(session).reduce((n, s) => n + s.receivedTracks(), 0);
    const room = this.#config.maxReceivedTracksPerConnection - others;
    const byPublisher = new Map<string, TrackSource[]>();
    for (const trackNo of this.#directory.subscribedTracks(session.client.id, session.roomId)) {
      const source = this.#sources.get(trackNo);
      // A sender never gets its own track back (docs/design.md, "Transport").
      if (source === undefined || source.ended || source.info.connectionId === session.client.id) continue;
      const theirs = byPublisher.get(source.info.userId);
      if (theirs === undefined) byPublisher.set(source.info.userId, [source]);
      else theirs.push(source);
    }
    // The budget goes round the publishing users, each one's tracks in subscription order: one member
    // who publishes as many tracks as a subscriber may receive (from several connections) took them
    // all, and nobody else was heard or seen.
    const desired = fairShare([...byPublisher.values()], room);
    if (desired.length === 0 && session.receive === undefined) return;
    session.receive ??= new ReceiveTransport(this.#context(session));
    session.receive.sync(desired);
  }

  #otherSessions(session: MediaSession): MediaSession[] {
    return [...(this.#sessions.get(session.client.id)?.values() ?? [])].filter((s) => s !== session);
  }

  #closeSession(session: MediaSession): void {
    if (session.closed) return;
    session.closed = true;
    session.publish?.close();
    session.receive?.close();
    const mine = this.#sessions.get(session.client.id);
    mine?.delete(session.roomId);
    if (mine?.size === 0) this.#sessions.delete(session.client.id);
    const room = this.#byRoom.get(session.roomId);
    room?.delete(session);
    if (room?.size === 0) this.#byRoom.delete(session.roomId);
  }

  #context(session: MediaSession): TransportContext {
    return {
      client: session.client,
      roomId: session.roomId,
      config: this.#config,
      peerConfig: this.#peerConfig,
      networks: this.#networks,
      directory: this.#directory,
      log: this.#log,
      totals: this.counters,
      publishedElsewhere: () => this.#otherSessions(session).reduce((n, s) => n + s.publishedTracks(), 0),
      sourceAdded: (source) => this.#sources.set(source.info.trackNo, source),
      sourceEnded: (source) => {
        if (this.#sources.get(source.info.trackNo) === source) this.#sources.delete(source.info.trackNo);
      },
      failed: (transport, reason) => {
        if (session.closed) return;
        this.#log.info({ connectionId: session.client.id, roomId: session.roomId, transport, reason }, 'media transport closed');
        if (reason === 'timeout') this.counters.negotiationTimeouts++;
        else this.counters.transportsFailed++;
        if (transport === 'publish') {
          session.publish?.close();
          session.publish = undefined;
        } else {
          session.receive?.close();
          session.receive = undefined;
          session.receiving = false;
        }
        session.client.media({ type: 'mediaClosed', roomId: session.roomId, transport, reason });
        this.roomChanged(session.roomId);
      },
      candidatesRefused: (count) => {
        this.counters.candidatesRefused += count;
      },
      gone: () => MediaError.notJoined(session.roomId),
      closePeer: (pc: RTCPeerConnection) => {
        const closing = pc.close().catch((error: unknown) => this.#log.debug({ err: error }, 'closing a media peer connection failed'));
        this.#closing.add(closing);
        void closing.finally(() => this.#closing.delete(closing));
      },
    };
  }
}
