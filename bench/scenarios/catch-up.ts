/**
 * Catch-up (issue: a reader that trusts only version 1 of a 1,000-version room): `getStreamRoom` by a
 * reader whose trust store holds version 1 of the room (and the members' pins), so it fetches and
 * verifies 999 versions (docs/protocol/room-chain.md, "What a catch-up verifies"). Baseline: the same
 * reader reading the same room trusted at its head (no new record). The Bridge runs in its own
 * process; the reader runs here, so its CPU is this process's. Versions are meta updates by the
 * room's one manager, 20 members (the key-trust bench's room).
 *
 * `PROFILE=/tmp/catch-up.cpuprofile node --import tsx bench/lib/scenario-cli.ts catch-up` writes a CPU
 * profile of the timed catch-ups (node:inspector), for Chrome DevTools or speedscope.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { utf8 } from '../../crypto/bytes.ts';
import { Endpoint, MemoryTrustStore } from '../../endpoint/index.ts';
import { KeyRing } from '../../endpoint/rooms/keyring.ts';
import { RoomApi } from '../../endpoint/rooms/room-api.ts';
import { startBridgeProc } from '../lib/bridge.ts';
import { ProcGroup, readCpuPreciseMs } from '../lib/procs.ts';
import { row, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median } from '../lib/stats.ts';
import { makeTenant, pubOf } from '../lib/tenant.ts';

const SCENARIO = 'catch-up: a reader that trusts version 1 of a 1,000-version room';
const MEMBERS = 20;
const FULL = { versions: 1000, rounds: 15 };
const QUICK = { versions: 1000, rounds: 5 };

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  try {
    const bridge = await startBridgeProc(group);
    const tenant = await makeTenant(
      bridge.manage,
      Array.from({ length: MEMBERS }, (_, i) => `u${i}`),
      'catch-up',
    );
    const members = tenant.users.map(pubOf);
    const managers = [members[0]!];
    const connect = (i: number) => Endpoint.connect(tenant.users[i]!.privateKey, tenant.solutionId, bridge.url, { reconnect: false });
    const writerConnection = await connect(0);
    const reader = await connect(1);
    try {
      const writer = await Endpoint.createStreamApi(writerConnection, await Endpoint.createEventApi(writerConnection), { trustStore: new MemoryTrustStore() });
      const roomId = await writer.createStreamRoom(tenant.contextId, members, managers, utf8('{}'), utf8('meta v1'));

      // The reader's trust at version 1 (room head and pins), copied into a fresh store for each round.
      const atOne = new MemoryTrustStore();
      const ring = new KeyRing();
      await new RoomApi(reader, atOne, ring).getStreamRoom(roomId);
      const trustAtOne = atOne.get(roomId)!;
      const pins = tenant.users.map((u) => atOne.getPin(tenant.contextId, u.userId)).filter((p) => p !== undefined);
      const storeAtOne = () => {
        const store = new MemoryTrustStore();
        store.set(roomId, structuredClone(trustAtOne));
        store.setPins(structuredClone(pins));
        return store;
      };
      for (let version = 1; version < config.versions; version++) {
        await writer.updateStreamRoom(roomId, members, managers, utf8('{}'), utf8(`meta v${version + 1}`), version, false, false);
      }
      const atHead = new RoomApi(reader, new MemoryTrustStore(), ring);
      await atHead.getStreamRoom(roomId);

      const samples = { catchUp: [] as number[], catchUpMain: [] as number[], catchUpCpu: [] as number[], bridgeCpu: [] as number[], atHead: [] as number[] };
      const profiler = process.env.PROFILE === undefined ? undefined : await startProfile();
      for (let round = -2; round < config.rounds; round++) {
        const api = new RoomApi(reader, storeAtOne(), ring);
        const bridgeCpu0 = readCpuPreciseMs(bridge.pid);
        const cpu0 = readCpuPreciseMs(process.pid);
        const main0 = mainThreadCpuMs();
        const t0 = performance.now();
        const room = await api.getStreamRoom(roomId);
        const wall = performance.now() - t0;
        const main = mainThreadCpuMs() - main0;
        const cpu = readCpuPreciseMs(process.pid) - cpu0;
        const bridgeCpu = readCpuPreciseMs(bridge.pid) - bridgeCpu0;
        if (room.version !== config.versions) throw new Error(`caught up to version ${room.version}, expected ${config.versions}`);
        const t1 = performance.now();
        await atHead.getStreamRoom(roomId);
        const head = performance.now() - t1;
        if (round < 0) continue; // warm-up
        samples.catchUp.push(wall);
        samples.catchUpMain.push(main);
        samples.catchUpCpu.push(cpu);
        samples.bridgeCpu.push(bridgeCpu);
        samples.atHead.push(head);
      }
      if (profiler !== undefined) await profiler.stop(process.env.PROFILE!);

      const versions = config.versions - 1;
      const catchUp = median(samples.catchUp);
      const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;
      return {
        scenario: SCENARIO,
        rows: [
          row(`catch-up of ${versions} versions, ${MEMBERS} members`, catchUp, 'ms', {
            baseline: { name: 'the same read trusted at the head', value: median(samples.atHead) },
            target: { op: '<', value: 50 },
          }),
          row('catch-up, reader main-thread CPU', median(samples.catchUpMain), 'ms', { target: { op: '<', value: 50 } }),
          row('catch-up, reader main-thread CPU per version', (median(samples.catchUpMain) * 1000) / versions, 'us'),
          row('catch-up, reader CPU (all threads: GC, compiler)', median(samples.catchUpCpu), 'ms'),
          row('catch-up, Bridge CPU', median(samples.bridgeCpu), 'ms'),
        ],
        notes: [
          `${config.rounds} rounds after 2 of warm-up; medians. Over the rounds: wall ${range(samples.catchUp)} ms, reader main thread ${range(samples.catchUpMain)} ms, reader all threads ${range(samples.catchUpCpu)} ms, Bridge ${range(samples.bridgeCpu)} ms of CPU (schedstat).`,
          'Wall time is what the goal names; on this shared machine it moves with the load, so the CPU time of the reader main thread (what the catch-up itself costs; the Bridge serves the next page meanwhile) is the stable figure.',
          'The reader checks every chain rule and hash of every version and the signatures of version 1, of the last version of each page and of every version that changes the managers or the policy (docs/protocol/room-chain.md); the versions here change neither, so it checks 4 signatures (one per page of 256 records), not 999.',
        ],
      };
    } finally {
      await reader.disconnect();
      await writerConnection.disconnect();
    }
  } finally {
    await group.close();
  }
}

/** CPU time of the calling thread (the event loop), ms, from /proc/thread-self/schedstat (ns). */
function mainThreadCpuMs(): number {
  return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
}

/** A CPU profile of what runs until `stop` (node:inspector). */
async function startProfile(): Promise<{ stop(path: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
  return {
    async stop(path) {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      writeFileSync(path, JSON.stringify(profile));
      session.disconnect();
    },
  };
}
