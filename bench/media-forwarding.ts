/**
 * The media forwarding unit's cost: RTP packets forwarded per CPU second of the Bridge process, for
 * one publisher to 1 and to 4 subscribers. The Bridge runs in its own process (as `make run` runs
 * it, through tsx); the publisher and subscribers are werift peers in this process, on 127.0.0.1,
 * signalling over the real WebSocket. Not part of the `bench/run.ts` table:
 *
 *   node --import tsx bench/media-forwarding.ts [--seconds 5] [--size 1100]
 *
 * Each case sends at a fixed packet rate (paced every 10 ms) for `--seconds`, then reads the
 * Bridge's CPU time (utime + stime from /proc) and the unit's counters. "Per core" is packets out of
 * the unit per second of Bridge CPU: what one core would forward if the unit had it alone. The
 * peers here cost CPU too (SRTP both ways, in JavaScript), on the same two cores.
 */
import { login, setupTenant } from '../test/harness.ts';
import type { Bridge } from '../bridge/index.ts';
import type { MediaUnitStats } from '../bridge/media/unit.ts';
import { createRoom, TestClient } from '../bridge/realtime/test-client.ts';
import { rtpPacket, TestPeer } from '../bridge/media/test-peer.ts';
import { startBridgeProc } from './lib/bridge.ts';
import { ProcGroup, readCpuMs } from './lib/procs.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}
const seconds = arg('seconds', 5);
const size = arg('size', 1100);
const CASES: Array<{ subscribers: number; packetsPerSecond: number }> = [
  { subscribers: 1, packetsPerSecond: 1000 },
  { subscribers: 1, packetsPerSecond: 2000 },
  { subscribers: 4, packetsPerSecond: 500 },
  { subscribers: 4, packetsPerSecond: 1000 },
  { subscribers: 4, packetsPerSecond: 2000 },
];

const group = new ProcGroup();
const clients: TestClient[] = [];
const peers: TestPeer[] = [];
try {
  const bridge = await startBridgeProc(group, {
    media: { listenAddress: '127.0.0.1', maxVideoBitrateBps: 1_000_000_000, maxReceivedTracksPerConnection: 256 },
    realtime: { maxConnectionsPerUserInRoom: 64 },
  });
  const fake = { url: bridge.url, manage: bridge.manage } as unknown as Bridge;
  const ids = ['pub', 'sub0', 'sub1', 'sub2', 'sub3'];
  const tenant = await setupTenant(fake, ids);
  const tokens = Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await login(bridge.url, tenant.solutionId, tenant.users[id]!)] as const)));
  const rows: string[] = [];
  for (const c of CASES) {
    const room = await createRoom(fake, tenant, tokens.pub!, tenant.users.pub!, ids.map((id) => tenant.users[id]!), [tenant.users.pub!]);
    const roomId = room.record.roomId;
    const connect = async (id: string) => {
      const client = await TestClient.connect(bridge.url, tokens[id]!);
      clients.push(client);
      await client.request('join', { roomId });
      await client.request('mediaJoin', { roomId });
      return client;
    };
    const pub = await connect('pub');
    const announced = await pub.request('publish', { roomId, streamId: 'cam', tracks: [{ trackId: 'v', kind: 'video' }] });
    const pubPeer = new TestPeer();
    peers.push(pubPeer);
    const { track, transceiver } = pubPeer.addSendTrack('video');
    const offer = await pubPeer.offer();
    const answer = await pub.request('mediaOffer', { roomId, sdp: offer, tracks: [{ mid: transceiver.mid!, trackNo: announced.stream.tracks[0]!.trackNo }] });
    await pubPeer.acceptAnswer(answer.sdp);
    await pubPeer.connected(10_000);
    const subs: TestPeer[] = [];
    for (let i = 0; i < c.subscribers; i++) {
      const client = await connect(`sub${i}`);
      await client.request('subscribeStreams', { roomId, add: [{ streamId: 'cam' }], remove: [] });
      const received = await client.mediaEvent('mediaReceiveOffer', () => true, 10_000);
      const p = new TestPeer();
      peers.push(p);
      subs.push(p);
      await client.request('mediaAnswer', { roomId, revision: received.revision, sdp: await p.answer(received.sdp) });
      await p.connected(10_000);
    }
    const payload = new Uint8Array(size).fill(0x5a);
    const perTick = c.packetsPerSecond / 100;
    let seq = 0;
    const send = (n: number) => {
      for (let i = 0; i < n; i++) track.writeRtp(rtpPacket(seq++, payload, i === n - 1));
    };
    // Warm up two seconds (JIT, first allocations), then measure.
    const run = async (ms: number) => {
      const began = performance.now();
      let due = 0;
      while (performance.now() - began < ms) {
        const target = Math.floor(((performance.now() - began) / 1000) * c.packetsPerSecond);
        send(Math.min(target - due, perTick * 5));
        due = target;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await run(2000);
    const before = { cpu: readCpuMs(bridge.pid), stats: await bridge.proc.call<MediaUnitStats>('mediaStats'), rx: subs.map((s) => s.received.length), at: performance.now() };
    await run(seconds * 1000);
    await new Promise((r) => setTimeout(r, 200)); // packets in flight arrive
    const after = { cpu: readCpuMs(bridge.pid), stats: await bridge.proc.call<MediaUnitStats>('mediaStats'), rx: subs.map((s) => s.received.length), at: performance.now() };
    const t0 = before.stats.tracks.find((t) => t.trackNo === announced.stream.tracks[0]!.trackNo)!;
    const t1 = after.stats.tracks.find((t) => t.trackNo === announced.stream.tracks[0]!.trackNo)!;
    const wall = (after.at - before.at) / 1000;
    const cpuSeconds = (after.cpu - before.cpu) / 1000;
    const inPackets = t1.packetsIn - t0.packetsIn;
    const outPackets = t1.packetsOut - t0.packetsOut;
    const received = after.rx.reduce((n, r, i) => n + r - before.rx[i]!, 0);
    rows.push(
      `| 1 -> ${c.subscribers} | ${c.packetsPerSecond} | ${(inPackets / wall).toFixed(0)} | ${(outPackets / wall).toFixed(0)} | ${((received / Math.max(1, outPackets)) * 100).toFixed(1)}% | ${((cpuSeconds / wall) * 100).toFixed(0)}% | ${((outPackets + inPackets) / cpuSeconds).toFixed(0)} | ${(outPackets / cpuSeconds).toFixed(0)} | ${((cpuSeconds * 1e6) / Math.max(1, outPackets)).toFixed(0)} | ${(bridge.rssBytes() / 2 ** 20).toFixed(0)} |`,
    );
    process.stderr.write(`${rows.at(-1)}\n`);
    for (const client of clients.splice(0)) await client.close();
    for (const p of peers.splice(0)) await p.close();
  }
  process.stdout.write(
    [
      `Media forwarding, ${size}-byte payloads, ${seconds} s per case, Node ${process.versions.node}`,
      '',
      '| case | sent pps | in pps | out pps | received | Bridge CPU | packets (in+out) per CPU s | out per CPU s | µs CPU per out packet | Bridge RSS MiB |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
} finally {
  for (const client of clients) await client.close().catch(() => undefined);
  for (const p of peers) await p.close().catch(() => undefined);
  await group.close();
}
