/**
 * Direct 1 -> 1 against the relay, in the same run (README "Direct connections"): one sender process
 * and one receiver process (Node, werift 0.25.2, ICE on 127.0.0.1) and a Bridge process. Each case is
 * one `streamBytes` stream to the one member, `path: 'direct'` over a connected peer or `path: 'relay'`
 * through the Bridge; the runs alternate so that load from other work hits both paths alike.
 *
 * Rows: throughput (MB/s from the call to the receiver's verified end, wall clock), CPU time per byte of
 * the three processes (what load moves least), time to first byte (the call to the first byte in the
 * receiver's handler) with the peer already up, and the setup of a new direct connection (signed
 * offer and answer through the Bridge, ICE, DTLS, the certificate check), which `auto` pays once.
 */
import { loadavg } from 'node:os';
import { startBridgeProc } from '../lib/bridge.ts';
import { ProcGroup, readCpuPreciseMs, type Proc } from '../lib/procs.ts';
import { row, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median } from '../lib/stats.ts';
import { makeTenant, pubOf } from '../lib/tenant.ts';

const SCENARIO = 'direct 1 -> 1 (werift data channel) against the relay';
const MiB = 1024 * 1024;

interface Config {
  /** Bytes per throughput run. */
  bytes: number;
  /** Throughput runs per path. */
  runs: number;
  /** Bytes of each time-to-first-byte stream, and runs per path. */
  ttfbBytes: number;
  ttfbRuns: number;
  writeBytes: number;
}

const FULL: Config = { bytes: 24 * MiB, runs: 3, ttfbBytes: 4096, ttfbRuns: 9, writeBytes: MiB };
const QUICK: Config = { bytes: 4 * MiB, runs: 2, ttfbBytes: 4096, ttfbRuns: 5, writeBytes: MiB };

type Path = 'direct' | 'relay';
interface Arrival {
  bytes: number;
  firstAt: number;
  endAt: number;
}

const range = (values: number[], digits = 1) => `${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)}`;

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  const load = [loadavg()[0]!];
  try {
    const bridge = await startBridgeProc(group);
    const tenant = await makeTenant(bridge.manage, ['alice', 'bob'], 'direct');
    // DIRECT_BENCH_PROFILE=<dir>: V8 CPU profiles of both peers (.cpuprofile), to see where the direct path's time goes.
    const profile = process.env.DIRECT_BENCH_PROFILE;
    const nodeFlags = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
    const [sender, receiver] = (
      await group.forkAll('direct-peer.ts', [
        { name: 'direct-sender', nodeFlags },
        { name: 'direct-receiver', nodeFlags },
      ])
    ).map((f) => f.proc) as [Proc, Proc];
    await sender.call('connect', { url: bridge.url, solutionId: tenant.solutionId, user: tenant.users[0] });
    await receiver.call('connect', { url: bridge.url, solutionId: tenant.solutionId, user: tenant.users[1] });
    const roomId = await sender.call<string>('createRoom', { contextId: tenant.contextId, members: tenant.users.map(pubOf) });
    await receiver.call('join', { roomId, role: 'recv' });
    await sender.call('join', { roomId, role: 'send' });
    const setup = await sender.call<{ ms: number }>('connectPeer', { userId: 'bob' }, 30_000);

    const procs: Proc[] = [sender, bridge.proc, receiver];
    const once = async (path: Path, bytes: number) => {
      const cpu = procs.map((p) => readCpuPreciseMs(p.pid));
      const arriving = receiver.call<Arrival>('next', {}, 120_000);
      const sent = await sender.call<{ startAt: number; path: string }>('send', { bytes, writeBytes: config.writeBytes, to: 'bob', path }, 120_000);
      const arrival = await arriving;
      if (sent.path !== path || arrival.bytes !== bytes) throw new Error(`a ${path} stream went ${sent.path} with ${arrival.bytes} of ${bytes} bytes`);
      const cpuMs = procs.map((p, i) => readCpuPreciseMs(p.pid) - cpu[i]!);
      return {
        mbPerSecond: bytes / 1e6 / ((arrival.endAt - sent.startAt) / 1000),
        ttfbMs: arrival.firstAt - sent.startAt,
        nsPerByte: cpuMs.map((ms) => (ms * 1e6) / bytes),
      };
    };

    for (const path of ['relay', 'direct'] as const) await once(path, MiB); // warm-up
    const rates: Record<Path, number[]> = { direct: [], relay: [] };
    const cpu: Record<Path, number[][]> = { direct: [], relay: [] };
    for (let r = 0; r < config.runs; r++) {
      for (const path of r % 2 === 0 ? (['direct', 'relay'] as const) : (['relay', 'direct'] as const)) {
        const m = await once(path, config.bytes);
        rates[path].push(m.mbPerSecond);
        cpu[path].push(m.nsPerByte);
      }
      load.push(loadavg()[0]!);
    }
    const ttfb: Record<Path, number[]> = { direct: [], relay: [] };
    for (let r = 0; r < config.ttfbRuns; r++) for (const path of ['direct', 'relay'] as const) ttfb[path].push((await once(path, config.ttfbBytes)).ttfbMs);
    load.push(loadavg()[0]!);

    const total = (runs: number[][]) => runs.map((each) => each.reduce((a, b) => a + b, 0));
    const perProcess = (path: Path) =>
      ['sender', 'Bridge', 'receiver'].map((name, i) => `${name} ${median(cpu[path].map((each) => each[i]!)).toFixed(1)}`).join(', ');
    const relayName = 'relay (same run)';
    return {
      scenario: SCENARIO,
      rows: [
        row(`direct throughput, ${config.bytes / MiB} MiB stream`, median(rates.direct), 'MB/s', { baseline: { name: relayName, value: median(rates.relay) } }),
        row('direct CPU per byte, sender + Bridge + receiver', median(total(cpu.direct)), 'ns/B', {
          baseline: { name: relayName, value: median(total(cpu.relay)) },
        }),
        row(`direct time to first byte, ${config.ttfbBytes} B stream, peer up`, median(ttfb.direct), 'ms', {
          baseline: { name: relayName, value: median(ttfb.relay) },
        }),
        row('new direct connection (signed signalling, ICE, DTLS, certificate check)', setup.ms, 'ms'),
      ],
      notes: [
        `${config.runs} runs of ${config.bytes / MiB} MiB per path, alternating, after a 1 MiB warm-up each; awaited writes of ${config.writeBytes / MiB} MiB. Processes unpinned; 1-minute load average ${range(load)} during the scenario (a shared 2-core machine: the wall-clock rates move with it, CPU per byte much less).`,
        `MB/s: direct ${range(rates.direct)}, relay ${range(rates.relay)}. CPU ns per byte (median): direct ${perProcess('direct')}; relay ${perProcess('relay')}. The Bridge's share on the direct path is its idle cost: no stream byte passes through it.`,
        `Time to first byte (ms): direct ${range(ttfb.direct, 2)}, relay ${range(ttfb.relay, 2)}; a send with \`auto\` and no peer up adds the new connection's ${setup.ms.toFixed(0)} ms once.`,
        "The direct path's limit is werift's SCTP in Node (docs/protocol/peer-signalling.md, \"Performance\"); browsers' native data channels are faster (the Chromium test prints its rate).",
      ],
    };
  } finally {
    await group.close();
  }
}
