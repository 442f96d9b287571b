/**
 * Ahead-of-time builds of benchmark processes: esbuild bundles a proc script and our TypeScript
 * sources into one ES module (node_modules stay external), which then runs on plain `node`, without
 * the tsx loader. The tsx loader thread alone costs about 30 MB of RSS, so memory figures are taken
 * from builds (the "build in dist/" way of running that docs/design.md allows), with the loader's cost
 * reported beside them. A built process also starts in about a third of the CPU time (0.3 s against
 * 0.9-1.1 s measured here), so bench/lib/procs.ts runs every proc script built unless asked for tsx
 * (docs/operations/benchmarks.md).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROCS = join(REPO, 'bench', 'procs');
/** One folder per run, removed when it exits: runs started by other people at the same time build their own. */
const OUT_DIR = join(REPO, 'bench', 'results', '.build', `run-${process.pid}`);
let cleanupInstalled = false;

/** Builds made by this run: each script is built once per run, however many scenarios start it. */
const built = new Map<string, Promise<string>>();

/**
 * Bundles `bench/procs/<script>` (once per run) and returns the path of the built `.mjs`.
 * `import.meta.url` inside the bundle is set to `importMetaUrlOf` (a repo-relative source path), for
 * code that finds files beside its source (the Bridge's migrations folder).
 */
export function bundleProc(script: string, importMetaUrlOf?: string): Promise<string> {
  const key = `${script}\n${importMetaUrlOf ?? ''}`;
  let build = built.get(key);
  if (build === undefined) {
    build = buildProc(script, importMetaUrlOf);
    // A failed build is not kept: the next scenario tries again.
    build.catch(() => built.delete(key));
    built.set(key, build);
  }
  return build;
}

async function buildProc(script: string, importMetaUrlOf?: string): Promise<string> {
  mkdirSync(OUT_DIR, { recursive: true });
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    process.on('exit', () => rmSync(OUT_DIR, { recursive: true, force: true }));
  }
  // A folder per build: its chunks beside its entry, apart from every other build's.
  const outdir = join(OUT_DIR, `${script.replace(/\.ts$/, '')}${importMetaUrlOf === undefined ? '' : '-meta'}`);
  await build({
    entryPoints: [join(PROCS, script)],
    bundle: true,
    // A dynamic import stays a chunk of its own, loaded when the code asks for it, as in the package
    // (the Bridge's forwarding unit and PostgreSQL store: their packages are not loaded at start).
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    conditions: ['node'],
    outdir,
    outExtension: { '.js': '.mjs' },
    logLevel: 'error',
    ...(importMetaUrlOf === undefined ? {} : { define: { 'import.meta.url': JSON.stringify(pathToFileURL(join(REPO, importMetaUrlOf)).href) } }),
  });
  return join(outdir, script.replace(/\.ts$/, '.mjs'));
}

/** The Bridge process, built. */
export function bundleBridge(): Promise<string> {
  return bundleProc('bridge.ts', BRIDGE_META_URL);
}

/** Where the Bridge's code looks for its migrations folder (bridge/store/migrate.ts reads import.meta.url). */
const BRIDGE_META_URL = 'bridge/store/migrate.ts';

/** `bench/procs/<script>` built, with what it needs of `import.meta.url` (only the Bridge needs any). */
export function builtProc(script: string): Promise<string> {
  return bundleProc(script, script === 'bridge.ts' ? BRIDGE_META_URL : undefined);
}
