import { gcm } from '@noble/ciphers/aes.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { jsBackend } from '../backend/js.ts';
import { nodeBackend, nodeInlineBackend } from '../backend/node.ts';
import { webBackend } from '../backend/web.ts';
import { fromUtf8, lengthPrefixed, u64be, utf8 } from '../bytes.ts';
import { DOMAIN } from '../domains.ts';
import { CryptoError, DECRYPT_FAILED_MESSAGE } from '../errors.ts';
import { createStreamDecryptor } from './decryptor.ts';
import { createStreamEncryptor } from './encryptor.ts';
import { STREAM_ABORT_REASON_MAX_BYTES, STREAM_CHUNK_MAX_BYTES, STREAM_HEADER_MAX_BYTES, streamAad, streamNonce } from './format.ts';
import { contentOf, flipBit, openStream, sealStream, streamFixture, type StreamFixture } from './test-kit.ts';

const pieces = [utf8('first piece'), new Uint8Array(3000).fill(7), utf8('last piece')];

/** Asserts the one integrity error: same type, reason, message, and no cause to tell failures apart. */
async function expectDecryptFailed(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CryptoError);
  expect(error).toMatchObject({ reason: 'DecryptFailed', code: 'ERR_CRYPTO_DECRYPT_FAILED', message: DECRYPT_FAILED_MESSAGE });
  expect((error as Error).cause).toBeUndefined();
}

describe('stream AEAD round trip', () => {
  it('opens header, data and end in order, with the content intact', async () => {
    const f = await streamFixture();
    const chunks = await sealStream(f, pieces);
    expect(chunks.map((c) => [c.index, c.last])).toEqual([
      [0, false],
      [1, false],
      [2, false],
      [3, false],
      [4, true],
    ]);
    const opened = await openStream(f, chunks);
    expect(opened.map((c) => c.kind)).toEqual(['header', 'data', 'data', 'data', 'end']);
    expect(opened[0]).toMatchObject({ kind: 'header', header: f.header });
    expect(contentOf(opened)).toEqual(new Uint8Array([...pieces[0]!, ...pieces[1]!, ...pieces[2]!]));
    const contentHash = nodeBackend.hash('sha256', contentOf(opened));
    expect(opened[4]).toEqual({ kind: 'end', index: 4, contentBytes: 3000 + 21, contentHash });
    // The sender's final chunk names the same hash (delivery receipts sign it on both sides).
    expect(chunks[4]!.contentHash).toEqual(contentHash);
  });

  it('carries an empty stream and empty chunks', async () => {
    const f = await streamFixture();
    expect((await openStream(f, await sealStream(f, []))).map((c) => c.kind)).toEqual(['header', 'end']);
    const opened = await openStream(f, await sealStream(f, [new Uint8Array(0), utf8('x')]));
    expect(contentOf(opened)).toEqual(utf8('x'));
  });

  it('carries an abort with the sender reason, signed', async () => {
    const f = await streamFixture();
    const opened = await openStream(f, await sealStream(f, pieces.slice(0, 1), { abortReason: 'cancelled by user ✋' }));
    expect(opened.at(-1)).toEqual({ kind: 'aborted', index: 2, contentBytes: 11, reason: 'cancelled by user ✋' });
    const empty = await openStream(f, await sealStream(f, [], { abortReason: '' }));
    expect(empty.at(-1)).toMatchObject({ kind: 'aborted', reason: '' });
  });

  it('signs through a `sign` function, for a caller that keeps the seed to itself', async () => {
    const f = await streamFixture();
    const { senderSeed, ...rest } = f;
    const enc = createStreamEncryptor({ ...rest, sign: (message) => nodeBackend.ed25519Sign(senderSeed, message) });
    const chunks = [await enc.header(), await enc.write(pieces[0]!), await enc.close()];
    expect((await openStream(f, chunks)).at(-1)).toEqual({ kind: 'end', index: 2, contentBytes: 11, contentHash: nodeBackend.hash('sha256', pieces[0]!) });
    const short = createStreamEncryptor({ ...rest, sign: async () => new Uint8Array(63) });
    await expect(short.header()).rejects.toThrow('"signature" expected Uint8Array of length 64, got length=63');
    const both = { ...f, sign: async () => new Uint8Array(64) } as unknown as Parameters<typeof createStreamEncryptor>[0];
    expect(() => createStreamEncryptor(both)).toThrow('"sign" expected a function, given instead of "senderSeed"');
  });

  it('with frameHeaderBytes, seals the same chunks, each in a frame with that much zeroed room before it', async () => {
    const f = await streamFixture();
    const pieces = [nodeBackend.randomBytes(STREAM_CHUNK_MAX_BYTES), nodeBackend.randomBytes(10)];
    const plain = await sealStream(f, pieces);
    const framed = await sealStream(f, pieces, { frameHeaderBytes: 6 });
    expect(framed.map((c) => c.data)).toEqual(plain.map((c) => c.data));
    for (const c of framed) {
      expect(c.frame!.length).toBe(c.data.length + 6);
      expect([...c.frame!.subarray(0, 6)]).toEqual([0, 0, 0, 0, 0, 0]);
      expect(c.frame!.subarray(6)).toEqual(c.data);
      expect(c.frame!.buffer).toBe(c.data.buffer);
    }
    expect(plain.every((c) => c.frame === undefined)).toBe(true);
    expect(contentOf(await openStream(f, framed))).toEqual(new Uint8Array([...pieces[0]!, ...pieces[1]!]));
    expect(() => createStreamEncryptor({ ...f, frameHeaderBytes: 65 })).toThrow('frameHeaderBytes');
  });

  it('opens a stream of over 64 KiB (several data chunks)', async () => {
    const f = await streamFixture();
    const big = Array.from({ length: 12 }, (_, i) => nodeBackend.randomBytes(STREAM_CHUNK_MAX_BYTES - i));
    // One segment of 1 MiB, so that no piece crosses a segment's end.
    const o = { checkpointIntervalBytes: 1 << 20 };
    const chunks = await sealStream(f, big, { backend: nodeBackend, ...o });
    const opened = await openStream(f, chunks, { backend: jsBackend, ...o });
    expect(sha256(contentOf(opened))).toEqual(sha256(new Uint8Array(big.flatMap((p) => [...p]))));
    expect(await openStream(f, await sealStream(f, big, { backend: jsBackend, ...o }), { backend: nodeBackend, ...o })).toHaveLength(14);
  });

  it('accepts overlapping write() calls and keeps them in call order', async () => {
    const f = await streamFixture();
    for (const backend of [nodeBackend, nodeInlineBackend, webBackend]) {
      const enc = createStreamEncryptor({ ...f, backend });
      const header = enc.header();
      const writes = Array.from({ length: 40 }, (_, i) => enc.write(new Uint8Array(5000).fill(i)));
      const close = enc.close();
      const chunks = await Promise.all([header, ...writes, close]);
      expect(chunks.map((c) => c.index)).toEqual(Array.from({ length: 42 }, (_, i) => i));
      const dec = createStreamDecryptor({ ...f, backend });
      const opened = await Promise.all(chunks.map((c) => dec.open(c.data, c.last)));
      await dec.finish();
      expect(opened.at(-1)).toMatchObject({ kind: 'end', contentBytes: 200_000 });
      expect(opened.flatMap((c) => (c.kind === 'data' ? [c.data[0]] : []))).toEqual(Array.from({ length: 40 }, (_, i) => i));
    }
  });
});

describe('stream format (pinned against an independent noble computation)', () => {
  it('uses the documented key, nonce, AAD, chunk 0, checkpoint and final-chunk layout', async () => {
    const f = await streamFixture();
    const chunks = await sealStream(f, [utf8('hello'), utf8('world'), utf8('!')], { backend: nodeBackend, checkpointIntervalBytes: 5 });
    // Segments of 5 bytes; the checkpoint at the end of the second signs the first.
    expect(chunks.map((c) => c.data.length - 16)).toEqual([1 + 64 + f.header.length, 5, 5, 64, 1, 65]);
    // Key = HKDF-SHA256(ikm = epoch key, salt = stream id, info = lengthPrefixed(DOMAIN.stream, sender id)).
    const key = hkdf(sha256, f.epochKey, f.streamId, lengthPrefixed(utf8(DOMAIN.stream), utf8(f.senderId)), 32);
    const binding = hkdf(sha256, f.epochKey, f.streamId, lengthPrefixed(utf8(DOMAIN.streamSignature), utf8(f.senderId)), 32);
    const nonce = (i: number) => new Uint8Array([0, 0, 0, 0, ...u64be(i)]);
    const aad = (i: number, role: number, last: number) => new Uint8Array([2, role, ...f.streamId, ...u64be(i), last]);
    expect(streamNonce(2 ** 40 + 3)).toEqual(nonce(2 ** 40 + 3));
    expect(streamAad(f.streamId, 7, 'data')).toEqual(aad(7, 2, 0));
    expect(streamAad(f.streamId, 7, 'checkpoint')).toEqual(aad(7, 4, 0));
    // Chunk 0: the keying prefix (0x01: the room key) in clear, then [header signature] [header] sealed.
    expect(chunks[0]!.data[0]).toBe(0x01);
    const opening = gcm(key, nonce(0), aad(0, 1, 0)).decrypt(chunks[0]!.data.subarray(1));
    expect(opening.subarray(64)).toEqual(f.header);
    const headerMessage = lengthPrefixed(utf8(DOMAIN.streamHeader), new Uint8Array([2]), f.streamId, utf8(f.senderId), binding, new Uint8Array([1]), f.header);
    expect(ed25519.verify(opening.subarray(0, 64), headerMessage, f.senderPublicKey)).toBe(true);
    expect(chunks[1]!.data).toEqual(gcm(key, nonce(1), aad(1, 2, 0)).encrypt(utf8('hello')));
    // The checkpoint: lengthPrefixed(tag, [2], stream id, sender, binding, H(header), H(first 5 bytes), u64 5).
    const signature = gcm(key, nonce(3), aad(3, 4, 0)).decrypt(chunks[3]!.data);
    const signed = lengthPrefixed(
      utf8(DOMAIN.streamCheckpoint),
      new Uint8Array([2]),
      f.streamId,
      utf8(f.senderId),
      binding,
      sha256(f.header),
      sha256(utf8('hello')),
      u64be(5),
    );
    expect(ed25519.verify(signature, signed, f.senderPublicKey)).toBe(true);
    const final = gcm(key, nonce(5), aad(5, 3, 1)).decrypt(chunks[5]!.data);
    expect(final.length).toBe(65);
    expect(final[0]).toBe(0x01);
    // The end: lengthPrefixed(tag, [2], stream id, sender, binding, H(header), H(content), u64 length, [end], reason).
    const message = lengthPrefixed(
      utf8(DOMAIN.streamSignature),
      new Uint8Array([2]),
      f.streamId,
      utf8(f.senderId),
      binding,
      sha256(f.header),
      sha256(utf8('helloworld!')),
      u64be(11),
      new Uint8Array([1]),
      new Uint8Array(0),
    );
    expect(ed25519.verify(final.subarray(1), message, f.senderPublicKey)).toBe(true);
  });

  it('derives a new key per stream id and per sender', async () => {
    const f = await streamFixture();
    const a = await sealStream(f, [utf8('same')]);
    const b = await sealStream({ ...f, streamId: nodeBackend.randomBytes(16) }, [utf8('same')]);
    const c = await sealStream({ ...f, senderId: 'user_bob' }, [utf8('same')]);
    expect(a[1]!.data).not.toEqual(b[1]!.data);
    expect(a[1]!.data).not.toEqual(c[1]!.data);
  });

  it('draws a random 16-byte stream id when none is given', async () => {
    const f = await streamFixture();
    const { streamId: _, ...rest } = f;
    const one = createStreamEncryptor(rest);
    const two = createStreamEncryptor(rest);
    expect(one.streamId).toHaveLength(16);
    expect(one.streamId).not.toEqual(two.streamId);
  });
});

describe('stream AEAD integrity: every failure is the same DecryptFailed', () => {
  let f: StreamFixture;
  const sealed = async () => {
    f = await streamFixture();
    return sealStream(f, pieces);
  };

  it('rejects a reordered sequence', async () => {
    const c = await sealed();
    await expectDecryptFailed(openStream(f, [c[0]!, c[2]!, c[1]!, c[3]!, c[4]!]));
    await expectDecryptFailed(openStream(f, [c[1]!, c[0]!, c[2]!, c[3]!, c[4]!]));
  });

  it('rejects a dropped chunk (header, data or final)', async () => {
    const c = await sealed();
    await expectDecryptFailed(openStream(f, [c[0]!, c[1]!, c[3]!, c[4]!]));
    await expectDecryptFailed(openStream(f, c.slice(1)));
    await expectDecryptFailed(openStream(f, c.slice(0, 4)));
  });

  it('rejects a duplicated chunk, and any chunk after the final one', async () => {
    const c = await sealed();
    await expectDecryptFailed(openStream(f, [c[0]!, c[1]!, c[1]!, c[2]!, c[3]!, c[4]!]));
    await expectDecryptFailed(openStream(f, [...c, c[4]!]));
    await expectDecryptFailed(openStream(f, [...c, { data: c[3]!.data, last: false }]));
  });

  it('rejects an altered ciphertext, tag, header chunk or final chunk', async () => {
    const c = await sealed();
    for (const [i, bit] of [
      [0, 3],
      [1, 0],
      [2, 8 * 2000 + 5],
      [2, 8 * (c[2]!.data.length - 1)],
      [4, 8 * 10],
      [4, 8 * c[4]!.data.length - 1],
    ] as const) {
      const altered = c.map((chunk, j) => (j === i ? { ...chunk, data: flipBit(chunk.data, bit) } : chunk));
      await expectDecryptFailed(openStream(f, altered));
    }
    // Cut short or extended by a byte.
    await expectDecryptFailed(
      openStream(
        f,
        c.map((chunk, j) => (j === 2 ? { ...chunk, data: chunk.data.subarray(1) } : chunk)),
      ),
    );
    const longer = c.map((chunk, j) => (j === 2 ? { ...chunk, data: new Uint8Array([...chunk.data, 0]) } : chunk));
    await expectDecryptFailed(openStream(f, longer));
  });

  it('rejects a truncated stream: input ends without the last flag', async () => {
    const c = await sealed();
    const dec = createStreamDecryptor(f);
    for (const chunk of c.slice(0, 4)) await dec.open(chunk.data, chunk.last);
    await expectDecryptFailed(dec.finish());
  });

  it('rejects a flipped last flag, either way', async () => {
    const c = await sealed();
    await expectDecryptFailed(
      openStream(
        f,
        c.map((chunk, j) => (j === 2 ? { ...chunk, last: true } : chunk)),
      ),
    );
    await expectDecryptFailed(
      openStream(
        f,
        c.map((chunk, j) => (j === 4 ? { ...chunk, last: false } : chunk)),
      ),
    );
    await expectDecryptFailed(openStream(f, [{ ...c[0]!, last: true }]));
  });

  it('rejects a wrong epoch key, stream id or sender id', async () => {
    const c = await sealed();
    await expectDecryptFailed(openStream(f, c, { epochKey: nodeBackend.randomBytes(32) }));
    await expectDecryptFailed(openStream(f, c, { streamId: flipBit(f.streamId, 0) }));
    await expectDecryptFailed(openStream(f, c, { senderId: 'user_mallory' }));
  });

  it('rejects a header or final chunk signed by anyone but the sender (a room member forging a stream, an end or an abort)', async () => {
    f = await streamFixture();
    const mallory = nodeBackend.randomBytes(32);
    const forgedEnd = await sealStream(f, pieces, { signingSeed: mallory });
    const forgedAbort = await sealStream(f, pieces, { signingSeed: mallory, abortReason: 'fake' });
    // A whole stream in the sender's name: its header passes the AEAD, not the header signature.
    await expectDecryptFailed(createStreamDecryptor(f).open(forgedEnd[0]!.data, false));
    // The sender's genuine header, then the forger's chunks: they pass the AEAD, the end signature catches them.
    const genuine = await sealStream(f, pieces);
    const dec = createStreamDecryptor(f);
    await dec.open(genuine[0]!.data, false);
    for (const chunk of forgedEnd.slice(1, 4)) await dec.open(chunk.data, chunk.last);
    await expectDecryptFailed(dec.open(forgedEnd[4]!.data, true));
    await expectDecryptFailed(openStream(f, [genuine[0]!, ...forgedAbort.slice(1)]));
    // A genuine final chunk of one stream does not end another stream of the same sender.
    const other = await sealStream(f, [utf8('other content')]);
    await expectDecryptFailed(openStream(f, [...(await sealStream(f, pieces)).slice(0, 4), other.at(-1)!]));
  });

  it('stays failed after a failure: a later genuine chunk does not open', async () => {
    const c = await sealed();
    const dec = createStreamDecryptor(f);
    await dec.open(c[0]!.data, false);
    await expectDecryptFailed(dec.open(flipBit(c[1]!.data, 0), false));
    await expectDecryptFailed(dec.open(c[2]!.data, false));
    await expectDecryptFailed(dec.finish());
  });

  it('refuses oversized chunks before decrypting them', async () => {
    f = await streamFixture();
    const dec = createStreamDecryptor(f);
    await expectDecryptFailed(dec.open(new Uint8Array(STREAM_HEADER_MAX_BYTES + 17), false));
    const dec2 = createStreamDecryptor(f);
    await dec2.open((await sealStream(f, []))[0]!.data, false);
    await expectDecryptFailed(dec2.open(new Uint8Array(STREAM_CHUNK_MAX_BYTES + 17), false));
    const dec3 = createStreamDecryptor(f);
    await dec3.open((await sealStream(f, []))[0]!.data, false);
    await expectDecryptFailed(dec3.open(new Uint8Array(1 + 64 + STREAM_ABORT_REASON_MAX_BYTES + 17), true));
  });

  it('gives the same failure on every backend', async () => {
    const c = await sealed();
    for (const backend of [nodeBackend, nodeInlineBackend, webBackend, jsBackend]) {
      await expectDecryptFailed(openStream(f, [c[0]!, c[2]!], { backend }));
      await expectDecryptFailed(
        openStream(
          f,
          c.map((chunk, j) => (j === 3 ? { ...chunk, data: flipBit(chunk.data, 9) } : chunk)),
          { backend },
        ),
      );
    }
  });
});

describe('stream limits and misuse', () => {
  it('refuses a chunk over 64 KiB, a header over 64 KiB and a reason over 1 KiB with LimitExceeded', async () => {
    const f = await streamFixture();
    const enc = createStreamEncryptor(f);
    await enc.header();
    await expect(enc.write(new Uint8Array(STREAM_CHUNK_MAX_BYTES + 1))).rejects.toMatchObject({ reason: 'LimitExceeded' });
    await enc.write(new Uint8Array(STREAM_CHUNK_MAX_BYTES));
    await expect(enc.abort('x'.repeat(STREAM_ABORT_REASON_MAX_BYTES + 1))).rejects.toMatchObject({ reason: 'LimitExceeded' });
    await enc.abort('é'.repeat(STREAM_ABORT_REASON_MAX_BYTES / 2));
    expect(() => createStreamEncryptor({ ...f, header: new Uint8Array(STREAM_HEADER_MAX_BYTES + 1) })).toThrow(
      expect.objectContaining({ reason: 'LimitExceeded' }),
    );
  });

  it('refuses an index past maxChunks, keeping the last index for the final chunk', async () => {
    const f = await streamFixture();
    const enc = createStreamEncryptor({ ...f, maxChunks: 4 });
    const chunks = [await enc.header(), await enc.write(utf8('a')), await enc.write(utf8('b'))];
    await expect(enc.write(utf8('c'))).rejects.toMatchObject({ reason: 'LimitExceeded' });
    chunks.push(await enc.close());
    expect(chunks.at(-1)).toMatchObject({ index: 3, last: true });
    expect(await openStream(f, chunks)).toHaveLength(4);
    const dec = createStreamDecryptor({ ...f, maxChunks: 3 });
    for (const chunk of chunks.slice(0, 3)) await dec.open(chunk.data, chunk.last);
    await expectDecryptFailed(dec.open(chunks[3]!.data, true));
  });

  it('refuses use before header(), after close() or abort(), and a second header()', async () => {
    const f = await streamFixture();
    const enc = createStreamEncryptor(f);
    await expect(enc.write(utf8('x'))).rejects.toThrow('write() before header()');
    await expect(enc.close()).rejects.toThrow('close() before header()');
    await enc.header();
    await expect(enc.header()).rejects.toThrow('header() called twice');
    await enc.close();
    await expect(enc.write(utf8('x'))).rejects.toThrow('write() after close() or abort()');
    await expect(enc.abort('late')).rejects.toMatchObject({ reason: 'InvalidArgument' });
    const aborted = createStreamEncryptor(f);
    await aborted.header();
    await aborted.abort('stop');
    await expect(aborted.close()).rejects.toThrow('close() after close() or abort()');
  });

  it('validates arguments at the boundary, naming them', async () => {
    const f = await streamFixture();
    expect(() => createStreamEncryptor({ ...f, epochKey: new Uint8Array(31) })).toThrow('"epochKey" expected Uint8Array of length 32, got length=31');
    expect(() => createStreamEncryptor({ ...f, streamId: new Uint8Array(8) })).toThrow('"streamId" expected Uint8Array of length 16');
    expect(() => createStreamEncryptor({ ...f, senderId: '' })).toThrow('"senderId"');
    expect(() => createStreamEncryptor({ ...f, senderSeed: new Uint8Array(64) })).toThrow('"senderSeed"');
    expect(() => createStreamEncryptor({ ...f, maxChunks: 1 })).toThrow('"maxChunks"');
    expect(() => createStreamDecryptor({ ...f, senderPublicKey: new Uint8Array(33) })).toThrow('"senderPublicKey"');
    const enc = createStreamEncryptor(f);
    await enc.header();
    await expect(enc.write('text' as unknown as Uint8Array)).rejects.toThrow('"bytes" expected Uint8Array, got string');
    await expect(enc.abort(7 as unknown as string)).rejects.toThrow('"reason" expected a string');
    const dec = createStreamDecryptor(f);
    await expect(dec.open([1, 2] as unknown as Uint8Array, false)).rejects.toMatchObject({ reason: 'InvalidArgument' });
    await expect(dec.open(new Uint8Array(20), 'yes' as unknown as boolean)).rejects.toThrow('"last" expected a boolean');
  });

  it('puts no key, plaintext or reason into any error message', async () => {
    const f = await streamFixture();
    const secretText = 'top secret plaintext';
    const c = await sealStream(f, [utf8(secretText)], { abortReason: 'secret reason' });
    const errors: unknown[] = [];
    for (const variant of [[c[0]!, c[2]!], c.map((x) => ({ ...x, data: flipBit(x.data, 1) }))]) {
      await openStream(f, variant).catch((e: unknown) => errors.push(e));
    }
    expect(errors).toHaveLength(2);
    for (const e of errors) {
      const text = `${(e as Error).message} ${String((e as Error).stack)}`;
      expect(text).not.toContain(secretText);
      expect(text).not.toContain('secret reason');
      expect(text).not.toContain(fromUtf8(f.header));
    }
  });
});
