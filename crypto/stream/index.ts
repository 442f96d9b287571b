/**
 * Byte-stream encryption (DESIGN.md, "Byte streams and text streams"): STREAM-construction AES-256-GCM
 * chunks under a per-stream key, with the sender's Ed25519 signature in the final chunk.
 */
export { createStreamEncryptor, type SealedChunk, type StreamEncryptor, type StreamEncryptorOptions } from './encryptor.ts';
export { createStreamDecryptor, type OpenedChunk, type StreamDecryptor, type StreamDecryptorOptions } from './decryptor.ts';
export {
  CONTENT_HASH_OFFLOAD_MIN_BYTES,
  CONTENT_HASH_OFFLOAD_MIN_CHUNK_BYTES,
  createContentHasher,
  type ContentHasher,
  type ContentHasherOptions,
} from './content-hasher.ts';
export {
  STREAM_ABORT_REASON_MAX_BYTES,
  STREAM_CHUNK_MAX_BYTES,
  STREAM_FORMAT_VERSION,
  STREAM_HEADER_MAX_BYTES,
  STREAM_ID_BYTES,
  STREAM_MAX_CHUNKS,
} from './format.ts';
