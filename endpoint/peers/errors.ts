/**
 * Errors of direct peer connections (docs/protocol/peer-signalling.md): one class with a `reason` from a
 * documented union and a stable `code` (`ERR_PEER_<REASON>`), as DataStreamError does.
 *
 * - `SignatureInvalid`: an offer or answer is not signed by the member it claims to come from.
 * - `FingerprintMismatch`: the DTLS fingerprints in the SDP are not the signed ones, or the DTLS
 *   certificate met after connecting is not the signed one (someone sits in the middle).
 * - `Replayed`: a signed offer or answer was seen before, or its time is outside the freshness window.
 * - `NotMember`: the other user is not a member of the verified room (or not joined to it).
 * - `Declined`: the callee declined the connection.
 * - `Refused`: the other side refused this side's offer or answer (one of its checks failed there).
 * - `Removed`: the other user (or this one) was removed from the room, or left it.
 * - `ConnectionFailed`: ICE or DTLS failed, or the connection dropped; it is not reopened.
 * - `Closed`: `close()` was called, here or on the other side.
 * - `Timeout`: the other side did not answer, or the connection did not come up, in time.
 * - `Unsupported`: this runtime has no WebRTC (Node without the `werift` package).
 * - `Overloaded`: more signals were waiting to be handled than this side keeps (PEER_SIGNALS_PENDING_MAX
 *   in ./loader.ts); the signal was dropped unread (counted in `peerStats().refused`, not answered).
 *   Also a direct stream whose sender ran past its credit window (./direct-stream.ts).
 * - `LengthExceeded`: `bytes()` or `text()` of a direct stream over its `maxBytes`.
 * - `InvalidArgument`: a caller passed a bad value (the message names it).
 */
import { SealroomError, reasonToCode } from '../../protocol/errors.ts';

export type PeerErrorReason =
  | 'SignatureInvalid'
  | 'FingerprintMismatch'
  | 'Replayed'
  | 'NotMember'
  | 'Declined'
  | 'Refused'
  | 'Removed'
  | 'ConnectionFailed'
  | 'Closed'
  | 'Timeout'
  | 'Unsupported'
  | 'Overloaded'
  | 'LengthExceeded'
  | 'InvalidArgument';

export class PeerError extends SealroomError {
  readonly reason: PeerErrorReason;

  constructor(reason: PeerErrorReason, message: string, options: { cause?: unknown } = {}) {
    super(reasonToCode('ERR_PEER', reason), message, { cause: options.cause });
    this.reason = reason;
  }
}
