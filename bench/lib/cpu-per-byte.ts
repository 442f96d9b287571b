/**
 * CPU time per byte: the figure of the byte-stream scenario that a busy machine does not move. Wall
 * clock MB/s depends on what else runs on the cores; the CPU time the processes spend per byte moved
 * (all their threads, GC and the hash worker included) depends only on the work they do.
 *
 * The budget a sealroom byte stream is held to: what the plain relay's three processes spend per byte,
 * plus raw AES-256-GCM and raw SHA-256 at each end (each end must seal or open every byte, and hash it
 * for the signature), measured here in the same run.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { readCpuPreciseMs, type Proc } from './procs.ts';

/** CPU milliseconds of every thread of each process, now. */
export function cpuSnapshot(procs: Proc[]): number[] {
  return procs.map((p) => readCpuPreciseMs(p.pid));
}

/** Nanoseconds of CPU per byte, all the processes together, since `before`. */
export function cpuNsPerByte(procs: Proc[], before: number[], bytes: number): { total: number; each: number[] } {
  const each = procs.map((p, i) => ((readCpuPreciseMs(p.pid) - before[i]!) * 1e6) / bytes);
  return { total: each.reduce((a, b) => a + b, 0), each };
}

/** Each timed run: MB/s (wall clock, noisy on a shared machine) and CPU ns per delivered byte of the processes. */
export interface TimedRuns {
  mbPerSecond: number[];
  cpuNsPerByte: number[];
  /** Per run, per process (in the order given), CPU ns per delivered byte. */
  cpuEach: number[][];
}

/**
 * `config.warmupRuns` of `once(config.warmupBytes)` (none if `warm`), then `config.runs` timed runs of
 * `once(config.bytes)`, reading the CPU time of `procs` around each. `once` returns the run's MB/s;
 * each byte reaches `receivers` receivers, so CPU is per delivered byte.
 */
export async function timedRuns(
  procs: Proc[],
  config: { bytes: number; warmupBytes: number; warmupRuns: number; runs: number },
  once: (bytes: number) => Promise<number>,
  options: { warm?: boolean; receivers?: number } = {},
): Promise<TimedRuns> {
  for (let r = 0; options.warm !== true && r < config.warmupRuns; r++) await once(config.warmupBytes);
  const out: TimedRuns = { mbPerSecond: [], cpuNsPerByte: [], cpuEach: [] };
  for (let r = 0; r < config.runs; r++) {
    const before = cpuSnapshot(procs);
    out.mbPerSecond.push(await once(config.bytes));
    const cpu = cpuNsPerByte(procs, before, config.bytes * (options.receivers ?? 1));
    out.cpuNsPerByte.push(cpu.total);
    out.cpuEach.push(cpu.each);
  }
  return out;
}

/** CPU ns per byte of `op` over `bytes` in `chunk`-sized calls, on this thread (best of three). */
function nsPerByte(bytes: number, chunk: Uint8Array, op: (chunk: Uint8Array) => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const start = process.cpuUsage();
    for (let done = 0; done < bytes; done += chunk.length) op(chunk);
    const used = process.cpuUsage(start);
    best = Math.min(best, ((used.user + used.system) * 1000) / bytes);
  }
  return best;
}

/**
 * Raw node:crypto costs per byte in 64 KiB calls, CPU time (not wall clock): AES-256-GCM sealing (a
 * cipher per chunk, as any AEAD user must for a fresh nonce) and SHA-256 streaming.
 */
export function rawCryptoNsPerByte(bytes = 64 * 1024 * 1024, chunkBytes = 64 * 1024): { aesGcm: number; sha256: number } {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const chunk = randomBytes(chunkBytes);
  const aesGcm = nsPerByte(bytes, chunk, (c) => {
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.update(c);
    cipher.final();
    cipher.getAuthTag();
  });
  const hash = createHash('sha256');
  const sha256 = nsPerByte(bytes, chunk, (c) => void hash.update(c));
  return { aesGcm, sha256 };
}
