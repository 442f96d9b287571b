import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { afterAll, describe, expect, it } from 'vitest';
import { HASH_RING_BYTES, createWorkerHash, shutdownHashWorker } from './hash-worker.ts';

function random(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

afterAll(() => shutdownHashWorker());

describe('hash worker', () => {
  it('computes SHA-256 and SHA-512 across ring wrap-around, with records of every alignment', async () => {
    const h256 = createWorkerHash('sha256');
    const h512 = createWorkerHash('sha512');
    const parts: Uint8Array[] = [];
    let total = 0;
    // Well past the ring size, so records wrap many times; odd lengths exercise the 16-byte padding.
    for (let i = 0; total < 3 * HASH_RING_BYTES; i++) {
      const part = random((i * 977) % 70_001, i);
      parts.push(part);
      total += part.length;
      await h256.update(part);
      await h512.update(part);
    }
    const all = new Uint8Array(total);
    let offset = 0;
    for (const p of parts) {
      all.set(p, offset);
      offset += p.length;
    }
    expect(await h256.digest()).toEqual(sha256(all));
    expect(await h512.digest()).toEqual(sha512(all));
  });

  it('applies backpressure when the ring is full, and loses nothing', async () => {
    const h = createWorkerHash('sha256');
    const part = random(60_000, 7);
    const count = Math.ceil((8 * HASH_RING_BYTES) / part.length);
    // Without awaiting, the producer outruns the worker: later updates must return promises.
    const results = Array.from({ length: count }, () => h.update(part));
    const waits = results.filter((r): r is Promise<void> => r !== undefined);
    expect(waits.length).toBeGreaterThan(0);
    await Promise.all(waits);
    const expected = sha256.create();
    for (let i = 0; i < count; i++) expected.update(part);
    expect(await h.digest()).toEqual(expected.digest());
  });

  it('splits an update larger than a ring record', async () => {
    const h = createWorkerHash('sha256');
    const big = random(HASH_RING_BYTES + 12_345, 3);
    await h.update(big);
    expect(await h.digest()).toEqual(sha256(big));
  });

  it('snapshots the digest so far while the hash goes on, several pending at once', async () => {
    const h = createWorkerHash('sha256');
    const parts = [random(70_000, 4), random(3, 5), random(200_000, 6)];
    const snapshots: Promise<Uint8Array>[] = [];
    for (const part of parts) {
      await h.update(part);
      snapshots.push(h.snapshot());
    }
    const all = (n: number) => new Uint8Array(parts.slice(0, n).flatMap((p) => [...p]));
    expect(await Promise.all(snapshots)).toEqual([sha256(all(1)), sha256(all(2)), sha256(all(3))]);
    expect(await h.digest()).toEqual(sha256(all(3)));
    await expect(h.snapshot()).rejects.toThrow('snapshot() after digest() or cancel()');
  });

  it('refuses use after digest() and tolerates cancel() at any point', async () => {
    const h = createWorkerHash('sha256');
    await h.update(random(10, 1));
    await h.digest();
    expect(() => h.update(random(10, 1))).toThrow('update() after digest() or cancel()');
    await expect(h.digest()).rejects.toThrow('digest() called twice');
    const c = createWorkerHash('sha256');
    c.cancel();
    c.cancel();
    expect(() => c.update(random(1, 1))).toThrow();
  });

  it('rejects pending digests on shutdown and starts a new worker afterwards', async () => {
    const h = createWorkerHash('sha256');
    await h.update(random(100, 1));
    const [digest] = await Promise.allSettled([h.digest(), shutdownHashWorker()]);
    // The digest either made it out before the stop or fails with a CryptoError; it never hangs.
    if (digest.status === 'rejected') expect(digest.reason).toMatchObject({ reason: 'Unsupported' });
    else expect(digest.value).toEqual(sha256(random(100, 1)));
    const after = createWorkerHash('sha256');
    await after.update(random(100, 2));
    expect(await after.digest()).toEqual(sha256(random(100, 2)));
  });

  it('does not keep a process alive once idle (the worker is unref-ed)', async () => {
    const workerModule = fileURLToPath(new URL('./hash-worker.ts', import.meta.url));
    const script = `
      const { createWorkerHash } = await import(${JSON.stringify(workerModule)});
      const h = createWorkerHash('sha256');
      await h.update(new Uint8Array(1 << 20));
      const d = await h.digest();
      console.log(Buffer.from(d).toString('hex'));
      createWorkerHash('sha256').update(new Uint8Array(10)); // abandoned: must not hold the process either
    `;
    const started = Date.now();
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 20_000 }, (error, out) =>
        error ? reject(error) : resolve(out),
      );
    });
    expect(stdout.trim()).toBe(Buffer.from(sha256(new Uint8Array(1 << 20))).toString('hex'));
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
