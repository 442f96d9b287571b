import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import { Aes128Gcm, Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { describe, expect, it } from 'vitest';
import { jsBackend } from './backend/js.ts';
import { nodeBackend } from './backend/node.ts';
import type { CryptoBackend } from './backend/types.ts';
import { webBackend } from './backend/web.ts';
import { fromHex, toHex, utf8 } from './bytes.ts';
import { DECRYPT_FAILED_MESSAGE } from './errors.ts';
import {
  HPKE_EXPORT_MAX_BYTES,
  HPKE_INFO_MAX_BYTES,
  HPKE_KDF_ID,
  HPKE_KEM_ID,
  computeNonce,
  decap,
  deriveKeyPair,
  hpkeAeadFromId,
  keyScheduleBase,
  openBase,
  sealBase,
  setSequenceForTests,
  setupBaseRecipient,
  setupBaseSender,
  setupBaseSenderWithIkmEForTests,
  type HpkeAead,
} from './hpke.ts';

// ---------------------------------------------------------------------------------------------------
// RFC 9180 Appendix A vectors, committed in crypto/vectors/hpke/ (sources in crypto/vectors/README.md).

interface Vector {
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmR: string;
  ikmE: string;
  skRm: string;
  skEm: string;
  pkRm: string;
  pkEm: string;
  enc: string;
  shared_secret: string;
  key_schedule_context: string;
  secret: string;
  key: string;
  base_nonce: string;
  exporter_secret: string;
  encryptions: { aad: string; ct: string; nonce: string; pt: string }[];
  exports: { exporter_context: string; L: number; exported_value: string }[];
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VECTOR_FILE = resolve(REPO_ROOT, 'crypto/vectors/hpke/rfc9180-x25519-base-auth.json');
const ALL_VECTORS = JSON.parse(readFileSync(VECTOR_FILE, 'utf8')) as Vector[];

// What we implement: mode_base (0), DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, and AES-128-GCM,
// AES-256-GCM or ChaCha20Poly1305. The file's other entries are mode_auth (2), HKDF-SHA512 (kdf 3) and
// export-only (aead 0xffff), none of which sealroom uses.
const MODE_BASE = 0;
const VECTORS = ALL_VECTORS.filter(
  (v) => v.mode === MODE_BASE && v.kem_id === HPKE_KEM_ID && v.kdf_id === HPKE_KDF_ID && hpkeAeadFromId(v.aead_id) !== undefined,
).map((v) => ({ ...v, aead: hpkeAeadFromId(v.aead_id)!, label: `aead ${v.aead_id} (${hpkeAeadFromId(v.aead_id)!})` }));

const backends: CryptoBackend[] = [nodeBackend, webBackend, jsBackend];

describe('RFC 9180 vector file', () => {
  it('holds the three base-mode HKDF-SHA256 entries we implement, each with 257 encryptions and 3 exports', () => {
    expect(ALL_VECTORS).toHaveLength(16);
    expect(VECTORS.map((v) => v.aead_id)).toEqual([1, 2, 3]);
    for (const v of VECTORS) {
      expect(v.encryptions).toHaveLength(257);
      expect(v.exports).toHaveLength(3);
    }
  });
});

describe.each(backends.map((b) => [b.name, b] as const))('RFC 9180 Appendix A on the %s backend', (_name, b) => {
  it.each(VECTORS)('$label: DeriveKeyPair, Encap, Decap and the key schedule', async (v) => {
    const recipient = await deriveKeyPair(fromHex(v.ikmR), b);
    expect(toHex(recipient.secretKey)).toBe(v.skRm);
    expect(toHex(recipient.publicKey)).toBe(v.pkRm);
    const ephemeral = await deriveKeyPair(fromHex(v.ikmE), b);
    expect(toHex(ephemeral.secretKey)).toBe(v.skEm);
    expect(toHex(ephemeral.publicKey)).toBe(v.pkEm);

    const info = fromHex(v.info);
    const sender = await setupBaseSenderWithIkmEForTests({ aead: v.aead, recipientPublicKey: recipient.publicKey, info, backend: b }, fromHex(v.ikmE));
    expect(toHex(sender.enc)).toBe(v.enc);
    expect(toHex(sender.sharedSecret)).toBe(v.shared_secret);
    expect(toHex(sender.schedule.keyScheduleContext)).toBe(v.key_schedule_context);
    expect(toHex(sender.schedule.secret)).toBe(v.secret);
    expect(toHex(sender.schedule.key)).toBe(v.key);
    expect(toHex(sender.schedule.baseNonce)).toBe(v.base_nonce);
    expect(toHex(sender.schedule.exporterSecret)).toBe(v.exporter_secret);

    const sharedSecret = await decap(fromHex(v.enc), fromHex(v.skRm), b);
    expect(toHex(sharedSecret)).toBe(v.shared_secret);
    const schedule = keyScheduleBase(v.aead, sharedSecret, info, b);
    expect(toHex(schedule.keyScheduleContext)).toBe(v.key_schedule_context);
    expect(toHex(schedule.secret)).toBe(v.secret);
    expect(toHex(schedule.key)).toBe(v.key);
    expect(toHex(schedule.baseNonce)).toBe(v.base_nonce);
    expect(toHex(schedule.exporterSecret)).toBe(v.exporter_secret);
  });

  it.each(VECTORS)('$label: every encryption (seal in sequence, open in sequence) and every export', async (v) => {
    const info = fromHex(v.info);
    const { context: sender } = await setupBaseSenderWithIkmEForTests({ aead: v.aead, recipientPublicKey: fromHex(v.pkRm), info, backend: b }, fromHex(v.ikmE));
    const receiver = await setupBaseRecipient({ aead: v.aead, enc: fromHex(v.enc), recipientSecretKey: fromHex(v.skRm), info, backend: b });
    for (const [seq, e] of v.encryptions.entries()) {
      // The vectors list sequence numbers 0..256, so the nonce's low two bytes both change.
      expect(toHex(computeNonce(fromHex(v.base_nonce), BigInt(seq))), `nonce ${seq}`).toBe(e.nonce);
      expect(toHex(await sender.seal(fromHex(e.pt), fromHex(e.aad))), `ct ${seq}`).toBe(e.ct);
      expect(toHex(await receiver.open(fromHex(e.ct), fromHex(e.aad))), `pt ${seq}`).toBe(e.pt);
    }
    for (const x of v.exports) {
      expect(toHex(sender.export(fromHex(x.exporter_context), x.L))).toBe(x.exported_value);
      expect(toHex(receiver.export(fromHex(x.exporter_context), x.L))).toBe(x.exported_value);
    }
  });

  it.each(VECTORS)('$label: single-shot open of the first encryption', async (v) => {
    const first = v.encryptions[0]!;
    const pt = await openBase({
      aead: v.aead,
      enc: fromHex(v.enc),
      recipientSecretKey: fromHex(v.skRm),
      info: fromHex(v.info),
      ciphertext: fromHex(first.ct),
      aad: fromHex(first.aad),
      backend: b,
    });
    expect(toHex(pt)).toBe(first.pt);
  });
});

// ---------------------------------------------------------------------------------------------------
// Interoperability with @hpke/core (an independent implementation), both directions.

function theirSuite(aead: HpkeAead): CipherSuite {
  const theirAead = aead === 'aes-128-gcm' ? new Aes128Gcm() : aead === 'aes-256-gcm' ? new Aes256Gcm() : new Chacha20Poly1305();
  return new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: theirAead });
}

const AEADS: HpkeAead[] = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'];

describe.each(AEADS)('interoperability with @hpke/core, %s', (aead) => {
  const suite = theirSuite(aead);
  const info = utf8('sealroom interop info');
  const aad = utf8('sealroom interop aad');

  it('what we seal, @hpke/core opens (single-shot and a multi-message context with exports)', async () => {
    const recipient = await deriveKeyPair(nodeBackend.randomBytes(32));
    const theirKey = await suite.kem.deserializePrivateKey(recipient.secretKey);
    const plaintext = utf8('a 32-byte epoch key, or anything');

    const { enc, ciphertext } = await sealBase({ aead, recipientPublicKey: recipient.publicKey, info, aad, plaintext });
    expect(new Uint8Array(await suite.open({ recipientKey: theirKey, enc, info }, ciphertext, aad))).toEqual(plaintext);

    const ours = await setupBaseSender({ aead, recipientPublicKey: recipient.publicKey, info });
    const theirs = await suite.createRecipientContext({ recipientKey: theirKey, enc: ours.enc, info });
    for (let i = 0; i < 5; i++) {
      const message = utf8(`message ${i}`);
      expect(new Uint8Array(await theirs.open(await ours.context.seal(message, aad), aad))).toEqual(message);
    }
    const exporterContext = utf8('exporter');
    expect(ours.context.export(exporterContext, 48)).toEqual(new Uint8Array(await theirs.export(exporterContext, 48)));
  });

  it('what @hpke/core seals, we open (single-shot and a multi-message context with exports)', async () => {
    const pair = await suite.kem.generateKeyPair();
    const secretKey = new Uint8Array(await suite.kem.serializePrivateKey(pair.privateKey));
    const plaintext = utf8('sealed by @hpke/core');

    const sealed = await suite.seal({ recipientPublicKey: pair.publicKey, info }, plaintext, aad);
    const opened = await openBase({
      aead,
      enc: new Uint8Array(sealed.enc),
      recipientSecretKey: secretKey,
      info,
      aad,
      ciphertext: new Uint8Array(sealed.ct),
    });
    expect(opened).toEqual(plaintext);

    const theirs = await suite.createSenderContext({ recipientPublicKey: pair.publicKey, info });
    const ours = await setupBaseRecipient({ aead, enc: new Uint8Array(theirs.enc), recipientSecretKey: secretKey, info });
    for (let i = 0; i < 5; i++) {
      const message = utf8(`message ${i}`);
      expect(await ours.open(new Uint8Array(await theirs.seal(message, aad)), aad)).toEqual(message);
    }
    const exporterContext = utf8('exporter');
    expect(ours.export(exporterContext, 16)).toEqual(new Uint8Array(await theirs.export(exporterContext, 16)));
  });
});

// ---------------------------------------------------------------------------------------------------
// Bad input: wrong lengths name the argument; every authentication failure is DecryptFailed.

const decryptFailed = { reason: 'DecryptFailed', code: 'ERR_CRYPTO_DECRYPT_FAILED', message: DECRYPT_FAILED_MESSAGE };

function flipBit(bytes: Uint8Array, index: number): Uint8Array {
  const out = bytes.slice();
  out[index]! ^= 0x01;
  return out;
}

describe.each(AEADS)('HPKE bad input, %s', (aead) => {
  async function fixture() {
    const recipient = await deriveKeyPair(nodeBackend.randomBytes(32));
    const info = utf8('info');
    const aad = utf8('aad');
    const plaintext = utf8('secret plaintext');
    const { enc, ciphertext } = await sealBase({ aead, recipientPublicKey: recipient.publicKey, info, aad, plaintext });
    const good = { aead, enc, recipientSecretKey: recipient.secretKey, info, aad, ciphertext };
    return { recipient, good, plaintext };
  }

  it('opens the untampered message', async () => {
    const { good, plaintext } = await fixture();
    expect(await openBase(good)).toEqual(plaintext);
  });

  it('fails with DecryptFailed for a tampered enc, ciphertext, tag, aad or info, or the wrong key', async () => {
    const { good } = await fixture();
    const other = await deriveKeyPair(nodeBackend.randomBytes(32));
    const attempts = [
      { ...good, enc: flipBit(good.enc, 0) },
      { ...good, enc: flipBit(good.enc, 31) },
      { ...good, ciphertext: flipBit(good.ciphertext, 0) },
      { ...good, ciphertext: flipBit(good.ciphertext, good.ciphertext.length - 1) },
      { ...good, ciphertext: good.ciphertext.subarray(0, good.ciphertext.length - 1) },
      { ...good, ciphertext: good.ciphertext.subarray(0, 15) },
      { ...good, ciphertext: new Uint8Array(0) },
      { ...good, aad: utf8('aaD') },
      { ...good, aad: undefined },
      { ...good, info: utf8('infO') },
      { ...good, info: undefined },
      { ...good, recipientSecretKey: other.secretKey },
      { ...good, aead: (aead === 'aes-256-gcm' ? 'chacha20-poly1305' : 'aes-256-gcm') as HpkeAead },
    ];
    for (const attempt of attempts) await expect(openBase(attempt)).rejects.toMatchObject(decryptFailed);
  });

  it('fails with DecryptFailed, not a key error, for a low-order enc (RFC 9180 section 7.1.4)', async () => {
    const { good } = await fixture();
    const one = new Uint8Array(32);
    one[0] = 1;
    for (const enc of [new Uint8Array(32), one]) {
      await expect(openBase({ ...good, enc })).rejects.toMatchObject(decryptFailed);
    }
  });

  it('refuses a low-order recipient public key when sealing', async () => {
    await expect(sealBase({ aead, recipientPublicKey: new Uint8Array(32), plaintext: utf8('x') })).rejects.toMatchObject({
      reason: 'InvalidKey',
    });
  });

  it('names the argument of a wrong length or type', async () => {
    const { good, recipient } = await fixture();
    await expect(sealBase({ aead, recipientPublicKey: recipient.publicKey.subarray(1), plaintext: utf8('x') })).rejects.toThrow(
      '"recipientPublicKey" expected Uint8Array of length 32, got length=31',
    );
    await expect(openBase({ ...good, enc: new Uint8Array(33) })).rejects.toMatchObject({
      reason: 'InvalidArgument',
      message: '"enc" expected Uint8Array of length 32, got length=33',
    });
    await expect(openBase({ ...good, recipientSecretKey: new Uint8Array(64) })).rejects.toThrow(
      '"recipientSecretKey" expected Uint8Array of length 32, got length=64',
    );
    await expect(openBase({ ...good, ciphertext: 'abc' as unknown as Uint8Array })).rejects.toThrow('"ciphertext" expected Uint8Array, got string');
    await expect(openBase({ ...good, aead: 'aes-192-gcm' as HpkeAead })).rejects.toThrow(/"aead" expected 'aes-128-gcm'/);
    await expect(deriveKeyPair(new Uint8Array(31))).rejects.toThrow('"ikm" expected at least 32 bytes, got length=31');
  });

  it('limits info and export lengths', async () => {
    const { recipient } = await fixture();
    const info = new Uint8Array(HPKE_INFO_MAX_BYTES + 1);
    await expect(setupBaseSender({ aead, recipientPublicKey: recipient.publicKey, info })).rejects.toMatchObject({
      reason: 'LimitExceeded',
      message: `"info" expected at most ${HPKE_INFO_MAX_BYTES} bytes, got ${HPKE_INFO_MAX_BYTES + 1}`,
    });
    const { context } = await setupBaseSender({ aead, recipientPublicKey: recipient.publicKey });
    expect(context.export(new Uint8Array(0), HPKE_EXPORT_MAX_BYTES)).toHaveLength(8160);
    expect(() => context.export(new Uint8Array(0), HPKE_EXPORT_MAX_BYTES + 1)).toThrow(
      expect.objectContaining({ reason: 'LimitExceeded', message: '"length" expected at most 8160 bytes, got 8161' }),
    );
  });
});

describe('HPKE contexts', () => {
  const aead: HpkeAead = 'aes-128-gcm';

  async function pair() {
    const recipient = await deriveKeyPair(nodeBackend.randomBytes(32));
    const { enc, context: sender } = await setupBaseSender({ aead, recipientPublicKey: recipient.publicKey });
    const receiver = await setupBaseRecipient({ aead, enc, recipientSecretKey: recipient.secretKey });
    return { sender, receiver };
  }

  it('a failed open does not advance the sequence number (RFC 9180 section 5.2)', async () => {
    const { sender, receiver } = await pair();
    const first = await sender.seal(utf8('first'));
    const second = await sender.seal(utf8('second'));
    await expect(receiver.open(flipBit(first, 3))).rejects.toMatchObject(decryptFailed);
    // Out of order: the receiver is at sequence 0, so the second message does not authenticate.
    await expect(receiver.open(second)).rejects.toMatchObject(decryptFailed);
    expect(await receiver.open(first)).toEqual(utf8('first'));
    expect(await receiver.open(second)).toEqual(utf8('second'));
    // Replaying the first message at sequence 2 fails.
    await expect(receiver.open(first)).rejects.toMatchObject(decryptFailed);
  });

  it('numbers concurrent seals and opens in call order', async () => {
    const { sender, receiver } = await pair();
    const messages = Array.from({ length: 20 }, (_, i) => utf8(`message ${i}`));
    const sealed = await Promise.all(messages.map((m) => sender.seal(m)));
    expect(await Promise.all(sealed.map((c) => receiver.open(c)))).toEqual(messages);
  });

  it('refuses to seal or open at sequence 2^96 - 1 (the message limit)', async () => {
    const { sender, receiver } = await pair();
    const last = 2n ** 96n - 2n;
    setSequenceForTests(sender, last);
    setSequenceForTests(receiver, last);
    const ct = await sender.seal(utf8('the last message'));
    expect(await receiver.open(ct)).toEqual(utf8('the last message'));
    await expect(sender.seal(utf8('one too many'))).rejects.toMatchObject({ reason: 'LimitExceeded' });
    await expect(receiver.open(ct)).rejects.toMatchObject({ reason: 'LimitExceeded' });
    expect(() => computeNonce(new Uint8Array(12), 2n ** 96n - 1n)).toThrow(/message limit/);
    expect(toHex(computeNonce(new Uint8Array(12), last))).toBe('fffffffffffffffffffffffe');
  });
});
