/**
 * Domain-separation tags. Every signature, KDF info and HPKE info in sealroom starts with one of these,
 * so that a value made for one purpose can never be accepted for another.
 */
export const DOMAIN = {
  /** Challenge-response login: Ed25519 over (tag, nonce, bridge url, timestamp). */
  auth: 'sealroom/v1/auth',
  /** Room version records: Ed25519 over the canonical record bytes. */
  roomRecord: 'sealroom/v1/room-record',
  /** Hash chain link: SHA-256 over (tag, previous record bytes). */
  roomRecordHash: 'sealroom/v1/room-record-hash',
  /** Leaves and nodes of the wrapped-key Merkle tree. */
  keySet: 'sealroom/v1/key-set',
  /** HPKE info for wrapping an epoch key: (tag, room id, epoch, recipient user id). */
  keyWrap: 'sealroom/v1/key-wrap',
  /** HKDF info of the private-meta key. */
  meta: 'sealroom/v1/meta',
  /** HKDF info prefix of a byte-stream key: (tag, sender id). */
  stream: 'sealroom/v1/stream',
  /** Ed25519 over a finished (or aborted) byte stream. */
  streamSignature: 'sealroom/v1/stream-signature',
  /** Ed25519 over a byte stream's header (chunk 0): checked before any handler sees the stream. */
  streamHeader: 'sealroom/v1/stream-header',
  /** Ed25519 over a byte stream's content so far, every checkpoint interval. */
  streamCheckpoint: 'sealroom/v1/stream-checkpoint',
  /**
   * A receiver's delivery receipt: Ed25519 by the receiver over (tag, room id, stream id, content hash,
   * length, sender id, receiver id, time) (docs/protocol/receipts.md).
   */
  streamReceipt: 'sealroom/v1/stream-receipt',
  /**
   * A direct peer offer or answer: Ed25519 by the sender over (tag, type, room id, both user ids, session
   * id, nonce, time, DTLS fingerprints, metadata) (docs/protocol/peer-signalling.md).
   */
  peerSignal: 'sealroom/v1/peer-signal',
  /** HPKE info of a private stream's key: (tag, room id, stream id, sender id, recipient user id). */
  streamKeyWrap: 'sealroom/v1/stream-key-wrap',
  /** HKDF info prefix of a per-sender SFrame base key for data tracks. */
  sframe: 'sealroom/v1/sframe',
  /** HKDF info prefix of a per-sender SFrame base key for media (audio and video frames). */
  sframeMedia: 'sealroom/v1/sframe-media',
  /** Safety numbers: the first input of each user's iterated SHA-512 (docs/security/safety-numbers.md). */
  safetyNumber: 'sealroom/v1/safety-number',
} as const;
