/**
 * Runs system benchmark scenarios on their own and prints their markdown (make bench runs them all
 * through bench/run.ts): `node --import tsx bench/lib/scenario-cli.ts [--quick] [--json] [name ...]`.
 */
import { runScenarios, SCENARIOS } from '../scenarios/index.ts';
import { scenarioMarkdown } from './report.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const only = args.filter((a) => !a.startsWith('--'));
const unknown = only.filter((name) => !SCENARIOS.some((s) => s.name === name));
if (unknown.length > 0) {
  console.error(`unknown scenario(s) ${unknown.join(', ')}; expected some of ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const runs = await runScenarios({ quick, only, log: (line) => console.error(line) });
for (const r of runs) process.stdout.write(json ? `${JSON.stringify(r.result, null, 2)}\n` : `${scenarioMarkdown(r.result)}\n`);
console.error(`total ${runs.reduce((s, r) => s + r.seconds, 0).toFixed(1)} s`);
process.exitCode = runs.some((r) => r.failed) ? 1 : 0;
