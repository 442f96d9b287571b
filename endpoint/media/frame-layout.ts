/**
 * The layout of an encrypted media frame (docs/media/frame-encryption.md "Frame layout"):
 *
 *   encrypted frame = clear codec bytes || SFrame ciphertext (header || ciphertext || tag)
 *   SFrame metadata (authenticated, not carried) = lengthPrefixed(MEDIA_FRAME_AAD_TAG, roomId, streamId,
 *                                                                trackId, codec, clear codec bytes)
 *
 * The clear bytes are what the browser's RTP packetizer and the receiver's depacketizer read before the
 * frame reaches the decoder: the VP8 frame header (RFC 6386 section 9.1: 3 bytes of frame tag, plus the
 * start code and dimensions on a key frame, 10 bytes) and the Opus TOC byte (RFC 6716 section 3.1).
 * They are bound into the AAD, so changing one fails authentication. Other codecs are refused: their
 * packetizers need more of the bitstream in clear (H264 NAL headers, VP9 and AV1 descriptors).
 *
 * Pure functions, no WebRTC: the frame worker and the Node tests use them alike.
 */
import { lengthPrefixed, utf8 } from '../../crypto/bytes.ts';

/** Domain tag at the start of every media frame's SFrame metadata (distinct from data tracks'). */
export const MEDIA_FRAME_AAD_TAG = 'sealroom/v1/media-frame';

/** The codecs whose frames this layout protects, as lower-case MIME types. */
export const MEDIA_E2EE_CODECS = ['video/vp8', 'audio/opus'] as const;
export type MediaE2eeCodec = (typeof MEDIA_E2EE_CODECS)[number];

/** Clear bytes of a VP8 key frame: the 3-byte frame tag, the start code and the dimensions. */
export const VP8_KEY_FRAME_CLEAR_BYTES = 10;
/** Clear bytes of a VP8 inter frame: the 3-byte frame tag. */
export const VP8_DELTA_FRAME_CLEAR_BYTES = 3;
/** Clear bytes of an Opus frame: the TOC byte. */
export const OPUS_CLEAR_BYTES = 1;

/**
 * The codec of a frame: the encoded frame's `mimeType` metadata when the browser gives it, else the one
 * codec of the track's kind that the session negotiates (VP8 or Opus). Undefined for any other codec.
 */
export function frameCodec(kind: 'audio' | 'video', mimeType: string | undefined): MediaE2eeCodec | undefined {
  if (mimeType === undefined || mimeType === '') return kind === 'video' ? 'video/vp8' : 'audio/opus';
  const lower = mimeType.toLowerCase();
  if (!(lower === 'video/vp8' && kind === 'video') && !(lower === 'audio/opus' && kind === 'audio')) return undefined;
  return lower as MediaE2eeCodec;
}

/**
 * How many leading bytes of `frame` stay in clear. Read from the frame itself, so sender and receiver
 * agree: for VP8, bit 0 of the first byte is the inverse key-frame flag (0: key frame). The receiver
 * reads it from the clear bytes, which the AAD then authenticates. Undefined when the frame is shorter
 * than its clear part (no encoder emits such a frame; it is malformed).
 */
export function clearByteCount(codec: MediaE2eeCodec, frame: Uint8Array): number | undefined {
  let count: number;
  if (codec === 'audio/opus') count = OPUS_CLEAR_BYTES;
  else {
    if (frame.length === 0) return undefined;
    count = (frame[0]! & 1) === 0 ? VP8_KEY_FRAME_CLEAR_BYTES : VP8_DELTA_FRAME_CLEAR_BYTES;
  }
  return frame.length < count ? undefined : count;
}

/** What a media frame is bound to: its room, stream and track, the codec and the clear bytes. */
export interface MediaFrameBinding {
  roomId: string;
  streamId: string;
  trackId: string;
}

/** The SFrame metadata of a media frame (authenticated with the SFrame header, not carried). */
export function mediaFrameMetadata(binding: MediaFrameBinding, codec: MediaE2eeCodec, clear: Uint8Array): Uint8Array {
  return lengthPrefixed(utf8(MEDIA_FRAME_AAD_TAG), utf8(binding.roomId), utf8(binding.streamId), utf8(binding.trackId), utf8(codec), clear);
}

/** clear || sframe, in one buffer (the encoded frame's new data). */
export function joinFrame(clear: Uint8Array, sframe: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(clear.length + sframe.length);
  out.set(clear, 0);
  out.set(sframe, clear.length);
  return out;
}
