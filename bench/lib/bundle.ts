/**
 * Ahead-of-time builds of benchmark processes: esbuild bundles a proc script and our TypeScript
 * sources into one ES module (node_modules stay external), which then runs on plain `node`, without
 * the tsx loader. The tsx loader thread alone costs about 30 MB of RSS, so memory figures are taken
 * from builds (the "build in dist/" way of running that docs/design.md allows), with the loader's cost
 * reported beside them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { PROCS_DIR } from './procs.ts';

const REPO = join(PROCS_DIR, '..', '..');
const OUT_DIR = join(REPO, 'bench', 'results', '.build');

/**
 * Bundles `bench/procs/<script>` and returns the path of the built `.mjs`. `import.meta.url` inside
 * the bundle is set to `importMetaUrlOf` (a repo-relative source path), for code that finds files
 * beside its source (the Bridge's migrations folder).
 */
export async function bundleProc(script: string, importMetaUrlOf?: string): Promise<string> {
  mkdirSync(OUT_DIR, { recursive: true });
  const outfile = join(OUT_DIR, script.replace(/\.ts$/, '.mjs'));
  await build({
    entryPoints: [join(PROCS_DIR, script)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    conditions: ['node'],
    outfile,
    logLevel: 'error',
    ...(importMetaUrlOf === undefined ? {} : { define: { 'import.meta.url': JSON.stringify(pathToFileURL(join(REPO, importMetaUrlOf)).href) } }),
  });
  return outfile;
}

/** The Bridge process, built. */
export function bundleBridge(): Promise<string> {
  return bundleProc('bridge.ts', 'bridge/store/migrate.ts');
}
