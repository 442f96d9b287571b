import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { describe, expect, it } from 'vitest';
import { jsBackend } from './backend/js.ts';
import { nodeBackend } from './backend/node.ts';
import type { CryptoBackend } from './backend/types.ts';
import { webBackend } from './backend/web.ts';
import { fromHex, lengthPrefixed, toHex, u64be, utf8 } from './bytes.ts';
import { DOMAIN } from './domains.ts';
import { DECRYPT_FAILED_MESSAGE } from './errors.ts';
import { openBase } from './hpke.ts';
import { x25519SecretFromEd25519 } from './identity.ts';
import {
  WRAPPED_KEY_ENCODED_LENGTH_BYTES,
  decodeWrappedKey,
  encodeWrappedKey,
  keyWrapInfo,
  unwrapEpochKey,
  wrapEpochKey,
  wrapEpochKeyForMany,
  type WrapSuite,
  type WrappedKey,
} from './key-wrap.ts';

const SUITES: WrapSuite[] = ['x25519-hkdf256-aes128gcm', 'x25519-hkdf256-chacha20poly1305'];
const decryptFailed = { reason: 'DecryptFailed', code: 'ERR_CRYPTO_DECRYPT_FAILED', message: DECRYPT_FAILED_MESSAGE };

interface Member {
  id: string;
  seed: Uint8Array;
  publicKey: Uint8Array;
}

async function member(id: string): Promise<Member> {
  const seed = nodeBackend.randomBytes(32);
  return { id, seed, publicKey: await nodeBackend.ed25519PublicKey(seed) };
}

function flipBit(bytes: Uint8Array, index: number): Uint8Array {
  const out = bytes.slice();
  out[index]! ^= 0x80;
  return out;
}

describe.each(SUITES)('epoch-key wrapping, %s', (suite) => {
  const roomId = 'room-7f3a';
  const epoch = 3;

  it('round-trips, and the result is standard HPKE under the documented info', async () => {
    const alice = await member('alice');
    const epochKey = nodeBackend.randomBytes(32);
    const wrapped = await wrapEpochKey({ epochKey, roomId, epoch, recipientId: alice.id, recipientPublicKey: alice.publicKey, suite });
    expect(wrapped.suite).toBe(suite);
    expect(wrapped.enc).toHaveLength(32);
    expect(wrapped.ciphertext).toHaveLength(48);
    expect(await unwrapEpochKey({ wrapped, roomId, epoch, recipientId: alice.id, recipientSeed: alice.seed })).toEqual(epochKey);

    const info = lengthPrefixed(utf8(DOMAIN.keyWrap), utf8(roomId), u64be(epoch), utf8(alice.id));
    expect(keyWrapInfo(roomId, epoch, alice.id)).toEqual(info);
    const opened = await openBase({
      aead: suite === 'x25519-hkdf256-aes128gcm' ? 'aes-128-gcm' : 'chacha20-poly1305',
      enc: wrapped.enc,
      recipientSecretKey: x25519SecretFromEd25519(alice.seed),
      info,
      ciphertext: wrapped.ciphertext,
    });
    expect(opened).toEqual(epochKey);
  });

  it('fails with DecryptFailed for the wrong recipient id, room id, epoch or key, or any tampering', async () => {
    const alice = await member('alice');
    const mallory = await member('mallory');
    const epochKey = nodeBackend.randomBytes(32);
    const wrapped = await wrapEpochKey({ epochKey, roomId, epoch, recipientId: alice.id, recipientPublicKey: alice.publicKey, suite });
    const good = { wrapped, roomId, epoch, recipientId: alice.id, recipientSeed: alice.seed };
    const otherSuite: WrapSuite = suite === 'x25519-hkdf256-aes128gcm' ? 'x25519-hkdf256-chacha20poly1305' : 'x25519-hkdf256-aes128gcm';
    const attempts = [
      { ...good, recipientId: 'mallory' },
      { ...good, recipientId: 'alice ' },
      { ...good, roomId: 'room-7f3b' },
      { ...good, epoch: epoch + 1 },
      { ...good, epoch: epoch - 1 },
      { ...good, recipientSeed: mallory.seed },
      { ...good, recipientId: mallory.id, recipientSeed: mallory.seed },
      { ...good, wrapped: { ...wrapped, enc: flipBit(wrapped.enc, 5) } },
      { ...good, wrapped: { ...wrapped, ciphertext: flipBit(wrapped.ciphertext, 0) } },
      { ...good, wrapped: { ...wrapped, ciphertext: flipBit(wrapped.ciphertext, 47) } },
      { ...good, wrapped: { ...wrapped, suite: otherSuite } },
      { ...good, wrapped: { ...wrapped, enc: new Uint8Array(32) } },
    ];
    for (const attempt of attempts) await expect(unwrapEpochKey(attempt)).rejects.toMatchObject(decryptFailed);
    expect(await unwrapEpochKey(good)).toEqual(epochKey);
  });

  it('wraps for many recipients, in order, each opening only their own', async () => {
    const members = await Promise.all(Array.from({ length: 40 }, (_, i) => member(`user-${i}`)));
    const epochKey = nodeBackend.randomBytes(32);
    const results = await wrapEpochKeyForMany(
      epochKey,
      roomId,
      epoch,
      members.map((m) => ({ recipientId: m.id, recipientPublicKey: m.publicKey })),
      { suite },
    );
    expect(results.map((r) => r.recipientId)).toEqual(members.map((m) => m.id));
    expect(new Set(results.map((r) => toHex(r.wrapped.enc))).size).toBe(members.length);
    for (const [i, m] of members.entries()) {
      const { wrapped } = results[i]!;
      expect(wrapped.suite).toBe(suite);
      expect(await unwrapEpochKey({ wrapped, roomId, epoch, recipientId: m.id, recipientSeed: m.seed })).toEqual(epochKey);
      // A neighbour with their own id and key cannot open it.
      const n = members[(i + 1) % members.length]!;
      await expect(unwrapEpochKey({ wrapped, roomId, epoch, recipientId: n.id, recipientSeed: n.seed })).rejects.toMatchObject(decryptFailed);
    }
    expect(await wrapEpochKeyForMany(epochKey, roomId, epoch, [], { suite })).toEqual([]);
  });

  it('encodes to 81 bytes and back', async () => {
    const alice = await member('alice');
    const wrapped = await wrapEpochKey({
      epochKey: nodeBackend.randomBytes(32),
      roomId,
      epoch,
      recipientId: alice.id,
      recipientPublicKey: alice.publicKey,
      suite,
    });
    const bytes = encodeWrappedKey(wrapped);
    expect(bytes).toHaveLength(WRAPPED_KEY_ENCODED_LENGTH_BYTES);
    expect(bytes[0]).toBe(suite === 'x25519-hkdf256-aes128gcm' ? 0x01 : 0x03);
    expect(toHex(bytes.subarray(1, 33))).toBe(toHex(wrapped.enc));
    expect(toHex(bytes.subarray(33))).toBe(toHex(wrapped.ciphertext));
    const decoded = decodeWrappedKey(bytes);
    expect(decoded).toEqual(wrapped);
    bytes.fill(0);
    expect(decoded).toEqual(wrapped); // the decoded key holds copies
  });
});

describe('wrapped-key encoding is parsed strictly', () => {
  const sample = fromHex(`01${'aa'.repeat(32)}${'bb'.repeat(48)}`);

  it('refuses every truncation and any extension', () => {
    expect(decodeWrappedKey(sample).suite).toBe('x25519-hkdf256-aes128gcm');
    for (let length = 0; length < sample.length; length++) {
      expect(() => decodeWrappedKey(sample.subarray(0, length)), `length ${length}`).toThrow(expect.objectContaining({ reason: 'InvalidArgument' }));
    }
    expect(() => decodeWrappedKey(sample.subarray(0, 80))).toThrow('"bytes" expected 81 bytes for suite x25519-hkdf256-aes128gcm, got 80');
    expect(() => decodeWrappedKey(new Uint8Array(82).fill(1))).toThrow(
      expect.objectContaining({ reason: 'LimitExceeded', message: '"bytes" expected at most 81 bytes, got 82' }),
    );
    expect(() => decodeWrappedKey(new Uint8Array(1 << 20))).toThrow(expect.objectContaining({ reason: 'LimitExceeded' }));
  });

  it('refuses unknown suite ids, including HPKE aead ids sealroom does not wrap with', () => {
    for (const id of [0x00, 0x02, 0x04, 0xff]) {
      const bytes = sample.slice();
      bytes[0] = id;
      expect(() => decodeWrappedKey(bytes)).toThrow(`"bytes" has an unknown wrapped-key suite id 0x${id.toString(16).padStart(2, '0')}`);
    }
  });

  it('refuses to encode a malformed wrapped key', () => {
    const ok: WrappedKey = decodeWrappedKey(sample);
    expect(() => encodeWrappedKey({ ...ok, enc: ok.enc.subarray(1) })).toThrow('"wrapped.enc" expected Uint8Array of length 32, got length=31');
    expect(() => encodeWrappedKey({ ...ok, ciphertext: new Uint8Array(49) })).toThrow(/"wrapped.ciphertext" expected Uint8Array of length 48/);
    expect(() => encodeWrappedKey({ ...ok, suite: 'x25519-hkdf256-aes256gcm' as WrapSuite })).toThrow(/"wrapped.suite" expected one of/);
    expect(() => encodeWrappedKey(null as unknown as WrappedKey)).toThrow('"wrapped" expected a WrappedKey, got null');
  });
});

describe('epoch-key wrapping arguments', () => {
  it('names the bad argument', async () => {
    const alice = await member('alice');
    const params = { epochKey: new Uint8Array(32), roomId: 'r', epoch: 1, recipientId: alice.id, recipientPublicKey: alice.publicKey };
    await expect(wrapEpochKey({ ...params, epochKey: new Uint8Array(16) })).rejects.toThrow('"epochKey" expected Uint8Array of length 32, got length=16');
    await expect(wrapEpochKey({ ...params, epoch: 0 })).rejects.toThrow(/"epoch" expected an integer in \[1, /);
    await expect(wrapEpochKey({ ...params, epoch: 1.5 })).rejects.toThrow(/"epoch"/);
    await expect(wrapEpochKey({ ...params, roomId: '' })).rejects.toThrow(/"roomId" expected a non-empty string/);
    await expect(wrapEpochKey({ ...params, recipientId: 'x'.repeat(1025) })).rejects.toThrow(/"recipientId" expected a non-empty string of at most 1024/);
    await expect(wrapEpochKey({ ...params, recipientPublicKey: new Uint8Array(33) })).rejects.toThrow(
      '"recipientPublicKey" expected Uint8Array of length 32, got length=33',
    );
    await expect(wrapEpochKey({ ...params, suite: 'rot13' as WrapSuite })).rejects.toThrow(/"suite" expected one of/);
    await expect(
      unwrapEpochKey({ wrapped: decodeWrappedKey(new Uint8Array(81).fill(1)), roomId: 'r', epoch: 1, recipientId: 'a', recipientSeed: new Uint8Array(31) }),
    ).rejects.toThrow('"recipientSeed" expected Uint8Array of length 32, got length=31');
  });

  it('refuses duplicate recipients and malformed entries in a batch', async () => {
    const alice = await member('alice');
    const a = { recipientId: alice.id, recipientPublicKey: alice.publicKey };
    const key = new Uint8Array(32);
    await expect(wrapEpochKeyForMany(key, 'r', 1, [a, a])).rejects.toThrow('"recipients" lists recipient id "alice" twice');
    await expect(wrapEpochKeyForMany(key, 'r', 1, [a, { recipientId: 'bob', recipientPublicKey: new Uint8Array(3) }])).rejects.toThrow(
      '"recipients[1].recipientPublicKey" expected Uint8Array of length 32, got length=3',
    );
  });

  it('refuses recipient keys that are not Ed25519 points or have low order', async () => {
    const params = { epochKey: new Uint8Array(32), roomId: 'r', epoch: 1, recipientId: 'x' };
    const notAPoint = new Uint8Array(32);
    notAPoint[0] = 2; // y = 2 is on no Ed25519 point
    await expect(wrapEpochKey({ ...params, recipientPublicKey: notAPoint })).rejects.toMatchObject({ reason: 'InvalidKey' });
    const identity = new Uint8Array(32);
    identity[0] = 1; // y = 1, the neutral element: its X25519 form has low order
    await expect(wrapEpochKey({ ...params, recipientPublicKey: identity })).rejects.toMatchObject({ reason: 'InvalidKey' });
    const orderTwo = fromHex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'); // y = -1
    await expect(wrapEpochKey({ ...params, recipientPublicKey: orderTwo })).rejects.toMatchObject({ reason: 'InvalidKey' });
  });
});

describe('epoch-key wrapping across backends and implementations', () => {
  const backends: CryptoBackend[] = [nodeBackend, webBackend, jsBackend];

  it.each(SUITES)('%s: wraps on each backend, unwraps on every other', async (suite) => {
    const bob = await member('bob');
    const epochKey = nodeBackend.randomBytes(32);
    for (const from of backends) {
      const wrapped = await wrapEpochKey({ epochKey, roomId: 'r', epoch: 9, recipientId: bob.id, recipientPublicKey: bob.publicKey, suite, backend: from });
      for (const to of backends) {
        const params = { wrapped, roomId: 'r', epoch: 9, recipientId: bob.id, recipientSeed: bob.seed, backend: to };
        expect(await unwrapEpochKey(params), `${from.name} -> ${to.name}`).toEqual(epochKey);
      }
    }
  });

  it('@hpke/core opens a wrapped key with the documented info (independent check of the format)', async () => {
    const carol = await member('carol');
    const epochKey = nodeBackend.randomBytes(32);
    const wrapped = await wrapEpochKey({ epochKey, roomId: 'room', epoch: 42, recipientId: carol.id, recipientPublicKey: carol.publicKey });
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
    const recipientKey = await suite.kem.deserializePrivateKey(x25519SecretFromEd25519(carol.seed));
    const info = lengthPrefixed(utf8(DOMAIN.keyWrap), utf8('room'), u64be(42), utf8(carol.id));
    expect(new Uint8Array(await suite.open({ recipientKey, enc: wrapped.enc, info }, wrapped.ciphertext))).toEqual(epochKey);
  });
});
