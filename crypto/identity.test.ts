import { describe, expect, it } from 'vitest';
import { backend } from './backend/index.ts';
import { jsBackend } from './backend/js.ts';
import { nodeBackend } from './backend/node.ts';
import {
  decodePrivateKey,
  decodePublicKey,
  encodePrivateKey,
  encodePublicKey,
  generateKeyPair,
  publicKeyOf,
  sign,
  verify,
  x25519PublicFromEd25519,
  x25519SecretFromEd25519,
} from './identity.ts';
import { utf8 } from './bytes.ts';

const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

describe('identity keys', () => {
  it('round-trips the text forms', async () => {
    const pair = await generateKeyPair();
    expect(pair.privateKey).toMatch(/^srsk1[a-z0-9]{58}$/);
    expect(pair.publicKey).toMatch(/^srpk1[a-z0-9]{58}$/);
    expect(encodePrivateKey(decodePrivateKey(pair.privateKey))).toBe(pair.privateKey);
    expect(encodePublicKey(decodePublicKey(pair.publicKey))).toBe(pair.publicKey);
    expect(await publicKeyOf(pair.privateKey)).toBe(pair.publicKey);
  });

  it('refuses every single-character typo, without echoing the key', async () => {
    const { privateKey, publicKey } = await generateKeyPair();
    for (const text of [privateKey, publicKey]) {
      const decode = text === privateKey ? decodePrivateKey : decodePublicKey;
      for (let i = 5; i < text.length; i++) {
        const replacement = BECH32_CHARSET[(BECH32_CHARSET.indexOf(text[i]!) + 1) % 32]!;
        const typo = text.slice(0, i) + replacement + text.slice(i + 1);
        let error: unknown;
        try {
          decode(typo);
        } catch (e) {
          error = e;
        }
        expect(error).toMatchObject({ code: 'ERR_CRYPTO_INVALID_KEY', reason: 'InvalidKey' });
        expect((error as Error).message).not.toContain(text.slice(5, 20));
      }
    }
  });

  it('refuses truncation, a swapped prefix and non-strings with a clear message', async () => {
    const { privateKey, publicKey } = await generateKeyPair();
    expect(() => decodePrivateKey(privateKey.slice(0, -1))).toThrow(/checksum/);
    expect(() => decodePrivateKey(publicKey)).toThrow(/looks like a public key/);
    expect(() => decodePublicKey(privateKey)).toThrow(/looks like a private key/);
    expect(() => decodePublicKey(42 as unknown as string)).toThrow(/expected a string/);
    expect(() => encodePublicKey(new Uint8Array(31))).toThrow('"publicKey" expected Uint8Array of length 32, got length=31');
  });

  it('refuses a public key that is not a curve point', () => {
    // y = 2 is not the y-coordinate of any Ed25519 point.
    const notAPoint = new Uint8Array(32);
    notAPoint[0] = 2;
    expect(() => decodePublicKey(encodePublicKey(notAPoint))).toThrow(/not a point/);
  });

  it('refuses a small-order public key, and the universal signature for it (docs/security/ed25519.md)', async () => {
    // A = R = identity (y = 1) and S = 0 satisfy [S]B = R + [k]A for every message: without the rule,
    // anyone could log in as this key.
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const universal = new Uint8Array(64);
    universal[0] = 1;
    expect(() => decodePublicKey(encodePublicKey(identity))).toThrow(
      expect.objectContaining({ code: 'ERR_CRYPTO_INVALID_KEY', message: expect.stringMatching(/small-order/) }),
    );
    for (const message of ['login', 'anything else', '']) {
      expect(await verify(universal, utf8(message), identity, backend())).toBe(false);
    }
  });

  it('signs and verifies across backends; verify is false on any change', async () => {
    const seed = decodePrivateKey((await generateKeyPair()).privateKey);
    const pub = await nodeBackend.ed25519PublicKey(seed);
    const sig = await sign(seed, utf8('hello'));
    expect(await verify(sig, utf8('hello'), pub, jsBackend)).toBe(true);
    expect(await verify(sig, utf8('hellO'), pub)).toBe(false);
    expect(await verify(sig.subarray(1), utf8('hello'), pub)).toBe(false);
  });

  it('converts to X25519 so that both sides agree (RFC 7748 birational map)', async () => {
    const a = decodePrivateKey((await generateKeyPair()).privateKey);
    const b = decodePrivateKey((await generateKeyPair()).privateKey);
    const aPub = await nodeBackend.ed25519PublicKey(a);
    const bPub = await nodeBackend.ed25519PublicKey(b);
    const ab = await nodeBackend.x25519(x25519SecretFromEd25519(a), x25519PublicFromEd25519(bPub));
    const ba = await jsBackend.x25519(x25519SecretFromEd25519(b), x25519PublicFromEd25519(aPub));
    expect(ab).toEqual(ba);
    expect(await nodeBackend.x25519PublicKey(x25519SecretFromEd25519(a))).toEqual(x25519PublicFromEd25519(aPub));
  });
});
