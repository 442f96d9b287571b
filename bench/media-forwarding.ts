/**
 * The media forwarding scenario (bench/scenarios/media-forwarding.ts) on its own, printed as one wide
 * table per run, sealroom and the plain UDP forwarder side by side (the form of
 * docs/media/forwarding-unit.md, "Measured"). `make bench` runs the same measurement once.
 *
 *   node --import tsx bench/media-forwarding.ts [--seconds 5] [--warmup 2] [--runs 1]
 */
import { loadavg } from 'node:os';
import { measureMediaForwarding, TARGET_PER_CORE, type CaseFigures } from './scenarios/media-forwarding.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i < 0 ? fallback : Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`--${name} expects a positive number\n`);
    process.exit(2);
  }
  return value;
}
const measureSeconds = arg('seconds', 5);
const warmupSeconds = arg('warmup', 2);
const runs = arg('runs', 1);

const n = (v: number, digits = 0) => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const cells = (f: CaseFigures) => [
  n(f.outPerSecond),
  `${n(f.delivered * 100, 1)}%${f.duplicates > 0 ? ` (+${n(f.duplicates * 100, 1)}% twice)` : ''}`,
  `${n(f.cpuShare * 100, 1)}%`,
  n(f.perCore),
  n(f.microsPerPacketOut, 1),
  n(f.rssMiB),
];

for (let i = 0; i < runs; i++) {
  const r = await measureMediaForwarding({ measureSeconds, warmupSeconds, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(
    [
      `Run ${i + 1}/${runs}: ${r.pinned ? 'pinned (forwarders CPU 0, peers CPU 1)' : 'NOT pinned'}; load ${loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')} (before: ${r.loadBefore.map((v) => v.toFixed(2)).join(' ')}); ${measureSeconds} s per case; ${r.seconds.toFixed(0)} s in all`,
      '',
      '| case | in pps | sealroom out pps | delivered | Bridge CPU | per core | µs/out | RSS MiB | plain out pps | delivered | CPU | per core | µs/out | RSS MiB | per core / 10k | sealroom / plain |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...r.sealroom.map((s, j) => {
        const p = r.plain[j]!;
        return `| 1 -> ${s.subscribers} | ${n(s.inPerSecond)} | ${[...cells(s), ...cells(p)].join(' | ')} | ${n(s.perCore / TARGET_PER_CORE, 2)} | ${n(s.perCore / p.perCore, 2)} |`;
      }),
      '',
    ].join('\n'),
  );
}
