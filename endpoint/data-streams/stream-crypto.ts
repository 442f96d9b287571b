/**
 * The one place byte streams meet the stream AEAD (crypto/stream: STREAM construction, AES-256-GCM
 * chunks under a per-stream key, the sender's Ed25519 signature in the final chunk; DESIGN.md).
 * The rest of this folder sees only these names.
 */
export {
  STREAM_ABORT_REASON_MAX_BYTES,
  STREAM_CHUNK_MAX_BYTES,
  STREAM_ID_BYTES,
  createStreamDecryptor,
  createStreamEncryptor,
  type OpenedChunk,
  type SealedChunk,
  type StreamDecryptor,
  type StreamEncryptor,
} from '../../crypto/stream/index.ts';
