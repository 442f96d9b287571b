/**
 * The root package.json is the development manifest, but its exports must still resolve to built
 * JavaScript for plain node: no export points at a TypeScript source. The repo's own tooling reaches
 * the sources through tsconfig.json's `paths` (tsc, tsx for the examples, esbuild for the app).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
};
const tsconfig = JSON.parse(readFileSync(new URL('../../tsconfig.json', import.meta.url), 'utf8')) as {
  compilerOptions: { paths: Record<string, string[]> };
};

describe('root package.json exports', () => {
  it('point plain node at built .js and .d.ts only, never at a .ts source', () => {
    expect(JSON.stringify(manifest.exports)).not.toMatch(/(?<!\.d)\.ts"/);
    for (const entry of ['./endpoint', './bridge', './crypto']) {
      const target = manifest.exports[entry] as Record<string, string>;
      expect(Object.keys(target), entry).toEqual(['types', 'default']);
      expect(target.default).toMatch(/^\.\/dist\/.*\.js$/);
      expect(target.types).toMatch(/^\.\/dist\/.*\.d\.ts$/);
    }
  });

  it("the repo's tooling maps each export to its source through tsconfig paths", () => {
    for (const entry of ['endpoint', 'bridge', 'crypto']) {
      expect(tsconfig.compilerOptions.paths[`sealroom/${entry}`]).toEqual([`./${entry}/index.ts`]);
    }
  });
});
