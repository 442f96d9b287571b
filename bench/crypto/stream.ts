/**
 * Byte-stream AEAD throughput (crypto/stream), node backend. One op is one chunk of a long stream;
 * every `STREAM_BENCH_STREAM_BYTES` the stream is closed (content digest, Ed25519 sign) and a new one
 * started (key derivation, signed header), or on the decrypt side finished (signature verify) and
 * reopened, so those per-stream costs are part of the figure, amortised as they would be for 16 MiB
 * files. So are the signed checkpoints, one per `STREAM_CHECKPOINT_INTERVAL_BYTES` of content.
 */
import { nodeBackend } from '../../crypto/backend/node.ts';
import type { CryptoBackend } from '../../crypto/backend/types.ts';
import { createStreamDecryptor, createStreamEncryptor, type SealedChunk, type StreamEncryptor } from '../../crypto/stream/index.ts';

/** Content per stream before it is closed and a new one begins. */
export const STREAM_BENCH_STREAM_BYTES = 16 * 1024 * 1024;

export interface StreamBenchCase {
  name: string;
  size: number;
  op: () => Promise<unknown>;
  bytesPerOp: number;
}

async function keys(): Promise<{ epochKey: Uint8Array; senderSeed: Uint8Array; senderPublicKey: Uint8Array }> {
  const senderSeed = nodeBackend.randomBytes(32);
  return { epochKey: nodeBackend.randomBytes(32), senderSeed, senderPublicKey: await nodeBackend.ed25519PublicKey(senderSeed) };
}

const header = new TextEncoder().encode('{"topic":"files","name":"bench.bin","mimeType":"application/octet-stream"}');

async function encryptCase(size: number, backend: CryptoBackend, label: string): Promise<StreamBenchCase> {
  const { epochKey, senderSeed } = await keys();
  const payload = nodeBackend.randomBytes(size);
  const perStream = Math.max(1, Math.floor(STREAM_BENCH_STREAM_BYTES / size));
  let enc: StreamEncryptor;
  let written = 0;
  const start = async (): Promise<void> => {
    enc = createStreamEncryptor({ epochKey, senderId: 'user_bench', senderSeed, header, backend });
    await enc.header();
    written = 0;
  };
  await start();
  return {
    name: `stream AEAD encrypt${label}`,
    size,
    bytesPerOp: size,
    async op() {
      if (enc.checkpointDue) await enc.checkpoint();
      await enc.write(payload);
      if (++written === perStream) {
        await enc.close();
        await start();
      }
    },
  };
}

async function decryptCase(size: number, backend: CryptoBackend, label: string): Promise<StreamBenchCase> {
  const { epochKey, senderSeed, senderPublicKey } = await keys();
  const perStream = Math.max(1, Math.floor(STREAM_BENCH_STREAM_BYTES / size));
  // Sealed once, ahead of the timing; payloads differ so nothing is cached by accident.
  const enc = createStreamEncryptor({ epochKey, senderId: 'user_bench', senderSeed, header, backend: nodeBackend });
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
  let dec = createStreamDecryptor({ epochKey, streamId, senderId: 'user_bench', senderPublicKey, backend });
  await dec.open(chunks[0]!.data, false);
  let next = 1;
  return {
    name: `stream AEAD decrypt${label}`,
    size,
    bytesPerOp: size,
    async op() {
      if (checkpoints.has(next)) await dec.open(chunks[next++]!.data, false);
      await dec.open(chunks[next]!.data, false);
      if (++next === chunks.length - 1) {
        await dec.open(chunks[next]!.data, true);
        await dec.finish();
        dec = createStreamDecryptor({ epochKey, streamId, senderId: 'user_bench', senderPublicKey, backend });
        await dec.open(chunks[0]!.data, false);
        next = 1;
      }
    },
  };
}

/** Encrypt and decrypt at `size` (the content hash in-thread, as the node backend does it). */
export async function streamBenchCases(size: number): Promise<StreamBenchCase[]> {
  return [await encryptCase(size, nodeBackend, ''), await decryptCase(size, nodeBackend, '')];
}
