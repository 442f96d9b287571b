import { describe, expect, it } from 'vitest';
import {
  BATCH_MAX_FRAMES,
  CHUNK_HEADER_BYTES,
  CREDIT_FLAG_STARVED,
  CREDIT_FRAME_BYTES,
  decodeFrame,
  encodeBatch,
  encodeChunkFrame,
  encodeCreditFrame,
  FRAME_ALLOWANCE_DOWN,
  FRAME_BATCH_DOWN,
  FRAME_CHUNK_DOWN,
  FRAME_CHUNK_UP,
  FRAME_CREDIT_UP,
  splitBatch,
  writeChunkHeader,
} from './ws.ts';

describe('binary frames', () => {
  it('encodes a CREDIT frame byte by byte: type, u32 streamNo, u8 flags, u64 offset, big-endian', () => {
    const frame = encodeCreditFrame(FRAME_CREDIT_UP, 0x01020304, 0x0a0b0c0d0e0f);
    expect([...frame]).toEqual([0x03, 1, 2, 3, 4, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
    expect(frame.length).toBe(CREDIT_FRAME_BYTES);
    expect(decodeFrame(frame)).toEqual({ type: 'credit', direction: 'up', streamNo: 0x01020304, offset: 0x0a0b0c0d0e0f, starved: false });
    const starved = encodeCreditFrame(FRAME_CREDIT_UP, 1, 2, true);
    expect(starved[5]).toBe(CREDIT_FLAG_STARVED);
    expect(decodeFrame(starved)).toEqual({ type: 'credit', direction: 'up', streamNo: 1, offset: 2, starved: true });
  });

  it('round-trips ALLOWANCE frames up to the largest safe offset', () => {
    for (const offset of [0, 1, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      expect(decodeFrame(encodeCreditFrame(FRAME_ALLOWANCE_DOWN, 7, offset))).toEqual({
        type: 'credit',
        direction: 'down',
        streamNo: 7,
        offset,
        starved: false,
      });
    }
  });

  it('refuses a CREDIT frame of the wrong length, with an unknown flag, or with an offset past 2^53 - 1', () => {
    const frame = encodeCreditFrame(FRAME_CREDIT_UP, 1, 5);
    expect(decodeFrame(frame.subarray(0, CREDIT_FRAME_BYTES - 1))).toBeUndefined();
    expect(decodeFrame(Uint8Array.of(...frame, 0))).toBeUndefined();
    const tooBig = encodeCreditFrame(FRAME_CREDIT_UP, 1, Number.MAX_SAFE_INTEGER);
    tooBig[6] = 0x00;
    tooBig[7] = 0x20; // high word 0x200000: 2^53
    expect(decodeFrame(tooBig)).toBeUndefined();
    const unknownFlag = encodeCreditFrame(FRAME_CREDIT_UP, 1, 5);
    unknownFlag[5] = 0x02;
    expect(decodeFrame(unknownFlag)).toBeUndefined();
    // ALLOWANCE defines no flag; one asked for is not written, and one on the wire is refused.
    const allowance = encodeCreditFrame(FRAME_ALLOWANCE_DOWN, 1, 5, true);
    expect(allowance[5]).toBe(0);
    allowance[5] = CREDIT_FLAG_STARVED;
    expect(decodeFrame(allowance)).toBeUndefined();
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

  it('round-trips a BATCH, and refuses one with a length past its end, an empty or nested frame, or no frame', () => {
    const frames = [
      encodeCreditFrame(FRAME_ALLOWANCE_DOWN, 7, 99),
      new Uint8Array([0x81, 0, 0, 0, 1, 9, 9]),
      encodeChunkFrame(FRAME_CHUNK_DOWN, 3, true, new Uint8Array(300)),
    ];
    const batch = encodeBatch(
      frames,
      frames.reduce((n, f) => n + f.length, 0),
    );
    expect(batch[0]).toBe(FRAME_BATCH_DOWN);
    expect(splitBatch(batch)).toEqual(frames);
    // The first frame's length, then its type byte: [0x84][u32 14][0x83 ...].
    expect(Array.from(batch.subarray(0, 6))).toEqual([FRAME_BATCH_DOWN, 0, 0, 0, 14, FRAME_ALLOWANCE_DOWN]);

    expect(splitBatch(batch.subarray(0, batch.length - 1))).toBeUndefined();
    expect(splitBatch(batch.subarray(0, 3))).toBeUndefined();
    expect(splitBatch(new Uint8Array([FRAME_BATCH_DOWN]))).toBeUndefined();
    expect(splitBatch(new Uint8Array([FRAME_BATCH_DOWN, 0, 0, 0, 0]))).toBeUndefined();
    expect(splitBatch(encodeBatch([batch], batch.length))).toBeUndefined();
    expect(splitBatch(frames[0]!)).toBeUndefined();
  });

  it('refuses a BATCH of more frames than the Bridge ever sends in one', () => {
    const tiny = new Uint8Array([0x81, 0, 0, 0, 1]);
    const full = Array.from({ length: BATCH_MAX_FRAMES }, () => tiny);
    expect(splitBatch(encodeBatch(full, full.length * tiny.length))).toHaveLength(BATCH_MAX_FRAMES);
    const over = [...full, tiny];
    expect(splitBatch(encodeBatch(over, over.length * tiny.length))).toBeUndefined();
  });
});
