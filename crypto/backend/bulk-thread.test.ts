/**
 * The bulk thread (bulk-thread.ts) on a real worker with real crypto: it must seal and open exactly
 * as `nodeInlineBackend` does, keep each stream's calls in call order (the content hash a checkpoint
 * signs depends on it), never hash a chunk that failed to authenticate, leave the caller's buffers
 * alone, verify Ed25519 signatures as it does, run at nice 19 without touching the main thread's priority, and keep a process alive only
 * while a call waits (docs/operations/realtime-priorities.md, "The bulk thread").
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expectDecryptFailed } from '../test-errors.ts';
import { nodeBackend, nodeInlineBackend } from './node.ts';
import type { AeadKey, BulkStream } from './types.ts';

const bulk = nodeBackend.bulk!;
const random = (length: number) => nodeInlineBackend.randomBytes(length);
const sha256 = (parts: Uint8Array[]) => nodeInlineBackend.hash('sha256', concat(parts));

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A distinct 12-byte nonce and AAD per chunk index, as the stream format has. */
function nonceOf(index: number): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setUint32(8, index);
  return nonce;
}
const aadOf = (index: number) => new Uint8Array([2, 2, index & 0xff, index >> 8]);

/** Threads of this process: id, name and nice (field 19 of stat, the 17th after the command's closing paren). */
interface Task {
  tid: number;
  name: string;
  nice: number;
}
function tasks(): Task[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      return []; // the thread ended in between
    }
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return [{ tid: Number(tid), name: stat.slice(stat.indexOf('(') + 1, close), nice: Number(fields[16]) }];
  });
}
const PROC = existsSync('/proc/self/task');
// Before this file made any stream: the bulk worker starts on the first one.
const tasksBefore = PROC ? tasks() : [];
const mainNiceBefore = getPriority();

describe('bulk thread AES-256-GCM', () => {
  it('seals and opens as nodeInlineBackend does, both ways, with headroom zeroed before the output', async () => {
    expect(nodeInlineBackend.bulk).toBeUndefined();
    const key = random(32);
    const inline: AeadKey = await nodeInlineBackend.aesGcm(key);
    const s = bulk.stream(key);
    for (const [i, size] of [0, 1, 500, 64 * 1024].entries()) {
      const [nonce, aad, plaintext] = [nonceOf(i), random(27), random(size)];
      const expected = await inline.seal(nonce, plaintext, aad);
      for (const headroom of [0, 6, 64]) {
        const sealed = await s.seal(nonce, plaintext, aad, headroom, false);
        expect(sealed).toEqual(expected);
        // The AeadKey.seal contract: the `headroom` bytes right before the output, in its buffer, are zero.
        expect(sealed.byteOffset).toBeGreaterThanOrEqual(headroom);
        expect([...new Uint8Array(sealed.buffer, sealed.byteOffset - headroom, headroom)]).toEqual(new Array(headroom).fill(0));
        expect(await inline.open(nonce, sealed, aad)).toEqual(plaintext);
        expect(await s.open(nonce, await inline.seal(nonce, plaintext, aad, headroom), aad, false)).toEqual(plaintext);
      }
    }
    s.close();
  });

  it('refuses a key that is not 32 bytes, naming it', () => {
    for (const key of [new Uint8Array(16), new Uint8Array(33), 'k'.repeat(32) as unknown as Uint8Array]) {
      expect(() => bulk.stream(key)).toThrow(expect.objectContaining({ reason: 'InvalidArgument', message: expect.stringContaining('"key"') }));
    }
  });
});

describe('bulk thread order and content hash', () => {
  it('overlapping calls run in call order: each snapshot covers exactly the hashed, authenticated chunks before it', async () => {
    const key = random(32);
    const inline = await nodeInlineBackend.aesGcm(key);
    const count = 48;
    const pieces = Array.from({ length: count }, (_, i) => random((i * 997) % 5000));
    const hashed = pieces.map((_, i) => i % 3 !== 1);
    // Every 4th call seals (the bulk thread hashes its plaintext first); the others open the inline seal.
    const sealing = (i: number) => i % 4 === 3;
    const sealedInline = await Promise.all(pieces.map((p, i) => inline.seal(nonceOf(i), p, aadOf(i))));
    // Chunks that must not authenticate (hashed ones, so a wrong hash would show): a flipped byte,
    // a wrong AAD, cut below the tag; and one not hashed.
    const tampered = new Map<number, { data: Uint8Array; aad: Uint8Array }>([
      [6, { data: flipByte(sealedInline[6]!, 3), aad: aadOf(6) }],
      [9, { data: sealedInline[9]!, aad: aadOf(10) }],
      [21, { data: sealedInline[21]!.slice(0, 15), aad: aadOf(21) }],
      [22, { data: flipByte(sealedInline[22]!, sealedInline[22]!.length - 1), aad: aadOf(22) }],
      [24, { data: new Uint8Array(0), aad: aadOf(24) }],
    ]);
    expect([6, 9, 21, 24].every((i) => hashed[i] && !sealing(i))).toBe(true);
    expect(hashed[22]).toBe(false);

    const s = bulk.stream(key);
    const calls: Promise<Uint8Array>[] = [];
    const snapshots: Promise<Uint8Array>[] = [];
    for (let i = 0; i < count; i++) {
      const bad = tampered.get(i);
      if (sealing(i)) calls.push(s.seal(nonceOf(i), pieces[i]!, aadOf(i), 0, hashed[i]!));
      else calls.push(s.open(nonceOf(i), bad?.data ?? sealedInline[i]!, bad?.aad ?? aadOf(i), hashed[i]!));
      snapshots.push(s.snapshot());
    }
    const digest = s.digest();
    const settled = await Promise.allSettled(calls);

    const counted: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const result = settled[i]!;
      if (tampered.has(i)) {
        await expectDecryptFailed(calls[i]!);
      } else {
        expect(result).toEqual({ status: 'fulfilled', value: sealing(i) ? sealedInline[i] : pieces[i] });
        if (hashed[i]) counted.push(pieces[i]!);
      }
      expect(await snapshots[i]).toEqual(sha256(counted));
    }
    expect(await digest).toEqual(sha256(counted));
    // The hash did count something, and left something out.
    expect(counted.length).toBeGreaterThan(10);
    expect(counted.length).toBeLessThan(count - 10);
    // After the digest, sealing and opening go on (without hashing).
    const after = await s.seal(nonceOf(99), pieces[5]!, aadOf(99), 0, false);
    expect(await s.open(nonceOf(99), after, aadOf(99), false)).toEqual(pieces[5]);
    s.close();
  });

  it("leaves the caller's buffers attached and unchanged (views of larger buffers included)", async () => {
    const backing = random(4096);
    const before = backing.slice();
    const key = backing.subarray(10, 42);
    const nonce = backing.subarray(100, 112);
    const aad = backing.subarray(200, 227);
    const plaintext = backing.subarray(1000, 1500);
    const s = bulk.stream(key);
    const sealed = await s.seal(nonce, plaintext, aad, 8, true);
    const sealedCopy = sealed.slice();
    const opened = await s.open(nonce, sealed, aad, true);
    expect(opened).toEqual(plaintext);
    expect(backing.buffer.byteLength).toBe(4096);
    expect(backing).toEqual(before);
    expect([key.length, nonce.length, aad.length, plaintext.length]).toEqual([32, 12, 27, 500]);
    // The sealed chunk handed to open() stays whole, too.
    expect(sealed).toEqual(sealedCopy);
    expect([sealed.length, sealed.buffer.byteLength > 0]).toEqual([516, true]);
    // The thread writes its output over the one buffer a call sends, made without zeroing: that buffer
    // holds nonce, AAD and bytes, and no spare room that nobody wrote (old heap memory) behind the output.
    expect(opened.buffer.byteLength).toBeLessThanOrEqual(nonce.length + aad.length + sealed.length);
    expect(await s.digest()).toEqual(sha256([plaintext, plaintext]));
    s.close();
  });
});

describe('bulk thread: a buffer given away', () => {
  it('is transferred, not copied, and the plaintext comes back in it; a tampered one still fails and is not hashed', async () => {
    const key = random(32);
    const inline = await nodeInlineBackend.aesGcm(key);
    const stream = bulk.stream(key);
    const plain = random(65_536);
    const sealed = await inline.seal(nonceOf(1), plain, aadOf(1));
    // A frame as a socket message has it: a header, then the chunk, in a buffer of its own.
    const message = new Uint8Array(14 + sealed.length);
    message.set(sealed, 14);
    const opened = await stream.open(nonceOf(1), message.subarray(14), aadOf(1), true, true);
    expect(message.buffer.byteLength).toBe(0); // detached: it went to the thread
    expect(Buffer.from(opened).equals(Buffer.from(plain))).toBe(true);
    expect(opened.byteOffset).toBe(14);

    const bad = new Uint8Array(sealed.length);
    bad.set(sealed);
    bad[100]! ^= 1;
    await expectDecryptFailed(stream.open(nonceOf(2), bad, aadOf(2), true, true));
    expect(Buffer.from(await stream.snapshot()).equals(Buffer.from(sha256([plain])))).toBe(true);
    stream.close();
  });

  it("a buffer that cannot be transferred (a pooled Node Buffer) is copied instead, and stays the caller's", async () => {
    const key = random(32);
    const inline = await nodeInlineBackend.aesGcm(key);
    const stream = bulk.stream(key);
    const plain = random(100);
    const sealed = await inline.seal(nonceOf(3), plain, aadOf(3));
    const pooled = Buffer.from(sealed); // small: from Node's shared pool, which is not transferable
    const opened = await stream.open(nonceOf(3), pooled, aadOf(3), false, true);
    expect(Buffer.from(opened).equals(Buffer.from(plain))).toBe(true);
    expect(pooled.buffer.byteLength).toBeGreaterThan(0);
    expect(Buffer.from(pooled).equals(Buffer.from(sealed))).toBe(true);
    stream.close();
  });
});

describe('bulk thread streams', () => {
  it('close() lets earlier calls finish and makes later ones reject', async () => {
    const key = random(32);
    const s = bulk.stream(key);
    const pending = s.seal(nonceOf(1), random(1000), aadOf(1), 0, true);
    const snapshot = s.snapshot();
    s.close();
    expect((await pending).length).toBe(1016);
    expect(await snapshot).toHaveLength(32);
    const sealed = await (await nodeInlineBackend.aesGcm(key)).seal(nonceOf(2), random(10), aadOf(2));
    await expectDecryptFailed(s.open(nonceOf(2), sealed, aadOf(2), true));
    await expect(s.seal(nonceOf(3), random(10), aadOf(3), 0, true)).rejects.toMatchObject({ reason: 'InvalidArgument' });
    await expect(s.snapshot()).rejects.toMatchObject({ reason: 'InvalidArgument' });
    await expect(s.digest()).rejects.toMatchObject({ reason: 'InvalidArgument' });
    s.close();
  });

  it('two streams are independent: own keys, own hashes, interleaved calls', async () => {
    const keys = [random(32), random(32)];
    const inline = await Promise.all(keys.map((k) => nodeInlineBackend.aesGcm(k)));
    const [a, b] = keys.map((k) => bulk.stream(k)) as [BulkStream, BulkStream];
    const pieces = [0, 1].map((s) => Array.from({ length: 12 }, (_, i) => random(100 + 50 * i + s)));
    const calls: Promise<Uint8Array>[] = [];
    for (let i = 0; i < 12; i++) {
      calls.push(a.seal(nonceOf(i), pieces[0]![i]!, aadOf(i), 0, true));
      calls.push(b.open(nonceOf(i), await inline[1]!.seal(nonceOf(i), pieces[1]![i]!, aadOf(i)), aadOf(i), true));
    }
    // A chunk of stream a does not open on stream b (and adds nothing to b's hash).
    const foreign = b.open(nonceOf(0), await inline[0]!.seal(nonceOf(0), pieces[0]![0]!, aadOf(0)), aadOf(0), true);
    const digests = [a.digest(), b.digest()];
    const done = await Promise.all(calls);
    for (let i = 0; i < 12; i++) {
      expect(done[2 * i]).toEqual(await inline[0]!.seal(nonceOf(i), pieces[0]![i]!, aadOf(i)));
      expect(done[2 * i + 1]).toEqual(pieces[1]![i]);
    }
    await expectDecryptFailed(foreign);
    expect(await digests[0]).toEqual(sha256(pieces[0]!));
    expect(await digests[1]).toEqual(sha256(pieces[1]!));
    // Closing one leaves the other working.
    a.close();
    await expectDecryptFailed(a.open(nonceOf(0), done[0]!, aadOf(0), false));
    expect(await b.seal(nonceOf(50), pieces[1]![0]!, aadOf(50), 0, false)).toEqual(await inline[1]!.seal(nonceOf(50), pieces[1]![0]!, aadOf(50)));
    b.close();
  });

  it("one stream's misuse after digest() fails that call with InvalidArgument, and every other stream goes on", async () => {
    const key = random(32);
    const inline = await nodeInlineBackend.aesGcm(key);
    const [a, b] = [bulk.stream(key), bulk.stream(key)];
    await a.digest();
    const sealed = await inline.seal(nonceOf(1), random(100), aadOf(1));
    const misuses = [a.digest(), a.snapshot(), a.seal(nonceOf(2), random(10), aadOf(2), 0, true), a.open(nonceOf(1), sealed, aadOf(1), true)];
    for (const misuse of misuses) await expect(misuse).rejects.toMatchObject({ reason: 'InvalidArgument', message: expect.stringContaining('after digest()') });
    // Without hashing, the stream itself goes on; and the other stream never noticed.
    expect(await a.open(nonceOf(1), sealed, aadOf(1), false)).toHaveLength(100);
    expect(await b.open(nonceOf(1), sealed, aadOf(1), true)).toHaveLength(100);
    expect(await b.snapshot()).toHaveLength(32);
    a.close();
    b.close();
  });
});

describe('bulk thread Ed25519', () => {
  it('verifies as nodeInlineBackend does, for more keys than it keeps, and never takes a signature for another key or message', async () => {
    // 300 senders: past the thread's 256 cached keys, so evicted keys are made again.
    const senders = await Promise.all(
      Array.from({ length: 300 }, async () => {
        const seed = random(32);
        return { seed, publicKey: await nodeInlineBackend.ed25519PublicKey(seed) };
      }),
    );
    const message = random(200);
    const signed = await Promise.all(senders.map((s) => nodeInlineBackend.ed25519Sign(s.seed, message)));
    const results = await Promise.all(senders.map((s, i) => bulk.verify(signed[i]!, message, s.publicKey)));
    expect(results.every((r) => r)).toBe(true);
    // Again, in reverse: the first keys were evicted.
    const again = await Promise.all(senders.map((s, i) => bulk.verify(signed[i]!, message, s.publicKey)).reverse());
    expect(again.every((r) => r)).toBe(true);
    const other = random(200);
    const flipped = signed[0]!.slice();
    flipped[10]! ^= 1;
    const cases: Array<[Uint8Array, Uint8Array, Uint8Array]> = [
      [signed[0]!, other, senders[0]!.publicKey],
      [signed[0]!, message, senders[1]!.publicKey],
      [flipped, message, senders[0]!.publicKey],
      [signed[0]!.subarray(0, 63), message, senders[0]!.publicKey],
      [signed[0]!, message, senders[0]!.publicKey.subarray(0, 31)],
      [signed[0]!, new Uint8Array(0), senders[0]!.publicKey],
    ];
    for (const [signature, m, publicKey] of cases) {
      expect(await bulk.verify(signature, m, publicKey)).toBe(false);
      expect(await nodeInlineBackend.ed25519Verify(signature, m, publicKey)).toBe(false);
    }
    const notBytes = [1, 2, 3] as unknown as Uint8Array;
    expect(await bulk.verify(signed[0]!, notBytes, senders[0]!.publicKey)).toBe(false);
    expect(await nodeInlineBackend.ed25519Verify(signed[0]!, notBytes, senders[0]!.publicKey)).toBe(false);
  });
});

describe('bulk thread process behaviour', () => {
  it('runs at nice 19; the main thread keeps its priority', async (ctx) => {
    if (!PROC) ctx.skip('no /proc/self/task here: thread priorities cannot be read');
    const s = bulk.stream(random(32));
    await s.snapshot(); // the worker has started and set its priority
    s.close();
    const after = tasks();
    const known = new Set(tasksBefore.map((t) => t.tid));
    const main = after.find((t) => t.tid === process.pid)!;
    expect(main.nice).toBe(tasksBefore.find((t) => t.tid === process.pid)!.nice);
    expect(getPriority()).toBe(mainNiceBefore);
    // Node 20 does not name worker threads; where it does, the bulk thread is the one named.
    const named = after.filter((t) => t.name === 'sealroom-bulk-crypto');
    const worker = named.length > 0 ? named : after.filter((t) => !known.has(t.tid) && t.nice === 19);
    expect(worker).toHaveLength(1);
    expect(worker[0]!.nice).toBe(19);
    // Only the bulk thread went to 19: any other thread started since then kept the main thread's nice.
    expect(after.filter((t) => !known.has(t.tid) && t.tid !== worker[0]!.tid).every((t) => t.nice === main.nice)).toBe(true);
  });

  it('keeps a process alive while a call waits, and not once it is idle (stream left open)', async () => {
    // CommonJS -e. Once the worker is up and idle, only the waiting call can hold the process until it prints.
    const run = await runChild([], `import(${JSON.stringify(NODE_TS)}).then(${OPEN_TWICE});`);
    expect(run).toEqual({ code: 0, out: 'awaited: first\nnot awaited: second\n', err: '' });
  });

  it('works in a process whose flags make eval code an ES module (the worker inherits them)', async () => {
    const run = await runChild(['--input-type=module'], `const open = ${OPEN_TWICE}; await open(await import(${JSON.stringify(NODE_TS)}));`);
    expect(run).toEqual({ code: 0, out: 'awaited: first\nnot awaited: second\n', err: '' });
  });
});

const NODE_TS = new URL('./node.ts', import.meta.url).href;
/**
 * Opens a chunk on the bulk thread and awaits it (the worker is then up and idle), then opens a second
 * without awaiting it, printing each; the stream stays open. Without the worker's ref while a call
 * waits, the process would exit before the second prints; with a ref kept when idle, it would never exit.
 */
const OPEN_TWICE = `async ({ nodeBackend, nodeInlineBackend }) => {
  const [key, nonce, none] = [new Uint8Array(32).fill(7), new Uint8Array(12), new Uint8Array(0)];
  const aead = await nodeInlineBackend.aesGcm(key);
  const seal = (text) => aead.seal(nonce, new TextEncoder().encode(text), none);
  const text = (bytes) => new TextDecoder().decode(bytes);
  const stream = nodeBackend.bulk.stream(key);
  console.log('awaited: ' + text(await stream.open(nonce, await seal('first'), none, true)));
  const second = await seal('second');
  stream.open(nonce, second, none, true).then((plaintext) => console.log('not awaited: ' + text(plaintext)));
}`;

/** Runs `node --import tsx [flags] -e script` in the repo root; killed after 30 s (an idle worker that held it would never exit). */
async function runChild(flags: string[], script: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...flags, '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  // Generous: tsx compiles on start and the machine is shared.
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, out, err };
}

function flipByte(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at]! ^= 0x40;
  return out;
}
