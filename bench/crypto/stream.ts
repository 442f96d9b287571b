/**
 * Byte-stream AEAD throughput (crypto/stream). One op is one chunk of a long stream; every
 * `STREAM_BENCH_STREAM_BYTES` the stream is closed (content digest, Ed25519 sign) and a new one
 * started (key derivation, signed header), or on the decrypt side finished (signature verify) and
 * reopened, so those per-stream costs are part of the figure, amortised as they would be for 16 MiB
 * files. So are the signed checkpoints, one per `STREAM_CHECKPOINT_INTERVAL_BYTES` of content.
 *
 * Two paths, as the Endpoint runs them in Node (docs/operations/realtime-priorities.md, "The bulk
 * thread"):
 * - on the calling thread (`nodeInlineBackend`): AES-256-GCM and the content's SHA-256 in this thread,
 *   one chunk at a time, which is what compares with raw AES-256-GCM;
 * - on the bulk thread (`nodeBackend`), with `BULK_IN_FLIGHT` chunks in flight as a stream keeps them
 *   (one chunk awaited at a time would measure the hand-over's round trip, not the work), at 64 KiB
 *   only: the size of the chunks the Endpoint seals (its cost is the hand-over, which smaller chunks
 *   only multiply).
 */
import { nodeBackend, nodeInlineBackend } from '../../crypto/backend/node.ts';
import type { CryptoBackend } from '../../crypto/backend/types.ts';
import { createStreamDecryptor, createStreamEncryptor, type SealedChunk, type StreamDecryptor, type StreamEncryptor } from '../../crypto/stream/index.ts';

/** Content per stream before it is closed and a new one begins. */
export const STREAM_BENCH_STREAM_BYTES = 16 * 1024 * 1024;

/** Chunks in flight on the bulk-thread path. */
export const BULK_IN_FLIGHT = 8;

/** The one chunk size the bulk-thread path is measured at. */
export const BULK_BENCH_CHUNK_BYTES = 64 * 1024;

export interface StreamBenchCase {
  name: string;
  size: number;
  op: () => Promise<unknown>;
  bytesPerOp: number;
}

interface Path {
  backend: CryptoBackend;
  label: string;
  inFlight: number;
}

const PATHS: readonly Path[] = [
  { backend: nodeInlineBackend, label: '', inFlight: 1 },
  { backend: nodeBackend, label: `, bulk thread (${BULK_IN_FLIGHT} chunks in flight)`, inFlight: BULK_IN_FLIGHT },
];

async function keys(): Promise<{ epochKey: Uint8Array; senderSeed: Uint8Array; senderPublicKey: Uint8Array }> {
  const senderSeed = nodeBackend.randomBytes(32);
  return { epochKey: nodeBackend.randomBytes(32), senderSeed, senderPublicKey: await nodeBackend.ed25519PublicKey(senderSeed) };
}

const header = new TextEncoder().encode('{"topic":"files","name":"bench.bin","mimeType":"application/octet-stream"}');

/** Calls started and not yet awaited, oldest first: at most `depth` stay pending after `add`. */
class Window {
  private readonly pending: Promise<unknown>[] = [];
  constructor(private readonly depth: number) {}

  async add(call: Promise<unknown>): Promise<void> {
    this.pending.push(call);
    while (this.pending.length >= this.depth) await this.pending.shift();
  }

  async drain(): Promise<void> {
    while (this.pending.length > 0) await this.pending.shift();
  }
}

async function encryptCase(size: number, path: Path): Promise<StreamBenchCase> {
  const { epochKey, senderSeed } = await keys();
  const payload = nodeBackend.randomBytes(size);
  const perStream = Math.max(1, Math.floor(STREAM_BENCH_STREAM_BYTES / size));
  const window = new Window(path.inFlight);
  let enc: StreamEncryptor;
  let written = 0;
  const start = async (): Promise<void> => {
    enc?.dispose();
    enc = createStreamEncryptor({ epochKey, senderId: 'user_bench', senderSeed, header, backend: path.backend });
    await enc.header();
    written = 0;
  };
  await start();
  return {
    name: `stream AEAD encrypt${path.label}`,
    size,
    bytesPerOp: size,
    async op() {
      if (enc.checkpointDue) await window.add(enc.checkpoint());
      // The payload never changes, so it may be in several calls at once.
      await window.add(enc.write(payload));
      if (++written === perStream) {
        await window.drain();
        await enc.close();
        await start();
      }
    },
  };
}

async function decryptCase(size: number, path: Path): Promise<StreamBenchCase> {
  const { epochKey, senderSeed, senderPublicKey } = await keys();
  const perStream = Math.max(1, Math.floor(STREAM_BENCH_STREAM_BYTES / size));
  // Sealed once, ahead of the timing; payloads differ so nothing is cached by accident.
  const enc = createStreamEncryptor({ epochKey, senderId: 'user_bench', senderSeed, header, backend: nodeInlineBackend });
  const streamId = enc.streamId;
  const chunks: SealedChunk[] = [await enc.header()];
  /** Indexes of the checkpoint chunks: each is opened with the data chunk after it, so one op is still one chunk of content. */
  const checkpoints = new Set<number>();
  const payload = nodeBackend.randomBytes(size);
  for (let i = 0; i < perStream; i++) {
    if (enc.checkpointDue) {
      checkpoints.add(chunks.length);
      chunks.push(await enc.checkpoint());
    }
    payload[0] = i & 0xff;
    chunks.push(await enc.write(payload));
  }
  chunks.push(await enc.close());
  const window = new Window(path.inFlight);
  const begin = async (): Promise<StreamDecryptor> => {
    const d = createStreamDecryptor({ epochKey, streamId, senderId: 'user_bench', senderPublicKey, backend: path.backend });
    await d.open(chunks[0]!.data, false);
    return d;
  };
  let dec = await begin();
  let next = 1;
  return {
    name: `stream AEAD decrypt${path.label}`,
    size,
    bytesPerOp: size,
    async op() {
      if (checkpoints.has(next)) await window.add(dec.open(chunks[next++]!.data, false));
      await window.add(dec.open(chunks[next]!.data, false));
      if (++next === chunks.length - 1) {
        await window.drain();
        await dec.open(chunks[next]!.data, true);
        await dec.finish();
        dec.dispose();
        dec = await begin();
        next = 1;
      }
    },
  };
}

/** Encrypt and decrypt at `size` on the calling thread, and on the bulk thread at `BULK_BENCH_CHUNK_BYTES`. */
export async function streamBenchCases(size: number): Promise<StreamBenchCase[]> {
  const cases: StreamBenchCase[] = [];
  for (const path of PATHS) {
    if (path.inFlight > 1 && size !== BULK_BENCH_CHUNK_BYTES) continue;
    cases.push(await encryptCase(size, path), await decryptCase(size, path));
  }
  return cases;
}
