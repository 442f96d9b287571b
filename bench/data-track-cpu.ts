/**
 * Client CPU per received data-track message, against a socket.io client and a plain `ws` client
 * receiving the same messages (docs/operations/load.md, "Client CPU per message"). A quick, repeatable
 * probe for comparing two builds of the receive path, not part of the `bench/run.ts` table:
 *
 *   node --import tsx bench/data-track-cpu.ts [--rooms 4] [--receivers 20] [--rate 200] [--seconds 4] [--rounds 3] [--size 256]
 *     [--kinds sealroom,socket.io,plain] [--no-plain]
 *
 * Processes: the Bridge (pinned to CPU 0 when `taskset` works), the plain room server of the load
 * benchmark (bench/procs/ws-room-server.ts, CPU 0 too), one *sender* process holding one member per
 * room and one *receiver* process holding the other `receivers` members of every room (both on the
 * other CPUs). The receivers never send, so the receiver process's CPU (all threads,
 * /proc/<pid>/task/<tid>/schedstat) over a phase divided by the messages it received is what one
 * received message costs: frame decode, SFrame decryption, replay, stamp and head checks, the
 * listener call. The same members then take the same traffic as plain `ws` sockets through the room
 * server (no auth, no crypto). And as socket.io clients, received the way the fan-out scenario's
 * socket.io receivers receive them (bench/scenarios/fanout.ts: bench/procs/peers.ts's `socketio.*`
 * handlers, one `m` handler per socket, through bench/procs/sio-server.ts on CPU 0, a room of its own
 * per sealroom room): these run in two processes of their own (`sio-senders`, `sio-receivers`, the
 * other CPUs), so the socket.io phase's receiver figure is that process's CPU over its messages.
 * Phases alternate, sealroom, socket.io, plain, `rounds` times, after one warm-up of each; the sender
 * process's CPU per sent message is reported beside. `--kinds` picks and orders the systems.
 *
 * `BENCH_CPU_PROF=^receivers$` profiles the receiver process (bench/lib/procs.ts); with `--no-plain`
 * (the same as `--kinds sealroom`) the profile holds the sealroom phases only.
 */
import { readFileSync } from 'node:fs';
import { nowMs, sleep } from './lib/clock.ts';
import { startBridgeProc } from './lib/bridge.ts';
import { bundleBridge, bundleProc } from './lib/bundle.ts';
import { drain } from './lib/load-phase.ts';
import { canPin, pinProcess, type Proc, ProcGroup, readCpuPreciseMs } from './lib/procs.ts';
import { peer, type Peer } from './lib/peers.ts';
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
const KINDS = ['sealroom', 'socket.io', 'plain'] as const;
type Kind = (typeof KINDS)[number];

/** `--kinds a,b`: these systems, in this order; `--no-plain`: sealroom phases only (for a profile of the receive path alone). */
function kindsArg(): Kind[] {
  if (process.argv.includes('--no-plain')) return ['sealroom'];
  const i = process.argv.indexOf('--kinds');
  if (i < 0) return [...KINDS];
  const picked = String(process.argv[i + 1]).split(',');
  for (const k of picked) if (!(KINDS as readonly string[]).includes(k)) throw new Error(`--kinds expected some of ${KINDS.join(',')}, got ${k}`);
  return picked as Kind[];
}
const kinds = kindsArg();

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
  kind: Kind;
  received: number;
  sent: number;
  receiverMicros: number;
  senderMicros: number;
  /** Of the receiver process's CPU: the share in the kernel (stime), and the share of its main thread. */
  receiverKernel: number;
  receiverMain: number;
}

/** A process's user and kernel CPU (all threads, 10 ms ticks) and its main thread's CPU (schedstat), ms. */
function cpuSplit(pid: number): { user: number; kernel: number; main: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const main = Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  return { user: Number(fields[11]) * 10, kernel: Number(fields[12]) * 10, main };
}

/** `measure` with the receiver's CPU split taken around it. */
async function withSplit<T>(pid: number, measure: () => Promise<T>): Promise<T & { receiverKernel: number; receiverMain: number }> {
  const before = cpuSplit(pid);
  const cpuBefore = readCpuPreciseMs(pid);
  const result = await measure();
  const after = cpuSplit(pid);
  const total = readCpuPreciseMs(pid) - cpuBefore;
  const kernel = after.kernel - before.kernel;
  return { ...result, receiverKernel: kernel / (kernel + after.user - before.user), receiverMain: (after.main - before.main) / total };
}

const pct = (share: number) => `${Math.round(100 * share)}%`;

const group = new ProcGroup();
try {
  const [bridgeScript, membersScript, peersScript] = await Promise.all([bundleBridge(), bundleProc('cpu-members.ts'), bundleProc('peers.ts')]);
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
  const sio = kinds.includes('socket.io') ? await setupSocketIo(peersScript) : undefined;

  const perConnection = rate / rooms;
  const runPhase = (kind: Kind): Promise<Phase> =>
    kind === 'socket.io' ? withSplit(sio!.receiver.proc.pid, () => runSocketIoPhase(sio!)) : withSplit(receiver.pid, () => runOwnPhase(kind));
  const runOwnPhase = async (kind: Kind) => {
    const [start, stop, count, sentCount] =
      kind === 'sealroom' ? ['startSending', 'stopSending', 'received', 'offered'] : ['plainStartSending', 'plainStopSending', 'plainReceived', 'plainSent'];
    const statsBefore = (await receiver.call<{ stats?: Record<string, number> }>(kind === 'sealroom' ? 'take' : 'plainTake')).stats ?? {};
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
    if (kind === 'sealroom' && received < sent * receivers) {
      // Short: say where the receivers' counters (dataTrackStats) put the rest.
      const { stats = {} } = await receiver.call<{ stats?: Record<string, number> }>('take');
      const moved = Object.entries(stats).filter(([k, v]) => v !== (statsBefore[k] ?? 0));
      process.stdout.write(`  short: receivers' counters during the phase: ${moved.map(([k, v]) => `${k} +${v - (statsBefore[k] ?? 0)}`).join(', ')}\n`);
    }
    return { kind, received, sent, receiverMicros, senderMicros };
  };

  /** The socket.io clients: a sender socket per room and `receivers` sockets in each room, each room its own. */
  async function setupSocketIo(script: string): Promise<{ sender: Peer; receiver: Peer }> {
    const server = await group.fork<{ url: string }>('sio-server.ts', { name: 'sio-server', ...(pinned ? { cpus: SERVER_CPUS } : {}) });
    const [sender, receiver] = (
      await group.forkAll(script, [
        { name: 'sio-senders', ...(pinned ? { cpus: CLIENT_CPUS } : {}) },
        { name: 'sio-receivers', ...(pinned ? { cpus: CLIENT_CPUS } : {}) },
      ])
    ).map((f) => peer(f.proc, 'socketio')) as [Peer, Peer];
    await sender.call('connect', { url: server.info.url, count: rooms });
    await receiver.call('connect', { url: server.info.url, count: rooms * receivers }, 120_000);
    for (let r = 0; r < rooms; r++) {
      await sender.call('join', { count: 1, room: `r${r}` });
      await receiver.call('join', { count: receivers, room: `r${r}` });
    }
    return { sender, receiver };
  }

  /** As `runPhase`, with the socket.io clients: `rate` messages a second round-robin over the rooms' senders. */
  async function runSocketIoPhase(s: { sender: Peer; receiver: Peer }) {
    await s.receiver.call('take');
    const receiverCpu = readCpuPreciseMs(s.receiver.proc.pid);
    const senderCpu = readCpuPreciseMs(s.sender.proc.pid);
    const { sent } = await s.sender.call<{ sent: number }>('stream', { rate, seconds, size, senders: rooms }, seconds * 1000 + 30_000);
    await drain(() => s.receiver.call<number>('received'), sent * receivers);
    const received = await s.receiver.call<number>('received');
    const receiverMicros = ((readCpuPreciseMs(s.receiver.proc.pid) - receiverCpu) * 1000) / received;
    const senderMicros = ((readCpuPreciseMs(s.sender.proc.pid) - senderCpu) * 1000) / sent;
    return { kind: 'socket.io' as const, received, sent, receiverMicros, senderMicros };
  }

  const began = nowMs();
  for (const kind of kinds) await runPhase(kind);
  const phases: Phase[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const kind of kinds) {
      const phase = await runPhase(kind);
      phases.push(phase);
      process.stdout.write(
        `${kind.padEnd(9)} received ${phase.received} of ${phase.sent * receivers}: receiver ${phase.receiverMicros.toFixed(1)} µs/msg (kernel ${pct(phase.receiverKernel)}, main thread ${pct(phase.receiverMain)}), sender ${phase.senderMicros.toFixed(1)} µs/sent\n`,
      );
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const of = (kind: Kind, pick: (p: Phase) => number) => +median(phases.filter((p) => p.kind === kind).map(pick)).toFixed(1);
  const medians = (pick: (p: Phase) => number) => Object.fromEntries(kinds.map((k) => [k, of(k, pick)]));
  const receiverMicros = medians((p) => p.receiverMicros);
  // Each round's sealroom figure over the other systems' in the same round, then the median of those.
  const ratios = Object.fromEntries(
    kinds
      .filter((k) => k !== 'sealroom' && kinds.includes('sealroom'))
      .map((k) => {
        const per = (kind: Kind) => phases.filter((p) => p.kind === kind).map((p) => p.receiverMicros);
        const mine = per('sealroom');
        const theirs = per(k);
        const each = mine.map((m, i) => m / theirs[i]!);
        return [`sealroom/${k}`, { median: +median(each).toFixed(2), rounds: each.map((x) => +x.toFixed(2)) }];
      }),
  );
  process.stdout.write(
    `${JSON.stringify({
      rooms,
      receivers,
      rate,
      deliveriesPerSecond: rate * receivers,
      size,
      pinned,
      medianReceiverMicros: receiverMicros,
      ratios,
      medianSenderMicros: medians((p) => p.senderMicros),
      seconds: Math.round((nowMs() - began) / 1000),
    })}\n`,
  );
  await receiver.call('plainClose');
  await sender.call('plainClose');
  await Promise.all([sender, receiver].map((p) => p.call('disconnect')));
} finally {
  await group.close();
}
