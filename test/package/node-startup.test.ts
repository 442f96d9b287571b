/**
 * What a Node process loads when it imports `sealroom/endpoint` or `sealroom/bridge`: the default
 * backend only. The pure-JS backend (@noble/ciphers, whose AES builds its tables as it loads: about
 * 15-30 ms of start-up on the project machine) and the WebCrypto backend are exported by
 * `sealroom/crypto` for whoever asks for them, and reach no other entry (crypto/backend/index.ts).
 * esbuild's metafile lists every file a bundle of the entry parses, so a static import that brought
 * them back shows here.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { toHex, utf8 } from '../../crypto/bytes.ts';
import { describe, expect, it } from 'vitest';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The files and packages a Node bundle of `entry` reaches through static imports. */
async function staticInputs(entry: string): Promise<{ files: string[]; packages: string[] }> {
  const result = await build({
    absWorkingDir: REPO,
    entryPoints: [entry],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    packages: 'external',
    outdir: resolve(REPO, 'dist/.node-startup'),
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  const chunks = Object.values(result.metafile.outputs);
  const entryChunk = chunks.find((o) => o.entryPoint === entry)!;
  // External packages appear as the chunks' import edges; follow only static ones.
  const byPath = new Map(Object.entries(result.metafile.outputs));
  const seen = new Set<string>();
  const packages = new Set<string>();
  const files = new Set<string>();
  const queue = [entryChunk];
  while (queue.length > 0) {
    const chunk = queue.pop()!;
    for (const input of Object.keys(chunk.inputs)) files.add(input);
    for (const edge of chunk.imports) {
      if (edge.kind !== 'import-statement') continue;
      if (edge.external === true) packages.add(edge.path);
      else if (!seen.has(edge.path)) {
        seen.add(edge.path);
        queue.push(byPath.get(edge.path)!);
      }
    }
  }
  return { files: [...files], packages: [...packages] };
}

describe('what a Node process loads at start', () => {
  for (const entry of ['endpoint/index.ts', 'bridge/index.ts']) {
    it(`${entry} reaches neither the pure-JS nor the WebCrypto backend`, async () => {
      const { files, packages } = await staticInputs(entry);
      expect(files).toContain('crypto/backend/node.ts');
      expect(files).not.toContain('crypto/backend/js.ts');
      expect(files).not.toContain('crypto/backend/web.ts');
      expect(packages.filter((p) => p.startsWith('@noble/ciphers'))).toEqual([]);
    });
  }

  it('sealroom/crypto still exports both for whoever asks', async () => {
    const { backend, jsBackend, webBackend } = await import('../../crypto/index.ts');
    const abc = toHex(backend().hash('sha256', utf8('abc')));
    expect(abc).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(toHex(jsBackend.hash('sha256', utf8('abc')))).toBe(abc);
    expect(toHex(webBackend.hash('sha256', utf8('abc')))).toBe(abc);
  });
});
