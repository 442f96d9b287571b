/**
 * What the sender's signatures and the recipients' wraps add to the stream AEAD (format.ts, keying.ts):
 * a room member who holds the stream key cannot open a stream in another member's name, cannot show a
 * reader more than one checkpoint interval of forged content, and cannot read a private stream it is
 * not a recipient of.
 */
import { describe, expect, it } from 'vitest';
import { expectDecryptFailed } from '../test-errors.ts';
import { nodeBackend, nodeInlineBackend } from '../backend/node.ts';
import { webBackend } from '../backend/web.ts';
import { utf8 } from '../bytes.ts';
import { createStreamDecryptor, type StreamReaderKey } from './decryptor.ts';
import { createStreamEncryptor } from './encryptor.ts';
import { STREAM_CHECKPOINT_INTERVAL_BYTES, STREAM_UNSIGNED_MAX_BYTES } from './format.ts';
import { encodeKeying, parseKeying, STREAM_RECIPIENTS_MAX, unwrapStreamSecret } from './keying.ts';
import { contentOf, flipBit, openStream, sealStream, streamFixture } from './test-kit.ts';

const ROOM = 'room_0123456789abcdef';
const INTERVAL = 100;

describe('checkpoints', () => {
  it('come at the end of every segment from the second on, signing one segment back, and not at the very end', async () => {
    const f = await streamFixture();
    const pieces = [new Uint8Array(60), new Uint8Array(40), new Uint8Array(100), new Uint8Array(100), new Uint8Array(30)];
    const chunks = await sealStream(f, pieces, { checkpointIntervalBytes: INTERVAL });
    const opened = await openStream(f, chunks, { checkpointIntervalBytes: INTERVAL });
    expect(opened.map((c) => c.kind)).toEqual(['header', 'data', 'data', 'data', 'checkpoint', 'data', 'checkpoint', 'data', 'end']);
    expect(opened.filter((c) => c.kind === 'checkpoint').map((c) => (c as { contentBytes: number }).contentBytes)).toEqual([100, 200]);
    // A stream that ends on a segment's end needs no checkpoint there: the end signs it.
    const exact = await sealStream(f, [new Uint8Array(100), new Uint8Array(100)], { checkpointIntervalBytes: INTERVAL });
    expect((await openStream(f, exact, { checkpointIntervalBytes: INTERVAL })).map((c) => c.kind)).toEqual(['header', 'data', 'data', 'end']);
    // The defaults: segments of 1 MiB (whole 64 KiB chunks), at most 2 MiB unsigned.
    expect([STREAM_CHECKPOINT_INTERVAL_BYTES, STREAM_UNSIGNED_MAX_BYTES]).toEqual([1024 * 1024, 2 * 1024 * 1024]);
  });

  it('the encryptor refuses a write while a checkpoint is due, and a write across one', async () => {
    const f = await streamFixture();
    const enc = createStreamEncryptor({ ...f, checkpointIntervalBytes: INTERVAL });
    await enc.header();
    await expect(enc.checkpoint()).rejects.toMatchObject({ reason: 'InvalidArgument' });
    await enc.write(new Uint8Array(70));
    expect(enc.bytesBeforeCheckpoint).toBe(30);
    await expect(enc.write(new Uint8Array(31))).rejects.toMatchObject({ reason: 'LimitExceeded' });
    await enc.write(new Uint8Array(30));
    // The end of the first segment: no checkpoint yet (it would sign nothing), but no write across it.
    expect([enc.checkpointDue, enc.bytesBeforeCheckpoint]).toEqual([false, 100]);
    await expect(enc.write(new Uint8Array(101))).rejects.toMatchObject({ reason: 'LimitExceeded' });
    await enc.write(new Uint8Array(100));
    expect([enc.checkpointDue, enc.bytesBeforeCheckpoint]).toEqual([true, 0]);
    await expect(enc.write(new Uint8Array(1))).rejects.toThrow('write() while a checkpoint is due');
    await enc.checkpoint();
    expect([enc.checkpointDue, enc.bytesBeforeCheckpoint]).toEqual([false, 100]);
  });

  it('a missing, moved, forged or foreign checkpoint fails the stream there', async () => {
    const f = await streamFixture();
    const o = { checkpointIntervalBytes: INTERVAL };
    const pieces = [new Uint8Array(100), new Uint8Array(100), new Uint8Array(50)];
    const c = await sealStream(f, pieces, o);
    expect(c.map((x) => x.data.length)).toEqual([c[0]!.data.length, 116, 116, 80, 66, 81]);
    const but = (i: number, chunk: { data: Uint8Array; last: boolean }) => c.map((x, j) => (j === i ? chunk : x));
    await expectDecryptFailed(openStream(f, [...c.slice(0, 3), ...c.slice(4)], o)); // dropped: data where a checkpoint is due
    await expectDecryptFailed(openStream(f, [...c.slice(0, 3), c[4]!, c[3]!, c[5]!], o)); // moved
    await expectDecryptFailed(openStream(f, but(3, { ...c[3]!, data: flipBit(c[3]!.data, 9) }), o));
    const forged = await sealStream(f, pieces, { ...o, signingSeed: nodeBackend.randomBytes(32) });
    await expectDecryptFailed(openStream(f, but(3, forged[3]!), o));
    // A checkpoint of another stream of the same sender over the same content (another stream id) does not open.
    const other = await sealStream({ ...f, streamId: nodeBackend.randomBytes(16) }, pieces, o);
    await expectDecryptFailed(openStream(f, but(3, other[3]!), o));
    // The reader must use the sender's interval.
    await expectDecryptFailed(openStream(f, c, { checkpointIntervalBytes: 200 }));
  });

  it('a data chunk across a multiple of the interval is refused before it is decrypted', async () => {
    const f = await streamFixture();
    const honest = await sealStream(f, [new Uint8Array(150)], { checkpointIntervalBytes: 200 });
    await expectDecryptFailed(openStream(f, honest, { checkpointIntervalBytes: INTERVAL }));
  });

  it(`a room member forging content in another's stream shows a reader at most two intervals before it fails`, async () => {
    const f = await streamFixture();
    const o = { checkpointIntervalBytes: INTERVAL };
    const pieces = Array.from({ length: 10 }, (_, i) => new Uint8Array(50).fill(i));
    const genuine = await sealStream(f, pieces, o);
    // The forger holds the epoch key: its chunks open under the same stream key, its signatures do not verify.
    const forged = await sealStream(
      f,
      pieces.map((p) => p.map(() => 0x66)),
      { ...o, signingSeed: nodeBackend.randomBytes(32) },
    );
    const dec = createStreamDecryptor({ ...f, ...o });
    let delivered = 0;
    let failure: unknown;
    try {
      await dec.open(genuine[0]!.data, false);
      for (const chunk of forged.slice(1)) {
        const opened = await dec.open(chunk.data, chunk.last);
        if (opened.kind === 'data') delivered += opened.data.length;
      }
    } catch (error) {
      failure = error;
    }
    expect(failure).toMatchObject({ reason: 'DecryptFailed' });
    expect(delivered).toBe(2 * INTERVAL);
  });

  it('overlapping writes and checkpoints keep the chain in call order (node threaded and inline, web)', async () => {
    for (const backend of [nodeBackend, nodeInlineBackend, webBackend]) {
      const f = await streamFixture();
      const enc = createStreamEncryptor({ ...f, backend, checkpointIntervalBytes: 1000 });
      const calls = [enc.header()];
      for (let i = 0; i < 30; i++) {
        if (enc.checkpointDue) calls.push(enc.checkpoint());
        calls.push(enc.write(new Uint8Array(500).fill(i)));
      }
      calls.push(enc.close());
      const chunks = await Promise.all(calls);
      const dec = createStreamDecryptor({ ...f, backend, checkpointIntervalBytes: 1000 });
      const opened = await Promise.all(chunks.map((c) => dec.open(c.data, c.last)));
      await dec.finish();
      expect(opened.filter((c) => c.kind === 'checkpoint')).toHaveLength(13);
      expect(opened.at(-1)).toMatchObject({ kind: 'end', contentBytes: 15_000 });
    }
  });
});

describe('private streams (recipients)', () => {
  async function people(names: string[]) {
    return Promise.all(
      names.map(async (id) => {
        const seed = nodeBackend.randomBytes(32);
        return { id, seed, publicKey: await nodeBackend.ed25519PublicKey(seed) };
      }),
    );
  }
  const readerKey = (p: { id: string; seed: Uint8Array }): StreamReaderKey => ({
    roomId: ROOM,
    recipientId: p.id,
    unwrap: (params) => unwrapStreamSecret({ ...params, recipientSeed: p.seed }),
  });

  async function privateStream(recipients: Array<{ id: string; publicKey: Uint8Array }>) {
    const f = await streamFixture();
    const { epochKey: _e, ...rest } = f;
    const enc = createStreamEncryptor({
      ...rest,
      recipients: { roomId: ROOM, list: recipients.map((r) => ({ recipientId: r.id, recipientPublicKey: r.publicKey })) },
    });
    const chunks = [await enc.header(), await enc.write(utf8('for your eyes only')), await enc.close()];
    return { f, chunks };
  }

  it('opens for each recipient, who sees the signed recipient list, and never from the epoch key', async () => {
    const [bob, carol, dave] = await people(['bob', 'carol', 'dave']);
    const { f, chunks } = await privateStream([bob!, carol!]);
    for (const p of [bob!, carol!]) {
      const dec = createStreamDecryptor({ ...f, reader: readerKey(p) });
      const opened = await Promise.all(chunks.map((c) => dec.open(c.data, c.last)));
      await dec.finish();
      expect(opened[0]).toMatchObject({ kind: 'header', recipients: ['bob', 'carol'] });
      expect(contentOf(opened)).toEqual(utf8('for your eyes only'));
    }
    // dave is a room member (he holds the epoch key) and not a recipient: nothing opens for him.
    await expectDecryptFailed(createStreamDecryptor({ ...f, reader: readerKey(dave!) }).open(chunks[0]!.data, false));
    await expectDecryptFailed(createStreamDecryptor(f).open(chunks[0]!.data, false));
    // Nor for dave presenting bob's id: the wrap opens only with bob's key.
    await expectDecryptFailed(createStreamDecryptor({ ...f, reader: { ...readerKey(dave!), recipientId: 'bob' } }).open(chunks[0]!.data, false));
  });

  it("a wrap moved to another name, another stream or another room does not open, and the list is the sender's", async () => {
    const [bob, carol] = await people(['bob', 'carol']);
    const { f, chunks } = await privateStream([bob!, carol!]);
    const parsed = parseKeying(chunks[0]!.data)!;
    if (parsed.keying.kind !== 'recipients') throw new Error('expected recipients');
    const sealedHeader = chunks[0]!.data.subarray(parsed.length);
    // Names swapped: each wrap now sits under the other's name.
    const [b, c] = parsed.keying.recipients;
    const swapped = encodeKeying({
      kind: 'recipients',
      recipients: [
        { ...b!, recipientId: 'carol' },
        { ...c!, recipientId: 'bob' },
      ],
    });
    await expectDecryptFailed(createStreamDecryptor({ ...f, reader: readerKey(bob!) }).open(new Uint8Array([...swapped, ...sealedHeader]), false));
    // carol dropped from the list: bob's wrap opens, the header signature (over the list) does not.
    const dropped = encodeKeying({ kind: 'recipients', recipients: [b!] });
    await expectDecryptFailed(createStreamDecryptor({ ...f, reader: readerKey(bob!) }).open(new Uint8Array([...dropped, ...sealedHeader]), false));
    await expectDecryptFailed(createStreamDecryptor({ ...f, streamId: nodeBackend.randomBytes(16), reader: readerKey(bob!) }).open(chunks[0]!.data, false));
    await expectDecryptFailed(createStreamDecryptor({ ...f, reader: { ...readerKey(bob!), roomId: 'room_fedcba9876543210' } }).open(chunks[0]!.data, false));
  });

  it(`refuses more than ${STREAM_RECIPIENTS_MAX} recipients, a repeated one, and both keys at once`, async () => {
    const f = await streamFixture();
    const { epochKey, ...rest } = f;
    const one = { recipientId: 'bob', recipientPublicKey: f.senderPublicKey };
    const many = Array.from({ length: STREAM_RECIPIENTS_MAX + 1 }, (_, i) => ({ ...one, recipientId: `u${i}` }));
    expect(() => createStreamEncryptor({ ...rest, recipients: { roomId: ROOM, list: many } })).toThrow(expect.objectContaining({ reason: 'LimitExceeded' }));
    expect(() => createStreamEncryptor({ ...rest, recipients: { roomId: ROOM, list: [] } })).toThrow(expect.objectContaining({ reason: 'LimitExceeded' }));
    expect(() => createStreamEncryptor({ ...rest, recipients: { roomId: ROOM, list: [one, one] } })).toThrow('twice');
    const both = { ...f, recipients: { roomId: ROOM, list: [one] } } as unknown as Parameters<typeof createStreamEncryptor>[0];
    expect(() => createStreamEncryptor(both)).toThrow('"recipients" expected instead of "epochKey"');
    createStreamEncryptor({ ...rest, recipients: { roomId: ROOM, list: many.slice(1) } });
    void epochKey;
  });

  it('refuses a malformed keying prefix', async () => {
    const f = await streamFixture();
    for (const bad of [[], [0x03], [0x02, 0, 0], [0x02, 1, 1], [0x02, 0, 1, 3, 98, 111, 98]]) {
      await expectDecryptFailed(createStreamDecryptor(f).open(new Uint8Array([...bad, ...new Uint8Array(100)]), false));
    }
  });
});
