/**
 * A sealroom Endpoint for the direct-path benchmark (bench/scenarios/direct.ts): werift in Node, ICE on
 * 127.0.0.1 only. A receiver accepts direct connections and reads every byte stream on its topic to the
 * verified end, noting when its first and last bytes came; a sender writes one stream with
 * `streamBytes` to the receiver on the path it is told. Times are on the shared monotonic clock.
 */
import { Endpoint, type StreamApi } from '../../endpoint/index.ts';
import { nowMs } from '../lib/clock.ts';
import type { BenchUser } from '../lib/tenant.ts';
import { serve } from '../lib/worker.ts';

const TOPIC = 'bench';
const loopback = {
  iceServers: [],
  allowCandidate: (address: string) => address.startsWith('127.'),
  node: {
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    // DIRECT_BENCH_SCTP_MTU: werift's SCTP packet size (default 1191 B), to see what per-packet costs weigh.
    ...(process.env.DIRECT_BENCH_SCTP_MTU === undefined ? {} : { sctp: { mtu: Number(process.env.DIRECT_BENCH_SCTP_MTU) } }),
  },
  connectTimeoutMs: 10_000,
};

interface Arrival {
  id: string;
  bytes: number;
  firstAt: number;
  endAt: number;
}

let streamApi: StreamApi | undefined;
let roomId = '';
const arrivals: Arrival[] = [];
let waiter: ((a: Arrival) => void) | undefined;

function api(): StreamApi {
  if (streamApi === undefined) throw new Error('not connected');
  return streamApi;
}

serve({
  async connect(p: { url: string; solutionId: string; user: BenchUser }) {
    const connection = await Endpoint.connect(p.user.privateKey, p.solutionId, p.url, { reconnect: false });
    streamApi = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection), { peers: loopback });
    return connection.userId;
  },

  async createRoom(p: { contextId: string; members: Array<{ userId: string; pubKey: string }> }) {
    return api().createStreamRoom(p.contextId, p.members, p.members, new Uint8Array(), new Uint8Array());
  },

  /** Joins; a receiver accepts direct connections and reads streams on the topic. */
  async join(p: { roomId: string; role: 'send' | 'recv' }) {
    roomId = p.roomId;
    await api().joinStreamRoom(roomId);
    if (p.role !== 'recv') return null;
    api().addRemotePeerListener((request) => void request.accept().catch(() => undefined));
    api().registerByteStreamHandler(TOPIC, async (reader) => {
      let firstAt = 0;
      let bytes = 0;
      for await (const chunk of reader) {
        if (bytes === 0) firstAt = nowMs();
        bytes += chunk.length;
      }
      const arrival = { id: reader.info.id, bytes, firstAt, endAt: nowMs() };
      if (waiter !== undefined) {
        const w = waiter;
        waiter = undefined;
        w(arrival);
      } else arrivals.push(arrival);
    });
    return null;
  },

  /**
   * Sender: connects directly to `userId` (kept open: direct sends then reuse it) and returns how long
   * the signed signalling, ICE and DTLS took. Retries while the member's join has not reached this side.
   */
  async connectPeer(p: { userId: string }) {
    const deadline = nowMs() + 10_000;
    for (;;) {
      const started = nowMs();
      try {
        await api().connectPeer(roomId, p.userId);
        return { ms: nowMs() - started };
      } catch (error) {
        if (nowMs() > deadline || (error as { reason?: string }).reason !== 'NotMember') throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  },

  /** Receiver: the next stream read to its verified end. */
  next() {
    const ready = arrivals.shift();
    if (ready !== undefined) return ready;
    return new Promise<Arrival>((resolve) => (waiter = resolve));
  },

  /**
   * Sender: one stream of `bytes` (awaited writes of `writeBytes`) to `to` on `path`; returns when the
   * call started, when the signed end was out, and the path the stream took.
   */
  async send(p: { bytes: number; writeBytes: number; to: string; path: 'relay' | 'direct' | 'auto' }) {
    const chunk = new Uint8Array(p.writeBytes);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
    const startAt = nowMs();
    const writer = await api().streamBytes({ roomId, topic: TOPIC, name: 'bench.bin', totalSize: p.bytes, destinationIdentities: [p.to], path: p.path });
    for (let sent = 0; sent < p.bytes; sent += chunk.length) await writer.write(chunk.subarray(0, Math.min(chunk.length, p.bytes - sent)));
    await writer.close();
    // Streams sent with an explicit 'relay' are not path choices: peerStats() lists auto and direct ones.
    const path =
      api()
        .peerStats()
        .streams.find((s) => s.id === writer.info.id)?.path ?? 'relay';
    return { startAt, endAt: nowMs(), path };
  },
});
