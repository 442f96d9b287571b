/**
 * Benchmark runner (`make bench`, `make bench-quick`): runs the crypto benchmarks, prints a markdown
 * table and writes bench/results/latest.json and bench/results/latest.md. Figures are ratios to a
 * baseline measured in the same run (see bench/crypto/index.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { shutdownHashWorker } from '../crypto/backend/hash-worker.ts';
import { runCryptoBench, type Row } from './crypto/index.ts';

const quick = process.argv.includes('--quick');

function kib(bytes: number): string {
  return bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

function table(rows: Row[]): string {
  const lines = [
    '| case | payload | MB/s | ratio to raw AES-256-GCM | main-thread CPU ratio |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const cpu = r.mainThreadCpuRatio === undefined ? 'n/a' : r.mainThreadCpuRatio.toFixed(2);
    lines.push(`| ${r.case} | ${kib(r.payloadBytes)} | ${r.mbPerSecond.toFixed(0)} | ${r.ratio.toFixed(2)} | ${cpu} |`);
  }
  return lines.join('\n');
}

const started = new Date();
const rows = await runCryptoBench({ quick });
await shutdownHashWorker();
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
  'CPU ratio compares CPU time per op on the calling thread (work on the hash worker excluded): what the',
  'ratio would be with a free second core. Stream rows include per-stream costs (key derivation, header,',
  'signature) amortised over 16 MiB streams.',
  '',
  table(rows),
  '',
].join('\n');
process.stdout.write(`${markdown}\n`);
const dir = new URL('./results/', import.meta.url);
await mkdir(dir, { recursive: true });
await writeFile(new URL('latest.json', dir), `${JSON.stringify({ date: started.toISOString(), quick, machine, crypto: rows }, null, 2)}\n`);
await writeFile(new URL('latest.md', dir), markdown);
