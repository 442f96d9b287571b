import { describe, expect, it } from 'vitest';
import { CryptoError } from '../errors.ts';
import { jsBackend } from './js.ts';
import { nodeBackend } from './node.ts';
import type { CryptoBackend } from './types.ts';
import { webBackend } from './web.ts';

const backends: CryptoBackend[] = [nodeBackend, webBackend, jsBackend];
const reference = jsBackend;

function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe.each(backends.map((b) => [b.name, b] as const))('%s backend', (_name, b) => {
  it('AES-GCM matches the reference and rejects a flipped bit', async () => {
    for (const keyLength of [16, 32]) {
      const key = bytes(keyLength, 3);
      const nonce = bytes(12, 5);
      const aad = bytes(20, 7);
      const pt = bytes(1000, 9);
      const ct = await (await b.aesGcm(key)).seal(nonce, pt, aad);
      expect(ct).toEqual(await (await reference.aesGcm(key)).seal(nonce, pt, aad));
      expect(await (await b.aesGcm(key)).open(nonce, ct, aad)).toEqual(pt);
      const bad = ct.slice();
      bad[5]! ^= 1;
      await expect((await b.aesGcm(key)).open(nonce, bad, aad)).rejects.toMatchObject({ reason: 'DecryptFailed' });
    }
  });

  it('seals with headroom: the same bytes, after that many zero bytes of the same buffer', async () => {
    const key = bytes(32, 3);
    const [nonce, aad, pt] = [bytes(12, 5), bytes(27, 7), bytes(70_000, 9)];
    for (const aead of [await b.aesGcm(key), await b.chacha20Poly1305(key)]) {
      const plain = await aead.seal(nonce, pt, aad);
      for (const headroom of [1, 6, 64]) {
        const roomy = await aead.seal(nonce, pt, aad, headroom);
        expect(roomy).toEqual(plain);
        expect(roomy.byteOffset).toBeGreaterThanOrEqual(headroom);
        const room = new Uint8Array(roomy.buffer, roomy.byteOffset - headroom, headroom);
        expect([...room]).toEqual(new Array(headroom).fill(0));
        expect(await aead.open(nonce, roomy, aad)).toEqual(pt);
        // sealSync, where the backend has it (node:crypto): the same bytes and the same room.
        if (aead.sealSync !== undefined) {
          const synced = aead.sealSync(nonce, pt, aad, headroom);
          expect(synced).toEqual(plain);
          expect([...new Uint8Array(synced.buffer, synced.byteOffset - headroom, headroom)]).toEqual(new Array(headroom).fill(0));
        }
      }
      if (aead.sealSync !== undefined) expect(aead.sealSync(nonce, pt, aad)).toEqual(plain);
    }
  });

  it('seals synchronously in Node only: WebCrypto and the JS reference are async', async () => {
    const aead = await b.aesGcm(bytes(16, 3));
    expect(aead.sealSync !== undefined).toBe(b.name === 'node');
  });

  it('ChaCha20-Poly1305 matches the reference', async () => {
    const key = bytes(32, 11);
    const nonce = bytes(12, 13);
    const ct = await (await b.chacha20Poly1305(key)).seal(nonce, bytes(77), bytes(3));
    expect(ct).toEqual(await (await reference.chacha20Poly1305(key)).seal(nonce, bytes(77), bytes(3)));
    await expect((await b.chacha20Poly1305(key)).open(nonce, ct, bytes(4))).rejects.toBeInstanceOf(CryptoError);
  });

  it('AES-CTR carries into the whole counter block', async () => {
    const block = new Uint8Array(16).fill(0xff);
    block[0] = 0;
    const out = await b.aesCtr(bytes(16), block, bytes(100));
    expect(out).toEqual(await reference.aesCtr(bytes(16), block, bytes(100)));
  });

  it('hashes (with snapshots) and HMAC match the reference', () => {
    for (const name of ['sha256', 'sha512'] as const) {
      expect(b.hash(name, bytes(300))).toEqual(reference.hash(name, bytes(300)));
      expect(b.hmac(name, bytes(40), bytes(300))).toEqual(reference.hmac(name, bytes(40), bytes(300)));
      const h = b.createHash(name);
      h.update(bytes(100));
      // A snapshot is the digest so far, and the hash goes on.
      expect(h.snapshot()).toEqual(reference.hash(name, bytes(100)));
      h.update(bytes(200, 2));
      const r = reference.createHash(name);
      r.update(bytes(100));
      r.update(bytes(200, 2));
      expect(h.digest()).toEqual(r.digest());
    }
  });

  it('X25519 agrees with the reference and refuses a low-order point', async () => {
    const a = await b.x25519Generate();
    const c = await reference.x25519Generate();
    expect(await b.x25519PublicKey(a.secretKey)).toEqual(await reference.x25519PublicKey(a.secretKey));
    expect(await b.x25519(a.secretKey, c.publicKey)).toEqual(await reference.x25519(c.secretKey, a.publicKey));
    await expect(b.x25519(a.secretKey, new Uint8Array(32))).rejects.toMatchObject({ reason: 'InvalidKey' });
  });

  it('Ed25519 signs deterministically like the reference and verifies strictly', async () => {
    const seed = bytes(32, 17);
    const pub = await b.ed25519PublicKey(seed);
    expect(pub).toEqual(await reference.ed25519PublicKey(seed));
    const sig = await b.ed25519Sign(seed, bytes(50));
    expect(sig).toEqual(await reference.ed25519Sign(seed, bytes(50)));
    expect(await b.ed25519Verify(sig, bytes(50), pub)).toBe(true);
    const bad = sig.slice();
    bad[0]! ^= 1;
    expect(await b.ed25519Verify(bad, bytes(50), pub)).toBe(false);
    expect(await b.ed25519Verify(sig, bytes(51), pub)).toBe(false);
    expect(await b.ed25519Verify(sig.subarray(0, 63), bytes(50), pub)).toBe(false);
  });
});
