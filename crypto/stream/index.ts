/**
 * Byte-stream encryption (docs/design.md, "Byte streams and text streams"): STREAM-construction AES-256-GCM
 * chunks under a per-stream key (from the epoch key, or random and wrapped to the recipients), with
 * the sender's Ed25519 signatures over the header, every checkpoint interval and the end.
 */
export { createStreamEncryptor, type SealedChunk, type StreamEncryptor, type StreamEncryptorOptions, type StreamSigner } from './encryptor.ts';
export { createStreamDecryptor, type OpenedChunk, type StreamDecryptor, type StreamDecryptorOptions, type StreamReaderKey } from './decryptor.ts';
export {
  STREAM_RECIPIENTS_MAX,
  STREAM_RECIPIENT_ID_MAX_BYTES,
  unwrapStreamSecret,
  type StreamRecipients,
  type UnwrapStreamSecretParams,
} from './keying.ts';
export { createContentHasher, type ContentHasher, type ContentHasherOptions } from './content-hasher.ts';
export {
  STREAM_ABORT_REASON_MAX_BYTES,
  STREAM_CHECKPOINT_INTERVAL_BYTES,
  STREAM_CHUNK_MAX_BYTES,
  STREAM_FORMAT_VERSION,
  STREAM_HEADER_MAX_BYTES,
  STREAM_ID_BYTES,
  STREAM_MAX_CHUNKS,
  STREAM_UNSIGNED_MAX_BYTES,
} from './format.ts';
