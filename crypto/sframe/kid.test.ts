import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsBackend } from '../backend/js.ts';
import { nodeBackend } from '../backend/node.ts';
import { webBackend } from '../backend/web.ts';
import { toHex } from '../bytes.ts';
import { decodeSFrameHeader, encodeSFrameHeader } from './header.ts';
import { deriveSenderBaseKey, makeKid, MAX_SESSION_ID, parseKid, randomSessionId } from './kid.ts';
import { SFrameContext } from './sframe.ts';

const EPOCH_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('sealroom KID layout', () => {
  it('packs member index, session id and the low epoch bits', () => {
    expect(makeKid({ memberIndex: 3, sessionId: 0x01_0203_0405, epoch: 7 })).toBe(0x0003_0102_0304_0507n);
    expect(makeKid({ memberIndex: 0xffff, sessionId: MAX_SESSION_ID, epoch: 0x1ff })).toBe(0xffff_ffff_ffff_ffffn);
    expect(makeKid({ memberIndex: 0, sessionId: 0, epoch: 256 })).toBe(0n);
    expect(parseKid(0x0003_0102_0304_0507n)).toEqual({ memberIndex: 3, sessionId: 0x01_0203_0405, epochLow: 7 });
  });

  it('round-trips random fields', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: MAX_SESSION_ID }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (memberIndex, sessionId, epoch) => {
          const kid = makeKid({ memberIndex, sessionId, epoch });
          expect(parseKid(kid)).toEqual({ memberIndex, sessionId, epochLow: epoch & 0xff });
          // Always a valid 64-bit KID for the SFrame header.
          expect(() => encodeSFrameHeader(kid, 0n)).not.toThrow();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses fields out of range, naming them', () => {
    expect(() => makeKid({ memberIndex: 65_536, sessionId: 0, epoch: 1 })).toThrow(/"memberIndex" expected an integer in \[0, 65535\]/);
    expect(() => makeKid({ memberIndex: 0, sessionId: 2 ** 40, epoch: 1 })).toThrow(/"sessionId"/);
    expect(() => makeKid({ memberIndex: 0, sessionId: 0, epoch: -1 })).toThrow(/"epoch"/);
    expect(() => parseKid(2n ** 64n)).toThrow(/"kid"/);
  });

  it('draws 40-bit random session ids', () => {
    const ids = Array.from({ length: 50 }, () => randomSessionId());
    for (const id of ids) expect(Number.isSafeInteger(id) && id >= 0 && id <= MAX_SESSION_ID).toBe(true);
    expect(new Set(ids).size).toBe(50);
    // Some id uses the top byte: all 40 bits are filled.
    expect(Array.from({ length: 200 }, () => randomSessionId(jsBackend)).some((id) => id >= 2 ** 32)).toBe(true);
  });
});

describe('deriveSenderBaseKey', () => {
  const kid = makeKid({ memberIndex: 3, sessionId: 0x01_0203_0405, epoch: 7 });

  it('matches an independent HKDF-SHA256 computation (Python hmac/hashlib) on every backend', () => {
    // info = lengthPrefixed("sealroom/v1/sframe", "room-1", u64be(7), u64be(0x0003010203040507), "alice").
    for (const backend of [nodeBackend, webBackend, jsBackend]) {
      const input = { epochKey: EPOCH_KEY, roomId: 'room-1', epoch: 7, kid, senderId: 'alice' };
      expect(toHex(deriveSenderBaseKey(input, backend)), backend.name).toBe('ba802cb1fdc472dc3d0ce7af49c78159');
      expect(toHex(deriveSenderBaseKey({ ...input, suite: 'AES_256_GCM_SHA512_128' }, backend))).toBe(
        'ba802cb1fdc472dc3d0ce7af49c78159647447c2b02c0a52a55a4c32622f87d1',
      );
      expect(deriveSenderBaseKey({ ...input, suite: 'AES_128_CTR_HMAC_SHA256_80' }, backend)).toHaveLength(16);
    }
  });

  it('derives media keys under their own label (independent HKDF computation), never equal to data keys', () => {
    // info = lengthPrefixed("sealroom/v1/sframe-media", "room-1", u64be(7), u64be(0x0003010203040507), "alice").
    const input = { epochKey: EPOCH_KEY, roomId: 'room-1', epoch: 7, kid, senderId: 'alice' };
    for (const backend of [nodeBackend, webBackend, jsBackend]) {
      expect(toHex(deriveSenderBaseKey({ ...input, purpose: 'media' }, backend)), backend.name).toBe('242f6bace3f39e780a77f5bbff378227');
      expect(toHex(deriveSenderBaseKey({ ...input, purpose: 'data' }, backend))).toBe('ba802cb1fdc472dc3d0ce7af49c78159');
    }
    expect(() => deriveSenderBaseKey({ ...input, purpose: 'video' as 'media' })).toThrow(/"purpose" expected "data" or "media", got video/);
  });

  it('differs for every other room, epoch, KID, sender or epoch key', () => {
    const base = toHex(deriveSenderBaseKey({ epochKey: EPOCH_KEY, roomId: 'room-1', epoch: 7, kid, senderId: 'alice' }));
    const otherKey = EPOCH_KEY.slice();
    otherKey[0] = 0xff;
    const variants = [
      deriveSenderBaseKey({ epochKey: otherKey, roomId: 'room-1', epoch: 7, kid, senderId: 'alice' }),
      deriveSenderBaseKey({ epochKey: EPOCH_KEY, roomId: 'room-2', epoch: 7, kid, senderId: 'alice' }),
      deriveSenderBaseKey({ epochKey: EPOCH_KEY, roomId: 'room-1', epoch: 7 + 256, kid, senderId: 'alice' }), // same low bits
      deriveSenderBaseKey({ epochKey: EPOCH_KEY, roomId: 'room-1', epoch: 7, kid: kid + 0x100n, senderId: 'alice' }), // another session
      deriveSenderBaseKey({ epochKey: EPOCH_KEY, roomId: 'room-1', epoch: 7, kid, senderId: 'bob' }), // same KID, another member
    ];
    for (const variant of variants) expect(toHex(variant)).not.toBe(base);
  });

  it('refuses bad inputs, including a KID of another epoch', () => {
    expect(() => deriveSenderBaseKey({ epochKey: new Uint8Array(16), roomId: 'r', epoch: 7, kid, senderId: 'alice' })).toThrow(
      /"epochKey" expected Uint8Array of length 32/,
    );
    expect(() => deriveSenderBaseKey({ epochKey: EPOCH_KEY, roomId: '', epoch: 7, kid, senderId: 'alice' })).toThrow(/"roomId"/);
    expect(() => deriveSenderBaseKey({ epochKey: EPOCH_KEY, roomId: 'r', epoch: 8, kid, senderId: 'alice' })).toThrow(/"kid" expected epoch low bits 8, got 7/);
  });

  it('gives two sessions of one member independent frames under equal counters', async () => {
    const kidA = makeKid({ memberIndex: 1, sessionId: randomSessionId(), epoch: 1 });
    const kidB = makeKid({ memberIndex: 1, sessionId: randomSessionId(), epoch: 1 });
    expect(kidA).not.toBe(kidB);
    const contexts = await Promise.all(
      [kidA, kidB].map(async (k) => {
        const ctx = new SFrameContext();
        await ctx.addKey(k, deriveSenderBaseKey({ epochKey: EPOCH_KEY, roomId: 'room', epoch: 1, kid: k, senderId: 'alice' }));
        return ctx;
      }),
    );
    const plaintext = new Uint8Array(32);
    const a = await contexts[0]!.encrypt(kidA, new Uint8Array(0), plaintext);
    const b = await contexts[1]!.encrypt(kidB, new Uint8Array(0), plaintext);
    // Same counter (0) and plaintext, yet unrelated ciphertexts: no shared keystream.
    const body = (frame: Uint8Array): string => toHex(frame.subarray(decodeSFrameHeader(frame).length));
    expect(decodeSFrameHeader(a).ctr).toBe(decodeSFrameHeader(b).ctr);
    expect(body(a)).not.toBe(body(b));
  });
});
