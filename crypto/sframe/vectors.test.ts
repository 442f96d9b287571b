/**
 * RFC 9605 Appendix C vectors: 289 headers, 3 AES-CTR-HMAC encryptions and 5 full SFrame encryptions,
 * in both directions and on all three backends.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { jsBackend } from '../backend/js.ts';
import { nodeBackend } from '../backend/node.ts';
import { webBackend } from '../backend/web.ts';
import type { CryptoBackend } from '../backend/types.ts';
import { fromHex, toHex } from '../bytes.ts';
import { hkdfExtract } from '../hkdf.ts';
import { aesCtrHmac } from './aes-ctr-hmac.ts';
import { encryptSFrame, openSFrame } from './frame.ts';
import { decodeSFrameHeader, encodeSFrameHeader } from './header.ts';
import { createSFrameKey, deriveSFrameKeyMaterial, sframeKeyLabel, sframeNonce, sframeSaltLabel } from './keys.ts';
import { SFrameContext } from './sframe.ts';
import { sframeSuiteById } from './suites.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const vectorPath = resolve(repoRoot, 'crypto/vectors/sframe/rfc9605-test-vectors.json');

interface HeaderVector {
  kid: string;
  ctr: string;
  encoded: string;
}
interface CtrHmacVector {
  cipher_suite: number;
  key: string;
  enc_key: string;
  auth_key: string;
  nonce: string;
  aad: string;
  pt: string;
  ct: string;
}
interface SFrameVector {
  cipher_suite: number;
  kid: string;
  ctr: string;
  base_key: string;
  sframe_key_label: string;
  sframe_salt_label: string;
  sframe_secret: string;
  sframe_key: string;
  sframe_salt: string;
  metadata: string;
  nonce: string;
  aad: string;
  pt: string;
  ct: string;
}

// JSON.parse rounds integers above 2^53 (93 kid/ctr values here), so quote them first (crypto/vectors/README.md).
const text = readFileSync(vectorPath, 'utf8').replace(/"(kid|ctr)":\s*(\d+)/g, '"$1":"$2"');
const vectors = JSON.parse(text) as { header: HeaderVector[]; aes_ctr_hmac: CtrHmacVector[]; sframe: SFrameVector[] };

const backends: CryptoBackend[] = [nodeBackend, webBackend, jsBackend];

describe('RFC 9605 vector file', () => {
  it('has the expected counts and no rounded big integers', () => {
    expect(vectors.header).toHaveLength(289);
    expect(vectors.aes_ctr_hmac).toHaveLength(3);
    expect(vectors.sframe).toHaveLength(5);
    const big = vectors.header.filter((v) => BigInt(v.kid) > 2n ** 53n || BigInt(v.ctr) > 2n ** 53n);
    expect(big).toHaveLength(93);
    expect(vectors.header.some((v) => v.ctr === '18446744073709551615')).toBe(true);
  });
});

describe('SFrame header vectors (RFC 9605 Appendix C.1)', () => {
  it('encodes all 289', () => {
    let checked = 0;
    for (const v of vectors.header) {
      expect(toHex(encodeSFrameHeader(BigInt(v.kid), BigInt(v.ctr))), `kid=${v.kid} ctr=${v.ctr}`).toBe(v.encoded);
      checked++;
    }
    expect(checked).toBe(289);
  });

  it('decodes all 289, alone and followed by ciphertext', () => {
    let checked = 0;
    for (const v of vectors.header) {
      const encoded = fromHex(v.encoded);
      const expected = { kid: BigInt(v.kid), ctr: BigInt(v.ctr), length: encoded.length };
      expect(decodeSFrameHeader(encoded), v.encoded).toEqual(expected);
      const withBody = new Uint8Array(encoded.length + 3).fill(0xa5);
      withBody.set(encoded);
      expect(decodeSFrameHeader(withBody), v.encoded).toEqual(expected);
      // Every proper prefix is truncated.
      for (let cut = 0; cut < encoded.length; cut++) {
        expect(() => decodeSFrameHeader(encoded.subarray(0, cut)), `${v.encoded}[..${cut}]`).toThrow(/truncated/);
      }
      checked++;
    }
    expect(checked).toBe(289);
  });
});

describe.each(backends)('AES-CTR-HMAC vectors (RFC 9605 Appendix C.3), $name backend', (backend) => {
  it.each(vectors.aes_ctr_hmac)('suite $cipher_suite: encrypts and decrypts', async (v) => {
    const suite = sframeSuiteById(v.cipher_suite);
    const key = fromHex(v.key);
    expect(toHex(key.subarray(0, 16))).toBe(v.enc_key);
    expect(toHex(key.subarray(16))).toBe(v.auth_key);
    const aead = aesCtrHmac(suite, key, backend);
    const sealed = await aead.seal(fromHex(v.nonce), fromHex(v.pt), fromHex(v.aad));
    expect(toHex(sealed)).toBe(v.ct);
    expect(toHex(await aead.open(fromHex(v.nonce), fromHex(v.ct), fromHex(v.aad)))).toBe(v.pt);
    // The tag is checked: a changed last byte (tag) or first byte (ciphertext) fails.
    for (const index of [0, sealed.length - 1]) {
      const bad = fromHex(v.ct);
      bad[index]! ^= 1;
      await expect(aead.open(fromHex(v.nonce), bad, fromHex(v.aad))).rejects.toMatchObject({ reason: 'DecryptFailed' });
    }
  });
});

describe.each(backends)('full SFrame vectors (RFC 9605 Appendix C.4), $name backend', (backend) => {
  it.each(vectors.sframe)('suite $cipher_suite: labels, secret, key, salt, nonce, aad and ct', async (v) => {
    const suite = sframeSuiteById(v.cipher_suite);
    const kid = BigInt(v.kid);
    const ctr = BigInt(v.ctr);
    const baseKey = fromHex(v.base_key);

    expect(toHex(sframeKeyLabel(kid, suite))).toBe(v.sframe_key_label);
    expect(toHex(sframeSaltLabel(kid, suite))).toBe(v.sframe_salt_label);
    expect(toHex(hkdfExtract(suite.hash, new Uint8Array(0), baseKey, backend))).toBe(v.sframe_secret);
    const material = deriveSFrameKeyMaterial(suite, baseKey, kid, backend);
    expect(toHex(material.key)).toBe(v.sframe_key);
    expect(toHex(material.salt)).toBe(v.sframe_salt);
    expect(toHex(sframeNonce(material.salt, ctr))).toBe(v.nonce);
    const header = encodeSFrameHeader(kid, ctr);
    expect(toHex(header) + v.metadata).toBe(v.aad);

    const key = await createSFrameKey(suite, baseKey, kid, backend);
    const ct = await encryptSFrame(key, ctr, fromHex(v.metadata), fromHex(v.pt));
    expect(toHex(ct)).toBe(v.ct);
    expect(toHex(await openSFrame(key, fromHex(v.ct), fromHex(v.metadata)))).toBe(v.pt);
  });

  it.each(vectors.sframe)('suite $cipher_suite: through an SFrameContext', async (v) => {
    const suite = sframeSuiteById(v.cipher_suite);
    const kid = BigInt(v.kid);
    const ctr = BigInt(v.ctr);
    const sender = new SFrameContext({ suite: suite.name, backend });
    await sender.addKey(kid, fromHex(v.base_key));
    sender.setNextCounter(kid, ctr);
    expect(toHex(await sender.encrypt(kid, fromHex(v.metadata), fromHex(v.pt)))).toBe(v.ct);

    const receiver = new SFrameContext({ suite: suite.name, backend });
    await receiver.addKey(kid, fromHex(v.base_key));
    const opened = await receiver.decrypt(fromHex(v.metadata), fromHex(v.ct));
    expect(opened.kid).toBe(kid);
    expect(opened.ctr).toBe(ctr);
    expect(toHex(opened.plaintext)).toBe(v.pt);
    await expect(receiver.decrypt(fromHex(v.metadata), fromHex(v.ct))).rejects.toMatchObject({ reason: 'Replay' });
  });
});
