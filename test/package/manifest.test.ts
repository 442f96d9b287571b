/**
 * The root package.json is the development manifest, but its exports must still resolve to built
 * JavaScript for plain node: TypeScript sources only under the `sealroom-source` condition that the
 * repo's own tooling sets (tsconfig customConditions, `--conditions=sealroom-source` for examples).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
};

describe('root package.json exports', () => {
  it('point plain node at built .js and .d.ts, and at sources only under sealroom-source', () => {
    for (const entry of ['./endpoint', './bridge', './crypto']) {
      const target = manifest.exports[entry] as Record<string, string>;
      expect(Object.keys(target)[0], entry).toBe('sealroom-source');
      expect(target['sealroom-source']).toMatch(/\.ts$/);
      expect(target.default).toMatch(/^\.\/dist\/.*\.js$/);
      expect(target.types).toMatch(/^\.\/dist\/.*\.d\.ts$/);
    }
  });
});
