/**
 * Direct peer connections between two members of a room (docs/protocol/peer-signalling.md): the
 * signalling over the Bridge, its checks, and the lifetime of each RemotePeer. Loaded on first use
 * (StreamApi.connectPeer, a `remotePeer` listener, or an incoming offer).
 *
 * The Bridge carries offers, answers and candidates, but each offer and answer is signed by its
 * sender (./signature.ts). Before setting a description this side checks: the sender is a member of
 * the verified room, the signature is the sender's over this room, both users, this session and the
 * SDP's DTLS fingerprints, the signal is fresh and never seen before. After connecting it checks that
 * the DTLS certificate it met is the signed one. A peer whose user leaves the verified room is closed
 * at once; a dropped connection is reported, never reopened.
 */
import { membersOf } from '../../protocol/room-chain.ts';
import { PEER_METADATA_MAX_CHARS, type PeerSignal, type ServerEvent } from '../../protocol/ws.ts';
import { toBase64 } from '../../crypto/bytes.ts';
import type { Connection } from '../connection.ts';
import { connectionInternals } from '../internal.ts';
import { candidateAddress, filterCandidates } from '../media/sdp.ts';
import type { KeyRing } from '../rooms/keyring.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import { PeerError, type PeerErrorReason } from './errors.ts';
import { peerControl, RemotePeer } from './remote-peer.ts';
import { createPeerConnection, describeLocal } from './rtc.ts';
import { randomId16, remoteCertificateFingerprint } from './signature.ts';
import { SignalChecks, type SignedSignal } from './signal-checks.ts';
import { handOver, type AppHandlers } from './app-streams.ts';
import { splitCandidates } from './candidates.ts';
import type { ConnectPeerOptions, PeerOptions } from './types.ts';
import type { MediaE2ee } from '../media/e2ee.ts';
import { PathChooser } from './paths.ts';

const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;

type PeerSignalEvent = Extract<ServerEvent, { type: 'peerSignal' }>;
type ByeReason = Extract<PeerSignal, { type: 'bye' }>['reason'];

export interface PeersDeps {
  connection: Connection;
  rooms: RoomApi;
  keys: KeyRing;
  /** The joined room's participants (connectionId -> userId), or undefined if the room is not joined. */
  participants(roomId: string): ReadonlyMap<string, string> | undefined;
  options: PeerOptions;
  /** The app's byte- and text-stream handlers: StreamApi streams that came direct go to them. */
  app: AppHandlers;
  /** The forwarding unit's frame encryption, for media shared on a peer (browsers). */
  mediaE2ee(): Promise<MediaE2ee>;
}

/** The callee's view of an incoming connection (the `remotePeer` event): accept or decline it. */
export interface RemotePeerRequest {
  /** The caller's user id (checked: its key signed the offer). */
  readonly id: string;
  readonly room: string;
  /** The caller's metadata, covered by its signature. */
  readonly metadata: unknown;
  /**
   * Answers: resolves with the peer once the connection is up, or rejects with a PeerError if it
   * never comes up (the caller closed first, the connection failed, the timeout passed).
   */
  accept(): Promise<RemotePeer>;
  decline(): void;
}
/** A listener may be async: a promise it returns that rejects is logged (`a remotePeer listener failed`). */
export type RemotePeerListener = (request: RemotePeerRequest) => void;

/** The metadata that marks a room call's own peer connection (docs/media/direct-calls.md). */
export const CALL_METADATA = { sealroomCall: 1 } as const;

function isCallMetadata(m: unknown): boolean {
  return typeof m === 'object' && m !== null && (m as { sealroomCall?: unknown }).sealroomCall === 1;
}

/** Refusals of incoming signals, by reason (diagnostics and tests). */
export type PeerRefusals = Partial<Record<PeerErrorReason, number>>;

interface Session {
  readonly sessionId: string;
  readonly roomId: string;
  readonly userId: string;
  readonly connectionId: string;
  pc: RTCPeerConnection | undefined;
  peer: RemotePeer | undefined;
  /** Caller: takes the answer. */
  answer?: (signal: SignedSignal) => void;
  /** Ends the session before a peer exists (a pending request, a caller waiting). */
  cancel(error: PeerError): void;
  /** The other side said bye: do not send one back. */
  byeReceived: boolean;
  /** Candidates taken from the other side (PEER_CANDIDATES_MAX). */
  candidates?: number;
}

/**
 * Trickled candidates one session takes at most, and none once connected: they are not signed, so a
 * Bridge could otherwise make this side send connectivity checks to any number of addresses for as
 * long as the connection lasts.
 */
export const PEER_CANDIDATES_MAX = 32;

/** An offer whose signature and membership are being checked; `ended`: what ended it meanwhile. */
interface VerifyingOffer {
  roomId: string;
  userId: string;
  ended?: PeerError;
}

export class PeersApi {
  readonly #d: PeersDeps;
  readonly #sessions = new Map<string, Session>();
  /**
   * Offers being verified, by session id: what ends a session (a removal, leaving the room, a
   * disconnect, the socket closing) while an offer is checked ends it too, or it would be handed to the
   * app after the check with nothing left to end it.
   */
  readonly #verifying = new Map<string, VerifyingOffer>();
  readonly #checks: SignalChecks;
  readonly #listeners = new Set<RemotePeerListener>();
  #calls: RemotePeerListener | undefined;
  readonly refusals: PeerRefusals = {};
  /** Which path StreamApi streams to one member take (./paths.ts). */
  readonly paths: PathChooser;

  constructor(deps: PeersDeps) {
    this.#d = deps;
    this.#checks = new SignalChecks(deps.connection, deps.rooms);
    this.paths = new PathChooser({
      connectPeer: (roomId, userId, options) => this.connectPeer(roomId, userId, options),
      connectedPeer: (roomId, userId) => this.connectedPeer(roomId, userId),
      participants: deps.participants,
      log: deps.connection.log,
    });
    deps.rooms.onTrustedHead((roomId, head) => {
      const members = membersOf(head.record);
      for (const s of [...this.#sessions.values(), ...this.#verifying.values()]) {
        if (s.roomId === roomId && (!members.has(s.userId) || !members.has(deps.connection.userId)))
          this.#endAny(s, new PeerError('Removed', `"${s.userId}" is no longer a member of room "${roomId}"`));
      }
    });
  }

  /** Where requests tagged as a room call go (the media session, with `media.directCalls`). */
  onCall(handler: RemotePeerListener): void {
    this.#calls = handler;
  }

  addRemotePeerListener(listener: RemotePeerListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * This connection left the room (or was removed, or the room was deleted): its peers there end. A
   * dropped socket (`disconnected`) does not end them: the direct path does not need the Bridge, and
   * the room's membership is checked again when the verified head is read after the resume.
   */
  roomLeft(roomId: string, reason: string): void {
    if (reason === 'disconnected') return;
    for (const s of [...this.#sessions.values(), ...this.#verifying.values()]) {
      if (s.roomId === roomId) this.#endAny(s, new PeerError(reason === 'left' ? 'Closed' : 'Removed', `left room "${roomId}" (${reason})`));
    }
  }

  /** The Endpoint disconnected for good: every peer closes (it could no longer follow the room's membership). */
  disconnected(): void {
    for (const s of [...this.#sessions.values(), ...this.#verifying.values()]) this.#endAny(s, new PeerError('Closed', 'this Endpoint disconnected'));
  }

  /** The connection to the Bridge dropped: sessions still signalling cannot finish. Connected peers stay. */
  socketClosed(): void {
    const dropped = () => new PeerError('ConnectionFailed', 'the connection to the Bridge dropped while signalling');
    for (const s of this.#sessions.values()) if (s.peer?.connectionState !== 'connected') this.#end(s, dropped());
    for (const s of this.#verifying.values()) this.#endAny(s, dropped());
  }

  async connectPeer(roomId: string, userId: string, options: ConnectPeerOptions = {}): Promise<RemotePeer> {
    if (typeof userId !== 'string' || userId === this.#d.connection.userId)
      throw new PeerError('InvalidArgument', `"userId" expected another member's id, got ${JSON.stringify(userId)}`);
    const metadata = JSON.stringify(options.metadata ?? null);
    if (metadata.length > PEER_METADATA_MAX_CHARS)
      throw new PeerError('InvalidArgument', `"metadata" expected at most ${PEER_METADATA_MAX_CHARS} characters of JSON, got ${metadata.length}`);
    const participants = this.#d.participants(roomId);
    if (participants === undefined) throw new PeerError('NotMember', `room "${roomId}" is not joined: joinStreamRoom first`);
    const connectionId = [...participants].find(([, u]) => u === userId)?.[0];
    if (connectionId === undefined) throw new PeerError('NotMember', `"${userId}" is not joined to room "${roomId}"`);
    if ((await this.#checks.memberKey(roomId, userId)) === undefined)
      throw new PeerError('NotMember', `"${userId}" is not a member of the verified room "${roomId}"`);
    const timeoutMs = this.#d.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;

    const sessionId = randomId16();
    const answered = new Promise<SignedSignal>((resolve, reject) => {
      const session: Session = {
        sessionId,
        roomId,
        userId,
        connectionId,
        pc: undefined,
        peer: undefined,
        answer: resolve,
        cancel: (e) => reject(e),
        byeReceived: false,
      };
      this.#sessions.set(sessionId, session);
    });
    answered.catch(() => undefined);
    const session = this.#sessions.get(sessionId)!;
    const timer = setTimeout(() => this.#end(session, new PeerError('Timeout', `"${userId}" did not connect within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => this.#end(session, new PeerError('Closed', 'connectPeer was aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (options.signal?.aborted === true) throw new PeerError('Closed', 'connectPeer was aborted');
      const pc = await createPeerConnection(this.#d.options);
      session.pc = pc;
      const peer = this.#peer(session, pc, options.metadata ?? null, false);
      if (!this.#sessions.has(sessionId)) throw peer.error ?? new PeerError('Closed', 'closed while connecting');
      peerControl(peer).adopt(pc.createDataChannel('default', { ordered: true }));
      // The offer goes without this side's candidates (its addresses); they follow once the member
      // accepted, so one who declines never learns them (docs/protocol/peer-signalling.md).
      const { sdp, candidates } = splitCandidates(await describeLocal(pc, this.#d.options.allowCandidate, 'offer'));
      const signed = await this.#checks.sign('offer', session, sdp, metadata);
      await this.#send(session, { type: 'offer', ...signed, metadata });
      const answer = await answered;
      await this.#checks.verify(answer, roomId, userId, sessionId, '');
      await pc.setRemoteDescription({ type: 'answer', sdp: filterCandidates(answer.sdp, this.#d.options.allowCandidate) });
      await Promise.all(candidates.map((candidate) => this.#send(session, { type: 'candidate', sessionId, candidate })));
      await this.#connected(session, answer.fingerprints);
      return peer;
    } catch (error) {
      const e = error instanceof PeerError ? error : new PeerError('ConnectionFailed', `connecting to "${userId}" failed`, { cause: error });
      this.#end(session, e);
      throw session.peer?.error ?? e;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** A connected peer to `userId` in the room, if there is one (path selection reuses it). */
  connectedPeer(roomId: string, userId: string): RemotePeer | undefined {
    return [...this.#sessions.values()].find((s) => s.roomId === roomId && s.userId === userId && s.peer?.connectionState === 'connected')?.peer;
  }

  /** A `peerSignal` event from the Bridge. */
  async signal(event: PeerSignalEvent): Promise<void> {
    const { signal } = event;
    const session = this.#sessions.get(signal.sessionId);
    // Signals of a session only count from the connection it was made with.
    const mine = session !== undefined && session.connectionId === event.fromConnectionId && session.roomId === event.roomId ? session : undefined;
    switch (signal.type) {
      case 'offer':
        return this.#offer(event, signal);
      case 'answer':
        if (mine?.answer === undefined) return this.#refused('InvalidArgument', event, 'an answer for no session of ours');
        mine.answer(signal);
        mine.answer = undefined;
        return;
      case 'candidate': {
        if (mine?.pc === undefined || signal.candidate === null || mine.pc.connectionState === 'connected') return;
        mine.candidates = (mine.candidates ?? 0) + 1;
        if (mine.candidates > PEER_CANDIDATES_MAX) return this.#refused('Overloaded', event, `more than ${PEER_CANDIDATES_MAX} candidates for one session`);
        const address = candidateAddress(signal.candidate.candidate);
        const allow = this.#d.options.allowCandidate;
        if (allow !== undefined && (address === undefined || !allow(address))) return;
        await mine.pc.addIceCandidate(signal.candidate).catch(() => undefined);
        return;
      }
      case 'bye':
        if (mine === undefined) return;
        mine.byeReceived = true;
        this.#end(mine, byeError(signal.reason, mine.userId));
        return;
      default: {
        const never: never = signal;
        this.#d.connection.log.debug({ type: (never as { type: string }).type }, 'unknown peer signal');
      }
    }
  }

  async #offer(event: PeerSignalEvent, offer: Extract<PeerSignal, { type: 'offer' }>): Promise<void> {
    const { roomId, fromUserId: userId, fromConnectionId: connectionId } = event;
    if (this.#sessions.has(offer.sessionId) || this.#verifying.has(offer.sessionId)) {
      return this.#refused('Replayed', event, 'an offer for a session that exists');
    }
    const session: Session = {
      sessionId: offer.sessionId,
      roomId,
      userId,
      connectionId,
      pc: undefined,
      peer: undefined,
      cancel: () => undefined,
      byeReceived: false,
    };
    const verifying: VerifyingOffer = { roomId, userId };
    this.#verifying.set(offer.sessionId, verifying);
    try {
      if (this.#d.participants(roomId) === undefined) throw new PeerError('NotMember', `room "${roomId}" is not joined here`);
      await this.#checks.verify(offer, roomId, userId, offer.sessionId, offer.metadata);
      if (verifying.ended !== undefined) throw verifying.ended;
    } catch (error) {
      const e = error instanceof PeerError ? error : new PeerError('SignatureInvalid', 'the offer did not verify', { cause: error });
      this.#refused(e.reason, event, e.message);
      await this.#send(session, { type: 'bye', sessionId: offer.sessionId, reason: 'refused' }).catch(() => undefined);
      return;
    } finally {
      this.#verifying.delete(offer.sessionId);
    }
    let metadata: unknown = null;
    try {
      metadata = JSON.parse(offer.metadata);
    } catch {
      metadata = null;
    }
    this.#sessions.set(offer.sessionId, session);
    const timeoutMs = this.#d.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    let settled = false;
    const timer = setTimeout(() => {
      if (!settled) this.#end(session, new PeerError('Timeout', `the request from "${userId}" was not accepted within ${timeoutMs} ms`));
    }, timeoutMs);
    session.cancel = () => {
      settled = true;
      clearTimeout(timer);
    };
    const request: RemotePeerRequest = {
      id: userId,
      room: roomId,
      metadata,
      accept: async () => {
        if (settled) throw new PeerError('Closed', `the request from "${userId}" is over`);
        settled = true;
        clearTimeout(timer);
        // From accept, the connection has connectTimeoutMs to come up, as the caller's has: a caller
        // (or a Bridge that withholds its candidates and its bye) would otherwise hold this side's
        // peer connection, its sockets and its ICE checks for good.
        const deadline = setTimeout(
          () => this.#end(session, new PeerError('Timeout', `the connection from "${userId}" did not come up within ${timeoutMs} ms of accept()`)),
          timeoutMs,
        );
        try {
          const pc = await createPeerConnection(this.#d.options);
          session.pc = pc;
          const peer = this.#peer(session, pc, metadata, true);
          if (!this.#sessions.has(session.sessionId)) throw peer.error ?? new PeerError('Closed', 'closed while connecting');
          await pc.setRemoteDescription({ type: 'offer', sdp: filterCandidates(offer.sdp, this.#d.options.allowCandidate) });
          const sdp = await describeLocal(pc, this.#d.options.allowCandidate, 'answer');
          const signed = await this.#checks.sign('answer', session, sdp, '');
          await this.#send(session, { type: 'answer', ...signed });
          await this.#connected(session, offer.fingerprints);
          return peer;
        } catch (error) {
          const e = error instanceof PeerError ? error : new PeerError('ConnectionFailed', `connecting to "${userId}" failed`, { cause: error });
          this.#end(session, e);
          throw session.peer?.error ?? e;
        } finally {
          clearTimeout(deadline);
        }
      },
      decline: () => {
        if (settled) return;
        this.#end(session, new PeerError('Declined', `declined "${userId}"`));
      },
    };
    // A room call's own connection (docs/media/direct-calls.md) goes to the media session, never to the app.
    if (isCallMetadata(metadata)) return this.#calls === undefined ? request.decline() : this.#calls(request);
    if (this.#listeners.size === 0) return request.decline();
    for (const listener of [...this.#listeners]) {
      try {
        // An async listener (`await request.accept()`, as README shows) returns a promise: its failure
        // (accept() fails when the caller closes first) is logged, not left to end the process.
        const result: unknown = (listener as (r: RemotePeerRequest) => unknown)(request);
        if (result instanceof Promise) result.catch((error: unknown) => this.#d.connection.log.error({ error: String(error) }, 'a remotePeer listener failed'));
      } catch (error) {
        this.#d.connection.log.error({ error: String(error) }, 'a remotePeer listener threw');
      }
    }
  }

  /** Waits for the connection, then checks the DTLS certificate met is one the other side signed. */
  async #connected(s: Session, signed: string[]): Promise<void> {
    const pc = s.pc!;
    const peer = s.peer!;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (peer.error !== undefined) return reject(peer.error);
        if (pc.connectionState === 'connected') return resolve();
        setTimeout(check, 10);
      };
      check();
    });
    const met = await remoteCertificateFingerprint(pc);
    if (met === undefined || !signed.includes(met)) throw new PeerError('FingerprintMismatch', `the DTLS certificate of "${s.userId}" is not the signed one`);
    peerControl(peer).connected(signed);
  }

  #peer(s: Session, pc: RTCPeerConnection, metadata: unknown, polite: boolean): RemotePeer {
    const d = this.#d;
    const peer = new RemotePeer({
      roomId: s.roomId,
      userId: s.userId,
      selfId: d.connection.userId,
      metadata,
      pc,
      sign: (m) => connectionInternals(d.connection).signer.sign(m),
      currentKey: () => d.keys.current(s.roomId),
      epochKey: (epoch) => d.keys.get(s.roomId, epoch),
      reader: {
        roomId: s.roomId,
        recipientId: d.connection.userId,
        unwrap: (params) => connectionInternals(d.connection).signer.unwrapStreamSecret(params),
      },
      peerPublicKey: () => this.#checks.memberKey(s.roomId, s.userId),
      head: async () => {
        const head = await d.rooms.trustedHead(s.roomId);
        return head === undefined ? undefined : { version: head.record.version, hash: toBase64(head.hash) };
      },
      closed: (_peer, error) => this.#end(s, error),
      appStream: (stream) => handOver(stream, s.roomId, s.userId, d.app),
      polite,
      mediaE2ee: () => d.mediaE2ee(),
      log: d.connection.log,
    });
    s.peer = peer;
    return peer;
  }

  /** Ends a session, or marks an offer being verified as ended (its check then refuses it). */
  #endAny(s: Session | VerifyingOffer, error: PeerError): void {
    if ('sessionId' in s) this.#end(s, error);
    else s.ended ??= error;
  }

  /** Ends a session once: closes its peer, tells the other side (unless it told us), forgets it. */
  #end(s: Session, error: PeerError): void {
    if (this.#sessions.get(s.sessionId) !== s) {
      // Ended already (a deadline while its connection was being made): what was made since goes too.
      if (s.peer !== undefined) peerControl(s.peer).fail(error);
      else if (s.pc !== undefined) void Promise.resolve(s.pc.close()).catch(() => undefined);
      return;
    }
    this.#sessions.delete(s.sessionId);
    s.cancel(error);
    if (s.peer !== undefined) peerControl(s.peer).fail(error);
    if (s.peer === undefined && s.pc !== undefined) void Promise.resolve(s.pc.close()).catch(() => undefined);
    if (!s.byeReceived) void this.#send(s, { type: 'bye', sessionId: s.sessionId, reason: byeReason(error) }).catch(() => undefined);
  }

  async #send(s: Pick<Session, 'roomId' | 'connectionId'>, signal: PeerSignal): Promise<void> {
    await this.#d.connection.request('peerSignal', { roomId: s.roomId, toConnectionId: s.connectionId, signal });
  }

  #refused(reason: PeerErrorReason, event: PeerSignalEvent, detail: string): void {
    this.refusals[reason] = (this.refusals[reason] ?? 0) + 1;
    this.#d.connection.log.warn({ roomId: event.roomId, fromUserId: event.fromUserId, reason }, `refused a peer signal: ${detail}`);
  }
}

function byeReason(error: PeerError): ByeReason {
  switch (error.reason) {
    case 'Declined':
      return 'declined';
    case 'Closed':
    case 'Removed':
      return 'closed';
    case 'SignatureInvalid':
    case 'FingerprintMismatch':
    case 'Replayed':
    case 'NotMember':
      return 'refused';
    default:
      return 'failed';
  }
}

function byeError(reason: ByeReason, userId: string): PeerError {
  switch (reason) {
    case 'declined':
      return new PeerError('Declined', `"${userId}" declined the connection`);
    case 'closed':
      return new PeerError('Closed', `"${userId}" closed the connection`);
    case 'refused':
      return new PeerError('Refused', `"${userId}" refused this side's signalling (its checks failed there)`);
    case 'failed':
      return new PeerError('ConnectionFailed', `the connection to "${userId}" failed on its side`);
  }
}
