/**
 * Scenario 6: time to first byte on loopback. A new client connects, authenticates, joins the room,
 * subscribes to a publisher that is already streaming (1,000 msg/s of 1 KiB, like scenario 2) and
 * receives its first data-track message. Against socket.io: connect, join the room (acked), first
 * broadcast message, with the same publisher rate.
 *
 * "Fresh process": every run is a new probe process (bench/procs/ttfb-probe.ts) whose modules are
 * loaded before the clock starts, so the run pays every cold cost of a first connection (JIT, key
 * caches, TLS-free loopback sockets) but not module loading. "Warm process": further runs in the last
 * probe process. Processes: Bridge (resp. socket.io server), publisher, probe.
 */
import { startBridgeProc } from '../lib/bridge.ts';
import { peer, type Peer } from '../lib/peers.ts';
import { ProcGroup, type Proc } from '../lib/procs.ts';
import { row, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median } from '../lib/stats.ts';
import { makeTenant, pubOf } from '../lib/tenant.ts';
import type { SealroomProbe, TtfbPhases } from '../procs/ttfb-probe.ts';

const SCENARIO = 'time to first byte (connect, auth, join, subscribe, first message)';

interface Config {
  /** Fresh-process runs (after one discarded warm-up run). */
  freshRuns: number;
  /** Runs in the last probe process. */
  warmRuns: number;
  rate: number;
  size: number;
}

const FULL: Config = { freshRuns: 11, warmRuns: 11, rate: 1000, size: 1024 };
const QUICK: Config = { freshRuns: 5, warmRuns: 5, rate: 1000, size: 1024 };

interface Side {
  name: string;
  mode: 'sealroom' | 'socketio';
  params: SealroomProbe | { url: string };
  publisher: Peer;
}

/**
 * The probes of one side, started together before its runs (`count` processes, each loaded and idle
 * until its run): one after the other they were about 0.3 s each of the scenario's wall time.
 */
async function startProbes(group: ProcGroup, side: Side, count: number): Promise<Proc[]> {
  const list = Array.from({ length: count }, (_, i) => ({ name: `${side.mode}-probe-${i}`, args: { mode: side.mode } }));
  return (await group.forkAll('ttfb-probe.ts', list)).map((f) => f.proc);
}

async function freshRun(probe: Proc, side: Side, keep: boolean): Promise<TtfbPhases> {
  const phases = await probe.call<TtfbPhases>('run', side.params, 30_000);
  if (!keep) await probe.stop();
  return phases;
}

function phaseNote(name: string, runs: TtfbPhases[]): string {
  const m = (k: keyof TtfbPhases) => median(runs.map((r) => r[k])).toFixed(1);
  return `${name} (median ms from start): connected ${m('connect')}, joined ${m('join')}, subscribed ${m('subscribe')}, first message ${m('first')}; runs: ${runs.map((r) => r.first.toFixed(1)).join(', ')}.`;
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  try {
    const bridge = await startBridgeProc(group);
    const tenant = await makeTenant(bridge.manage, ['publisher', 'viewer'], 'ttfb');
    const [publisherUser, viewer] = tenant.users;
    // One publisher process for both systems; only the measured system's publisher streams.
    const { proc: publishers } = await group.fork('peers.ts', { name: 'publishers' });
    const publisher = peer(publishers, 'sealroom');
    await publisher.call('connect', { url: bridge.url, solutionId: tenant.solutionId, users: [publisherUser] });
    const roomId = await publisher.call<string>('createRoom', {
      contextId: tenant.contextId,
      users: tenant.users.map(pubOf),
      managers: [pubOf(publisherUser!)],
    });
    await publisher.call('join', { roomId });
    const { streamId } = await publisher.call<{ streamId: string }>('publish', { roomId });

    const { info: sio } = await group.fork<{ url: string }>('sio-server.ts', { name: 'socketio-server' });
    const sioPublisher = peer(publishers, 'socketio');
    await sioPublisher.call('connect', { url: sio.url, count: 1 });

    const sides: Side[] = [
      { name: 'sealroom', mode: 'sealroom', params: { url: bridge.url, solutionId: tenant.solutionId, user: viewer!, roomId, streamId }, publisher },
      { name: 'socket.io', mode: 'socketio', params: { url: sio.url }, publisher: sioPublisher },
    ];
    const fresh: Record<string, TtfbPhases[]> = { sealroom: [], 'socket.io': [] };
    const warm: Record<string, TtfbPhases[]> = { sealroom: [], 'socket.io': [] };
    for (const side of sides) {
      // A fresh probe has loaded its modules and done nothing else when its run starts.
      const probes = await startProbes(group, side, config.freshRuns + 1);
      // Only one publisher streams at a time, so the other system's publisher adds no load.
      await side.publisher.call('startStreaming', { rate: config.rate, size: config.size });
      try {
        await freshRun(probes[0]!, side, false); // warm-up: the server's first login, JIT
        for (let i = 1; i <= config.freshRuns; i++) fresh[side.name]!.push(await freshRun(probes[i]!, side, i === config.freshRuns));
        const last = probes.at(-1)!;
        for (let i = 0; i < config.warmRuns; i++) warm[side.name]!.push(await last.call<TtfbPhases>('run', side.params, 30_000));
        await last.stop();
      } finally {
        await side.publisher.call('stopStreaming');
      }
    }
    const m = (set: Record<string, TtfbPhases[]>, name: string) => median(set[name]!.map((p) => p.first));
    return {
      scenario: SCENARIO,
      rows: [
        row('TTFB, fresh process (median)', m(fresh, 'sealroom'), 'ms', {
          baseline: { name: 'socket.io connect + join + first message', value: m(fresh, 'socket.io') },
          target: { op: '<', value: 50 },
        }),
        row('TTFB, warm process (median)', m(warm, 'sealroom'), 'ms', {
          baseline: { name: 'socket.io connect + join + first message', value: m(warm, 'socket.io') },
          target: { op: '<', value: 50 },
        }),
      ],
      notes: [
        `${config.freshRuns} fresh-process runs (each a new probe process, started with the others of its side before the runs and idle until its own, modules loaded before the clock starts; one warm-up run discarded) and ${config.warmRuns} runs in an already used process; publisher streaming ${config.rate} msg/s of ${config.size} B throughout.`,
        phaseNote('sealroom fresh', fresh.sealroom!),
        phaseNote('sealroom warm', warm.sealroom!),
        phaseNote('socket.io fresh', fresh['socket.io']!),
        phaseNote('socket.io warm', warm['socket.io']!),
      ],
    };
  } finally {
    await group.close();
  }
}
