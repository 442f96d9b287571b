/**
 * The signed half of direct-peer signalling (docs/protocol/peer-signalling.md, "Checks"): signing this
 * side's offers and answers, and every check on the other side's before its description is set.
 * The Bridge carries the signals but cannot make one that passes: the signature covers the room, both
 * users, the session, the nonce, the time and the SDP's DTLS fingerprints, under the sender's key in
 * the verified room.
 */
import { toBase64 } from '../../crypto/bytes.ts';
import { decodePublicKey } from '../../crypto/identity.ts';
import { membersOf } from '../../protocol/room-chain.ts';
import type { PeerSignal } from '../../protocol/ws.ts';
import type { Connection } from '../connection.ts';
import { connectionInternals } from '../internal.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import { PeerError } from './errors.ts';
import { randomId16, sameFingerprints, sdpFingerprints, signedMessage, verifySignal, type SignedFields } from './signature.ts';

/** A signed offer or answer older (or newer) than this, by the receiver's clock, is `Replayed`. */
export const PEER_SIGNAL_FRESH_MS = 5 * 60_000;
/**
 * Fresh nonces remembered per sender at most. A fresh nonce is never forgotten (its signal could be
 * replayed): a sender past this has its signals refused (`Overloaded`) until its oldest age out.
 * Before, one pool of 8,192 for everyone forgot the oldest first, so a member who flooded it (50
 * signals a second for about 3 minutes) let a Bridge replay another member's offer.
 */
export const PEER_NONCES_PER_SENDER_MAX = 2048;

export type SignedSignal = Extract<PeerSignal, { type: 'offer' | 'answer' }>;

/** Who a signal is between: the session it belongs to. */
export interface SignalSession {
  readonly sessionId: string;
  readonly roomId: string;
  /** The other side. */
  readonly userId: string;
}

export class SignalChecks {
  /** Per sender user id: nonce -> signed time, in arrival order. */
  readonly #nonces = new Map<string, Map<string, number>>();

  constructor(
    private readonly connection: Connection,
    private readonly rooms: RoomApi,
    private readonly noncesPerSender = PEER_NONCES_PER_SENDER_MAX,
  ) {}

  /**
   * The checks before a description is set: membership, freshness, fingerprints, signature, then the
   * nonce (remembered only once everything else held).
   */
  async verify(s: SignedSignal, roomId: string, fromUserId: string, sessionId: string, metadata: string): Promise<void> {
    const publicKey = await this.memberKey(roomId, fromUserId);
    if (publicKey === undefined) throw new PeerError('NotMember', `"${fromUserId}" is not a member of the verified room "${roomId}"`);
    if (Math.abs(Date.now() - s.at) > PEER_SIGNAL_FRESH_MS) throw new PeerError('Replayed', `a signed ${s.type} from ${s.at} is outside the freshness window`);
    if (!sameFingerprints(sdpFingerprints(s.sdp), s.fingerprints))
      throw new PeerError('FingerprintMismatch', `the ${s.type}'s SDP fingerprints are not the signed ones`);
    const fields: SignedFields = {
      type: s.type,
      roomId,
      fromUserId,
      toUserId: this.connection.userId,
      sessionId,
      nonce: s.nonce,
      at: s.at,
      fingerprints: s.fingerprints,
      metadata,
    };
    if (!(await verifySignal(fields, s.signature, publicKey)))
      throw new PeerError('SignatureInvalid', `the ${s.type} is not signed by "${fromUserId}" for this room, session and user`);
    this.#forgetStale();
    let seen = this.#nonces.get(fromUserId);
    if (seen === undefined) this.#nonces.set(fromUserId, (seen = new Map()));
    if (seen.has(s.nonce)) throw new PeerError('Replayed', `a signed ${s.type} from "${fromUserId}" was seen before`);
    if (seen.size >= this.noncesPerSender) {
      throw new PeerError('Overloaded', `more than ${this.noncesPerSender} signed signals from "${fromUserId}" in ${PEER_SIGNAL_FRESH_MS / 60_000} minutes`);
    }
    seen.set(s.nonce, s.at);
  }

  /** This side's offer or answer over `sdp`, signed with its identity key. */
  async sign(type: 'offer' | 'answer', s: SignalSession, sdp: string, metadata: string) {
    const fingerprints = sdpFingerprints(sdp);
    if (fingerprints.length === 0) throw new PeerError('FingerprintMismatch', `the local ${type} has no DTLS fingerprint`);
    const nonce = randomId16();
    const at = Date.now();
    const fields: SignedFields = {
      type,
      roomId: s.roomId,
      fromUserId: this.connection.userId,
      toUserId: s.userId,
      sessionId: s.sessionId,
      nonce,
      at,
      fingerprints,
      metadata,
    };
    const signature = toBase64(await connectionInternals(this.connection).signer.sign(signedMessage(fields)));
    return { sessionId: s.sessionId, nonce, at, sdp, fingerprints, signature };
  }

  /** The user's key in the verified room (read again once, if it is not there yet). */
  async memberKey(roomId: string, userId: string): Promise<Uint8Array | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const head = await this.rooms.trustedHead(roomId).catch(() => undefined);
      const key = head === undefined ? undefined : membersOf(head.record).get(userId);
      if (key !== undefined) return decodePublicKey(key);
      if (attempt === 0) await this.rooms.getStreamRoom(roomId).catch(() => undefined);
    }
    return undefined;
  }

  /** Forgets nonces whose signals are too old to pass the freshness check anyway. */
  #forgetStale(): void {
    const oldest = Date.now() - PEER_SIGNAL_FRESH_MS;
    for (const [userId, seen] of this.#nonces) {
      for (const [nonce, at] of seen) {
        if (at >= oldest) break;
        seen.delete(nonce);
      }
      if (seen.size === 0) this.#nonces.delete(userId);
    }
  }
}
