import { describe, expect, it } from 'vitest';
import {
  CHUNK_HEADER_BYTES,
  CREDIT_FRAME_BYTES,
  decodeFrame,
  encodeChunkFrame,
  encodeCreditFrame,
  FRAME_ALLOWANCE_DOWN,
  FRAME_CHUNK_DOWN,
  FRAME_CHUNK_UP,
  FRAME_CREDIT_UP,
  writeChunkHeader,
} from './ws.ts';

describe('binary frames', () => {
  it('encodes a CREDIT frame byte by byte: type, u32 streamNo, u64 offset, big-endian', () => {
    const frame = encodeCreditFrame(FRAME_CREDIT_UP, 0x01020304, 0x0a0b0c0d0e0f);
    expect([...frame]).toEqual([0x03, 1, 2, 3, 4, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
    expect(frame.length).toBe(CREDIT_FRAME_BYTES);
    expect(decodeFrame(frame)).toEqual({ type: 'credit', direction: 'up', streamNo: 0x01020304, offset: 0x0a0b0c0d0e0f });
  });

  it('round-trips ALLOWANCE frames up to the largest safe offset', () => {
    for (const offset of [0, 1, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      expect(decodeFrame(encodeCreditFrame(FRAME_ALLOWANCE_DOWN, 7, offset))).toEqual({ type: 'credit', direction: 'down', streamNo: 7, offset });
    }
  });

  it('refuses a CREDIT frame of the wrong length or with an offset past 2^53 - 1', () => {
    const frame = encodeCreditFrame(FRAME_CREDIT_UP, 1, 5);
    expect(decodeFrame(frame.subarray(0, CREDIT_FRAME_BYTES - 1))).toBeUndefined();
    expect(decodeFrame(Uint8Array.of(...frame, 0))).toBeUndefined();
    const tooBig = encodeCreditFrame(FRAME_CREDIT_UP, 1, Number.MAX_SAFE_INTEGER);
    tooBig[5] = 0x00;
    tooBig[6] = 0x20; // high word 0x200000: 2^53
    expect(decodeFrame(tooBig)).toBeUndefined();
  });

  it('encodes no credit that is negative, fractional or unsafe', () => {
    for (const offset of [-1, 1.5, 2 ** 53, Number.NaN]) expect(() => encodeCreditFrame(FRAME_CREDIT_UP, 1, offset)).toThrow(RangeError);
  });

  it('writes a CHUNK header in front of a payload already in place, as encodeChunkFrame lays it out', () => {
    const payload = Uint8Array.of(9, 8, 7);
    const inPlace = new Uint8Array(CHUNK_HEADER_BYTES + payload.length);
    inPlace.set(payload, CHUNK_HEADER_BYTES);
    expect(writeChunkHeader(inPlace, FRAME_CHUNK_UP, 0xfffffffe, true)).toEqual(encodeChunkFrame(FRAME_CHUNK_UP, 0xfffffffe, true, payload));
    expect(decodeFrame(inPlace)).toEqual({ type: 'chunk', direction: 'up', streamNo: 0xfffffffe, last: true, payload });
    writeChunkHeader(inPlace, FRAME_CHUNK_DOWN, 3, false);
    expect([...inPlace.subarray(0, CHUNK_HEADER_BYTES)]).toEqual([0x82, 0, 0, 0, 3, 0]);
  });
});
