/**
 * The system benchmarks (issue: `make bench` against a plaintext baseline and a common alternative),
 * in the order they run. Each is a module `bench/scenarios/<name>.ts` exporting `run({ quick })`; each
 * starts and stops its own processes (bench/lib/procs.ts).
 */
import { failedResult, type Scenario, type ScenarioResult } from '../lib/result.ts';
import { describeStep, startStep, type StepTiming } from '../lib/timing.ts';
import { run as catchUp } from './catch-up.ts';
import { run as cluster } from './cluster.ts';
import { run as crud } from './crud.ts';
import { run as direct } from './direct.ts';
import { run as directBrowser } from './direct-browser.ts';
import { run as fanout } from './fanout.ts';
import { run as load } from './load.ts';
import { run as mediaFirstFrame } from './media-first-frame.ts';
import { run as mediaForwarding } from './media-forwarding.ts';
import { run as memory } from './memory.ts';
import { run as rotation } from './rotation.ts';
import { run as throughput } from './throughput.ts';
import { run as ttfb } from './ttfb.ts';

export const SCENARIOS: ReadonlyArray<{ name: string; issueItem: number; run: Scenario }> = [
  { name: 'throughput', issueItem: 1, run: throughput },
  { name: 'fanout', issueItem: 2, run: fanout },
  { name: 'rotation', issueItem: 3, run: rotation },
  { name: 'crud', issueItem: 4, run: crud },
  // A reader that trusts version 1 of a 1,000-version room (performance issue, goal 6).
  { name: 'catch-up', issueItem: 4, run: catchUp },
  { name: 'memory', issueItem: 5, run: memory },
  { name: 'ttfb', issueItem: 6, run: ttfb },
  // Audio and video (not an item of the benchmark issue): Chromium, E2EE against plain WebRTC.
  { name: 'media-first-frame', issueItem: 7, run: mediaFirstFrame },
  // The forwarding unit's packets per core-second, against a plain UDP forwarder (werift peers, pinned).
  { name: 'media-forwarding', issueItem: 8, run: mediaForwarding },
  // Two Bridges on one PostgreSQL with NATS against one Bridge; creates on PostgreSQL against SQLite.
  { name: 'cluster', issueItem: 9, run: cluster },
  // Direct 1 -> 1 (werift data channel) against the relay in the same run.
  { name: 'direct', issueItem: 10, run: direct },
  // The same in Chromium (native data channels), two pages.
  { name: 'direct-browser', issueItem: 10, run: directBrowser },
  // Real-time under load (docs/operations/load.md): rooms of members with data tracks, byte streams and REST, against a plain ws room broadcast.
  { name: 'load', issueItem: 11, run: load },
];

export interface ScenarioRun {
  name: string;
  result: ScenarioResult;
  /** Wall time of the scenario, seconds. */
  seconds: number;
  /** Where that time went: fixed windows and sleeps, CPU, load (bench/lib/timing.ts). */
  timing: StepTiming;
  failed: boolean;
}

/**
 * Runs the scenarios one after the other (all of them, or those named in `only`). A scenario that
 * throws (a process died, a call timed out) becomes a result whose note starts with FAILED; the others
 * still run. `log` hears progress.
 */
export async function runScenarios(options: { quick: boolean; only?: string[]; log?: (line: string) => void }): Promise<ScenarioRun[]> {
  const log = options.log ?? (() => undefined);
  const out: ScenarioRun[] = [];
  for (const s of SCENARIOS) {
    if (options.only !== undefined && options.only.length > 0 && !options.only.includes(s.name)) continue;
    log(`scenario ${s.name}${options.quick ? ' (quick)' : ''}...`);
    const end = startStep();
    let result: ScenarioResult;
    let failed = false;
    try {
      result = await s.run({ quick: options.quick });
    } catch (error) {
      failed = true;
      result = failedResult(s.name, error);
    }
    const timing = end();
    log(`scenario ${s.name}: ${failed ? 'FAILED' : 'done'} in ${describeStep(timing)}`);
    out.push({ name: s.name, result, seconds: timing.seconds, timing, failed });
  }
  return out;
}
