/**
 * SFrame (RFC 9605) for data tracks and media frames: header codec, the five cipher suites, key
 * schedule, a stateful context with per-KID counters and replay windows, and sealroom's KID layout.
 */
export {
  decodeSFrameHeader,
  encodeSFrameHeader,
  sframeHeaderLength,
  SFRAME_MAX_HEADER_BYTES,
  SFRAME_MAX_U64,
  type DecodedSFrameHeader,
  type SFrameHeader,
} from './header.ts';
export {
  AES_128_CTR_HMAC_SHA256_32,
  AES_128_CTR_HMAC_SHA256_64,
  AES_128_CTR_HMAC_SHA256_80,
  AES_128_GCM_SHA256_128,
  AES_256_GCM_SHA512_128,
  DEFAULT_SFRAME_SUITE,
  SFRAME_SUITE_NAMES,
  SFRAME_SUITES,
  sframeSuite,
  sframeSuiteById,
  type SFrameSuite,
  type SFrameSuiteName,
} from './suites.ts';
export { aesCtrHmac, type SFrameAead } from './aes-ctr-hmac.ts';
export {
  createSFrameKey,
  deriveSFrameKeyMaterial,
  importSFrameAead,
  sframeKeyLabel,
  sframeNonce,
  sframeSaltLabel,
  SFRAME_MAX_BASE_KEY_BYTES,
  SFRAME_MIN_BASE_KEY_BYTES,
  type SFrameKey,
  type SFrameKeyMaterial,
} from './keys.ts';
export { decryptSFrame, decryptSFrameSync, encryptSFrame, openSFrame } from './frame.ts';
export {
  DEFAULT_REPLAY_WINDOW_SIZE,
  MAX_REPLAY_WINDOW_SIZE,
  MIN_REPLAY_WINDOW_SIZE,
  ReplayWindow,
  type ReplayVerdict,
  type ReplayWindowOptions,
} from './replay-window.ts';
export {
  DEFAULT_SFRAME_MAX_FRAME_BYTES,
  DEFAULT_SFRAME_MAX_METADATA_BYTES,
  SFRAME_FRAME_BYTES_LIMIT,
  SFrameContext,
  UNKNOWN_KEY_ID_MESSAGE,
  type SFrameContextOptions,
  type SFrameDecrypted,
} from './sframe.ts';
export {
  deriveSenderBaseKey,
  EPOCH_KEY_BYTES,
  makeKid,
  MAX_MEMBER_INDEX,
  MAX_SESSION_ID,
  parseKid,
  randomSessionId,
  type KidFields,
  type ParsedKid,
  type SenderBaseKeyInput,
  type SFramePurpose,
} from './kid.ts';
