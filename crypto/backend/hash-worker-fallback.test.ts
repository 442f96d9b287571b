import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it, vi } from 'vitest';

// A runtime that cannot start workers (a policy against `eval` workers, or no threads left).
vi.mock('node:worker_threads', () => ({
  Worker: class {
    constructor() {
      throw new Error('workers are not available');
    }
  },
}));

describe('hash worker fallback', () => {
  it('hashes in-thread when no worker can be started', async () => {
    const { createWorkerHash } = await import('./hash-worker.ts');
    const h = createWorkerHash('sha256');
    await h.update(new Uint8Array([1, 2, 3]));
    await h.update(new Uint8Array(100_000));
    expect(await h.digest()).toEqual(sha256(new Uint8Array([1, 2, 3, ...new Uint8Array(100_000)])));
  });
});
