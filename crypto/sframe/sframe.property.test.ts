/**
 * Property tests: the native backends (node, web) agree byte for byte with the pure-JS reference on
 * random keys, KIDs, counters, metadata and plaintexts, for all five suites; frames round-trip; and any
 * single flipped bit in the header, ciphertext, tag or metadata makes decryption fail.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsBackend } from '../backend/js.ts';
import { nodeBackend } from '../backend/node.ts';
import { webBackend } from '../backend/web.ts';
import { CryptoError } from '../errors.ts';
import { toHex } from '../bytes.ts';
import { encryptSFrame, openSFrame } from './frame.ts';
import { decodeSFrameHeader, SFRAME_MAX_U64 } from './header.ts';
import { createSFrameKey } from './keys.ts';
import { SFrameContext } from './sframe.ts';
import { SFRAME_SUITE_NAMES, sframeSuite, type SFrameSuiteName } from './suites.ts';

const frameInput = fc.record({
  baseKey: fc.uint8Array({ minLength: 16, maxLength: 64 }),
  kid: fc.oneof(fc.bigInt(0n, 7n), fc.bigInt(0n, 0xffffn), fc.bigInt(0n, SFRAME_MAX_U64)),
  ctr: fc.oneof(fc.bigInt(0n, 7n), fc.bigInt(0n, 2n ** 32n), fc.bigInt(0n, SFRAME_MAX_U64)),
  metadata: fc.uint8Array({ maxLength: 64 }),
  plaintext: fc.uint8Array({ maxLength: 2048 }),
});

type FrameInput = {
  baseKey: Uint8Array;
  kid: bigint;
  ctr: bigint;
  metadata: Uint8Array;
  plaintext: Uint8Array;
};

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return undefined;
}

describe.each(SFRAME_SUITE_NAMES)('%s', (suiteName: SFrameSuiteName) => {
  const suite = sframeSuite(suiteName);

  it('node and web produce the same SFrame ciphertexts as js, and each opens the others', async () => {
    await fc.assert(
      fc.asyncProperty(frameInput, async ({ baseKey, kid, ctr, metadata, plaintext }: FrameInput) => {
        const keys = await Promise.all([jsBackend, nodeBackend, webBackend].map((backend) => createSFrameKey(suite, baseKey, kid, backend)));
        const frames = await Promise.all(keys.map((key) => encryptSFrame(key, ctr, metadata, plaintext)));
        const reference = toHex(frames[0]!);
        expect(toHex(frames[1]!)).toBe(reference);
        expect(toHex(frames[2]!)).toBe(reference);
        expect(frames[0]!.length).toBe(decodeSFrameHeader(frames[0]!).length + plaintext.length + suite.tagLength);
        // Each backend opens the frame made by the next one.
        for (let i = 0; i < keys.length; i++) {
          const opened = await openSFrame(keys[i]!, frames[(i + 1) % frames.length]!, metadata);
          expect(toHex(opened)).toBe(toHex(plaintext));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('round-trips through two contexts on random inputs', async () => {
    await fc.assert(
      fc.asyncProperty(
        frameInput,
        fc.array(fc.uint8Array({ maxLength: 512 }), { minLength: 1, maxLength: 5 }),
        async ({ baseKey, kid, metadata }: FrameInput, plaintexts: Uint8Array[]) => {
          const sender = new SFrameContext({ suite: suiteName });
          const receiver = new SFrameContext({ suite: suiteName, backend: jsBackend });
          await sender.addKey(kid, baseKey);
          await receiver.addKey(kid, baseKey);
          for (const [i, plaintext] of plaintexts.entries()) {
            const opened = await receiver.decrypt(metadata, await sender.encrypt(kid, metadata, plaintext));
            expect(opened.ctr).toBe(BigInt(i));
            expect(toHex(opened.plaintext)).toBe(toHex(plaintext));
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('fails on any single flipped bit of header, ciphertext, tag or metadata (random frames)', async () => {
    await fc.assert(
      fc.asyncProperty(frameInput, fc.nat(), async ({ baseKey, kid, ctr, metadata, plaintext }: FrameInput, position: number) => {
        const sender = new SFrameContext({ suite: suiteName, backend: nodeBackend });
        const receiver = new SFrameContext({ suite: suiteName, backend: nodeBackend });
        await sender.addKey(kid, baseKey);
        await receiver.addKey(kid, baseKey);
        sender.setNextCounter(kid, ctr);
        const frame = await sender.encrypt(kid, metadata, plaintext);
        const bit = position % ((frame.length + metadata.length) * 8);
        const headerLength = decodeSFrameHeader(frame).length;
        const inFrame = bit < frame.length * 8;
        const badFrame = frame.slice();
        const badMeta = metadata.slice();
        if (inFrame) badFrame[bit >> 3]! ^= 1 << (bit & 7);
        else badMeta[(bit >> 3) - frame.length]! ^= 1 << (bit & 7);

        const error = await caught(receiver.decrypt(badMeta, badFrame));
        expect(error).toBeInstanceOf(CryptoError);
        // Outside the header every failure is an authentication failure.
        if (!inFrame || bit >= headerLength * 8) expect(error).toMatchObject({ reason: 'DecryptFailed' });
        // Nothing moved: the genuine frame still opens.
        expect(toHex((await receiver.decrypt(metadata, frame)).plaintext)).toBe(toHex(plaintext));
      }),
      { numRuns: 100 },
    );
  });

  it('fails on every single flipped bit of a small frame, exhaustively', async () => {
    const kid = 0x1234n;
    const baseKey = new Uint8Array(16).fill(1);
    const metadata = new Uint8Array([1, 2, 3]);
    const sender = new SFrameContext({ suite: suiteName, backend: nodeBackend });
    const receiver = new SFrameContext({ suite: suiteName, backend: nodeBackend });
    await sender.addKey(kid, baseKey);
    await receiver.addKey(kid, baseKey);
    sender.setNextCounter(kid, 0x99n);
    const frame = await sender.encrypt(kid, metadata, new Uint8Array([9, 8, 7, 6, 5]));
    let flips = 0;
    const reasons = new Set<string>();
    for (let bit = 0; bit < (frame.length + metadata.length) * 8; bit++) {
      const badFrame = frame.slice();
      const badMeta = metadata.slice();
      if (bit < frame.length * 8) badFrame[bit >> 3]! ^= 1 << (bit & 7);
      else badMeta[(bit >> 3) - frame.length]! ^= 1 << (bit & 7);
      const error = await caught(receiver.decrypt(badMeta, badFrame));
      expect(error, `bit ${bit}`).toBeInstanceOf(CryptoError);
      reasons.add((error as CryptoError).reason);
      flips++;
    }
    // Every bit of header, ciphertext, tag and metadata was tried.
    expect(flips).toBe((frame.length + 3) * 8);
    expect(reasons.has('DecryptFailed')).toBe(true);
    expect((await receiver.decrypt(metadata, frame)).ctr).toBe(0x99n);
  });
});
