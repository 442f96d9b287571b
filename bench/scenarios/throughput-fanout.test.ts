import { describe, expect, it } from 'vitest';
import { type FanOutRuns, fanOutRows } from './throughput-fanout.ts';

const runs = (mb: number[], ns: number[]): FanOutRuns => ({ mbPerReceiver: mb, cpuNsPerDelivered: ns, cpuEach: ns.map((v) => [v]) });
const config = { receivers: 4, bytes: 128 * 2 ** 20, warmupBytes: 128 * 2 ** 20, warmupRuns: 3, runs: 3 };

describe('the fan-out rows', () => {
  it('judge MB/s per receiver against 0.6 of the plain fan-out, by the medians', () => {
    const notes: string[] = [];
    const [rate] = fanOutRows(config, runs([300, 400, 350], [1, 1, 1]), runs([200, 250, 100], [3, 3, 3]), { aesGcm: 0.5, sha256: 0.5 }, 2, notes);
    expect(rate!.value).toBe(200);
    expect(rate!.baseline).toEqual({ name: 'plaintext WebSocket relay 1 -> 4, per receiver', value: 350 });
    expect(rate!.target).toBe('>= 0.6 of the baseline');
    expect(rate!.met).toBe(false); // 200 < 0.6 x 350
    const [above] = fanOutRows(config, runs([350], [1]), runs([211], [3]), { aesGcm: 0.5, sha256: 0.5 }, 2, []);
    expect(above!.met).toBe(true);
  });

  it("hold CPU per delivered byte to the plain fan-out plus each receiver's crypto and a share of the sender's", () => {
    const notes: string[] = [];
    const [, cpu] = fanOutRows(config, runs([400, 400, 400], [1.2, 1.0, 1.1]), runs([100, 100, 100], [5, 4, 6]), { aesGcm: 0.4, sha256: 0.6 }, 2, notes);
    // 1.1 + (1 + 1/4) x (0.4 + 0.6)
    expect(cpu!.baseline?.value).toBeCloseTo(2.35);
    expect(cpu!.value).toBe(5);
    // Two cores at 2.35 ns per delivered byte, four receivers: 2 x 1000 / (2.35 x 4) = 213 MB/s each,
    // 0.53 of the plain fan-out's 400 (which kept 1.1 x 4 x 400 / 1000 = 1.76 cores busy).
    expect(notes[0]).toContain('could carry 213 MB/s per receiver: 0.53 of the plain fan-out');
    expect(notes[0]).toContain('kept 1.76 cores busy');
  });
});
