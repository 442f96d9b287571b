/**
 * The signed part of direct peer signalling (docs/protocol/peer-signalling.md, "Signed message"): each
 * offer and answer carries the sender's Ed25519 signature over
 *
 *   lengthPrefixed("sealroom/v1/peer-signal", type, roomId, fromUserId, toUserId, sessionId (16 bytes),
 *                  nonce (16 bytes), u64be(at), fingerprints joined by "\n", metadata)
 *
 * so the Bridge that carries it can neither change the DTLS fingerprints (which pin the certificate the
 * connection is made with), nor send it to another user or room, nor pass one user's description off as
 * another's. The receiver checks it against the sender's key in the verified room before it sets the
 * description, and that the SDP's fingerprints are the signed ones.
 */
import { backend } from '../../crypto/backend/index.ts';
import { fromBase64, lengthPrefixed, toBase64, toHex, u64be, utf8 } from '../../crypto/bytes.ts';
import { DOMAIN } from '../../crypto/domains.ts';
import { PEER_FINGERPRINTS_MAX } from '../../protocol/ws.ts';

export interface SignedFields {
  type: 'offer' | 'answer';
  roomId: string;
  fromUserId: string;
  toUserId: string;
  /** base64 of 16 bytes. */
  sessionId: string;
  /** base64 of 16 bytes. */
  nonce: string;
  at: number;
  fingerprints: string[];
  /** The caller's metadata (JSON text) for an offer, '' for an answer. */
  metadata: string;
}

export function signedMessage(f: SignedFields): Uint8Array {
  return lengthPrefixed(
    utf8(DOMAIN.peerSignal),
    utf8(f.type),
    utf8(f.roomId),
    utf8(f.fromUserId),
    utf8(f.toUserId),
    fromBase64(f.sessionId),
    fromBase64(f.nonce),
    u64be(f.at),
    utf8(f.fingerprints.join('\n')),
    utf8(f.metadata),
  );
}

export async function verifySignal(f: SignedFields, signature: string, publicKey: Uint8Array): Promise<boolean> {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(signature);
  } catch {
    return false;
  }
  if (bytes.length !== 64) return false;
  return backend().ed25519Verify(bytes, signedMessage(f), publicKey);
}

/** 16 fresh random bytes, base64 (session ids and nonces). */
export function randomId16(): string {
  return toBase64(backend().randomBytes(16));
}

/**
 * The SDP's `a=fingerprint` values, normalized (`sha-256 AB:CD:...`: lower-case algorithm, upper-case
 * hex), deduplicated and sorted, so both sides build the same list from the same description.
 */
export function sdpFingerprints(sdp: string): string[] {
  const found = new Set<string>();
  for (const line of sdp.split(/\r?\n/)) {
    const match = /^a=fingerprint:(\S+)\s+([0-9A-Fa-f:]+)\s*$/.exec(line);
    if (match !== null) found.add(`${match[1]!.toLowerCase()} ${match[2]!.toUpperCase()}`);
  }
  return [...found].sort().slice(0, PEER_FINGERPRINTS_MAX + 1);
}

/** Whether two fingerprint lists are the same set (both normalized by sdpFingerprints). */
export function sameFingerprints(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const sorted = [...b].sort();
  return [...a].sort().every((value, i) => value === sorted[i]);
}

/** `sha-256 AB:CD:...` of a DER certificate. */
export function certificateFingerprint(der: Uint8Array): string {
  const hex = toHex(backend().hash('sha256', der)).toUpperCase();
  return `sha-256 ${hex.match(/../g)!.join(':')}`;
}

/**
 * The fingerprint of the DTLS certificate the connection actually met, from the standard stats (the
 * transport's `remoteCertificateId`, that certificate's `base64Certificate`): the same in browsers and
 * in werift. Undefined if the stats do not show it.
 */
export async function remoteCertificateFingerprint(pc: { getStats(): Promise<RTCStatsReport> }): Promise<string | undefined> {
  const stats = await pc.getStats();
  const byId = new Map<string, Record<string, unknown>>();
  stats.forEach((value: Record<string, unknown>) => {
    byId.set(String(value.id), value);
  });
  for (const value of byId.values()) {
    if (value.type !== 'transport' || typeof value.remoteCertificateId !== 'string') continue;
    const cert = byId.get(value.remoteCertificateId);
    if (typeof cert?.base64Certificate === 'string') return certificateFingerprint(fromBase64(cert.base64Certificate));
  }
  return undefined;
}
