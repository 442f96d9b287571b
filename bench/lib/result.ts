/**
 * What every scenario returns (bench/run.ts prints these as a table and writes latest.json/latest.md).
 * Every figure sits beside a baseline measured in the same run, with the ratio, so a noisy shared
 * machine moves both sides together.
 */

export interface ResultRow {
  /** What was measured, e.g. "p99 delivery latency, 50 subscribers". */
  case: string;
  /** The sealroom figure (median of the timed runs). */
  value: number;
  /** Its unit: "ms", "msg/s", "ops/s", "MB", "MB/s", "KiB/conn". */
  unit: string;
  /** The same measurement of the baseline, in the same unit, from the same run. */
  baseline?: { name: string; value: number };
  /** value / baseline.value. */
  ratio?: number;
  /** The target, in words ("< 150 ms"). */
  target?: string;
  /** Whether the target was met. */
  met?: boolean;
}

export interface ScenarioResult {
  scenario: string;
  rows: ResultRow[];
  /** How it was measured, what the figures mean, every missed target and its cause. */
  notes: string[];
}

export interface ScenarioOptions {
  quick: boolean;
}

export type Scenario = (options: ScenarioOptions) => Promise<ScenarioResult>;

/** A target: the row's value compared with a value in the row's unit. */
export interface Target {
  op: '<' | '<=' | '>' | '>=';
  value: number;
  /** Overrides the generated wording. */
  text?: string;
}

/** Builds a row with its ratio and target check. */
export function row(name: string, value: number, unit: string, extra: { baseline?: { name: string; value: number }; target?: Target } = {}): ResultRow {
  const out: ResultRow = { case: name, value: round(value), unit };
  if (extra.baseline !== undefined) {
    out.baseline = { name: extra.baseline.name, value: round(extra.baseline.value) };
    if (extra.baseline.value !== 0 && Number.isFinite(extra.baseline.value)) out.ratio = round(value / extra.baseline.value, 3);
  }
  if (extra.target !== undefined) {
    const t = extra.target;
    out.target = t.text ?? `${t.op} ${round(t.value)} ${unit}`;
    out.met = t.op === '<' ? value < t.value : t.op === '<=' ? value <= t.value : t.op === '>' ? value > t.value : value >= t.value;
  }
  return out;
}

/** Three significant decimals for small figures, whole numbers for large ones. */
export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  if (Math.abs(value) >= 1000) return Math.round(value);
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** A scenario whose setup failed still reports, loudly: one row-less result with the error. */
export function failedResult(scenario: string, error: unknown): ScenarioResult {
  const message = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error);
  return { scenario, rows: [], notes: [`FAILED: ${message}`] };
}
