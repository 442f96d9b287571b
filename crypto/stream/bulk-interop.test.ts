/**
 * Streams through the Node bulk thread (`nodeBackend`, backend/bulk-thread.ts) against the same
 * streams on the calling thread (`nodeInlineBackend`) and on WebCrypto (`webBackend`): byte-identical
 * chunks, each side opens the other's, checkpoints and private streams included, with opens that
 * overlap, and tampering still fails the threaded reader (docs/operations/realtime-priorities.md).
 */
import { describe, expect, it } from 'vitest';
import { expectDecryptFailed } from '../test-errors.ts';
import { bulkThreadCounts } from '../backend/bulk-thread.ts';
import { nodeBackend, nodeInlineBackend } from '../backend/node.ts';
import type { CryptoBackend } from '../backend/types.ts';
import { webBackend } from '../backend/web.ts';
import { utf8 } from '../bytes.ts';
import { createStreamDecryptor, type OpenedChunk } from './decryptor.ts';
import { createStreamEncryptor, type SealedChunk } from './encryptor.ts';
import { unwrapStreamSecret } from './keying.ts';
import { contentOf, flipBit, sealStream, streamFixture, type StreamFixture } from './test-kit.ts';

const INTERVAL = 1000;
/** Sizes that meet every segment end exactly (pieces may not cross one), an empty piece among them. */
const SIZES = [500, 300, 200, 0, 1000, 250, 750, 1000, 999, 1];
const ROOM = 'room_0123456789abcdef';

/** Sealer, then opener: the threaded path against each other one, both ways. */
const PAIRS: Array<[string, CryptoBackend, CryptoBackend]> = [
  ['threaded -> inline', nodeBackend, nodeInlineBackend],
  ['inline -> threaded', nodeInlineBackend, nodeBackend],
  ['threaded -> web', nodeBackend, webBackend],
  ['web -> threaded', webBackend, nodeBackend],
  ['threaded -> threaded', nodeBackend, nodeBackend],
];

/** Opens every chunk without awaiting the one before (as a socket reader does), then finish(). */
async function openOverlapping(
  f: StreamFixture,
  chunks: Array<{ data: Uint8Array; last: boolean }>,
  backend: CryptoBackend,
  reader?: Parameters<typeof createStreamDecryptor>[0]['reader'],
): Promise<OpenedChunk[]> {
  const dec = createStreamDecryptor({
    epochKey: f.epochKey,
    reader,
    streamId: f.streamId,
    senderId: f.senderId,
    senderPublicKey: f.senderPublicKey,
    backend,
    checkpointIntervalBytes: INTERVAL,
  });
  const opened = await Promise.all(chunks.map((c) => dec.open(c.data, c.last)));
  await dec.finish();
  return opened;
}

const pieces = () => SIZES.map((size, i) => nodeInlineBackend.randomBytes(size).map((x) => x ^ i));
const joined = (parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));

describe('the bulk thread against the inline and web paths', () => {
  it.each(PAIRS)('room stream with checkpoints, overlapping opens: %s', async (_, sealer, opener) => {
    const f = await streamFixture();
    const content = pieces();
    const chunks = await sealStream(f, content, { backend: sealer, checkpointIntervalBytes: INTERVAL });
    // AES-GCM and Ed25519 are deterministic: every path seals the very same bytes as the inline one.
    const reference = await sealStream(f, content, { backend: nodeInlineBackend, checkpointIntervalBytes: INTERVAL });
    expect(chunks.map((c) => c.data)).toEqual(reference.map((c) => c.data));
    const opened = await openOverlapping(f, chunks, opener);
    expect(opened.map((c) => c.kind).filter((k) => k === 'checkpoint')).toHaveLength(3);
    expect(contentOf(opened)).toEqual(joined(content));
    expect(opened.at(-1)).toEqual({
      kind: 'end',
      index: chunks.length - 1,
      contentBytes: 5000,
      contentHash: nodeInlineBackend.hash('sha256', joined(content)),
    });
    expect(chunks.at(-1)!.contentHash).toEqual(nodeInlineBackend.hash('sha256', joined(content)));
  });

  it.each(PAIRS)('overlapping writes and checkpoints, then an abort: %s', async (_, sealer, opener) => {
    const f = await streamFixture();
    const enc = createStreamEncryptor({ ...f, backend: sealer, checkpointIntervalBytes: INTERVAL });
    const calls: Promise<SealedChunk>[] = [enc.header()];
    for (let i = 0; i < 24; i++) {
      if (enc.checkpointDue) calls.push(enc.checkpoint());
      calls.push(enc.write(new Uint8Array(250).fill(i)));
    }
    calls.push(enc.abort('stopped ✋'));
    const chunks = await Promise.all(calls);
    expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i));
    const opened = await openOverlapping(f, chunks, opener);
    expect(opened.filter((c) => c.kind === 'checkpoint')).toHaveLength(4);
    expect(opened.at(-1)).toMatchObject({ kind: 'aborted', contentBytes: 6000, reason: 'stopped ✋' });
    expect(opened.flatMap((c) => (c.kind === 'data' ? [c.data[0]] : []))).toEqual(Array.from({ length: 24 }, (_, i) => i));
  });

  it.each(PAIRS)('private stream (recipients): %s', async (_, sealer, opener) => {
    const f = await streamFixture();
    const bobSeed = nodeInlineBackend.randomBytes(32);
    const bob = { recipientId: 'bob', recipientPublicKey: await nodeInlineBackend.ed25519PublicKey(bobSeed) };
    const { epochKey: _epochKey, ...rest } = f;
    const enc = createStreamEncryptor({ ...rest, backend: sealer, checkpointIntervalBytes: INTERVAL, recipients: { roomId: ROOM, list: [bob] } });
    const content = pieces();
    const chunks = [await enc.header()];
    for (const piece of content) {
      if (enc.checkpointDue) chunks.push(await enc.checkpoint());
      chunks.push(await enc.write(piece));
    }
    chunks.push(await enc.close());
    const reader = {
      roomId: ROOM,
      recipientId: 'bob',
      unwrap: (params: Parameters<typeof unwrapStreamSecret>[0]) => unwrapStreamSecret({ ...params, recipientSeed: bobSeed }),
    };
    const opened = await openOverlapping(f, chunks, opener, reader);
    expect(opened[0]).toMatchObject({ kind: 'header', recipients: ['bob'] });
    expect(contentOf(opened)).toEqual(joined(content));
    expect(opened.at(-1)).toMatchObject({ kind: 'end', contentBytes: 5000 });
    // Not for someone else holding the epoch key.
    await expectDecryptFailed(openOverlapping(f, chunks, opener));
  });
});

describe('the threaded reader still catches tampering', () => {
  it('one flipped byte in any data chunk fails the stream, with opens overlapping or one by one', async () => {
    const f = await streamFixture();
    const chunks = await sealStream(f, pieces(), { backend: nodeInlineBackend, checkpointIntervalBytes: INTERVAL });
    const dataChunks = [1, 2, 3, 5, 7, 9, 11];
    for (const i of dataChunks) {
      const altered = chunks.map((c, j) => (j === i ? { ...c, data: flipBit(c.data, 8 * Math.floor(c.data.length / 2)) } : c));
      await expectDecryptFailed(openOverlapping(f, altered, nodeBackend));
      const dec = createStreamDecryptor({ ...f, backend: nodeBackend, checkpointIntervalBytes: INTERVAL });
      const one = async () => {
        for (const c of altered) await dec.open(c.data, c.last);
        await dec.finish();
      };
      await expectDecryptFailed(one());
    }
  });

  it("a stream signed with another member's key fails at its header: its signature is checked on the thread", async () => {
    const f = await streamFixture();
    const forged = await sealStream(f, pieces(), {
      backend: nodeInlineBackend,
      signingSeed: nodeInlineBackend.randomBytes(32),
      checkpointIntervalBytes: INTERVAL,
    });
    const before = bulkThreadCounts().calls;
    const dec = createStreamDecryptor({ ...f, backend: nodeBackend, checkpointIntervalBytes: INTERVAL });
    await expectDecryptFailed(dec.open(forged[0]!.data, forged[0]!.last));
    // The header's open and its signature check: two calls.
    expect(bulkThreadCounts().calls - before).toBe(2);
    await expectDecryptFailed(openOverlapping(f, forged, nodeBackend));
  });

  it('a data chunk swapped for the same chunk of another stream under the same key fails at the next checkpoint or the end', async () => {
    const f = await streamFixture();
    const content = pieces();
    const chunks = await sealStream(f, content, { backend: nodeBackend, checkpointIntervalBytes: INTERVAL });
    // The same key (same ids), other content: the chunk authenticates, the content hash does not match.
    const other = await sealStream(
      f,
      content.map((p) => p.map((x) => x ^ 1)),
      { backend: nodeBackend, checkpointIntervalBytes: INTERVAL },
    );
    const swapped = chunks.map((c, j) => (j === 2 ? other[2]! : c));
    await expectDecryptFailed(openOverlapping(f, swapped, nodeBackend));
  });
});

describe('dispose()', () => {
  it.each([
    ['threaded', nodeBackend],
    ['inline', nodeInlineBackend],
  ] as const)('drops a stream mid-way: later calls fail, twice is harmless (%s)', async (_, backend) => {
    const f = await streamFixture();
    const enc = createStreamEncryptor({ ...f, backend });
    const chunks = [await enc.header(), await enc.write(utf8('one'))];
    enc.dispose();
    enc.dispose();
    await expect(enc.write(utf8('two'))).rejects.toMatchObject({ reason: 'InvalidArgument' });
    await expect(enc.close()).rejects.toMatchObject({ reason: 'InvalidArgument' });
    const dec = createStreamDecryptor({ ...f, backend });
    expect(await dec.open(chunks[0]!.data, false)).toMatchObject({ kind: 'header' });
    expect(await dec.open(chunks[1]!.data, false)).toMatchObject({ kind: 'data', data: utf8('one') });
    dec.dispose();
    dec.dispose();
    await expectDecryptFailed(dec.open(chunks[1]!.data, false));
    await expectDecryptFailed(dec.finish());
  });
});
