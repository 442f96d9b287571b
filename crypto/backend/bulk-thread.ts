/**
 * Byte-stream crypto on a thread of its own at the lowest OS priority (Node only; docs/operations/
 * realtime-priorities.md, "The bulk thread").
 *
 * Why: a process that receives files and real-time data at once used to seal, open and hash every
 * 64 KiB chunk on its event loop. On a saturated core the kernel shares the CPU among threads, not
 * tasks, so data-track frames waited for the chunk work of every process on that core (hundreds of ms;
 * docs/operations/load.md). Here the chunk work runs on one worker thread per process whose nice value
 * is 19 (Linux sets it per thread), so an event loop with a frame to handle gets the core first and the
 * chunks take what is left; on an idle core, the worker runs at full speed, beside the event loop.
 *
 * What crosses: each call copies its input once into one buffer (nonce, AAD, bytes) that is then
 * transferred, not copied again; the output is transferred back. The caller's buffers stay the caller's,
 * unless an `open` gives its ciphertext's buffer away (`give`): that one is transferred as it is.
 * Each stream's key and running SHA-256 live on the thread until `close()`; calls on a stream are
 * handled in call order, so the hash covers exactly the bytes of the calls before a `snapshot()`.
 * A chunk that fails to authenticate is not hashed.
 */
import { Worker } from 'node:worker_threads';
import { ED25519_POINT_BYTES, ED25519_SIGNATURE_BYTES, ed25519Precheck } from '../ed25519-strict.ts';
import { CryptoError } from '../errors.ts';
import type { BulkCrypto, BulkStream } from './types.ts';

const NONCE_BYTES = 12;
const KEY_BYTES = 32;
const TAG_BYTES = 16;

/** What a message to the worker asks. */
const Op = { Key: 0, Open: 1, Seal: 2, Snapshot: 3, Digest: 4, Close: 5, Verify: 6 } as const;

/** Ed25519 public keys the worker keeps as key objects (a stream's sender signs its header and end). */
const VERIFY_KEY_CACHE_ENTRIES = 256;

/**
 * The worker, as source (`eval`): it needs nothing but node:crypto, and a string loads the same from
 * this repo's TypeScript, the built package and any bundle. A message is `[op, stream, seq, buffer,
 * aadBytes, at, length, hash, headroom, meta?]` (see `pack`; with `meta`, the nonce and AAD are there
 * and `buffer` is the caller's own, given away); a reply `[seq, ok, buffer?, offset?, length?]`.
 * `Verify` sends `[op, 0, seq, buffer]`, the buffer holding the signature, the public key and the
 * message in that order, and is answered with one byte, 1 if the signature verified.
 * Built-ins come through `process.getBuiltinModule`, not `require`: the worker inherits the process's
 * flags, and under `--input-type=module` its source is an ES module, where `require` does not exist.
 */
const WORKER_SOURCE = `'use strict';
const { parentPort } = process.getBuiltinModule('node:worker_threads');
const { createCipheriv, createDecipheriv, createHash, createPublicKey, verify } = process.getBuiltinModule('node:crypto');
// Linux keeps a nice value per thread; elsewhere setpriority on this thread would lower the whole process.
if (process.platform === 'linux') try { process.getBuiltinModule('node:os').setPriority(19); } catch {}
const streams = new Map();
const fail = (seq) => parentPort.postMessage([seq, 0]);
// SubjectPublicKeyInfo of an Ed25519 key (RFC 8410 section 4) before its 32 bytes.
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const verifyKeys = new Map();
function verifyKey(raw) {
  const id = raw.toString('base64');
  let key = verifyKeys.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
    if (verifyKeys.size >= ${VERIFY_KEY_CACHE_ENTRIES}) verifyKeys.delete(verifyKeys.keys().next().value);
    verifyKeys.set(id, key);
  }
  return key;
}
parentPort.on('message', (m) => {
  const op = m[0], id = m[1], seq = m[2];
  if (op === ${Op.Verify}) {
    const all = Buffer.from(m[3]);
    let verified = false;
    try { verified = verify(null, all.subarray(96), verifyKey(all.subarray(64, 96)), all.subarray(0, 64)); } catch {}
    const out = new Uint8Array([verified ? 1 : 0]);
    parentPort.postMessage([seq, 1, out.buffer, 0, 1], [out.buffer]);
    return;
  }
  if (op === ${Op.Key}) { streams.set(id, { key: Buffer.from(m[3]), hash: createHash('sha256') }); return; }
  const s = streams.get(id);
  if (op === ${Op.Close}) { if (s !== undefined) { s.key.fill(0); streams.delete(id); } return; }
  if (s === undefined) return fail(seq);
  if (op === ${Op.Snapshot} || op === ${Op.Digest}) {
    // A throw here would end the thread and every stream on it: one stream's failure fails its call only.
    let out;
    try { out = new Uint8Array(op === ${Op.Snapshot} ? s.hash.copy().digest() : s.hash.digest()); } catch { return fail(seq); }
    parentPort.postMessage([seq, 1, out.buffer, 0, out.length], [out.buffer]);
    return;
  }
  // [nonce | aad | ... | bytes at 'at' | 16 spare for a seal's tag]: the output is written over the input, in place.
  const buffer = m[3], at = m[5], length = m[6];
  const all = new Uint8Array(buffer);
  const meta = m[9] === undefined ? all : new Uint8Array(m[9]);
  const nonce = meta.subarray(0, ${NONCE_BYTES}), aad = meta.subarray(${NONCE_BYTES}, ${NONCE_BYTES} + m[4]);
  const data = all.subarray(at, at + length);
  let outLength;
  try {
    if (op === ${Op.Open}) {
      if (length < 16) return fail(seq);
      const d = createDecipheriv('aes-256-gcm', s.key, nonce, { authTagLength: 16 });
      d.setAuthTag(data.subarray(length - 16));
      d.setAAD(aad);
      const plain = d.update(data.subarray(0, length - 16));
      d.final();
      if (m[7]) s.hash.update(plain);
      all.set(plain, at);
      outLength = plain.length;
    } else {
      if (m[7]) s.hash.update(data);
      const c = createCipheriv('aes-256-gcm', s.key, nonce, { authTagLength: 16 });
      c.setAAD(aad);
      const head = c.update(data);
      c.final();
      all.set(head, at);
      all.set(c.getAuthTag(), at + head.length);
      // The caller's room for a frame header, right before the output, is zeroed.
      all.fill(0, at - m[8], at);
      outLength = head.length + 16;
    }
  } catch {
    return fail(seq);
  }
  parentPort.postMessage([seq, 1, buffer, at, outLength], [buffer]);
});
`;

interface Waiter {
  resolve: (bytes: Uint8Array) => void;
  reject: (error: unknown) => void;
  /** What a failure means: an AEAD open that did not authenticate, or anything else. */
  open: boolean;
}

/** One worker, made on first use and again after it died; it keeps the process alive only while a call waits. */
class BulkThread implements BulkCrypto {
  #worker: Worker | undefined;
  #generation = 0;
  #nextStream = 1;
  #nextSeq = 1;
  readonly #waiting = new Map<number, Waiter>();
  /** Streams dropped without `close()` are closed on the thread once collected here. */
  readonly #collected = new FinalizationRegistry<{ generation: number; id: number }>((held) => this.close(held.generation, held.id));

  /** Streams made so far, and calls sent (for tests and diagnostics). */
  readonly counts = { streams: 0, calls: 0 };

  stream(key: Uint8Array): BulkStream {
    if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
      throw CryptoError.invalidArgument(`"key" expected Uint8Array of length ${KEY_BYTES}`);
    }
    this.counts.streams++;
    const worker = this.#ensure();
    const id = this.#nextStream++;
    const copy = key.slice();
    worker.postMessage([Op.Key, id, 0, copy.buffer], [copy.buffer]);
    const stream = new ThreadStream(this, this.#generation, id);
    this.#collected.register(stream, { generation: this.#generation, id }, stream);
    return stream;
  }

  /** Sends one call; its answer settles the promise. A stream from a worker that died fails at once. */
  call(generation: number, message: unknown[], transfer: ArrayBuffer[], open: boolean): Promise<Uint8Array> {
    return this.tryCall(generation, message, transfer, open) ?? Promise.reject(stopped());
  }

  /**
   * `call`, or undefined (nothing sent) when a buffer in `transfer` cannot be transferred (Node's
   * pooled buffers cannot): the caller then sends a copy.
   */
  tryCall(generation: number, message: unknown[], transfer: ArrayBuffer[], open: boolean): Promise<Uint8Array> | undefined {
    const worker = this.#worker;
    if (worker === undefined || generation !== this.#generation) return Promise.reject(stopped());
    const seq = this.#nextSeq;
    message[2] = seq;
    try {
      worker.postMessage(message, transfer);
    } catch {
      return undefined;
    }
    this.#nextSeq++;
    this.counts.calls++;
    if (this.#waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => this.#waiting.set(seq, { resolve, reject, open }));
  }

  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
    // The byte checks of docs/security/ed25519.md here, as nodeInlineBackend makes them; OpenSSL's there.
    // A message that is not bytes verifies nothing, as in nodeInlineBackend (whose OpenSSL call throws).
    if (!ed25519Precheck(signature, publicKey) || !(message instanceof Uint8Array)) return Promise.resolve(false);
    this.#ensure();
    const all = new Uint8Array(ED25519_SIGNATURE_BYTES + ED25519_POINT_BYTES + message.length);
    all.set(signature, 0);
    all.set(publicKey, ED25519_SIGNATURE_BYTES);
    all.set(message, ED25519_SIGNATURE_BYTES + ED25519_POINT_BYTES);
    return this.call(this.#generation, [Op.Verify, 0, 0, all.buffer], [all.buffer], false).then((answer) => answer[0] === 1);
  }

  close(generation: number, id: number, stream?: object): void {
    if (stream !== undefined) this.#collected.unregister(stream);
    if (this.#worker !== undefined && generation === this.#generation) this.#worker.postMessage([Op.Close, id, 0]);
  }

  #ensure(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'sealroom-bulk-crypto' });
    worker.unref();
    worker.on('message', (m: [number, number, ArrayBuffer?, number?, number?]) => this.#answer(worker, m));
    const died = (error: unknown) => this.#died(worker, error);
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`exited with code ${code}`)));
    this.#worker = worker;
    this.#generation++;
    return worker;
  }

  #answer(worker: Worker, [seq, ok, buffer, offset, length]: [number, number, ArrayBuffer?, number?, number?]): void {
    const waiter = this.#waiting.get(seq);
    if (waiter === undefined) return;
    this.#waiting.delete(seq);
    if (this.#waiting.size === 0) worker.unref();
    if (ok === 1) waiter.resolve(new Uint8Array(buffer!, offset, length));
    else waiter.reject(waiter.open ? CryptoError.decryptFailed() : stopped());
  }

  #died(worker: Worker, cause: unknown): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(stopped(cause));
  }
}

function afterDigest(call: string): CryptoError {
  return CryptoError.invalidArgument(`bulk stream: ${call} after digest()`);
}

function stopped(cause?: unknown): Error {
  return new CryptoError('Unsupported', 'the bulk crypto thread stopped; streams it held cannot go on', { cause });
}

/**
 * The one buffer a call sends (the one copy it makes of its input): the nonce, the AAD, then the bytes
 * at `at` (at least `headroom` in, so a sealed chunk's frame header fits before it), then `spare`
 * bytes (a seal's tag; an open needs none, its output being shorter). The thread writes its output
 * over the bytes and sends the same buffer back.
 */
function pack(nonce: Uint8Array, aad: Uint8Array, bytes: Uint8Array, headroom: number, spare: number): { buffer: ArrayBuffer; at: number } {
  if (nonce.length !== NONCE_BYTES) throw CryptoError.invalidArgument(`"nonce" expected Uint8Array of length ${NONCE_BYTES}`);
  const at = Math.max(NONCE_BYTES + aad.length, headroom);
  // Not zeroed: every byte the thread sends back is written (the room before `at` it zeroes).
  const all = Buffer.allocUnsafeSlow(at + bytes.length + spare);
  all.set(nonce, 0);
  all.set(aad, NONCE_BYTES);
  all.set(bytes, at);
  return { buffer: all.buffer as ArrayBuffer, at };
}

class ThreadStream implements BulkStream {
  #closed = false;
  /** After `digest()` the hash is gone: asking for it, or hashing into it, is refused here. */
  #digested = false;

  constructor(
    private readonly thread: BulkThread,
    private readonly generation: number,
    private readonly id: number,
  ) {}

  open(nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array, hash: boolean, give = false): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(CryptoError.decryptFailed());
    if (hash && this.#digested) return Promise.reject(afterDigest('open() with hash'));
    if (give && ciphertext.buffer instanceof ArrayBuffer) {
      // The caller's buffer goes as it is (no copy); the plaintext comes back in it, in place.
      const meta = new Uint8Array(NONCE_BYTES + aad.length);
      meta.set(nonce, 0);
      meta.set(aad, NONCE_BYTES);
      const message = [Op.Open, this.id, 0, ciphertext.buffer, aad.length, ciphertext.byteOffset, ciphertext.length, hash, 0, meta.buffer];
      const given = this.thread.tryCall(this.generation, message, [ciphertext.buffer, meta.buffer], true);
      if (given !== undefined) return given;
    }
    const { buffer, at } = pack(nonce, aad, ciphertext, 0, 0);
    return this.thread.call(this.generation, [Op.Open, this.id, 0, buffer, aad.length, at, ciphertext.length, hash, 0], [buffer], true);
  }

  async seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, headroom: number, hash: boolean): Promise<Uint8Array> {
    if (this.#closed) throw CryptoError.invalidArgument('bulk stream: seal() after close()');
    if (hash && this.#digested) throw afterDigest('seal() with hash');
    const { buffer, at } = pack(nonce, aad, plaintext, headroom, TAG_BYTES);
    return this.thread.call(this.generation, [Op.Seal, this.id, 0, buffer, aad.length, at, plaintext.length, hash, headroom], [buffer], false);
  }

  snapshot(): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(CryptoError.invalidArgument('bulk stream: snapshot() after close()'));
    if (this.#digested) return Promise.reject(afterDigest('snapshot()'));
    return this.thread.call(this.generation, [Op.Snapshot, this.id, 0], [], false);
  }

  digest(): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(CryptoError.invalidArgument('bulk stream: digest() after close()'));
    if (this.#digested) return Promise.reject(afterDigest('digest()'));
    this.#digested = true;
    return this.thread.call(this.generation, [Op.Digest, this.id, 0], [], false);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.thread.close(this.generation, this.id, this);
  }
}

const thread = new BulkThread();

/** The process's bulk thread (the worker starts on the first stream). */
export const bulkThread: BulkCrypto = thread;

/** Streams made on the bulk thread so far and calls sent to it (for tests and diagnostics). */
export function bulkThreadCounts(): { streams: number; calls: number } {
  return { ...thread.counts };
}
