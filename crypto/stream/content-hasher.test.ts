import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { jsBackend } from '../backend/js.ts';
import { nodeBackend } from '../backend/node.ts';
import type { BulkHash, CryptoBackend } from '../backend/types.ts';
import { webBackend } from '../backend/web.ts';
import { CONTENT_HASH_OFFLOAD_MIN_BYTES, createContentHasher } from './content-hasher.ts';

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

/** A backend whose bulk hash records its use, to see where the hashing happened. */
function spyBackend(): { backend: CryptoBackend; bulkCreated: () => number } {
  let created = 0;
  const backend: CryptoBackend = {
    ...nodeBackend,
    createBulkHash(name): BulkHash {
      created++;
      return nodeBackend.createBulkHash!(name);
    },
  };
  return { backend, bulkCreated: () => created };
}

describe('content hasher', () => {
  it('is a plain SHA-256 of the content on every backend', async () => {
    const parts = pieces([0, 1, 63, 64, 65, 4096, 70_000, 16_384, 3]);
    for (const backend of [nodeBackend, webBackend, jsBackend]) {
      const h = createContentHasher({ backend });
      for (const p of parts) await h.update(p);
      expect(await h.digest()).toEqual(sha256(joined(parts)));
    }
  });

  it('snapshots the hash so far, before and after it moves to the bulk hash, on every backend', async () => {
    const parts = pieces([10, CONTENT_HASH_OFFLOAD_MIN_BYTES - 10, 70_000, 5]);
    for (const backend of [nodeBackend, webBackend, jsBackend]) {
      const h = createContentHasher({ backend });
      const snapshots: Promise<Uint8Array>[] = [];
      for (const p of parts) {
        await h.update(p);
        snapshots.push(h.snapshot());
      }
      expect(await Promise.all(snapshots)).toEqual(parts.map((_, i) => sha256(joined(parts.slice(0, i + 1)))));
      expect(await h.digest()).toEqual(sha256(joined(parts)));
    }
  });

  it('stays in-thread below the offload threshold and moves to the bulk hash above it', async () => {
    const small = spyBackend();
    const h1 = createContentHasher({ backend: small.backend });
    const under = pieces([CONTENT_HASH_OFFLOAD_MIN_BYTES / 2, CONTENT_HASH_OFFLOAD_MIN_BYTES / 2]);
    for (const p of under) await h1.update(p);
    expect(await h1.digest()).toEqual(sha256(joined(under)));
    expect(small.bulkCreated()).toBe(0);

    const large = spyBackend();
    const h2 = createContentHasher({ backend: large.backend });
    const over = pieces([1000, CONTENT_HASH_OFFLOAD_MIN_BYTES, 5]);
    for (const p of over) await h2.update(p);
    expect(await h2.digest()).toEqual(sha256(joined(over)));
    expect(large.bulkCreated()).toBe(1);
  });

  it('stays in-thread for a large stream written in small chunks', async () => {
    const spy = spyBackend();
    const h = createContentHasher({ backend: spy.backend });
    const parts = pieces(Array.from({ length: 200 }, () => 1024));
    for (const p of parts) await h.update(p);
    expect(await h.digest()).toEqual(sha256(joined(parts)));
    expect(spy.bulkCreated()).toBe(0);
  });

  it('copies what it keeps below the threshold, so the caller may reuse its buffer', async () => {
    const h = createContentHasher({ backend: nodeBackend });
    const buffer = new Uint8Array(100).fill(1);
    await h.update(buffer);
    buffer.fill(2);
    await h.update(buffer);
    expect(await h.digest()).toEqual(sha256(joined([new Uint8Array(100).fill(1), new Uint8Array(100).fill(2)])));
  });

  it('keeps many interleaved streams apart', async () => {
    const streams = Array.from({ length: 24 }, (_, i) => ({
      hasher: createContentHasher({ backend: nodeBackend, offloadMinBytes: i % 2 === 0 ? 0 : 1 << 20, offloadMinChunkBytes: 0 }),
      parts: pieces(Array.from({ length: 30 }, (_, j) => ((i * 7919 + j * 104_729) % 20_000) + 1)),
    }));
    const waits: Promise<void>[] = [];
    for (let j = 0; j < 30; j++) {
      for (const s of streams) {
        const wait = s.hasher.update(s.parts[j]!);
        if (wait !== undefined) waits.push(wait);
      }
    }
    await Promise.all(waits);
    const digests = await Promise.all(streams.map((s) => s.hasher.digest()));
    for (const [i, d] of digests.entries()) expect(d).toEqual(sha256(joined(streams[i]!.parts)));
  });

  it('cancel() drops the state; the next hasher is unaffected', async () => {
    const h = createContentHasher({ backend: nodeBackend, offloadMinBytes: 0, offloadMinChunkBytes: 0 });
    await h.update(new Uint8Array(1000));
    h.cancel();
    const next = createContentHasher({ backend: nodeBackend, offloadMinBytes: 0, offloadMinChunkBytes: 0 });
    await next.update(new Uint8Array([1, 2, 3]));
    expect(await next.digest()).toEqual(sha256(new Uint8Array([1, 2, 3])));
  });
});
