import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '../../crypto/bytes.ts';
import { expectDecryptFailed } from '../../crypto/test-errors.ts';
import { sealPrivateMeta } from './meta.ts';
import { OpenedMeta } from './opened-meta.ts';

const epochKey = new Uint8Array(randomBytes(32));
const binding = (roomId = 'room-1', version = 3, key = epochKey) => ({ roomId, version, epoch: 2, epochKey: key });

describe('OpenedMeta', () => {
  it('answers a repeated open of the same head from memory, with a copy for each reader', async () => {
    const opened = new OpenedMeta();
    const sealed = toBase64(await sealPrivateMeta(binding(), utf8('the agenda')));
    const first = await opened.open(binding(), sealed, fromBase64);
    first.fill(0); // a reader changing its copy
    const second = await opened.open(binding(), sealed, fromBase64);
    expect(new TextDecoder().decode(second)).toBe('the agenda');
    expect(opened.hits).toBe(1);
  });

  it('opens afresh, and fails as before, when the sealed text, the version or the key differ', async () => {
    const opened = new OpenedMeta();
    const sealed = await sealPrivateMeta(binding(), utf8('the agenda'));
    await opened.open(binding(), toBase64(sealed), fromBase64);
    const flipped = sealed.slice();
    flipped[flipped.length - 1]! ^= 1;
    await expectDecryptFailed(opened.open(binding(), toBase64(flipped), fromBase64));
    await expectDecryptFailed(opened.open(binding('room-1', 4), toBase64(sealed), fromBase64));
    await expectDecryptFailed(opened.open(binding('room-1', 3, new Uint8Array(randomBytes(32))), toBase64(sealed), fromBase64));
    await expectDecryptFailed(opened.open(binding('room-2'), toBase64(sealed), fromBase64));
    expect(opened.hits).toBe(0);
    // The entry that opened is still good.
    expect(new TextDecoder().decode(await opened.open(binding(), toBase64(sealed), fromBase64))).toBe('the agenda');
    expect(opened.hits).toBe(1);
  });

  it("compares the epoch key by identity with the key ring's array", async () => {
    const opened = new OpenedMeta();
    const key = new Uint8Array(randomBytes(32));
    const sealed = toBase64(await sealPrivateMeta(binding('room-1', 3, key), utf8('the agenda')));
    await opened.open(binding('room-1', 3, key), sealed, fromBase64);
    // The same bytes in another array (a key admitted again after the ring forgot and zeroed its own) open afresh.
    await opened.open(binding('room-1', 3, key.slice()), sealed, fromBase64);
    expect(opened.hits).toBe(0);
    await opened.open(binding('room-1', 3, key.slice()), sealed, fromBase64);
    expect(opened.hits).toBe(0);
  });

  it('keeps the newest head of at most its rooms', async () => {
    const opened = new OpenedMeta(2);
    for (const roomId of ['a', 'b', 'c']) {
      await opened.open(binding(roomId), toBase64(await sealPrivateMeta(binding(roomId), utf8(roomId))), fromBase64);
    }
    expect(opened.size).toBe(2);
    const sealedA = toBase64(await sealPrivateMeta(binding('a'), utf8('a')));
    await opened.open(binding('a'), sealedA, fromBase64);
    expect(opened.hits).toBe(0); // a went first
    await opened.open(binding('a'), sealedA, fromBase64);
    expect(opened.hits).toBe(1);
  });
});
