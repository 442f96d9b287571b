#!/usr/bin/env node
/**
 * Builds the web app (docs/app.md) into dist/app/ (or `--out <dir>`): esbuild bundles app/src/main.ts
 * for browsers (the package's `imports` conditions pick WebCrypto, the native WebSocket and IndexedDB;
 * tsconfig.json's `paths` resolve `sealroom/endpoint` to the sources), minified, split so
 * libsodium stays a lazy chunk, every file under assets/ named by its content hash; index.html gets
 * those names; sealroom-app.json records the build (the Bridge's CLI serves a folder that has it).
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const OUT = outArg === -1 ? join(ROOT, 'dist/app') : resolve(process.argv[outArg + 1] ?? '');
const APP = join(ROOT, 'app');

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const result = await build({
  entryPoints: { app: join(APP, 'src/main.ts'), style: join(APP, 'styles.css') },
  bundle: true,
  format: 'esm',
  splitting: true,
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  outdir: join(OUT, 'assets'),
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.entries(result.metafile.outputs);
const entry = (name) => {
  const found = outputs.find(([, o]) => o.entryPoint?.endsWith(name));
  if (found === undefined) throw new Error(`build-app: no output for ${name}`);
  return `/${relative(OUT, resolve(ROOT, found[0])).split('\\').join('/')}`;
};
const script = entry('app/src/main.ts');
const style = outputs.find(([path]) => path.endsWith('.css'))?.[0];
if (style === undefined) throw new Error('build-app: no stylesheet');
const html = readFileSync(join(APP, 'index.html'), 'utf8')
  .replace('{{script}}', script)
  .replace('{{style}}', `/${relative(OUT, resolve(ROOT, style)).split('\\').join('/')}`);
writeFileSync(join(OUT, 'index.html'), html);
cpSync(join(APP, 'favicon.svg'), join(OUT, 'favicon.svg'));
const files = Object.fromEntries(outputs.map(([path, o]) => [relative(OUT, resolve(ROOT, path)), o.bytes]));
writeFileSync(join(OUT, 'sealroom-app.json'), `${JSON.stringify({ builtAt: new Date().toISOString(), entry: script, files }, null, 2)}\n`);
console.log(`build-app: ${basename(OUT)}/ (${Object.keys(files).length} assets, entry ${script})`);
