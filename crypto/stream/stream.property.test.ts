import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsBackend } from '../backend/js.ts';
import { nodeBackend, nodeInlineBackend } from '../backend/node.ts';
import type { CryptoBackend } from '../backend/types.ts';
import { webBackend } from '../backend/web.ts';
import { CryptoError, DECRYPT_FAILED_MESSAGE } from '../errors.ts';
import type { SealedChunk } from './encryptor.ts';
import { contentOf, flipBit, openStream, sealStream, type StreamFixture } from './test-kit.ts';

/** `nodeBackend` works on its bulk thread, `nodeInlineBackend` on the calling thread: both node paths. */
const backends: CryptoBackend[] = [nodeBackend, nodeInlineBackend, webBackend, jsBackend];

/** Random keys, ids, header and content split into random chunk sizes (kept small: js is the slow one). */
const arbStream = fc.record({
  epochKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  streamId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  senderSeed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  senderId: fc.string({ minLength: 1, maxLength: 40 }),
  header: fc.uint8Array({ maxLength: 300 }),
  pieces: fc.array(fc.uint8Array({ maxLength: 1500 }), { maxLength: 6 }),
  abortReason: fc.option(fc.string({ maxLength: 60 }), { nil: undefined }),
});

type StreamCase = typeof arbStream extends fc.Arbitrary<infer T> ? T : never;

async function fixture(c: StreamCase): Promise<StreamFixture> {
  return { ...c, senderPublicKey: await nodeBackend.ed25519PublicKey(c.senderSeed) };
}

async function rejectsAsIntegrityFailure(promise: Promise<unknown>): Promise<boolean> {
  return promise.then(
    () => false,
    (e: unknown) => e instanceof CryptoError && e.reason === 'DecryptFailed' && e.message === DECRYPT_FAILED_MESSAGE,
  );
}

describe('stream AEAD properties', () => {
  it('node (threaded and inline) and web produce ciphertext identical to js (noble), and every backend opens every other', async () => {
    await fc.assert(
      fc.asyncProperty(arbStream, async (c) => {
        const f = await fixture(c);
        const [node, nodeInline, web, js] = await Promise.all(backends.map((backend) => sealStream(f, c.pieces, { backend, abortReason: c.abortReason })));
        expect(node).toEqual(js);
        expect(nodeInline).toEqual(js);
        expect(web).toEqual(js);
        for (const backend of backends) {
          const opened = await openStream(f, js!, { backend });
          expect(contentOf(opened)).toEqual(new Uint8Array(c.pieces.flatMap((p) => [...p])));
          expect(opened[0]).toMatchObject({ kind: 'header', header: c.header });
          expect(opened.at(-1)!.kind).toBe(c.abortReason === undefined ? 'end' : 'aborted');
        }
      }),
      { numRuns: 40 },
    );
  });

  it('flipping any single bit of any chunk (ciphertext, tag, header chunk, final chunk) fails', async () => {
    await fc.assert(
      fc.asyncProperty(arbStream, fc.nat(), fc.nat(), fc.constantFrom(...backends), async (c, which, bit, backend) => {
        const f = await fixture(c);
        const chunks = await sealStream(f, c.pieces, { abortReason: c.abortReason });
        const i = which % chunks.length;
        const target = chunks[i]!;
        const altered = chunks.map((chunk, j) => (j === i ? { ...chunk, data: flipBit(chunk.data, bit % (target.data.length * 8)) } : chunk));
        expect(await rejectsAsIntegrityFailure(openStream(f, altered, { backend }))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('changing any AAD input (index by reorder, drop or duplicate; last flag; stream id) fails', async () => {
    const arbTamper = fc.oneof(
      fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('flip-last' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('stream-id' as const), at: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(arbStream, arbTamper, fc.constantFrom(...backends), async (c, tamper, backend) => {
        const f = await fixture(c);
        const chunks = await sealStream(f, c.pieces, { abortReason: c.abortReason });
        const at = tamper.at % chunks.length;
        let sequence: SealedChunk[] = chunks;
        let streamId = f.streamId;
        if (tamper.kind === 'swap') {
          // Swapping identical chunks would be no change; chunks differ in their index, so never identical.
          const other = (at + 1) % chunks.length;
          sequence = chunks.map((chunk, j) => (j === at ? chunks[other]! : j === other ? chunks[at]! : chunk));
        } else if (tamper.kind === 'drop') {
          sequence = chunks.filter((_, j) => j !== at);
        } else if (tamper.kind === 'duplicate') {
          sequence = [...chunks.slice(0, at + 1), chunks[at]!, ...chunks.slice(at + 1)];
        } else if (tamper.kind === 'flip-last') {
          sequence = chunks.map((chunk, j) => (j === at ? { ...chunk, last: !chunk.last } : chunk));
        } else {
          streamId = flipBit(streamId, tamper.at % 128);
        }
        expect(await rejectsAsIntegrityFailure(openStream(f, sequence, { backend, streamId }))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
