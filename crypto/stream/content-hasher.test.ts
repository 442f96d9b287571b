import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { jsBackend } from '../backend/js.ts';
import { nodeBackend } from '../backend/node.ts';
import { webBackend } from '../backend/web.ts';
import { createContentHasher } from './content-hasher.ts';

function pieces(sizes: number[]): Uint8Array[] {
  return sizes.map((size, i) => nodeBackend.randomBytes(size).map((x) => x ^ i));
}

function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

describe('content hasher', () => {
  it('is a plain SHA-256 of the content on every backend', async () => {
    const parts = pieces([0, 1, 63, 64, 65, 4096, 70_000, 16_384, 3]);
    for (const backend of [nodeBackend, webBackend, jsBackend]) {
      const h = createContentHasher({ backend });
      for (const p of parts) h.update(p);
      expect(await h.digest()).toEqual(sha256(joined(parts)));
    }
  });

  it('snapshots the hash so far while it goes on, on every backend', async () => {
    const parts = pieces([10, 65_526, 70_000, 5]);
    for (const backend of [nodeBackend, webBackend, jsBackend]) {
      const h = createContentHasher({ backend });
      const snapshots: Promise<Uint8Array>[] = [];
      for (const p of parts) {
        h.update(p);
        snapshots.push(h.snapshot());
      }
      expect(await Promise.all(snapshots)).toEqual(parts.map((_, i) => sha256(joined(parts.slice(0, i + 1)))));
      expect(await h.digest()).toEqual(sha256(joined(parts)));
    }
  });

  it('hashes at update, so the caller may reuse its buffer', async () => {
    const h = createContentHasher({ backend: nodeBackend });
    const buffer = new Uint8Array(100).fill(1);
    h.update(buffer);
    buffer.fill(2);
    h.update(buffer);
    expect(await h.digest()).toEqual(sha256(joined([new Uint8Array(100).fill(1), new Uint8Array(100).fill(2)])));
  });

  it('keeps many interleaved streams apart', async () => {
    const streams = Array.from({ length: 24 }, (_, i) => ({
      hasher: createContentHasher({ backend: nodeBackend }),
      parts: pieces(Array.from({ length: 30 }, (_, j) => ((i * 7919 + j * 104_729) % 20_000) + 1)),
    }));
    for (let j = 0; j < 30; j++) for (const s of streams) s.hasher.update(s.parts[j]!);
    const digests = await Promise.all(streams.map((s) => s.hasher.digest()));
    for (const [i, d] of digests.entries()) expect(d).toEqual(sha256(joined(streams[i]!.parts)));
  });

  it('cancel() drops the state; the next hasher is unaffected', async () => {
    const h = createContentHasher({ backend: nodeBackend });
    h.update(new Uint8Array(1000));
    h.cancel();
    h.update(new Uint8Array(1));
    await expect(h.digest()).rejects.toMatchObject({ reason: 'InvalidArgument' });
    const next = createContentHasher({ backend: nodeBackend });
    next.update(new Uint8Array([1, 2, 3]));
    expect(await next.digest()).toEqual(sha256(new Uint8Array([1, 2, 3])));
  });
});
