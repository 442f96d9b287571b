import { describe, expect, it } from 'vitest';
import { jsBackend } from './backend/js.ts';
import { nodeBackend } from './backend/node.ts';
import { webBackend } from './backend/web.ts';
import { fromUtf8, utf8 } from './bytes.ts';
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
