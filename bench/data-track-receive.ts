/**
 * CPU of the Endpoint's data-track receive path alone, in one process and without sockets: a real
 * `DataTrackReceiver` (key ring, head tracker, replay windows, SFrame decryption on the default
 * backend) fed frames that a real `SFrameContext` sealed, as the connection hands them over. What one
 * frame costs from `onFrame` to the listener, beside what `SFrameContext.decryptSync` alone costs on
 * the same frames, and what node:crypto's AES-128-GCM alone costs on frames of the same length (a
 * decipher per frame: createDecipheriv, setAuthTag, setAAD, update, final), the floor of any receiver
 * that authenticates each message with it (docs/operations/load.md, "Client CPU per message"):
 *
 *   node --import tsx bench/data-track-receive.ts [--frames 50000] [--size 256] [--runs 5]
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deriveSenderBaseKey, makeKid, SFrameContext } from '../crypto/sframe/index.ts';
import { silentLogger } from '../endpoint/logger.ts';
import { HeadTracker } from '../endpoint/rooms/head-tracker.ts';
import { KeyRing } from '../endpoint/rooms/keyring.ts';
import { dataTrackMetadata, encodeDataTrackPlaintext, MAX_DATA_PLAINTEXT_BYTES } from '../endpoint/realtime/data-track-crypto.ts';
import { DataTrackReceiver } from '../endpoint/realtime/data-track-receiver.ts';
import type { RemoteTrack } from '../endpoint/realtime/joined-rooms.ts';
import type { KeyRefresher } from '../endpoint/realtime/key-refresh.ts';
import type { DataTrackStats } from '../endpoint/realtime/types.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}
const frames = arg('frames', 50_000);
const size = arg('size', 256);
const runs = arg('runs', 5);

const roomId = 'room-0123456789abcdef';
const epoch = 1;
const epochKey = new Uint8Array(randomBytes(32));
const keys = new KeyRing();
keys.set(roomId, epoch, epochKey);
const headHash = new Uint8Array(randomBytes(32));
const heads = new HeadTracker({ fetch: () => undefined, onStale: () => undefined });
heads.setOwn(roomId, 1, headHash);
const track: RemoteTrack = { roomId, streamId: 'stream-0123456789', trackId: 'track-0123456789', kind: 'data', trackNo: 7, userId: 'alice' };
const refresher = { keyFor: async (r: string, e: number) => keys.get(r, e), refresh: async () => undefined } as unknown as KeyRefresher;
const counters = new Proxy({} as Record<string, number>, { get: (t, k: string) => t[k] ?? 0 }) as unknown as DataTrackStats;
let delivered = 0;
const receiver = new DataTrackReceiver({
  keys,
  refresher,
  counters,
  log: silentLogger,
  route: (trackNo) => (trackNo === track.trackNo ? track : undefined),
  deliver: () => {
    delivered++;
    return true;
  },
  heads,
  maxAgeMs: 60_000,
});

// The sender: one session, frames sealed ahead of time (the receive path is measured, not the send path).
const kid = makeKid({ memberIndex: 0, sessionId: 12345, epoch });
const sender = new SFrameContext({ maxFrameBytes: MAX_DATA_PLAINTEXT_BYTES });
await sender.addKey(kid, deriveSenderBaseKey({ epochKey, roomId, epoch, kid, senderId: 'alice' }));
const metadata = dataTrackMetadata(track.roomId, track.streamId, track.trackId);
const message = new Uint8Array(size).fill(7);
const total = frames * (runs + 1) + 1;
/** Frames sealed ahead of each run, so the run measures only the receive side (and holds no more than a run's frames). */
const seal = async (count: number): Promise<Uint8Array[]> => {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(await sender.encrypt(kid, metadata, encodeDataTrackPlaintext({ time: Date.now(), version: 1, headHash }, message)));
  return out;
};
// The AEAD alone on the same frames (a second context with the same key: its own replay window).
const opener = new SFrameContext({ maxFrameBytes: MAX_DATA_PLAINTEXT_BYTES });
await opener.addKey(kid, deriveSenderBaseKey({ epochKey, roomId, epoch, kid, senderId: 'alice' }));

// The first frame admits the session (key derivation, async); the measured ones then find it.
const [first] = await seal(1);
receiver.onFrame(track.trackNo, first!);
while (delivered === 0) await new Promise((resolve) => setTimeout(resolve, 1));
opener.decryptSync(metadata, first!);

const micros = (fn: () => void): number => {
  const before = process.cpuUsage();
  fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / frames;
};
/**
 * node:crypto alone: AES-128-GCM (the data tracks' suite, docs/design.md) over frames of the same
 * length and AAD length as the SFrame frames, each with its own nonce, opened one decipher each.
 */
const aesKey = randomBytes(16);
const aesAad = randomBytes(metadata.length + 8);
const raw = Array.from({ length: frames }, () => {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-128-gcm', aesKey, nonce, { authTagLength: 16 });
  cipher.setAAD(aesAad);
  const body = cipher.update(randomBytes(first!.length - 8 - 16));
  cipher.final();
  return { nonce, body, tag: cipher.getAuthTag() };
});
const openRaw = (): void => {
  for (const f of raw) {
    const decipher = createDecipheriv('aes-128-gcm', aesKey, f.nonce, { authTagLength: 16 });
    decipher.setAuthTag(f.tag);
    decipher.setAAD(aesAad);
    decipher.update(f.body);
    decipher.final();
  }
};

const receive: number[] = [];
const open: number[] = [];
const aes: number[] = [];
for (let run = 0; run <= runs; run++) {
  const batch = await seal(frames);
  const r = micros(() => {
    for (const frame of batch) receiver.onFrame(track.trackNo, frame);
  });
  // Frames the receiver queued (an async backend) finish before the next run.
  await new Promise((resolve) => setImmediate(resolve));
  const o = micros(() => {
    for (const frame of batch) opener.decryptSync(metadata, frame);
  });
  const a = micros(openRaw);
  if (run > 0) {
    receive.push(r);
    open.push(o);
    aes.push(a);
  }
}
await new Promise((resolve) => setTimeout(resolve, 100));
if (delivered !== total) throw new Error(`delivered ${delivered} of ${total}: ${JSON.stringify(counters)}`);
const median = (xs: number[]) => +[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
process.stdout.write(
  `${JSON.stringify({ frames, size, runs, receiveMicros: median(receive), sframeDecryptSyncMicros: median(open), aesGcmMicros: median(aes) })}\n`,
);
