import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsBackend } from './backend/js.ts';
import { nodeBackend } from './backend/node.ts';
import type { CryptoBackend } from './backend/types.ts';
import { webBackend } from './backend/web.ts';
import { fromUtf8, utf8 } from './bytes.ts';
import { CryptoError } from './errors.ts';
import { META_MAX_PLAINTEXT_BYTES, openMeta, sealMeta } from './meta.ts';

const epochKey = new Uint8Array(32).fill(9);
const binding = { epochKey, roomId: 'room_0123456789abcdef', version: 3, epoch: 2 };

describe('private meta sealing', () => {
  it('round-trips, on every backend and across them', async () => {
    for (const sealer of [nodeBackend, webBackend, jsBackend]) {
      const sealed = await sealMeta({ ...binding, plaintext: utf8('agenda'), backend: sealer });
      for (const opener of [nodeBackend, webBackend, jsBackend]) {
        expect(fromUtf8(await openMeta({ ...binding, sealed, backend: opener }))).toBe('agenda');
      }
    }
  });

  it('fails with DecryptFailed for another room, version, epoch or key, and for any flipped bit', async () => {
    const sealed = await sealMeta({ ...binding, plaintext: utf8('agenda') });
    const variants = [
      { ...binding, roomId: 'room_fedcba9876543210' },
      { ...binding, version: 4 },
      { ...binding, epoch: 1 },
      { ...binding, epochKey: new Uint8Array(32).fill(8) },
    ];
    for (const v of variants) await expect(openMeta({ ...v, sealed })).rejects.toMatchObject({ reason: 'DecryptFailed', message: 'decryption failed' });
    for (let bit = 0; bit < sealed.length * 8; bit += 7) {
      const bad = sealed.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      await expect(openMeta({ ...binding, sealed: bad })).rejects.toMatchObject({ reason: 'DecryptFailed' });
    }
    await expect(openMeta({ ...binding, sealed: sealed.subarray(0, 27) })).rejects.toMatchObject({ reason: 'DecryptFailed' });
  });

  it('uses a fresh nonce each time and enforces its limits', async () => {
    const a = await sealMeta({ ...binding, plaintext: utf8('same') });
    const b = await sealMeta({ ...binding, plaintext: utf8('same') });
    expect(a).not.toEqual(b);
    await expect(sealMeta({ ...binding, plaintext: new Uint8Array(META_MAX_PLAINTEXT_BYTES + 1) })).rejects.toMatchObject({ reason: 'LimitExceeded' });
    await expect(sealMeta({ ...binding, epochKey: new Uint8Array(31), plaintext: utf8('x') })).rejects.toThrow('"epochKey" expected Uint8Array of length 32');
    await expect(sealMeta({ ...binding, version: 0, plaintext: utf8('x') })).rejects.toThrow(/"version"/);
  });
});

describe('private meta sealing properties', () => {
  const arbMeta = fc.record({
    epochKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    roomId: fc.string({ minLength: 1, maxLength: 64 }),
    version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    epoch: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    plaintext: fc.uint8Array({ maxLength: 2000 }),
  });

  /** A backend whose "random" nonce is fixed, so that backends can be compared byte for byte. */
  const withNonce = (b: CryptoBackend, nonce: Uint8Array): CryptoBackend => ({ ...b, randomBytes: () => nonce.slice() });

  const failsToOpen = (promise: Promise<unknown>): Promise<boolean> =>
    promise.then(
      () => false,
      (e: unknown) => e instanceof CryptoError && e.reason === 'DecryptFailed',
    );

  it('node and web seal exactly as js (noble) does, and every backend opens every other', async () => {
    await fc.assert(
      fc.asyncProperty(arbMeta, async ({ nonce, ...m }) => {
        const sealed = await Promise.all([nodeBackend, webBackend, jsBackend].map((b) => sealMeta({ ...m, backend: withNonce(b, nonce) })));
        expect(sealed[0]).toEqual(sealed[2]);
        expect(sealed[1]).toEqual(sealed[2]);
        expect(sealed[2]!.subarray(0, 12)).toEqual(nonce);
        for (const backend of [nodeBackend, webBackend, jsBackend]) {
          expect(await openMeta({ ...m, sealed: sealed[2]!, backend })).toEqual(m.plaintext);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('any flipped bit, or any other room id, version or epoch, fails with DecryptFailed', async () => {
    const arbChange = fc.oneof(
      fc.record({ kind: fc.constant('bit' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('roomId' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('version' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('epoch' as const), at: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(arbMeta, arbChange, fc.constantFrom(nodeBackend, webBackend, jsBackend), async ({ nonce: _, ...m }, change, backend) => {
        const sealed = await sealMeta(m);
        const opened = { ...m, sealed, backend };
        if (change.kind === 'bit') {
          const bad = sealed.slice();
          bad[(change.at >> 3) % bad.length]! ^= 1 << (change.at & 7);
          opened.sealed = bad;
        } else if (change.kind === 'roomId') {
          opened.roomId = m.roomId + String.fromCharCode(97 + (change.at % 26));
        } else if (change.kind === 'version') {
          opened.version = m.version === 1 ? 2 : m.version - 1 - (change.at % (m.version - 1));
        } else {
          opened.epoch = m.epoch === 1 ? 2 : m.epoch - 1 - (change.at % (m.epoch - 1));
        }
        expect(await failsToOpen(openMeta(opened))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
