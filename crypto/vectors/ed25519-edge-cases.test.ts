/**
 * The Ed25519 edge cases of crypto/vectors/ed25519-edge-cases.json against every backend (the node
 * backend's bulk thread included), libsodium on its own, and the public `verify` and `decodePublicKey`: all must give the result that the rule in
 * docs/security/ed25519.md prescribes.
 */
import { readFileSync } from 'node:fs';
import sodiumModule from 'libsodium-wrappers';
import { describe, expect, it } from 'vitest';
import { jsBackend } from '../backend/js.ts';
import { nodeBackend } from '../backend/node.ts';
import type { CryptoBackend } from '../backend/types.ts';
import { ed25519VerifyWithSodium, webBackend } from '../backend/web.ts';
import { fromHex } from '../bytes.ts';
import { ed25519EncodingProblem, ed25519Precheck } from '../ed25519-strict.ts';
import { decodePublicKey, encodePublicKey, verify, x25519PublicFromEd25519 } from '../identity.ts';
import {
  VECTOR_FILE,
  buildEd25519EdgeCases,
  serializeEd25519EdgeCases,
  type DecodeOutcome,
  type VectorFile,
} from './ed25519-edge-cases.gen.ts';

const text = readFileSync(VECTOR_FILE, 'utf8');
const vectors = JSON.parse(text) as VectorFile;
const backends: CryptoBackend[] = [nodeBackend, webBackend, jsBackend];

type Sodium = typeof import('libsodium-wrappers');
async function sodium(): Promise<Sodium> {
  const s = (sodiumModule as unknown as { default?: Sodium }).default ?? (sodiumModule as unknown as Sodium);
  await s.ready;
  return s;
}

/** What `decodePublicKey` did with the bytes: the outcome, read from its error message. */
function decodeOutcomeOf(publicKey: Uint8Array): { outcome: DecodeOutcome; message?: string; code?: string } {
  const textForm = encodePublicKey(publicKey);
  try {
    expect(decodePublicKey(textForm)).toEqual(publicKey);
    return { outcome: 'ok' };
  } catch (error) {
    const { message, code } = error as { message: string; code: string };
    const outcome = /small-order/.test(message) ? 'small-order' : /non-canonical/.test(message) ? 'non-canonical' : /not a point/.test(message) ? 'not-a-point' : undefined;
    expect(outcome, message).toBeDefined();
    // No key material in the message: neither the bytes nor the text form, nor any part of them.
    expect(message).not.toContain(textForm.slice(5, 20));
    expect(message.toLowerCase()).not.toContain(Buffer.from(publicKey).toString('hex').slice(0, 16));
    return { outcome: outcome!, message, code };
  }
}

describe('Ed25519 edge-case vectors', () => {
  it('regenerate to the committed file', () => {
    expect(serializeEd25519EdgeCases(buildEd25519EdgeCases())).toBe(text);
  });

  it('cover the 12 cases of "Taming the many EdDSAs", the control and the universal signature', () => {
    expect(vectors.signatures).toHaveLength(14);
    expect(vectors.signatures.filter((v) => v.expected.verify).map((v) => v.id)).toEqual([3, 12]);
    // Each refused case would pass some common reading of RFC 8032: it is refused by our rule only.
    for (const v of vectors.signatures) {
      const { hashOverGivenBytes: given, hashOverReencoded: reencoded } = v.equations;
      expect(given.cofactored || reencoded.cofactored, v.name).toBe(true);
    }
    expect(vectors.points.filter((p) => p.expected === 'small-order')).toHaveLength(8);
    expect(new Set(vectors.points.map((p) => p.encoding)).size).toBe(vectors.points.length);
  });

  describe.each(vectors.signatures.map((v) => [v.id, v.name, v] as const))('case %i: %s', (_id, _name, v) => {
    const message = fromHex(v.message);
    const publicKey = fromHex(v.publicKey);
    const signature = fromHex(v.signature);

    it.each(backends.map((b) => [b.name, b] as const))('%s backend, and verify() on it', async (_n, b) => {
      expect(await b.ed25519Verify(signature, message, publicKey)).toBe(v.expected.verify);
      expect(await verify(signature, message, publicKey, b)).toBe(v.expected.verify);
    });

    it("the node backend's bulk thread (a stream's signatures)", async () => {
      expect(await nodeBackend.bulk!.verify(signature, message, publicKey)).toBe(v.expected.verify);
    });

    it('the web backend without WebCrypto Ed25519 (libsodium)', async () => {
      expect(await ed25519VerifyWithSodium(signature, message, publicKey)).toBe(v.expected.verify);
    });

    it('libsodium alone agrees: the rule is libsodium\'s', async () => {
      const s = await sodium();
      expect(s.crypto_sign_verify_detached(signature, message, publicKey)).toBe(v.expected.verify);
    });

    it('the pre-check refuses exactly the cases refused for more than the equation', () => {
      const byEncodingOrScalar = v.expected.refusedBecause.some((reason) => reason !== 'cofactorless equation fails');
      expect(ed25519Precheck(signature, publicKey)).toBe(!byEncodingOrScalar);
    });

    it('decodePublicKey', () => {
      expect(decodeOutcomeOf(publicKey).outcome).toBe(v.expected.decodePublicKey);
    });
  });

  it.each(vectors.points.map((p) => [p.encoding, p.description, p] as const))('point %s (%s)', (_e, _d, p) => {
    const bytes = fromHex(p.encoding);
    const { outcome, code } = decodeOutcomeOf(bytes);
    expect(outcome).toBe(p.expected);
    if (outcome !== 'ok') {
      expect(code).toBe('ERR_CRYPTO_INVALID_KEY');
      expect(() => x25519PublicFromEd25519(bytes)).toThrow(expect.objectContaining({ reason: 'InvalidKey' }));
    }
    if (outcome === 'small-order' || outcome === 'non-canonical') expect(ed25519EncodingProblem(bytes)).toBe(outcome);
  });
});
