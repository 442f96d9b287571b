/**
 * The page of bench/scenarios/direct-browser.ts: a Chromium Endpoint (native RTCPeerConnection,
 * loopback candidates only) that accepts direct connections and reads every byte stream on the bench
 * topic, noting when its first and last bytes came (`Date.now()`, one clock for all pages); and that
 * sends one stream to a member on the path it is told.
 */
import { Endpoint, type StreamApi } from '../endpoint/index.ts';

interface Arrival {
  bytes: number;
  firstAt: number;
  endAt: number;
}

const TOPIC = 'bench';
let api: StreamApi | undefined;
let roomId = '';
const arrivals: Arrival[] = [];
let waiter: ((a: Arrival) => void) | undefined;

function streamApi(): StreamApi {
  if (api === undefined) throw new Error('connect first');
  return api;
}

const bench = {
  async connect(a: { url: string; solutionId: string; privateKey: string }): Promise<void> {
    await Endpoint.setup();
    const connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url);
    api = await Endpoint.createStreamApi(connection, await Endpoint.createEventApi(connection), {
      peers: { allowCandidate: (address) => address.startsWith('127.'), connectTimeoutMs: 15_000 },
    });
    api.addRemotePeerListener((request) => void request.accept().catch(() => undefined));
    api.registerByteStreamHandler(TOPIC, async (reader) => {
      let firstAt = 0;
      let bytes = 0;
      for await (const chunk of reader) {
        if (bytes === 0) firstAt = Date.now();
        bytes += chunk.length;
      }
      const arrival = { bytes, firstAt, endAt: Date.now() };
      if (waiter === undefined) arrivals.push(arrival);
      else {
        const w = waiter;
        waiter = undefined;
        w(arrival);
      }
    });
  },

  async join(id: string): Promise<void> {
    roomId = id;
    await streamApi().joinStreamRoom(id);
  },

  /** Connects directly (kept open: direct sends reuse it); the setup's milliseconds, or undefined before the member is seen. */
  async connectPeer(userId: string): Promise<number | undefined> {
    const started = performance.now();
    try {
      await streamApi().connectPeer(roomId, userId);
      return performance.now() - started;
    } catch {
      return undefined;
    }
  },

  next(): Promise<Arrival> {
    const ready = arrivals.shift();
    return ready !== undefined ? Promise.resolve(ready) : new Promise((resolve) => (waiter = resolve));
  },

  /** One stream of `bytes` to `to` on `path` (no receipt asked); when the call started, and the path taken. */
  async send(a: { to: string; bytes: number; path: 'direct' | 'relay' }): Promise<{ startAt: number; path: string }> {
    const data = new Uint8Array(a.bytes).map((_, i) => i % 251);
    const startAt = Date.now();
    const result = await streamApi().send(data, { roomId, topic: TOPIC, name: 'bench.bin', destinationIdentities: [a.to], path: a.path, receipts: false });
    const path =
      streamApi()
        .peerStats()
        .streams.find((s) => s.id === result.id)?.path ?? 'relay';
    return { startAt, path };
  },
};

declare global {
  interface Window {
    directBench: typeof bench;
  }
}

window.directBench = bench;
