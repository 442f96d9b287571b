/**
 * The Endpoint's browser bundle budget (docs/package.md): `sealroom/endpoint` bundled for browsers
 * by esbuild, minified, with code splitting, so that lazy chunks (libsodium, loaded only where
 * WebCrypto lacks a primitive) are separate files. The entry chunk, gzipped, must stay within
 * BUDGET_GZIP_BYTES; the lazy chunks are reported beside it and do not count.
 */
import { gzipSync } from 'node:zlib';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** 100 KiB gzipped for the entry chunk. */
const BUDGET_GZIP_BYTES = 100 * 1024;

interface Chunk {
  file: string;
  entry: boolean;
  minifiedBytes: number;
  gzipBytes: number;
  /** The largest inputs of this chunk, by package (or repo folder), in minified bytes. */
  largest: [string, number][];
}

async function bundleEndpoint(): Promise<Chunk[]> {
  const out = resolve(REPO, 'dist/.bundle-size');
  const result = await build({
    absWorkingDir: REPO,
    entryPoints: ['endpoint/index.ts'],
    bundle: true,
    minify: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    legalComments: 'none',
    outdir: out,
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  return result.outputFiles.map((file) => {
    const key = relative(REPO, file.path);
    const meta = result.metafile.outputs[key];
    const byOwner = new Map<string, number>();
    for (const [input, { bytesInOutput }] of Object.entries(meta?.inputs ?? {})) {
      const owner = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input.split('/')[0]!;
      byOwner.set(owner, (byOwner.get(owner) ?? 0) + bytesInOutput);
    }
    return {
      file: relative(out, file.path),
      entry: meta?.entryPoint === 'endpoint/index.ts',
      minifiedBytes: file.contents.length,
      gzipBytes: gzipSync(file.contents, { level: 9 }).length,
      largest: [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, 6),
    };
  });
}

describe('the Endpoint browser bundle', () => {
  it(`keeps its entry chunk within ${BUDGET_GZIP_BYTES} bytes gzipped, libsodium in a lazy chunk`, async () => {
    const chunks = await bundleEndpoint();
    const entry = chunks.find((c) => c.entry);
    expect(entry).toBeDefined();
    for (const c of chunks) {
      process.stdout.write(
        `bundle ${c.entry ? 'entry' : 'lazy '} ${c.file}: ${c.minifiedBytes} B minified, ${c.gzipBytes} B gzipped` +
          (c.entry ? ` (budget ${BUDGET_GZIP_BYTES}); largest: ${c.largest.map(([n, b]) => `${n} ${b}`).join(', ')}` : '') +
          '\n',
      );
    }
    expect(entry!.largest.map(([n]) => n)).not.toContain('libsodium-wrappers');
    expect(entry!.largest.map(([n]) => n)).not.toContain('libsodium');
    expect(chunks.some((c) => !c.entry && c.file.startsWith('libsodium'))).toBe(true);
    expect(entry!.gzipBytes).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
  });
});
