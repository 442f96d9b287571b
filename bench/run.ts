/**
 * Benchmark runner (`make bench`, `make bench-quick`): the crypto table, then every system scenario
 * (bench/scenarios/), each in its own processes. Prints markdown and writes bench/results/latest.json
 * and bench/results/latest.md. Every figure is a ratio to a baseline measured in the same run. Each
 * step's wall time, fixed windows and CPU are logged and tabled at the end (docs/operations/benchmarks.md).
 *
 *   node --import tsx bench/run.ts [--quick] [--only crypto,throughput,...]   (--help lists every name)
 *   (the load scenario takes --load-* flags: bench/lib/load-options.ts, docs/operations/load.md)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { runCryptoBench, type Row } from './crypto/index.ts';
import { scenarioMarkdown } from './lib/report.ts';
import { describeStep, startStep, type StepTiming } from './lib/timing.ts';
import { runScenarios, SCENARIOS } from './scenarios/index.ts';

const BENCHMARKS = ['crypto', ...SCENARIOS.map((s) => s.name)];
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(`usage: node --import tsx bench/run.ts [--quick] [--only ${BENCHMARKS.join(',')}]\n`);
  process.exit(0);
}
// Benchmark clients are throwaway identities: their pins go to a temporary folder (inherited by every
// benchmark process), not the user's ~/.sealroom/trust.
const trustDir = process.env.SEALROOM_TRUST_DIR ?? mkdtempSync(join(tmpdir(), 'sealroom-bench-trust-'));
process.env.SEALROOM_TRUST_DIR = trustDir;
process.on('exit', () => {
  if (trustDir.includes('sealroom-bench-trust-')) rmSync(trustDir, { recursive: true, force: true });
});
const quick = process.argv.includes('--quick');
/** `--only a,b` or `--only=a,b`: the benchmarks to run (default all). */
function onlyList(argv: string[]): string[] {
  const i = argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
  if (i < 0) return [];
  const value = argv[i]!.startsWith('--only=') ? argv[i]!.slice('--only='.length) : (argv[i + 1] ?? '');
  return value.split(',').filter((n) => n !== '');
}
const only = onlyList(process.argv);
const unknown = only.filter((n) => !BENCHMARKS.includes(n));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}; expected some of ${BENCHMARKS.join(', ')}\n`);
  process.exit(2);
}
const wants = (name: string) => only.length === 0 || only.includes(name);

function kib(bytes: number): string {
  return bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

function table(rows: Row[]): string {
  const lines = ['| case | payload | MB/s | ratio to raw AES-256-GCM | main-thread CPU ratio |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const r of rows) {
    const cpu = r.mainThreadCpuRatio === undefined ? 'n/a' : r.mainThreadCpuRatio.toFixed(2);
    lines.push(`| ${r.case} | ${kib(r.payloadBytes)} | ${r.mbPerSecond.toFixed(0)} | ${r.ratio.toFixed(2)} | ${cpu} |`);
  }
  return lines.join('\n');
}

const started = new Date();
const endRun = startStep();
const log = (line: string) => process.stderr.write(`${line}\n`);
let rows: Row[] = [];
let cryptoTiming: StepTiming | undefined;
if (wants('crypto')) {
  log(`crypto${quick ? ' (quick)' : ''}...`);
  const endCrypto = startStep();
  rows = await runCryptoBench({ quick });
  cryptoTiming = endCrypto();
  log(`crypto: done in ${describeStep(cryptoTiming)}`);
}
const scenarioNames = only.filter((n) => n !== 'crypto');
const scenarios = only.length > 0 && scenarioNames.length === 0 ? [] : await runScenarios({ quick, only: scenarioNames, log });
const total = endRun();
log(`total: ${describeStep(total)}`);
/** One line per step: wall, fixed windows, CPU, load (bench/lib/timing.ts). */
const timingLines = [
  ...(cryptoTiming === undefined ? [] : [`| crypto | ${timingCells(cryptoTiming)} |`]),
  ...scenarios.map((s) => `| ${s.name}${s.failed ? ' (FAILED)' : ''} | ${timingCells(s.timing)} |`),
  `| **total** | ${timingCells(total)} |`,
];
function timingCells(t: StepTiming): string {
  return [t.seconds, t.fixedSeconds, t.seconds - t.fixedSeconds, t.cpuSeconds]
    .map((v) => v.toFixed(1))
    .concat(`${t.load[0].toFixed(1)} -> ${t.load[1].toFixed(1)}`)
    .join(' | ');
}
const machine = `${availableParallelism()} cores, ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`;
const markdown = [
  `# sealroom benchmarks${quick ? ' (quick)' : ''}`,
  '',
  `${started.toISOString()} · ${machine}`,
  '',
  '## Crypto throughput',
  '',
  'Median of several timed runs after a warm-up. The ratio divides by raw node:crypto AES-256-GCM on the',
  'same payload size, measured in the same run; compare ratios, not MB/s, across runs. The main-thread',
  'CPU ratio compares CPU time per op on the calling thread, which other load moves less than wall time.',
  'Stream rows include per-stream costs (key derivation, header, signatures, checkpoints) amortised over',
  '16 MiB streams, and the content hash (SHA-256): on the calling thread, one chunk at a time; the "bulk',
  'thread" rows run both on the worker the Endpoint uses while real-time tracks are live, 8 chunks in flight.',
  '',
  ...(rows.length > 0 ? [table(rows), ''] : ['(not run)', '']),
  ...scenarios.map((s) => scenarioMarkdown(s.result)),
  '## Wall time',
  '',
  'Seconds per step. Fixed: its own sleeps and fixed-length windows, which load does not change; the rest is',
  'CPU work and waiting on processes that share the cores. CPU: this process and its processes (2 cores: at',
  'most twice the wall time).',
  '',
  '| step | wall | fixed | rest | CPU | load average |',
  '| --- | ---: | ---: | ---: | ---: | --- |',
  ...timingLines,
  '',
].join('\n');
process.stdout.write(`${markdown}\n`);
const dir = new URL('./results/', import.meta.url);
await mkdir(dir, { recursive: true });
await writeFile(
  new URL('latest.json', dir),
  `${JSON.stringify({ date: started.toISOString(), quick, machine, timing: { total, crypto: cryptoTiming }, crypto: rows, scenarios }, null, 2)}\n`,
);
await writeFile(new URL('latest.md', dir), markdown);
if (scenarios.some((s) => s.failed)) process.exitCode = 1;
