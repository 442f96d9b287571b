/**
 * Scenario: the media forwarding unit's cost (docs/media/forwarding-unit.md, "Measured"). One
 * publisher (video at a fixed packet rate plus an audio track at 50 packets/s) to 1, 4 and 8
 * subscribers; per case the packets in and out per second, the share delivered, the Bridge's CPU,
 * forwarded packets per Bridge CPU-second ("per core"), CPU per packet out and the Bridge's RSS.
 *
 * The Bridge runs in its own process pinned to CPU 0 and the publisher and subscribers (werift peers,
 * signalling over the real WebSocket, all on 127.0.0.1) in this process pinned to CPU 1, so the
 * Bridge's figures are its own. The baseline, in the same run with the same pinning, packet sizes,
 * rates and fan-out, is a plain UDP forwarder process (bench/procs/udp-forwarder.ts: dgram, no ICE,
 * DTLS or SRTP): sealroom / plain is what the unit's WebRTC stack costs per packet.
 */
import dgram from 'node:dgram';
import { loadavg } from 'node:os';
import type { Bridge } from '../../bridge/index.ts';
import type { MediaUnitStats } from '../../bridge/media/unit.ts';
import { rtpPacket, TestPeer } from '../../bridge/media/test-peer.ts';
import { createRoom, TestClient } from '../../bridge/realtime/test-client.ts';
import { login, setupTenant } from '../../test/harness.ts';
import type { UdpForwarderStats } from '../procs/udp-forwarder.ts';
import { startBridgeProc, type BridgeProc } from '../lib/bridge.ts';
import { sleep } from '../lib/clock.ts';
import { addFixed } from '../lib/timing.ts';
import { affinityOf, canPin, pinProcess, ProcGroup, readCpuPreciseMs, type Proc } from '../lib/procs.ts';
import { row, type ResultRow, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';

/** The publisher's tracks: video at a fixed packet rate (about 9 Mbit/s of payload), audio as Opus sends it. */
export const VIDEO = { packetsPerSecond: 1000, payloadBytes: 1100 };
export const AUDIO = { packetsPerSecond: 50, payloadBytes: 160 };
export const FANOUTS = [1, 4, 8];
/** The issue's aim: forwarded packets per core-second. */
export const TARGET_PER_CORE = 10_000;
const BRIDGE_CPUS = '0';
const PEERS_CPUS = '1';
/** The register datagram of bench/procs/udp-forwarder.ts. */
const SUBSCRIBE = Buffer.from([0x01]);
/** Audio packet ids start here (video's from 0). */
const AUDIO_ID = 0x8000_0000;
const TICK_MS = 10;
/**
 * After sending stops, packets still in flight arrive: the case waits until none has arrived for
 * DRAIN_QUIET_MS, at most DRAIN_MS (a fixed 300 ms each window was 4.8 s of a quick run's 14.5).
 */
const DRAIN_MS = 300;
const DRAIN_QUIET_MS = 50;
const PEER_TIMEOUT_MS = 10_000;

export interface CaseFigures {
  subscribers: number;
  inPerSecond: number;
  outPerSecond: number;
  /** Distinct packets received by the subscribers / packets sent times subscribers, over the whole case, 0..1. */
  delivered: number;
  /** Packets that arrived a second time (resent after a NACK), in the same proportion. */
  duplicates: number;
  /** Forwarder CPU / wall time while sending, 0..1 of one core. */
  cpuShare: number;
  /** Packets out per forwarder CPU-second. */
  perCore: number;
  microsPerPacketOut: number;
  rssMiB: number;
}

export interface ForwardingRun {
  sealroom: CaseFigures[];
  plain: CaseFigures[];
  /** Whether the forwarders ran on CPU 0 and the peers on CPU 1. */
  pinned: boolean;
  loadBefore: number[];
  loadAfter: number[];
  seconds: number;
}

interface Window {
  sent: number;
  sendMs: number;
}

/**
 * Sends every stream at its rate for `ms`, waking every 10 ms to send what is due, then lets the
 * packets in flight arrive (`arrived`: packets the subscribers got so far, after a `tick`). Returns
 * how many were sent and for how long.
 */
async function paced(ms: number, streams: Array<{ packetsPerSecond: number; send: () => void }>, tick: () => void, arrived: () => number): Promise<Window> {
  addFixed(ms);
  const began = performance.now();
  const done = streams.map(() => 0);
  let sent = 0;
  for (let elapsed = 0; elapsed < ms; elapsed = performance.now() - began) {
    streams.forEach((s, i) => {
      const due = Math.floor((elapsed / 1000) * s.packetsPerSecond);
      for (; done[i]! < due; done[i]!++, sent++) s.send();
    });
    tick();
    await sleep(TICK_MS);
  }
  const sendMs = performance.now() - began;
  const drainBegan = performance.now();
  let count = arrived();
  let quietSince = drainBegan;
  while (performance.now() - drainBegan < DRAIN_MS && performance.now() - quietSince < DRAIN_QUIET_MS) {
    await sleep(TICK_MS);
    tick();
    if (arrived() !== count) {
      count = arrived();
      quietSince = performance.now();
    }
  }
  return { sent, sendMs };
}

/** What a case reads around its measured window: the forwarder's CPU ms and packets in and out. */
interface Snapshot {
  cpuMs: number;
  packetsIn: number;
  packetsOut: number;
}

/**
 * `delivered` counts over the whole case (warm-up, window and drain: nothing is in flight at either
 * end), the rates and CPU over the measured window.
 */
function figures(
  subscribers: number,
  before: Snapshot,
  after: Snapshot,
  window: Window,
  total: { sent: number; received: number; duplicates: number },
  rssBytes: number,
): CaseFigures {
  const seconds = window.sendMs / 1000;
  const cpuSeconds = (after.cpuMs - before.cpuMs) / 1000;
  const outPackets = after.packetsOut - before.packetsOut;
  return {
    subscribers,
    inPerSecond: (after.packetsIn - before.packetsIn) / seconds,
    outPerSecond: outPackets / seconds,
    delivered: total.received / Math.max(1, total.sent * subscribers),
    duplicates: total.duplicates / Math.max(1, total.sent * subscribers),
    cpuShare: cpuSeconds / seconds,
    perCore: cpuSeconds > 0 ? outPackets / cpuSeconds : Number.POSITIVE_INFINITY,
    microsPerPacketOut: (cpuSeconds * 1e6) / Math.max(1, outPackets),
    rssMiB: rssBytes / 2 ** 20,
  };
}

/** One case through sealroom's Bridge: a room, a publisher and `subscribers` werift subscribers. */
async function sealroomCase(
  bridge: BridgeProc,
  setup: Awaited<ReturnType<typeof tenantFor>>,
  subscribers: number,
  ms: { warmup: number; measure: number },
): Promise<CaseFigures> {
  const { fake, tenant, tokens, ids } = setup;
  const clients: TestClient[] = [];
  const peers: TestPeer[] = [];
  try {
    const room = await createRoom(
      fake,
      tenant,
      tokens.pub!,
      tenant.users.pub!,
      ids.map((id) => tenant.users[id]!),
      [tenant.users.pub!],
    );
    const roomId = room.record.roomId;
    const connect = async (id: string) => {
      const client = await TestClient.connect(bridge.url, tokens[id]!);
      clients.push(client);
      await client.request('join', { roomId });
      await client.request('mediaJoin', { roomId });
      return client;
    };
    const pub = await connect('pub');
    const announced = await pub.request('publish', {
      roomId,
      streamId: 'cam',
      tracks: [
        { trackId: 'v', kind: 'video' },
        { trackId: 'a', kind: 'audio' },
      ],
    });
    const pubPeer = new TestPeer();
    peers.push(pubPeer);
    const video = pubPeer.addSendTrack('video');
    const audio = pubPeer.addSendTrack('audio');
    const offer = await pubPeer.offer();
    const trackNo = (kind: string) => announced.stream.tracks.find((t) => t.kind === kind)!.trackNo;
    const tracks = [
      { mid: video.transceiver.mid!, trackNo: trackNo('video') },
      { mid: audio.transceiver.mid!, trackNo: trackNo('audio') },
    ];
    await pubPeer.acceptAnswer((await pub.request('mediaOffer', { roomId, sdp: offer, tracks })).sdp);
    await pubPeer.connected(PEER_TIMEOUT_MS);
    const subs: TestPeer[] = [];
    for (let i = 0; i < subscribers; i++) {
      const client = await connect(`sub${i}`);
      await client.request('subscribeStreams', { roomId, add: [{ streamId: 'cam' }], remove: [] });
      const received = await client.mediaEvent('mediaReceiveOffer', () => true, PEER_TIMEOUT_MS);
      const p = new TestPeer();
      peers.push(p);
      subs.push(p);
      await client.request('mediaAnswer', { roomId, revision: received.revision, sdp: await p.answer(received.sdp) });
      await p.connected(PEER_TIMEOUT_MS);
    }
    // Each payload starts with a packet id; a subscriber counts the distinct ids it got (a packet
    // resent after a NACK arrives twice) and drops the payloads (TestPeer keeps them).
    const seen = subs.map(() => new Set<number>());
    let received = 0;
    let duplicates = 0;
    const tick = () => {
      subs.forEach((s, i) => {
        for (const r of s.received) {
          const id = new DataView(r.payload.buffer, r.payload.byteOffset, 4).getUint32(0);
          if (seen[i]!.has(id)) duplicates++;
          else seen[i]!.add(id);
        }
        received += s.received.length;
        s.received.length = 0;
      });
    };
    const payload = (id: number, bytes: number) => {
      const out = new Uint8Array(bytes).fill(0x5a);
      new DataView(out.buffer).setUint32(0, id);
      return out;
    };
    let videoSeq = 0;
    let audioSeq = 0;
    const streams = [
      { packetsPerSecond: VIDEO.packetsPerSecond, send: () => video.track.writeRtp(rtpPacket(videoSeq, payload(videoSeq++, VIDEO.payloadBytes))) },
      { packetsPerSecond: AUDIO.packetsPerSecond, send: () => audio.track.writeRtp(rtpPacket(audioSeq, payload(AUDIO_ID + audioSeq++, AUDIO.payloadBytes))) },
    ];
    const snapshot = async (): Promise<Snapshot> => {
      const stats = await bridge.proc.call<MediaUnitStats>('mediaStats');
      return {
        cpuMs: readCpuPreciseMs(bridge.pid),
        packetsIn: stats.tracks.reduce((n, t) => n + t.packetsIn, 0),
        packetsOut: stats.tracks.reduce((n, t) => n + t.packetsOut, 0),
      };
    };
    // Warm up (JIT, first allocations, RTCP settling), then measure.
    const warm = await paced(ms.warmup, streams, tick, () => received);
    const before = await snapshot();
    const window = await paced(ms.measure, streams, tick, () => received);
    const after = await snapshot();
    return figures(subscribers, before, after, window, { sent: warm.sent + window.sent, received: received - duplicates, duplicates }, bridge.rssBytes());
  } finally {
    for (const client of clients) await client.close().catch(() => undefined);
    for (const p of peers) await p.close().catch(() => undefined);
  }
}

/** The same case through the plain UDP forwarder: RTP-sized datagrams, no SRTP. */
async function plainCase(forwarder: Proc, port: number, subscribers: number, ms: { warmup: number; measure: number }): Promise<CaseFigures> {
  const bind = async () => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return socket;
  };
  const publisher = await bind();
  const subs: dgram.Socket[] = [];
  try {
    let received = 0;
    for (let i = 0; i < subscribers; i++) {
      const s = await bind();
      subs.push(s);
      s.on('message', () => received++);
      s.send(SUBSCRIBE, port, '127.0.0.1');
    }
    await sleep(50);
    const packet = (seq: number, payloadBytes: number) => {
      const out = Buffer.alloc(12 + payloadBytes, 0x5a);
      out[0] = 0x80;
      out[1] = 96;
      out.writeUInt16BE(seq & 0xffff, 2);
      return out;
    };
    let videoSeq = 0;
    let audioSeq = 0;
    const streams = [
      { packetsPerSecond: VIDEO.packetsPerSecond, send: () => publisher.send(packet(videoSeq++, VIDEO.payloadBytes), port, '127.0.0.1') },
      { packetsPerSecond: AUDIO.packetsPerSecond, send: () => publisher.send(packet(audioSeq++, AUDIO.payloadBytes), port, '127.0.0.1') },
    ];
    const snapshot = async (): Promise<Snapshot> => {
      const stats = await forwarder.call<UdpForwarderStats>('stats');
      return { cpuMs: readCpuPreciseMs(forwarder.pid), packetsIn: stats.packetsIn, packetsOut: stats.packetsOut };
    };
    const warm = await paced(
      ms.warmup,
      streams,
      () => undefined,
      () => received,
    );
    const before = await snapshot();
    const window = await paced(
      ms.measure,
      streams,
      () => undefined,
      () => received,
    );
    const after = await snapshot();
    return figures(subscribers, before, after, window, { sent: warm.sent + window.sent, received, duplicates: 0 }, forwarder.rssBytes());
  } finally {
    await forwarder.call('reset');
    for (const s of [publisher, ...subs]) s.close();
  }
}

/**
 * Records every UDP socket bound in this process until `closeAll()`, which closes those still open:
 * werift leaves a few ICE sockets bound after `RTCPeerConnection.close()` (3 of 14 peers in a run
 * here), and they would keep this process alive after the benchmark.
 */
function udpSocketsOpened(): { closeAll(): void } {
  const proto = dgram.Socket.prototype as unknown as { bind: (...args: unknown[]) => unknown };
  const { bind } = proto;
  const sockets = new Set<dgram.Socket>();
  proto.bind = function (this: dgram.Socket, ...args: unknown[]) {
    sockets.add(this);
    return bind.apply(this, args);
  };
  return {
    closeAll() {
      proto.bind = bind;
      for (const socket of sockets) {
        try {
          socket.close();
        } catch {
          // already closed
        }
      }
    },
  };
}

/** A tenant with the publisher and enough subscribers, logged in (the Bridge is in another process). */
async function tenantFor(bridge: BridgeProc) {
  const fake = { url: bridge.url, manage: bridge.manage } as unknown as Bridge;
  const ids = ['pub', ...Array.from({ length: Math.max(...FANOUTS) }, (_, i) => `sub${i}`)];
  const tenant = await setupTenant(fake, ids);
  const tokens: Record<string, string> = Object.fromEntries(
    await Promise.all(ids.map(async (id) => [id, await login(bridge.url, tenant.solutionId, tenant.users[id]!)] as const)),
  );
  return { fake, tenant, tokens, ids };
}

/**
 * Runs every fan-out through sealroom's Bridge and through the plain forwarder, case by case (so a
 * change of load on the machine moves both), `measureSeconds` each after `warmupSeconds`.
 */
export async function measureMediaForwarding(options: { measureSeconds: number; warmupSeconds: number; log?: (line: string) => void }): Promise<ForwardingRun> {
  const ms = { warmup: options.warmupSeconds * 1000, measure: options.measureSeconds * 1000 };
  const began = performance.now();
  const loadBefore = loadavg();
  const group = new ProcGroup();
  const ownAffinity = affinityOf(process.pid);
  let selfPinned = false;
  const udp = udpSocketsOpened();
  try {
    const bridge = await startBridgeProc(
      group,
      {
        media: { listenAddress: '127.0.0.1', maxVideoBitrateBps: 1_000_000_000, maxReceivedTracksPerConnection: 256 },
        realtime: { maxConnectionsPerUserInRoom: 64 },
      },
      { cpus: BRIDGE_CPUS },
    );
    const forwarder = await group.fork<{ port: number; pid: number }>('udp-forwarder.ts', { name: 'udp-forwarder', cpus: BRIDGE_CPUS });
    // Pinned after the forks: children inherit their parent's pinning, and they have their own.
    selfPinned = pinProcess(process.pid, PEERS_CPUS);
    const setup = await tenantFor(bridge);
    // A first case warms both forwarders up (JIT, first sessions) and is not reported: measured, the
    // first case came out 25-35% more expensive than the same case run again.
    await sealroomCase(bridge, setup, 1, { warmup: ms.warmup, measure: ms.warmup });
    await plainCase(forwarder.proc, forwarder.info.port, 1, { warmup: ms.warmup, measure: ms.warmup });
    const sealroom: CaseFigures[] = [];
    const plain: CaseFigures[] = [];
    for (const n of FANOUTS) {
      sealroom.push(await sealroomCase(bridge, setup, n, ms));
      options.log?.(`media-forwarding 1 -> ${n}: sealroom ${sealroom.at(-1)!.perCore.toFixed(0)} per core`);
      plain.push(await plainCase(forwarder.proc, forwarder.info.port, n, ms));
      options.log?.(`media-forwarding 1 -> ${n}: plain ${plain.at(-1)!.perCore.toFixed(0)} per core`);
    }
    const pinned = selfPinned && bridge.proc.cpus !== undefined && forwarder.proc.cpus !== undefined;
    return { sealroom, plain, pinned, loadBefore, loadAfter: loadavg(), seconds: (performance.now() - began) / 1000 };
  } finally {
    // Scenarios after this one fork from this process: they get back the CPUs it had.
    if (selfPinned && ownAffinity !== undefined) pinProcess(process.pid, ownAffinity);
    udp.closeAll();
    await group.close();
  }
}

const fixed = (value: number, digits = 0) => value.toFixed(digits);

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  // Every case follows an unreported warm-up case, so its own warm-up only settles the new subscribers.
  const measureSeconds = options.quick ? 0.5 : 3;
  const warmupSeconds = options.quick ? 0.15 : 1;
  const r = await measureMediaForwarding({ measureSeconds, warmupSeconds, log: (line) => process.stderr.write(`${line}\n`) });
  const baseline = 'plain UDP forwarder';
  const rows: ResultRow[] = [];
  r.sealroom.forEach((s, i) => {
    const p = r.plain[i]!;
    const c = `1 -> ${s.subscribers}`;
    rows.push(
      row(`${c}: forwarded packets per Bridge CPU-second (per core)`, s.perCore, 'pkt/CPU-s', {
        baseline: { name: baseline, value: p.perCore },
        target: { op: '>=', value: TARGET_PER_CORE },
      }),
      row(`${c}: per core / the 10k target`, s.perCore / TARGET_PER_CORE, 'x', { target: { op: '>=', value: 1 } }),
      row(`${c}: µs Bridge CPU per packet out`, s.microsPerPacketOut, 'µs', { baseline: { name: baseline, value: p.microsPerPacketOut } }),
      row(`${c}: Bridge CPU while sending`, s.cpuShare * 100, '%', { baseline: { name: baseline, value: p.cpuShare * 100 } }),
      row(`${c}: packets out per s (in: ${fixed(s.inPerSecond)}/s)`, s.outPerSecond, 'pkt/s', { baseline: { name: baseline, value: p.outPerSecond } }),
      row(`${c}: delivered to the subscribers`, s.delivered * 100, '%', { baseline: { name: baseline, value: p.delivered * 100 } }),
      row(`${c}: Bridge RSS after the case`, s.rssMiB, 'MiB', { baseline: { name: baseline, value: p.rssMiB } }),
    );
  });
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(', ');
  return {
    scenario: 'media: forwarding cost, 1 publisher to 1, 4 and 8 subscribers (werift peers, loopback)',
    rows,
    notes: [
      `One publisher: video ${VIDEO.packetsPerSecond} packets/s x ${VIDEO.payloadBytes} B plus audio ${AUDIO.packetsPerSecond} packets/s x ${AUDIO.payloadBytes} B of payload; one unreported 1 -> 1 case first (warm-up), then per case ${warmupSeconds} s warm-up and ${measureSeconds} s measured. Delivered counts distinct packets over the whole case; packets that arrived twice (the unit resends NACKed packets on the main SSRC): ${r.sealroom.map((s) => `1 -> ${s.subscribers} ${(s.duplicates * 100).toFixed(1)}%`).join(', ')}. The Bridge runs through tsx in its own process, the werift publisher and subscribers in the benchmark process.`,
      r.pinned
        ? `Pinned with taskset: the Bridge and the plain forwarder on CPU ${BRIDGE_CPUS}, the peers on CPU ${PEERS_CPUS}.`
        : `NOT pinned (${canPin() ? 'taskset could not pin here' : 'taskset (util-linux) not found'}): the forwarders share the cores with the peers, so their figures include contention.`,
      `"Per core" is packets out of the forwarder per second of its process's CPU (the sum of its threads' /proc schedstat run time): what one core would forward if the forwarder had it alone. Ratios are sealroom / plain; the baseline forwards the same packet rates and payload sizes (RTP header, no SRTP) from a dgram socket, copying each packet per subscriber, so 1/ratio of the per-core figure is what the unit's WebRTC stack (ICE, SRTP decrypt and re-encrypt, RTCP, werift's packet objects) costs per packet.`,
      `Load average (1, 5, 15 min) at the start: ${load(r.loadBefore)}; at the end: ${load(r.loadAfter)}.`,
    ],
  };
}
