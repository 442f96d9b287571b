/**
 * Client CPU per received data-track message, against a plain `ws` client receiving the same binary
 * messages (docs/operations/load.md, "Client CPU per message"). A quick, repeatable probe for comparing
 * two builds of the receive path, not part of the `bench/run.ts` table:
 *
 *   node --import tsx bench/data-track-cpu.ts [--rooms 4] [--receivers 20] [--rate 200] [--seconds 4] [--rounds 3] [--size 256] [--no-plain]
 *
 * Processes: the Bridge (pinned to CPU 0 when `taskset` works), the plain room server of the load
 * benchmark (bench/procs/ws-room-server.ts, CPU 0 too), one *sender* process holding one member per
 * room and one *receiver* process holding the other `receivers` members of every room (both on the
 * other CPUs). The receivers never send, so the receiver process's CPU (all threads,
 * /proc/<pid>/task/<tid>/schedstat) over a phase divided by the messages it received is what one
 * received message costs: frame decode, SFrame decryption, replay, stamp and head checks, the
 * listener call. The same members then take the same traffic as plain `ws` sockets through the room
 * server (no auth, no crypto). Phases alternate, sealroom then plain, `rounds` times, after one warm-up
 * of each; the sender process's CPU per sent message is reported beside.
 *
 * `BENCH_CPU_PROF=^receivers$` profiles the receiver process (bench/lib/procs.ts); with `--no-plain` the
 * profile holds the sealroom phases only.
 */
import { nowMs, sleep } from './lib/clock.ts';
import { startBridgeProc } from './lib/bridge.ts';
import { bundleBridge, bundleProc } from './lib/bundle.ts';
import { drain } from './lib/load-phase.ts';
import { canPin, pinProcess, type Proc, ProcGroup, readCpuPreciseMs } from './lib/procs.ts';
import { forEachLimited, makeTenant, pubOf } from './lib/tenant.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i < 0 ? fallback : Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} expected a positive number, got ${process.argv[i + 1]}`);
  return value;
}

const rooms = arg('rooms', 4);
const receivers = arg('receivers', 20);
const rate = arg('rate', 200);
const seconds = arg('seconds', 4);
const rounds = arg('rounds', 3);
const size = arg('size', 256);
/** `--no-plain`: sealroom phases only (for a profile of the receive path alone). */
const kinds = process.argv.includes('--no-plain') ? (['sealroom'] as const) : (['sealroom', 'plain'] as const);

const pinned = canPin();
const SERVER_CPUS = '0';
const CLIENT_CPUS = '1-63';
if (pinned) pinProcess(process.pid, CLIENT_CPUS);

/** A setup call, again after a while when the Bridge refuses it as saturated (other work on its core). */
async function retried<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= 10 || !/saturated/.test(String(error))) throw error;
      await sleep(2000);
    }
  }
}

interface Phase {
  kind: 'sealroom' | 'plain';
  received: number;
  sent: number;
  receiverMicros: number;
  senderMicros: number;
}

const group = new ProcGroup();
try {
  const [bridgeScript, membersScript] = await Promise.all([bundleBridge(), bundleProc('cpu-members.ts')]);
  const bridge = await startBridgeProc(group, {}, { script: bridgeScript, ...(pinned ? { cpus: SERVER_CPUS } : {}) });
  const plainServer = await group.fork<{ url: string }>('ws-room-server.ts', { name: 'plain-server', ...(pinned ? { cpus: SERVER_CPUS } : {}) });
  const perRoom = 1 + receivers;
  const tenant = await makeTenant(
    bridge.manage,
    Array.from({ length: rooms * perRoom }, (_, i) => `m${i}`),
    'cpu',
  );
  const byRoom = Array.from({ length: rooms }, (_, r) => tenant.users.slice(r * perRoom, (r + 1) * perRoom));
  const [sender, receiver] = (
    await group.forkAll(membersScript, [
      { name: 'senders', readyTimeoutMs: 60_000, ...(pinned ? { cpus: CLIENT_CPUS } : {}) },
      { name: 'receivers', readyTimeoutMs: 60_000, ...(pinned ? { cpus: CLIENT_CPUS } : {}) },
    ])
  ).map((f) => f.proc) as [Proc, Proc];
  const senders = byRoom.map((room, r) => ({ ...room[0]!, roomIndex: r }));
  const listeners = byRoom.flatMap((room, r) => room.slice(1).map((u) => ({ ...u, roomIndex: r })));
  // One member a call, so a login the Bridge refuses as saturated is retried alone.
  const connect = (proc: Proc, users: typeof senders) =>
    forEachLimited(users, 8, (user) => retried(() => proc.call('connect', { url: bridge.url, solutionId: tenant.solutionId, users: [user] }, 120_000)));
  await connect(sender, senders);
  await connect(receiver, listeners);
  const roomOf: Record<string, string> = {};
  for (const room of byRoom) {
    const roomId = await retried(() =>
      sender.call<string>('createRoom', { creator: room[0]!.userId, contextId: tenant.contextId, members: room.map(pubOf) }, 120_000),
    );
    for (const u of room) roomOf[u.userId] = roomId;
  }
  const published = (await Promise.all([sender, receiver].map((p) => p.call<unknown[]>('join', { rooms: roomOf }, 300_000)))).flat();
  await Promise.all([sender, receiver].map((p) => p.call('subscribe', { streams: published }, 300_000)));
  await sender.call('plainConnect', { url: plainServer.info.url, rooms: byRoom.map((_, r) => r) });
  await receiver.call('plainConnect', { url: plainServer.info.url, rooms: listeners.map((u) => u.roomIndex) });

  const perConnection = rate / rooms;
  const runPhase = async (kind: Phase['kind']): Promise<Phase> => {
    const [start, stop, count, sentCount] =
      kind === 'sealroom' ? ['startSending', 'stopSending', 'received', 'offered'] : ['plainStartSending', 'plainStopSending', 'plainReceived', 'plainSent'];
    await receiver.call(kind === 'sealroom' ? 'take' : 'plainTake');
    const sentBefore = await sender.call<number>(sentCount);
    const receiverCpu = readCpuPreciseMs(receiver.pid);
    const senderCpu = readCpuPreciseMs(sender.pid);
    await sender.call(start, { perConnection, size });
    await sleep(seconds * 1000);
    await sender.call(stop);
    const sent = (await sender.call<number>(sentCount)) - sentBefore;
    await drain(() => receiver.call<number>(count), sent * receivers);
    const received = await receiver.call<number>(count);
    const receiverMicros = ((readCpuPreciseMs(receiver.pid) - receiverCpu) * 1000) / received;
    const senderMicros = ((readCpuPreciseMs(sender.pid) - senderCpu) * 1000) / sent;
    return { kind, received, sent, receiverMicros, senderMicros };
  };

  const began = nowMs();
  for (const kind of kinds) await runPhase(kind);
  const phases: Phase[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const kind of kinds) {
      const phase = await runPhase(kind);
      phases.push(phase);
      process.stdout.write(
        `${kind.padEnd(8)} received ${phase.received} of ${phase.sent * receivers}: receiver ${phase.receiverMicros.toFixed(1)} µs/msg, sender ${phase.senderMicros.toFixed(1)} µs/sent\n`,
      );
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const of = (kind: Phase['kind'], pick: (p: Phase) => number) => median(phases.filter((p) => p.kind === kind).map(pick));
  const sealroom = of('sealroom', (p) => p.receiverMicros);
  const plain = of('plain', (p) => p.receiverMicros);
  process.stdout.write(
    `${JSON.stringify({
      rooms,
      receivers,
      rate,
      deliveriesPerSecond: rate * receivers,
      size,
      pinned,
      medianReceiverMicros: { sealroom: +sealroom.toFixed(1), plain: +plain.toFixed(1), ratio: +(sealroom / plain).toFixed(2) },
      medianSenderMicros: { sealroom: +of('sealroom', (p) => p.senderMicros).toFixed(1), plain: +of('plain', (p) => p.senderMicros).toFixed(1) },
      seconds: Math.round((nowMs() - began) / 1000),
    })}\n`,
  );
  await receiver.call('plainClose');
  await sender.call('plainClose');
  await Promise.all([sender, receiver].map((p) => p.call('disconnect')));
} finally {
  await group.close();
}
