/**
 * The committed frame-worker bundle (frame-worker-bundle.ts) is built from the current sources
 * (scripts/build-frame-worker.mjs --check), and holds what a worker needs and nothing it must not.
 */
import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FRAME_WORKER_SOURCE } from './frame-worker-bundle.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('the frame-worker bundle', () => {
  it('is up to date with endpoint/media/frame-worker.ts and what it imports', () => {
    // Exits 1 with "stale" when a source changed without `node scripts/build-frame-worker.mjs`.
    execFileSync(process.execPath, [resolve(ROOT, 'scripts/build-frame-worker.mjs'), '--check'], { cwd: ROOT, stdio: 'pipe' });
  }, 60_000);

  it('is a classic script without imports, node: modules or libsodium, under 96 KB', () => {
    expect(FRAME_WORKER_SOURCE.startsWith('"use strict";(()=>{')).toBe(true);
    expect(FRAME_WORKER_SOURCE).not.toMatch(/\bimport\s*\(|\bimport\s+[{*\w]|require\(["']node:/);
    expect(FRAME_WORKER_SOURCE).toContain('the media frame worker has no libsodium');
    expect(FRAME_WORKER_SOURCE).toContain('onrtctransform');
    expect(FRAME_WORKER_SOURCE.length).toBeLessThan(96 * 1024);
  });
});
