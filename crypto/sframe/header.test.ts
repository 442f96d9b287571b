import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../bytes.ts';
import { decodeSFrameHeader, encodeSFrameHeader, SFRAME_MAX_HEADER_BYTES, SFRAME_MAX_U64, sframeHeaderLength, writeSFrameHeader } from './header.ts';

describe('SFrame header encoding (RFC 9605 section 4.3)', () => {
  it('puts values 0-7 in the config byte and larger ones after it, KID first', () => {
    expect(toHex(encodeSFrameHeader(0n, 0n))).toBe('00');
    expect(toHex(encodeSFrameHeader(7n, 7n))).toBe('77');
    expect(toHex(encodeSFrameHeader(8n, 7n))).toBe('8708');
    expect(toHex(encodeSFrameHeader(7n, 8n))).toBe('7808');
    expect(toHex(encodeSFrameHeader(0x123n, 0x4567n))).toBe('9901234567');
    expect(toHex(encodeSFrameHeader(SFRAME_MAX_U64, SFRAME_MAX_U64))).toBe(`ff${'ff'.repeat(16)}`);
    expect(sframeHeaderLength(SFRAME_MAX_U64, SFRAME_MAX_U64)).toBe(17);
    expect(sframeHeaderLength(0x100n, 5n)).toBe(3);
  });

  it('refuses KID or CTR outside [0, 2^64 - 1] and non-bigints, naming the argument', () => {
    expect(() => encodeSFrameHeader(-1n, 0n)).toThrow(/"kid" expected a bigint/);
    expect(() => encodeSFrameHeader(0n, SFRAME_MAX_U64 + 1n)).toThrow(/"ctr" expected a bigint/);
    expect(() => encodeSFrameHeader(1 as unknown as bigint, 0n)).toThrow(/"kid"/);
    expect(() => encodeSFrameHeader(0n, 0n)).not.toThrow();
  });

  it('round-trips random KIDs and CTRs, and the length matches', () => {
    fc.assert(
      fc.property(fc.bigInt(0n, SFRAME_MAX_U64), fc.bigInt(0n, SFRAME_MAX_U64), (kid, ctr) => {
        const encoded = encodeSFrameHeader(kid, ctr);
        expect(encoded.length).toBe(sframeHeaderLength(kid, ctr));
        expect(decodeSFrameHeader(encoded)).toEqual({ kid, ctr, length: encoded.length });
      }),
      { numRuns: 500 },
    );
  });

  it('writes into a reused buffer the bytes it encodes, around 2^32 and 2^53 too, and refuses a short buffer', () => {
    const out = new Uint8Array(SFRAME_MAX_HEADER_BYTES).fill(0xee);
    const edges = [0n, 7n, 8n, 0xffn, 0x100n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, SFRAME_MAX_U64];
    for (const kid of edges) {
      for (const ctr of edges) {
        const length = writeSFrameHeader(out, kid, ctr);
        expect(out.subarray(0, length)).toEqual(encodeSFrameHeader(kid, ctr));
      }
    }
    fc.assert(
      fc.property(fc.bigInt(0n, SFRAME_MAX_U64), fc.bigInt(0n, SFRAME_MAX_U64), (kid, ctr) => {
        expect(out.subarray(0, writeSFrameHeader(out, kid, ctr))).toEqual(encodeSFrameHeader(kid, ctr));
      }),
      { numRuns: 500 },
    );
    expect(() => writeSFrameHeader(new Uint8Array(16), 1n, 1n)).toThrow(/"out" expected a Uint8Array of at least 17 bytes/);
    expect(() => writeSFrameHeader(out, -1n, 0n)).toThrow(/"kid" expected a bigint/);
  });
});

describe('SFrame header decoding', () => {
  it('reads fields byte by byte', () => {
    // X=1 K=1 (2-byte KID), Y=0 C=5.
    expect(decodeSFrameHeader(fromHex('950123ffff'))).toEqual({ kid: 0x123n, ctr: 5n, length: 3 });
    // X=0 K=3, Y=1 C=0 (1-byte CTR).
    expect(decodeSFrameHeader(fromHex('38ff'))).toEqual({ kid: 3n, ctr: 0xffn, length: 2 });
    // 8-byte KID and CTR.
    expect(decodeSFrameHeader(fromHex('ff0102030405060708f1f2f3f4f5f6f7f8'))).toEqual({
      kid: 0x0102030405060708n,
      ctr: 0xf1f2f3f4f5f6f7f8n,
      length: 17,
    });
  });

  it('refuses empty and truncated input, saying how many bytes were expected', () => {
    expect(() => decodeSFrameHeader(new Uint8Array(0))).toThrow('SFrame header: truncated, expected at least 1 byte, got 0');
    expect(() => decodeSFrameHeader(fromHex('ff01020304050607'))).toThrow('SFrame header: truncated, expected 17 bytes, got 8');
    expect(() => decodeSFrameHeader(fromHex('0808'))).not.toThrow();
    expect(() => decodeSFrameHeader(fromHex('09ff'))).toThrow(/expected 3 bytes, got 2/);
    expect(() => decodeSFrameHeader('00' as unknown as Uint8Array)).toThrow(/"bytes" expected Uint8Array/);
  });

  it('refuses non-minimal encodings, which section 4.3 forbids', () => {
    const cases: Array<[string, RegExp]> = [
      ['8000', /KID 0 must sit in the config byte/], // KID 0 in one extended byte
      ['8007', /KID 7 must sit in the config byte/],
      ['900008', /KID is not minimally encoded/], // KID 8 in two bytes
      ['f000000000000000ff', /KID is not minimally encoded/], // 8-byte KID with leading zeros
      ['0805', /CTR 5 must sit in the config byte/],
      ['09000a', /CTR is not minimally encoded/],
      ['0f00ffffffffffffff', /CTR is not minimally encoded/],
      ['880008', /KID 0 must sit/], // KID checked before CTR
    ];
    for (const [hex, message] of cases) {
      let error: unknown;
      try {
        decodeSFrameHeader(fromHex(hex));
      } catch (e) {
        error = e;
      }
      expect(error, hex).toMatchObject({ code: 'ERR_CRYPTO_INVALID_ARGUMENT', reason: 'InvalidArgument' });
      expect((error as Error).message, hex).toMatch(message);
    }
    // The minimal forms of the same values parse.
    expect(decodeSFrameHeader(fromHex('8008'))).toEqual({ kid: 8n, ctr: 0n, length: 2 });
    expect(decodeSFrameHeader(fromHex('090100'))).toEqual({ kid: 0n, ctr: 0x100n, length: 3 });
  });

  it('accepts exactly the 256 config bytes with their minimal bodies and re-encodes them identically', () => {
    for (let config = 0; config < 256; config++) {
      const kidLength = config & 0x80 ? ((config >> 4) & 7) + 1 : 0;
      const ctrLength = config & 0x08 ? (config & 7) + 1 : 0;
      // Bodies of 0xff bytes are always minimal.
      const bytes = new Uint8Array(1 + kidLength + ctrLength).fill(0xff);
      bytes[0] = config;
      const header = decodeSFrameHeader(bytes);
      expect(header.length).toBe(bytes.length);
      expect(toHex(encodeSFrameHeader(header.kid, header.ctr))).toBe(toHex(bytes));
    }
  });
});
