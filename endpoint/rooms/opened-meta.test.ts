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

  it('keeps at most its bytes of opened and sealed meta, and no entry larger than all of them', async () => {
    const sealedOf = async (roomId: string, size: number) => toBase64(await sealPrivateMeta(binding(roomId), new Uint8Array(size).fill(7)));
    const sealed = { a: await sealedOf('a', 100), b: await sealedOf('b', 100), c: await sealedOf('c', 100) };
    const perEntry = sealed.a.length + 100;
    const opened = new OpenedMeta(100, 2 * perEntry);
    for (const roomId of ['a', 'b', 'c'] as const) await opened.open(binding(roomId), sealed[roomId], fromBase64);
    expect({ size: opened.size, bytes: opened.bytes }).toEqual({ size: 2, bytes: 2 * perEntry });
    await opened.open(binding('c'), sealed.c, fromBase64);
    expect(opened.hits).toBe(1);
    await opened.open(binding('a'), sealed.a, fromBase64);
    expect(opened.hits).toBe(1); // a went first
    // Too large to keep at all: opened, answered, and the others stay.
    const large = await sealedOf('d', 400);
    expect((await opened.open(binding('d'), large, fromBase64)).length).toBe(400);
    await opened.open(binding('d'), large, fromBase64);
    await opened.open(binding('a'), sealed.a, fromBase64);
    expect({ hits: opened.hits, size: opened.size, bytes: opened.bytes }).toEqual({ hits: 2, size: 2, bytes: 2 * perEntry });
  });

  it('counts a replaced head once', async () => {
    const opened = new OpenedMeta();
    await opened.open(binding('a', 3), toBase64(await sealPrivateMeta(binding('a', 3), utf8('v3'))), fromBase64);
    const sealed4 = toBase64(await sealPrivateMeta(binding('a', 4), utf8('v4')));
    await opened.open(binding('a', 4), sealed4, fromBase64);
    expect({ size: opened.size, bytes: opened.bytes }).toEqual({ size: 1, bytes: sealed4.length + 2 });
  });
});
