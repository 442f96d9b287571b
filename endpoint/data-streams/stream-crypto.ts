/**
 * The one place byte streams meet the stream AEAD (crypto/stream: STREAM construction, AES-256-GCM
 * chunks under a per-stream key, the sender's Ed25519 signatures over the header, every checkpoint
 * interval and the end; docs/design.md). The rest of this folder sees only these names.
 */
export {
  STREAM_ABORT_REASON_MAX_BYTES,
  STREAM_CHUNK_MAX_BYTES,
  STREAM_ID_BYTES,
  STREAM_RECIPIENTS_MAX,
  createStreamDecryptor,
  createStreamEncryptor,
  type OpenedChunk,
  type SealedChunk,
  type StreamDecryptor,
  type StreamEncryptor,
  type StreamReaderKey,
  type StreamRecipients,
} from '../../crypto/stream/index.ts';
