/**
 * What a direct-peer test page gets (endpoint/peers/peers-browser.test.ts): an Endpoint with loopback
 * candidates only, that accepts every direct connection, reads every stream that arrives (its SHA-256,
 * length and text), and can connect and send a patterned file and text.
 */
import { Endpoint, type RemotePeer, type StreamApi } from '../../endpoint/index.ts';

interface Got {
  label: string;
  from: string;
  length: number;
  sha256: string;
  text: string | undefined;
}

let api: StreamApi | undefined;
const peers: RemotePeer[] = [];
const got: Got[] = [];
const errors: string[] = [];
/** Remote media tracks played in <video> elements (direct media, `peer.share`). */
const videos: HTMLVideoElement[] = [];
let shared: MediaStream | undefined;

function streamApi(): StreamApi {
  if (api === undefined) throw new Error('connect first');
  return api;
}

async function hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Deterministic bytes (the same xorshift as the Node tests' `pattern`). */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function watch(peer: RemotePeer): void {
  peers.push(peer);
  peer.on('track', ({ track, stream }) => {
    if (track.kind !== 'video') return;
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.srcObject = stream ?? new MediaStream([track]);
    document.body.append(video);
    videos.push(video);
    void video.play().catch((error: unknown) => errors.push(String(error)));
  });
  peer.on('stream', (s) => {
    void s.bytes().then(
      async (bytes) =>
        got.push({
          label: s.label,
          from: peer.id,
          length: bytes.length,
          sha256: await hex(bytes),
          text: s.header?.kind === 'text' ? new TextDecoder().decode(bytes) : undefined,
        }),
      (error: unknown) => errors.push(String(error)),
    );
  });
}

const kit = {
  async connect(a: { url: string; solutionId: string; privateKey: string }): Promise<void> {
    await Endpoint.setup();
    const connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url);
    const eventApi = await Endpoint.createEventApi(connection);
    api = await Endpoint.createStreamApi(connection, eventApi, {
      peers: { allowCandidate: (address) => address.startsWith('127.'), connectTimeoutMs: 15_000 },
    });
    api.addRemotePeerListener((request) => {
      request.accept().then(watch, (error: unknown) => errors.push(String(error)));
    });
    // Streams sent with `streamApi.send` (path auto) arrive here, whichever path they took.
    api.registerByteStreamHandler('auto', async (reader, from) => {
      const bytes = new Uint8Array(await new Response(reader.readable).arrayBuffer());
      got.push({ label: 'handler:auto', from: from.identity, length: bytes.length, sha256: await hex(bytes), text: undefined });
    });
  },

  /** `streamApi.send` to one member with the default path (auto); the result and the path it took. */
  async sendAuto(roomId: string, userId: string, bytes: number): Promise<{ delivered: string[]; path: string | undefined; sha256: string }> {
    const file = pattern(bytes, 5);
    const result = await streamApi().send(file, { roomId, topic: 'auto', name: 'auto.bin', destinationIdentities: [userId], directTimeoutMs: 15_000 });
    const path = streamApi()
      .peerStats()
      .streams.find((s) => s.id === result.id)?.path;
    return { delivered: result.delivered.map((d) => d.userId), path, sha256: await hex(file) };
  },

  async join(roomId: string): Promise<void> {
    await streamApi().joinStreamRoom(roomId);
  },

  /** Connects to `userId`, sends a patterned file on `files` and a text; returns the progress steps and the file's hash. */
  async connectAndSend(roomId: string, userId: string, bytes: number): Promise<{ steps: number[]; sha256: string; state: string; sendMs: number }> {
    const peer = await streamApi().connectPeer(roomId, userId, { metadata: { from: 'page' } });
    watch(peer);
    const file = pattern(bytes, 11);
    const steps: number[] = [];
    const started = performance.now();
    const transfer = peer.send(file, { label: 'files', name: 'pattern.bin' });
    for await (const step of transfer) steps.push(step.current);
    // Until the receiver's signed receipt: the whole file was read there.
    await transfer;
    const sendMs = performance.now() - started;
    await peer.send(`hello ${userId}`);
    return { steps, sha256: await hex(file), state: peer.connectionState, sendMs };
  },

  async reply(text: string): Promise<void> {
    await peers[0]!.send(text);
  },

  /** Shares the fake camera with the first peer (direct media). */
  async shareCamera(): Promise<number> {
    shared = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
    await peers[0]!.share(shared);
    return shared.getTracks().length;
  },

  unshareCamera(): void {
    peers[0]!.unshare(shared!);
  },

  /** What the remote video shows, and this Endpoint's frame counters (the forwarding unit's SFrame worker). */
  async video(): Promise<{
    videos: number;
    width: number;
    height: number;
    time: number;
    streams: number;
    encrypted: number;
    decrypted: number;
    dropped: { decrypt: number; replay: number; noKey: number; malformed: number };
  }> {
    const v = videos[0];
    const stats = await streamApi().mediaStats();
    const d = stats.framesDropped;
    return {
      videos: videos.length,
      width: v?.videoWidth ?? 0,
      height: v?.videoHeight ?? 0,
      time: v?.currentTime ?? 0,
      streams: peers[0]?.streams.length ?? 0,
      encrypted: stats.framesEncrypted,
      decrypted: stats.framesDecrypted,
      dropped: { ...d },
    };
  },

  got: (): Got[] => got,
  errors: (): string[] => errors,
  states: (): string[] => peers.map((p) => p.connectionState),
};

declare global {
  interface Window {
    peersKit: typeof kit;
  }
}

window.peersKit = kit;
