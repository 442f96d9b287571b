/**
 * The writer on its own, against a scripted Bridge: it never sends past the allowance, keeps room for
 * the final chunk, seals chunks of at most 64 KiB (text on character boundaries), and ends with a
 * signed end or abort after everything it sealed.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { utf8 } from '../../../crypto/bytes.ts';
import { decodeFrame } from '../../../protocol/ws.ts';
import type { Connection } from '../../connection.ts';
import { silentLogger } from '../../logger.ts';
import { DataStreamError } from '../errors.ts';
import { FINAL_CHUNK_MAX_BYTES, SEALED_CHUNK_OVERHEAD_BYTES, STREAM_CHUNK_MAX_BYTES } from '../limits.ts';
import { Sequencer } from '../sequencer.ts';
import { createStreamDecryptor, createStreamEncryptor, type StreamEncryptor } from '../stream-crypto.ts';
import { chunkBytesFor, OutgoingStream } from './outgoing-stream.ts';
import { ed25519 } from '@noble/curves/ed25519.js';

interface Fake {
  stream: OutgoingStream;
  /** Payloads sent, in order, with their last flags. */
  sent: Array<{ last: boolean; payload: Uint8Array }>;
  /** Plaintext pieces handed to the encryptor. */
  pieces: Uint8Array[];
  sentBytes(): number;
  decrypt(): Promise<{ data: Uint8Array; ending: string; checkpoints: number[] }>;
}

interface FakeOptions {
  finals?: Sequencer;
  /** Delays the encryptor's close() (a slow hash digest or signature). Ms. */
  closeDelayMs?: number;
  /** Every final frame sent, by stream number, in send order (shared between fakes). */
  finalsSent?: number[];
  streamNo?: number;
  /** Content between checkpoints (the real encryptor's default otherwise). */
  checkpointIntervalBytes?: number;
}

async function fakeStream(kind: 'bytes' | 'text', windowBytes: number, totalSize?: number, o: FakeOptions = {}): Promise<Fake> {
  const streamNo = o.streamNo ?? 7;
  const epochKey = new Uint8Array(randomBytes(32));
  const seed = new Uint8Array(randomBytes(32));
  const streamId = new Uint8Array(randomBytes(16));
  const interval = o.checkpointIntervalBytes === undefined ? {} : { checkpointIntervalBytes: o.checkpointIntervalBytes };
  const real = createStreamEncryptor({ epochKey, streamId, senderId: 'alice', senderSeed: seed, header: utf8('{}'), ...interval });
  const pieces: Uint8Array[] = [];
  const enc: StreamEncryptor = {
    streamId: real.streamId,
    header: () => real.header(),
    write: (bytes) => {
      pieces.push(bytes.slice());
      return real.write(bytes);
    },
    get checkpointDue() {
      return real.checkpointDue;
    },
    get bytesBeforeCheckpoint() {
      return real.bytesBeforeCheckpoint;
    },
    checkpoint: () => real.checkpoint(),
    close: async () => {
      if (o.closeDelayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, o.closeDelayMs));
      return real.close();
    },
    abort: (reason) => real.abort(reason),
    dispose: () => real.dispose(),
  };
  const sent: Fake['sent'] = [];
  const connection = {
    log: silentLogger,
    bufferedAmount: 0,
    async request() {
      return { streamNo, window: windowBytes, receivers: 1 };
    },
    sendFrame(frame: Uint8Array) {
      const decoded = decodeFrame(frame);
      if (decoded?.type !== 'chunk' || decoded.streamNo !== streamNo) throw new Error(`expected a CHUNK frame of stream ${streamNo}`);
      sent.push({ last: decoded.last, payload: decoded.payload.slice() });
      if (decoded.last) o.finalsSent?.push(streamNo);
    },
    async drained() {},
  } as unknown as Connection;
  const stream = new OutgoingStream('room', kind, enc, totalSize, {
    connection,
    finals: o.finals ?? new Sequencer(),
    numbered: () => undefined,
    forget: () => undefined,
    idleTimeoutMs: 0,
  });
  await stream.open({ roomId: 'room_0123456789abcdef', streamId: 'x', epoch: 1, destinationIdentities: [] }, await enc.header());
  return {
    stream,
    sent,
    pieces,
    sentBytes: () => sent.reduce((n, c) => n + c.payload.length, 0),
    async decrypt() {
      const dec = createStreamDecryptor({ epochKey, streamId, senderId: 'alice', senderPublicKey: ed25519.getPublicKey(seed), ...interval });
      const parts: Uint8Array[] = [];
      const checkpoints: number[] = [];
      let ending = 'none';
      for (const c of sent) {
        const opened = await dec.open(c.payload, c.last);
        if (opened.kind === 'data') parts.push(opened.data);
        if (opened.kind === 'checkpoint') checkpoints.push(opened.contentBytes);
        if (opened.kind === 'end') ending = 'end';
        if (opened.kind === 'aborted') ending = `aborted:${opened.reason}`;
      }
      return { data: Buffer.concat(parts), ending, checkpoints };
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('OutgoingStream', () => {
  it('sizes chunks from the window, 64 KiB at most', () => {
    expect(chunkBytesFor(1024 * 1024)).toBe(STREAM_CHUNK_MAX_BYTES);
    expect(chunkBytesFor(64 * 1024)).toBe(16 * 1024 - SEALED_CHUNK_OVERHEAD_BYTES);
    expect(chunkBytesFor(100)).toBe(1024);
  });

  it('never sends past the allowance (checkpoints included), and keeps room for the final chunk', async () => {
    const windowBytes = 64 * 1024;
    const f = await fakeStream('bytes', windowBytes, undefined, { checkpointIntervalBytes: 50_000 });
    const data = new Uint8Array(randomBytes(5 * windowBytes));
    let done = false;
    const writing = f.stream.write(data).then(() => (done = true));
    await tick();
    expect(done).toBe(false);
    expect(f.sentBytes() + FINAL_CHUNK_MAX_BYTES).toBeLessThanOrEqual(windowBytes);
    // The Bridge grants a window at a time; the writer follows, never ahead.
    for (let allowed = 2 * windowBytes; !done; allowed += windowBytes) {
      f.stream.allowance(allowed);
      await tick();
      expect(f.sentBytes() + FINAL_CHUNK_MAX_BYTES).toBeLessThanOrEqual(allowed);
    }
    await writing;
    await f.stream.close();
    expect(f.sent.at(-1)!.last).toBe(true);
    expect(f.sent.slice(0, -1).every((c) => !c.last)).toBe(true);
    expect(f.pieces.every((p) => p.length <= chunkBytesFor(windowBytes))).toBe(true);
    const { data: got, ending, checkpoints } = await f.decrypt();
    expect(ending).toBe('end');
    expect(Buffer.compare(got, data)).toBe(0);
    // 327,680 bytes in segments of 50,000: checkpoints at the ends of segments 2 to 6, each signing one back.
    expect(checkpoints).toEqual([1, 2, 3, 4, 5].map((k) => k * 50_000));
  });

  it('signs a checkpoint at the end of every segment from the second, no chunk crossing a segment, text included', async () => {
    const f = await fakeStream('text', 1024 * 1024, undefined, { checkpointIntervalBytes: 100_003 });
    const text = 'ab€😀漢字'.repeat(22_000); // 330,000 bytes
    await f.stream.write(utf8(text.slice(0, 70_000)));
    await f.stream.write(utf8(text.slice(70_000)));
    await f.stream.close();
    let content = 0;
    for (const p of f.pieces) {
      expect(Math.floor(content / 100_003)).toBe(Math.floor((content + p.length - 1) / 100_003));
      content += p.length;
    }
    const { data, ending, checkpoints } = await f.decrypt();
    expect(ending).toBe('end');
    expect(new TextDecoder().decode(data)).toBe(text);
    expect(checkpoints).toEqual([100_003, 200_006]);
  });

  it('cuts large writes into sealed chunks of at most 64 KiB', async () => {
    const f = await fakeStream('bytes', 64 * 1024 * 1024);
    await f.stream.write(new Uint8Array(1_000_000));
    await f.stream.close();
    expect(Math.max(...f.pieces.map((p) => p.length))).toBe(STREAM_CHUNK_MAX_BYTES);
    expect(Math.max(...f.sent.map((c) => c.payload.length))).toBe(STREAM_CHUNK_MAX_BYTES + SEALED_CHUNK_OVERHEAD_BYTES);
  });

  it('splits text on UTF-8 boundaries only', async () => {
    const f = await fakeStream('text', 8192); // 2,032-byte chunks
    f.stream.allowance(Number.MAX_SAFE_INTEGER);
    const text = 'ab€😀漢字e\u0301👩‍👩‍👧'.repeat(2000);
    await f.stream.write(utf8(text));
    await f.stream.close();
    const fatal = new TextDecoder('utf-8', { fatal: true });
    expect(f.pieces.length).toBeGreaterThan(10);
    expect(f.pieces.map((p) => fatal.decode(p)).join('')).toBe(text);
  });

  it('abort rejects waiting writes, sends what was sealed, then the signed abort, within the allowance', async () => {
    const windowBytes = 64 * 1024;
    const f = await fakeStream('bytes', windowBytes);
    const writing = f.stream.write(new Uint8Array(3 * windowBytes));
    await tick();
    await f.stream.abort('user cancelled');
    const error = await writing.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DataStreamError);
    expect((error as DataStreamError).reason).toBe('Aborted');
    expect(f.sentBytes()).toBeLessThanOrEqual(windowBytes);
    expect((await f.decrypt()).ending).toBe('aborted:user cancelled');
    expect(((await f.stream.write(new Uint8Array(1)).catch((e: unknown) => e)) as DataStreamError).reason).toBe('Aborted');
  });

  it('refuses more than totalSize, and closing short of it aborts the stream', async () => {
    const f = await fakeStream('bytes', 1024 * 1024, 10);
    await f.stream.write(new Uint8Array(6));
    const over = await f.stream.write(new Uint8Array(5)).catch((e: DataStreamError) => e);
    expect((over as DataStreamError).reason).toBe('LengthExceeded');
    const short = await f.stream.close().catch((e: DataStreamError) => e);
    expect((short as DataStreamError).reason).toBe('Incomplete');
    expect((await f.decrypt()).ending).toBe('aborted:incomplete');
  });

  it('fails every pending and later call when the Bridge ends the stream', async () => {
    const f = await fakeStream('bytes', 64 * 1024);
    const writing = f.stream.write(new Uint8Array(256 * 1024));
    await tick();
    f.stream.fail(new DataStreamError('Removed', 'removed'));
    expect(((await writing.catch((e: unknown) => e)) as DataStreamError).reason).toBe('Removed');
    expect(((await f.stream.close().catch((e: unknown) => e)) as DataStreamError).reason).toBe('Removed');
    await f.stream.abort('late'); // nothing left to abort
    expect(f.sent.some((c) => c.last)).toBe(false);
  });

  it('sends the final chunks of all streams of a connection in the order they were closed', async () => {
    const finals = new Sequencer();
    const finalsSent: number[] = [];
    const slow = await fakeStream('bytes', 1024 * 1024, undefined, { finals, finalsSent, streamNo: 1, closeDelayMs: 50 });
    const fast = await fakeStream('bytes', 1024 * 1024, undefined, { finals, finalsSent, streamNo: 2 });
    await Promise.all([slow.stream.close(), fast.stream.close()]);
    expect(finalsSent).toEqual([1, 2]);
  });
});
