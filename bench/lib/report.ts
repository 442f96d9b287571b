/** Markdown for scenario results: one section per scenario, a table and its notes. */
import type { ResultRow, ScenarioResult } from './result.ts';

function num(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function cells(r: ResultRow): string[] {
  const target = r.target === undefined ? '' : `${r.target} ${r.met === true ? '(met)' : r.met === false ? '(**missed**)' : ''}`;
  return [
    r.case,
    `${num(r.value)} ${r.unit}`,
    r.baseline === undefined ? '' : `${num(r.baseline.value)} ${r.unit} (${r.baseline.name})`,
    r.ratio === undefined ? '' : r.ratio.toFixed(2),
    target,
  ];
}

export function scenarioMarkdown(result: ScenarioResult, heading = '##'): string {
  const lines = [`${heading} ${result.scenario}`, ''];
  if (result.rows.length > 0) {
    lines.push('| case | sealroom | baseline | ratio | target |', '| --- | ---: | ---: | ---: | --- |');
    for (const r of result.rows) lines.push(`| ${cells(r).join(' | ')} |`);
    lines.push('');
  }
  for (const note of result.notes) lines.push(`- ${note}`);
  lines.push('');
  return lines.join('\n');
}
