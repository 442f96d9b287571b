/**
 * Bulk hashing on a `worker_threads` worker (Node only; reached through `nodeBackend.createBulkHash`).
 *
 * Why: a byte stream's last chunk is signed over a SHA-256 of all its content (docs/design.md, "Byte streams
 * and text streams"). Hashing on the thread that runs AES-GCM costs about as much as the AES itself
 * (both about 1.6-1.8 GB/s here), which caps a stream near 0.5 of raw AES-GCM. On a second core the
 * hash overlaps with the AES, and the main thread pays only one copy of each chunk. Measured on the
 * project's 2-vCPU machines, main-thread CPU per 16 KiB chunk fell from 24 to 14-18 us when decrypting
 * and from 77 to 40-52 us per 64 KiB chunk when encrypting; the gain shrinks when other processes
 * hold the second vCPU, or when AES slows down while the other vCPU hashes (they share execution
 * units there), and it costs more CPU in total (a copy, and the worker's wake-ups).
 *
 * How: one worker per thread that uses it (started lazily, `unref`ed while idle, shared by every
 * stream), fed through a single-producer single-consumer ring in a SharedArrayBuffer. Records are
 * 16-byte aligned: a 16-byte head [op, slot, length, arg] (Int32) and then `length` payload bytes. The
 * producer publishes with `Atomics.store` of the write position; the worker polls it with short timed
 * `Atomics.wait`s while busy and sleeps untimed when idle (see WORKER_POLL_MS). A full ring is backpressure:
 * `update` returns a promise that settles once the bytes are in the ring (the main thread waits with
 * `Atomics.waitAsync`, never blocking its event loop). Memory is the ring plus one hash state per slot.
 * Digests come back by `postMessage`, once per stream, and snapshots (the digest so far of a hash that
 * goes on, from a copy of its state) when asked. A snapshot wakes nobody: the worker takes it at its
 * next poll, so it suits callers that need it a little later (byte-stream checkpoints).
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { CryptoError } from '../errors.ts';
import type { BulkHash, HashName } from './types.ts';

/** Ring capacity in bytes; a power of two so that positions wrap with a mask. */
export const HASH_RING_BYTES = 1 << 20;
/** Payload bytes per ring record: larger updates are split so that a record always fits. */
const RECORD_PAYLOAD_MAX_BYTES = HASH_RING_BYTES / 8;
/** A waiting producer is woken once this much of the ring is free (one wake per batch, not per record). */
const WAKE_PRODUCER_FREE_BYTES = HASH_RING_BYTES / 2;
const RECORD_HEAD_BYTES = 16;
/**
 * The worker never spins. While streams are active it sleeps in `Atomics.wait` for at most this long,
 * in milliseconds, then hashes whatever arrived; the producer wakes it early only when it matters (a
 * digest, a ring half full). So a chunk costs the producer no futex wake (about 7 us measured here),
 * and on a busy machine the worker never burns a time slice that the producer's thread could use.
 */
const WORKER_POLL_MS = 0.25;
/** After this many empty polls (2 ms idle) the worker sleeps until woken, so an idle process stays idle. */
const WORKER_IDLE_POLLS = 8;
/** Used ring bytes at which the producer wakes the worker rather than wait for its next poll. */
const WAKE_WORKER_USED_BYTES = HASH_RING_BYTES / 2;
/**
 * A digest that has not come back after this long rejects (STYLE.md: nothing waits forever). The
 * worker has at most one ring (1 MiB) of work ahead of any digest, so only a stalled worker hits this.
 */
export const HASH_DIGEST_TIMEOUT_MS = 30_000;

// Int32 indices into the control block; each on its own 64-byte cache line (no false sharing).
const WRITE = 0;
const READ = 16;
const SLEEPING = 32;
const PRODUCER_WAITING = 48;
const CONTROL_INTS = 64;

const OP_WRAP = 1;
const OP_OPEN = 2;
const OP_UPDATE = 3;
const OP_DIGEST = 4;
const OP_DROP = 5;
const OP_STOP = 6;
const OP_SNAPSHOT = 7;

/** The worker, in plain CommonJS so it runs with `eval: true` and needs no TypeScript loader. */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { ring, control, pollMs, idleLimit } = workerData;
let idlePolls = 0;
const ctl = new Int32Array(control);
const words = new Int32Array(ring);
const mask = ring.byteLength - 1;
const hashes = new Map();
let r = Atomics.load(ctl, ${READ});
for (;;) {
  let w = Atomics.load(ctl, ${WRITE});
  if (w === r) {
    if (idlePolls < idleLimit) {
      idlePolls++;
      Atomics.wait(ctl, ${WRITE}, r, pollMs);
    } else {
      // Deep sleep: the producer sees the flag and notifies on its next record.
      Atomics.store(ctl, ${SLEEPING}, 1);
      Atomics.wait(ctl, ${WRITE}, r);
      Atomics.store(ctl, ${SLEEPING}, 0);
    }
    continue;
  }
  idlePolls = 0;
  while (r !== w) {
    const offset = r & mask;
    const i = offset >> 2;
    const op = words[i], slot = words[i + 1], length = words[i + 2];
    let size = ${RECORD_HEAD_BYTES};
    if (op === ${OP_WRAP}) {
      size = ring.byteLength - offset;
    } else if (op === ${OP_OPEN}) {
      hashes.set(slot, createHash(words[i + 3] === 1 ? 'sha512' : 'sha256'));
    } else if (op === ${OP_UPDATE}) {
      const h = hashes.get(slot);
      if (h !== undefined) h.update(new Uint8Array(ring, offset + ${RECORD_HEAD_BYTES}, length));
      size += (length + 15) & ~15;
    } else if (op === ${OP_DIGEST}) {
      const h = hashes.get(slot);
      hashes.delete(slot);
      parentPort.postMessage({ slot, digest: h === undefined ? null : new Uint8Array(h.digest()) });
    } else if (op === ${OP_SNAPSHOT}) {
      // Answered under the request id in arg, so that several may be pending for one slot.
      const h = hashes.get(slot);
      parentPort.postMessage({ slot: words[i + 3], digest: h === undefined ? null : new Uint8Array(h.copy().digest()) });
    } else if (op === ${OP_DROP}) {
      hashes.delete(slot);
    } else if (op === ${OP_STOP}) {
      process.exit(0);
    }
    r = (r + size) | 0;
    Atomics.store(ctl, ${READ}, r);
    // Only the producer lowers the flag (in drain): a notify sent before its waitAsync registered is
    // not lost, because every later move of READ notifies again until it has drained.
    if (Atomics.load(ctl, ${PRODUCER_WAITING}) === 1 && ((Atomics.load(ctl, ${WRITE}) - r) | 0) <= ring.byteLength - ${WAKE_PRODUCER_FREE_BYTES}) {
      Atomics.notify(ctl, ${READ});
    }
  }
}
`;

type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

/** `Atomics.waitAsync` is ES2024, newer than the lib this project compiles against. */
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

interface Job {
  op: number;
  slot: number;
  payload?: Uint8Array;
  arg?: number;
  /** Settles once the record is in the ring. */
  written?: { resolve(): void; reject(error: unknown): void };
}

interface PendingDigest {
  resolve(digest: Uint8Array): void;
  reject(error: unknown): void;
}

function workerFailed(cause?: unknown): CryptoError {
  return new CryptoError('Unsupported', 'the hash worker stopped before the digest was ready', { cause });
}

/** Producer side of the ring, owned by one thread. */
class HashRing {
  private readonly worker: Worker;
  private readonly control = new Int32Array(new SharedArrayBuffer(CONTROL_INTS * 4));
  private readonly ringBuffer = new SharedArrayBuffer(HASH_RING_BYTES);
  private readonly words = new Int32Array(this.ringBuffer);
  private readonly bytes = new Uint8Array(this.ringBuffer);
  /** Local copy of the write position; only this thread writes it. */
  private writePosition = 0;
  private nextSlot = 1;
  /** Records waiting for room in the ring, in call order (FIFO keeps each stream's order). */
  private readonly queue: Job[] = [];
  private waiting = false;
  private readonly digests = new Map<number, PendingDigest>();
  private referenced = false;
  dead: CryptoError | undefined;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // The worker is plain JS: no loader (tsx) and no inherited flags, so it starts fast.
      execArgv: [],
      workerData: { ring: this.ringBuffer, control: this.control.buffer, pollMs: WORKER_POLL_MS, idleLimit: WORKER_IDLE_POLLS },
    });
    this.worker.unref();
    this.worker.on('message', (message: { slot: number; digest: Uint8Array | null }) => {
      const pending = this.digests.get(message.slot);
      if (pending === undefined) return;
      this.digests.delete(message.slot);
      if (message.digest === null) pending.reject(workerFailed());
      else pending.resolve(message.digest);
      this.updateRef();
    });
    const fail = (cause?: unknown): void => this.fail(cause);
    this.worker.on('error', fail);
    this.worker.on('exit', () => fail());
  }

  /** Whether anything would be lost if the process exited now: then the worker keeps it alive. */
  private updateRef(): void {
    const busy = this.digests.size > 0 || this.queue.length > 0;
    if (busy && !this.referenced) this.worker.ref();
    if (!busy && this.referenced) this.worker.unref();
    this.referenced = busy;
  }

  private fail(cause?: unknown): void {
    if (this.dead !== undefined) return;
    this.dead = workerFailed(cause);
    for (const pending of this.digests.values()) pending.reject(this.dead);
    this.digests.clear();
    for (const job of this.queue.splice(0)) job.written?.reject(this.dead);
    this.updateRef();
    if (current === this) current = undefined;
  }

  allocateSlot(): number {
    const slot = this.nextSlot;
    this.nextSlot = this.nextSlot >= 0x7fff_ffff ? 1 : this.nextSlot + 1;
    return slot;
  }

  /** Writes one record if it fits now. Records never straddle the end of the ring (a WRAP fills the gap). */
  private tryWrite(op: number, slot: number, payload: Uint8Array | undefined, arg: number): boolean {
    const length = payload === undefined ? 0 : payload.length;
    const need = RECORD_HEAD_BYTES + ((length + 15) & ~15);
    const read = Atomics.load(this.control, READ);
    const free = HASH_RING_BYTES - ((this.writePosition - read) | 0);
    let offset = this.writePosition & (HASH_RING_BYTES - 1);
    const contiguous = HASH_RING_BYTES - offset;
    if (need > contiguous) {
      if (free < contiguous + need) return false;
      this.words[offset >> 2] = OP_WRAP;
      this.writePosition = (this.writePosition + contiguous) | 0;
      offset = 0;
    } else if (free < need) {
      return false;
    }
    const i = offset >> 2;
    this.words[i] = op;
    this.words[i + 1] = slot;
    this.words[i + 2] = length;
    this.words[i + 3] = arg;
    if (payload !== undefined) this.bytes.set(payload, offset + RECORD_HEAD_BYTES);
    this.writePosition = (this.writePosition + need) | 0;
    // Publishes the record (a seq-cst store orders the plain writes above before it).
    Atomics.store(this.control, WRITE, this.writePosition);
    const used = (this.writePosition - read) | 0;
    // Seq-cst order makes this race-free: either we see the worker's SLEEPING flag, or its wait sees WRITE moved.
    if (op === OP_DIGEST || op === OP_STOP || used >= WAKE_WORKER_USED_BYTES || Atomics.load(this.control, SLEEPING) === 1) {
      Atomics.notify(this.control, WRITE, 1);
    }
    return true;
  }

  /** Sends a record now, or queues it behind earlier ones and returns a promise (backpressure). */
  send(op: number, slot: number, payload?: Uint8Array, arg = 0): void | Promise<void> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    if (this.queue.length === 0 && this.tryWrite(op, slot, payload, arg)) return;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ op, slot, payload, arg, written: { resolve, reject } });
      this.updateRef();
      this.waitForRoom();
    });
  }

  private drain(): void {
    this.waiting = false;
    Atomics.store(this.control, PRODUCER_WAITING, 0);
    if (this.dead !== undefined) return;
    while (this.queue.length > 0) {
      const job = this.queue[0]!;
      if (!this.tryWrite(job.op, job.slot, job.payload, job.arg ?? 0)) break;
      this.queue.shift();
      job.written?.resolve();
    }
    this.updateRef();
    if (this.queue.length > 0) this.waitForRoom();
  }

  private waitForRoom(): void {
    if (this.waiting) return;
    this.waiting = true;
    // Raise the flag first, then look again: the worker may have drained the whole ring (and gone to
    // sleep) before it could see the flag, and then nobody would ever move READ to wake us.
    Atomics.store(this.control, PRODUCER_WAITING, 1);
    const read = Atomics.load(this.control, READ);
    const free = HASH_RING_BYTES - ((this.writePosition - read) | 0);
    if (free >= WAKE_PRODUCER_FREE_BYTES) {
      queueMicrotask(() => this.drain());
      return;
    }
    if (waitAsync === undefined) {
      setTimeout(() => this.drain(), 1);
      return;
    }
    // The worker notifies on every move of READ while the flag is up and half the ring is free; if it
    // moved READ since the load above, waitAsync sees a value other than `read` and returns at once.
    const result = waitAsync(this.control, READ, read);
    if (result.async) void result.value.then(() => this.drain());
    else queueMicrotask(() => this.drain());
  }

  digest(slot: number): Promise<Uint8Array> {
    return this.request(OP_DIGEST, slot, slot, 0);
  }

  /** The digest so far of `slot`'s hash, which goes on; answered under a fresh request id. */
  snapshot(slot: number): Promise<Uint8Array> {
    const id = this.allocateSlot();
    return this.request(OP_SNAPSHOT, slot, id, id);
  }

  /** Sends `op` for `slot` and waits for the worker's answer under `key`. */
  private request(op: number, slot: number, key: number, arg: number): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.digests.delete(key)) {
          reject(new CryptoError('Unsupported', `the hash worker returned no digest within ${HASH_DIGEST_TIMEOUT_MS} ms`));
          this.updateRef();
        }
      }, HASH_DIGEST_TIMEOUT_MS);
      timer.unref();
      const settle =
        <T>(f: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer);
          f(value);
        };
      this.digests.set(key, { resolve: settle(resolve), reject: settle(reject) });
      this.updateRef();
      const sent = this.send(op, slot, undefined, arg);
      if (sent !== undefined) sent.catch(settle(reject));
    });
  }

  stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.fail();
    void this.worker.terminate();
    return exited;
  }
}

let current: HashRing | undefined;

function ring(): HashRing {
  current ??= new HashRing();
  return current;
}

/**
 * Slots whose hash was neither digested nor cancelled (an abandoned stream) are dropped when their
 * handle is collected, so the worker's map of hash states cannot grow without bound.
 */
const abandoned = new FinalizationRegistry<{ ring: HashRing; slot: number }>(({ ring: r, slot }) => {
  if (r.dead === undefined) void r.send(OP_DROP, slot);
});

/**
 * A hash whose work runs on the shared hash worker. `update` copies the bytes into the ring, or, if
 * the ring is full, returns a promise and keeps a reference until they are copied: the caller must not
 * change the bytes until then. Calls on all hashes are ordered as made.
 */
export function createWorkerHash(name: HashName): BulkHash {
  let r: HashRing;
  try {
    r = ring();
  } catch {
    // No worker in this runtime (a policy forbids `eval` workers, or threads are exhausted): the same
    // hash in-thread is slower, never wrong.
    return inThreadHash(name);
  }
  const slot = r.allocateSlot();
  let state: 'open' | 'done' = 'open';
  const handle: BulkHash = {
    update(data) {
      if (state !== 'open') throw CryptoError.invalidArgument('hash: update() after digest() or cancel()');
      // biome-ignore lint/complexity/noUselessUndefinedInitialization: an empty update returns undefined, which TypeScript must see assigned
      let result: void | Promise<void> = undefined;
      for (let offset = 0; offset < data.length; offset += RECORD_PAYLOAD_MAX_BYTES) {
        result = r.send(OP_UPDATE, slot, data.subarray(offset, Math.min(data.length, offset + RECORD_PAYLOAD_MAX_BYTES)));
      }
      // Records leave the queue in order, so the last piece's promise settles after all earlier ones.
      return result;
    },
    digest() {
      if (state !== 'open') return Promise.reject(CryptoError.invalidArgument('hash: digest() called twice'));
      state = 'done';
      abandoned.unregister(handle);
      return r.digest(slot);
    },
    snapshot() {
      if (state !== 'open') return Promise.reject(CryptoError.invalidArgument('hash: snapshot() after digest() or cancel()'));
      return r.snapshot(slot);
    },
    cancel() {
      if (state !== 'open') return;
      state = 'done';
      abandoned.unregister(handle);
      if (r.dead === undefined) void r.send(OP_DROP, slot);
    },
  };
  const opened = r.send(OP_OPEN, slot, undefined, name === 'sha512' ? 1 : 0);
  // An open that has to queue still keeps the order; a failure surfaces at digest().
  if (opened !== undefined) opened.catch(() => undefined);
  abandoned.register(handle, { ring: r, slot }, handle);
  return handle;
}

function inThreadHash(name: HashName): BulkHash {
  const state = createHash(name);
  return {
    update: (data) => void state.update(data),
    digest: async () => new Uint8Array(state.digest()),
    snapshot: async () => new Uint8Array(state.copy().digest()),
    cancel() {},
  };
}

/** Stops the hash worker (pending digests reject); the next bulk hash starts a new one. */
export async function shutdownHashWorker(): Promise<void> {
  const r = current;
  current = undefined;
  if (r !== undefined) await r.stop();
}
