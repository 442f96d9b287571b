/** Helpers shared by the stream tests and the stream benchmark (no test-framework imports). */
import type { CryptoBackend } from '../backend/index.ts';
import { nodeBackend } from '../backend/node.ts';
import { createStreamDecryptor, type OpenedChunk } from './decryptor.ts';
import { createStreamEncryptor, type SealedChunk } from './encryptor.ts';

export interface StreamFixture {
  epochKey: Uint8Array;
  streamId: Uint8Array;
  senderId: string;
  senderSeed: Uint8Array;
  senderPublicKey: Uint8Array;
  header: Uint8Array;
}

/** A fixture of fresh random keys (node backend for speed). */
export async function streamFixture(overrides: Partial<StreamFixture> = {}): Promise<StreamFixture> {
  const senderSeed = overrides.senderSeed ?? nodeBackend.randomBytes(32);
  return {
    epochKey: nodeBackend.randomBytes(32),
    streamId: nodeBackend.randomBytes(16),
    senderId: 'user_alice',
    header: new TextEncoder().encode('{"topic":"files","name":"a.bin","mimeType":"application/octet-stream"}'),
    ...overrides,
    senderSeed,
    senderPublicKey: overrides.senderPublicKey ?? (await nodeBackend.ed25519PublicKey(senderSeed)),
  };
}

/**
 * Encrypts a whole stream: header, one chunk per piece (with a checkpoint where one is due; pieces
 * must not cross a checkpoint), then close (or abort with `abortReason`).
 */
export async function sealStream(
  f: StreamFixture,
  pieces: Uint8Array[],
  options: { backend?: CryptoBackend; abortReason?: string; signingSeed?: Uint8Array; checkpointIntervalBytes?: number; frameHeaderBytes?: number } = {},
): Promise<SealedChunk[]> {
  const enc = createStreamEncryptor({
    epochKey: f.epochKey,
    streamId: f.streamId,
    senderId: f.senderId,
    senderSeed: options.signingSeed ?? f.senderSeed,
    header: f.header,
    backend: options.backend,
    checkpointIntervalBytes: options.checkpointIntervalBytes,
    frameHeaderBytes: options.frameHeaderBytes,
  });
  const out = [await enc.header()];
  for (const piece of pieces) {
    if (enc.checkpointDue) out.push(await enc.checkpoint());
    out.push(await enc.write(piece));
  }
  out.push(options.abortReason === undefined ? await enc.close() : await enc.abort(options.abortReason));
  return out;
}

/** Decrypts chunks in the order given and checks the end; rejects at the first failure. */
export async function openStream(
  f: StreamFixture,
  chunks: { data: Uint8Array; last: boolean }[],
  options: { backend?: CryptoBackend; streamId?: Uint8Array; senderId?: string; epochKey?: Uint8Array; checkpointIntervalBytes?: number } = {},
): Promise<OpenedChunk[]> {
  const dec = createStreamDecryptor({
    epochKey: options.epochKey ?? f.epochKey,
    streamId: options.streamId ?? f.streamId,
    senderId: options.senderId ?? f.senderId,
    senderPublicKey: f.senderPublicKey,
    backend: options.backend,
    checkpointIntervalBytes: options.checkpointIntervalBytes,
  });
  const out: OpenedChunk[] = [];
  for (const chunk of chunks) out.push(await dec.open(chunk.data, chunk.last));
  await dec.finish();
  return out;
}

/** The content of the data chunks, concatenated. */
export function contentOf(opened: OpenedChunk[]): Uint8Array {
  const parts = opened.flatMap((c) => (c.kind === 'data' ? [c.data] : []));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}
