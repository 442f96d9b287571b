/** The load benchmark's accounting (bench/lib/load-phase.ts): every expected delivery is delivered, counted as dropped, or reported unaccounted. */
import { describe, expect, it } from 'vitest';
import { type LoadSystem, type MembersTake, type PhaseFigures, phaseFigures, type RampStep, rampOutcome, type Snapshot } from './load-phase.ts';

const system = { subscribers: 9 } as LoadSystem;

function snap(over: Partial<Snapshot> = {}): Snapshot {
  return {
    at: 0,
    stats: {},
    offered: 0,
    sendErrors: 0,
    files: { verified: 0, mismatched: 0, failed: {} },
    restErrors: 0,
    bridge: {},
    bridgeCpuMs: 0,
    clientCpuMs: 0,
    bridgeWaitMs: 0,
    clientWaitMs: 0,
    ...over,
  };
}

function take(latencies: number[]): MembersTake {
  return {
    latencies: Float64Array.from(latencies),
    settled: new Float64Array(),
    stats: {},
    offered: 0,
    sendErrors: 0,
    lastSendError: '',
    files: { verified: 0, mismatched: 0, failed: {} },
    lastFileError: '',
    rest: new Float64Array(),
    restErrors: 0,
    lastRestError: '',
    lost: 0,
    loopLagMs: { p99: 0, max: 0 },
  };
}

const lag = { p50: 0, p99: 0, max: 0 };

describe('load phase accounting', () => {
  it('counts receiver drops once and sender drops once per subscriber', () => {
    const before = snap({ offered: 100, stats: { delivered: 500, droppedByDeadline: 3 } });
    // 10 more offered: 90 expected; 2 dropped at a sender (18 deliveries), 5 at receivers by deadline, 67 delivered.
    const after = snap({
      offered: 110,
      stats: { delivered: 567, droppedByDeadline: 8, sendDropped: 2 },
      bridgeCpuMs: 67,
      bridge: { 'drops.data_deadline': 5 },
    });
    const f = phaseFigures('data', system, before, { snap: after, takes: [take([1, 2, 3])] }, 1000, lag);
    expect(f.expected).toBe(90);
    expect(f.drops).toEqual({ 'receiver droppedByDeadline (lossy)': 5, 'sender sendDropped (lossy) x subscribers': 18 });
    expect(f.dropped).toBe(23);
    expect(f.unaccounted).toBe(0);
    expect(f.bridgeCounters).toEqual({ 'drops.data_deadline': 5 });
    expect(f.bridgeMicrosPerDelivery).toBeCloseTo(1000);
    expect(f.offeredPerSecond).toBe(10);
  });

  it('reports what was neither delivered nor counted', () => {
    const after = snap({ offered: 10, stats: { delivered: 80 } });
    const f = phaseFigures('data', system, snap(), { snap: after, takes: [take([])] }, 1000, lag);
    expect(f.unaccounted).toBe(10);
  });

  it("gives the files phase's p99 from 5 s after its streams started over every process's settled deliveries, and none without them", () => {
    const settled = Array.from({ length: 100 }, (_, i) => i + 1);
    const takes = [
      { ...take([1000]), settled: Float64Array.from(settled.slice(0, 50)) },
      { ...take([2000]), settled: Float64Array.from(settled.slice(50)) },
    ];
    const f = phaseFigures('data + files', system, snap(), { snap: snap(), takes }, 1000, lag);
    expect(f.settledP99).toBe(99);
    expect(f.p99).toBeGreaterThan(f.settledP99!);
    expect(phaseFigures('data', system, snap(), { snap: snap(), takes: [take([1, 2])] }, 1000, lag).settledP99).toBeUndefined();
  });

  it("sums the client processes' full GCs, shares their collecting time per process, and keeps the longest", () => {
    const before = snap({ at: 1000, stats: { gcMajor: 5, gcPauseMs: 100 } });
    // Two processes over 2 s: 3 more Mark-Compacts and 80 ms more collecting between them, 20 ms each second each.
    const after = snap({ at: 3000, stats: { gcMajor: 8, gcPauseMs: 180 } });
    const takes = [
      { ...take([]), gcLongestMs: 12 },
      { ...take([]), gcLongestMs: 31 },
    ];
    const f = phaseFigures('data + files', system, before, { snap: after, takes }, 2000, lag);
    expect(f.gc).toEqual({ major: 3, pauseShare: 0.02, longestMs: 31 });
  });

  it('does not count a reliable cut as dropped messages', () => {
    const after = snap({ offered: 10, stats: { delivered: 81, reliableCuts: 1 } });
    const f = phaseFigures('data', system, snap(), { snap: after, takes: [take([])] }, 1000, lag);
    expect(f.dropped).toBe(0);
    expect(f.unaccounted).toBe(9);
    expect(f.drops['receiver reliableCuts (reliable; subscriptions cut, not messages)']).toBe(1);
  });
});

describe('capacity ramp outcome', () => {
  const step = (rate: number, passed: boolean): RampStep => ({ rate, passed, why: passed ? '' : 'p99', figures: {} as PhaseFigures });

  it('going up: the highest passed step, bounded by the first failure above it', () => {
    const { best, failed } = rampOutcome([step(300, true), step(450, true), step(675, false)]);
    expect(best?.rate).toBe(450);
    expect(failed?.rate).toBe(675);
  });

  it('going down from a failed first step: the step that passed, bounded by the lowest failure above it', () => {
    const { best, failed } = rampOutcome([step(300, false), step(200, false), step(133, true)]);
    expect(best?.rate).toBe(133);
    expect(failed?.rate).toBe(200);
  });

  it('no step passed, or none failed', () => {
    expect(rampOutcome([step(300, false), step(200, false)]).best).toBeUndefined();
    expect(rampOutcome([step(300, true), step(450, true)]).failed).toBeUndefined();
  });
});
