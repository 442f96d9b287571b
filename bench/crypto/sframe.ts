/**
 * SFrame encryption throughput (RFC 9605, default suite AES_128_GCM_SHA256_128, node backend) at the
 * payload sizes of audio-ish (1 KiB), video (16 KiB) and large video (64 KiB) frames. The bench runner
 * reports each case as a ratio to raw node:crypto AES-GCM measured in the same run, so the figure shows
 * what SFrame's header, nonce and AAD handling and the per-frame await cost over the bare cipher.
 */
import { nodeBackend } from '../../crypto/backend/node.ts';
import { SFrameContext } from '../../crypto/sframe/sframe.ts';
import { DEFAULT_SFRAME_SUITE } from '../../crypto/sframe/suites.ts';
import { makeKid, randomSessionId } from '../../crypto/sframe/kid.ts';

/** One benchmark case: `op` encrypts one frame of `size` bytes. */
export interface SFrameBenchCase {
  name: string;
  size: number;
  op: () => Promise<unknown>;
  bytesPerOp: number;
}

/** Payload sizes measured, in bytes. */
export const SFRAME_BENCH_SIZES_BYTES = [1024, 16 * 1024, 64 * 1024] as const;

/** SFrame encrypt cases at 1, 16 and 64 KiB, each with its own context and key. */
export async function sframeBenchCases(): Promise<SFrameBenchCase[]> {
  const cases: SFrameBenchCase[] = [];
  // A typical RTP header's worth of metadata (12 bytes), authenticated as AAD.
  const metadata = nodeBackend.randomBytes(12);
  for (const size of SFRAME_BENCH_SIZES_BYTES) {
    const context = new SFrameContext({ suite: DEFAULT_SFRAME_SUITE, backend: nodeBackend });
    const kid = makeKid({ memberIndex: 1, sessionId: randomSessionId(nodeBackend), epoch: 1 });
    await context.addKey(kid, nodeBackend.randomBytes(16));
    const payload = nodeBackend.randomBytes(size);
    cases.push({
      name: `sframe encrypt ${DEFAULT_SFRAME_SUITE} ${size / 1024} KiB`,
      size,
      op: () => context.encrypt(kid, metadata, payload),
      bytesPerOp: size,
    });
  }
  return cases;
}
