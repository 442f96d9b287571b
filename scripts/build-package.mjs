#!/usr/bin/env node
/**
 * Builds the published package into dist/ (docs/package.md): tsc compiles crypto/, protocol/,
 * endpoint/ and bridge/ to .js and .d.ts (tsconfig.build.json), the migrations are copied beside
 * them, and dist/package.json is written from the root package.json, with exports and imports that
 * point at built files, a `files` list and the server-only dependencies as optional peers. dist/ is
 * the package root: `npm pack ./dist` makes the tarball. Plain node, so the build needs no loader.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** `--out <dir>` builds elsewhere (the consumer test builds into a temporary folder). */
const outArg = process.argv.indexOf('--out');
const DIST = outArg === -1 ? join(ROOT, 'dist') : resolve(process.argv[outArg + 1] ?? '');
const COMPILED = ['crypto', 'protocol', 'endpoint', 'bridge'];

/** Needed only by `sealroom/bridge` and the Bridge commands; an Endpoint-only app never installs them. */
const SERVER_ONLY = ['better-sqlite3', 'express', 'pino', 'prom-client', 'werift', 'pg', '@nats-io/transport-node'];
/** Development only: the repo runs its TypeScript sources through tsx; the package is built JS. */
const NOT_SHIPPED = ['tsx'];

const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

for (const dir of [...COMPILED, 'bin', 'migrations', 'package.json', 'README.md']) rmSync(join(DIST, dir), { recursive: true, force: true });
execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', DIST], {
  stdio: 'inherit',
});

// tsc rewrites `./x.ts` to `./x.js` in the JavaScript it emits, not in declarations; a consumer's
// NodeNext resolution wants the `.js` form there too.
const RELATIVE_TS = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g;
for (const file of walk(DIST, COMPILED)) {
  if (!file.endsWith('.d.ts')) continue;
  const text = readFileSync(file, 'utf8');
  const out = text.replace(RELATIVE_TS, '$1$2.js$3');
  if (out !== text) writeFileSync(file, out);
}

cpSync(join(ROOT, 'migrations'), join(DIST, 'migrations'), { recursive: true });
cpSync(join(ROOT, 'README.md'), join(DIST, 'README.md'));
// The media frame worker as a file, for apps whose CSP forbids Blob workers (docs/media/frame-encryption.md).
const { FRAME_WORKER_SOURCE } = await import(pathToFileURL(join(DIST, 'endpoint/media/frame-worker-bundle.js')).href);
writeFileSync(join(DIST, 'endpoint/media/sealroom-media-worker.js'), FRAME_WORKER_SOURCE);
mkdirSync(join(DIST, 'bin'), { recursive: true });
writeFileSync(
  join(DIST, 'bin/sealroom.js'),
  `#!/usr/bin/env node
// The \`sealroom\` command of the published package: built JavaScript on plain node. The commands
// that start or read a Bridge load its server dependencies (optional peers) only when they run.
import { main } from '../bridge/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
`,
);
chmodSync(join(DIST, 'bin/sealroom.js'), 0o755);

/** `./crypto/backend/default-node.ts` in the repo's manifest becomes `./crypto/backend/default-node.js`. */
const built = (path) => path.replace(/\.ts$/, '.js');
const declared = (path) => path.replace(/\.ts$/, '.d.ts');
const entry = (name) => ({ types: `./${name}/index.d.ts`, import: `./${name}/index.js`, default: `./${name}/index.js` });

const imports = {};
for (const [name, target] of Object.entries(root.imports)) {
  imports[name] = { types: declared(target.types), node: built(target.node), default: built(target.default) };
}

const dependencies = {};
const peerDependencies = {};
for (const [name, range] of Object.entries(root.dependencies)) {
  if (NOT_SHIPPED.includes(name)) continue;
  (SERVER_ONLY.includes(name) ? peerDependencies : dependencies)[name] = range;
}
for (const name of SERVER_ONLY) if (!(name in peerDependencies)) throw new Error(`build: ${name} is not a dependency of the root package.json`);

const manifest = {
  name: root.name,
  version: root.version,
  description: root.description,
  type: 'module',
  license: root.license,
  engines: root.engines,
  exports: {
    './endpoint': entry('endpoint'),
    './crypto': entry('crypto'),
    './bridge': entry('bridge'),
    './package.json': './package.json',
  },
  imports,
  bin: { sealroom: './bin/sealroom.js' },
  files: ['crypto', 'protocol', 'endpoint', 'bridge', 'bin', 'migrations', 'app', '!**/*.test.*', '!**/*.map'],
  // Importing a module runs no code with effects outside it (backends and workers start on first use),
  // so bundlers may drop what an app does not use.
  sideEffects: false,
  dependencies,
  peerDependencies,
  peerDependenciesMeta: Object.fromEntries(SERVER_ONLY.map((n) => [n, { optional: true }])),
};
writeFileSync(join(DIST, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

function* walk(base, dirs) {
  for (const dir of dirs) {
    const path = join(base, dir);
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path)) yield* walk(path, [name]);
    } else yield path;
  }
}
