/**
 * `send()` in Peerix's shape (docs/data-streams/web-streams.md) between real Endpoints through a real
 * Bridge: progress is monotonic and ends at `total`, the awaited Transfer names who proved delivery;
 * an abort signal fired while a block is being written errors every receiver with its reason within a
 * bounded time; and text streams carry LiveKit's chat fields, signed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataStreamError } from '../errors.ts';
import { joinedRoom, pattern, receiveBytes, receiveText, sha256, startKit, streamFailure, until, type Client, type Kit } from '../test-kit.ts';
import type { ByteStreamReader } from '../types.ts';
import type { TransferProgress } from './types.ts';

const MiB = 1024 * 1024;
/** How long an abort may take to reach every receiver (it is one signed chunk behind what was sealed). */
const ABORT_BOUND_MS = 2000;

let kit: Kit;
let alice: Client;
let bob: Client;
let carol: Client;
let dave: Client;
let roomId: string;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'carol', 'dave'], { realtime: { streamWindowBytes: MiB } });
  [alice, bob, carol, dave] = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map((id) => kit.connect(id)))) as [Client, Client, Client, Client];
  roomId = await joinedRoom(kit, alice, [alice, bob, carol, dave]);
});
afterAll(async () => {
  await kit.close();
});

describe('send()', () => {
  it('progress is monotonic and ends at total; awaited, it names every receiver delivered', async () => {
    const got = [bob, carol, dave].map((c) => receiveBytes(c, 'files'));
    const data = pattern(5 * MiB + 123, 2);
    const transfer = alice.streamApi.send(data, { roomId, topic: 'files', name: 'clip.mp4', info: { album: 'trip' } });
    const steps: TransferProgress[] = [];
    for await (const step of transfer) steps.push(step);
    const result = await transfer;
    expect(steps.length).toBeGreaterThan(1);
    for (let i = 1; i < steps.length; i++) expect(steps[i]!.current).toBeGreaterThanOrEqual(steps[i - 1]!.current);
    expect(steps.at(-1)).toEqual({ id: result.id, label: 'files', topic: 'files', current: data.length, total: data.length, done: true });
    expect(steps.slice(0, -1).every((s) => !s.done && s.total === data.length)).toBe(true);
    expect(result.delivered.map((d) => d.userId).sort()).toEqual(['bob', 'carol', 'dave']);
    expect(result.failed).toEqual([]);
    for (const g of got) {
      expect(sha256(await g[0]!.done)).toBe(sha256(data));
      expect(g[0]!.reader.info).toMatchObject({ id: result.id, name: 'clip.mp4', mimeType: 'video/mp4', attributes: { album: 'trip' }, size: data.length });
    }
  });

  it('a ReadableStream of unknown size: total is unknown until the last step', async () => {
    const got = receiveBytes(bob, 'piped');
    const data = pattern(2 * MiB + 5, 8);
    const transfer = alice.streamApi.send(new Blob([data as Uint8Array<ArrayBuffer>]).stream(), { roomId, topic: 'piped', destinationIdentities: ['bob'] });
    const steps: TransferProgress[] = [];
    for await (const step of transfer) steps.push(step);
    expect(steps.slice(0, -1).every((s) => s.total === undefined)).toBe(true);
    expect(steps.at(-1)).toMatchObject({ current: data.length, total: data.length, done: true });
    expect((await transfer).delivered.map((d) => d.userId)).toEqual(['bob']);
    expect(sha256(await got[0]!.done)).toBe(sha256(data));
    // Nothing is kept once the report is out.
    expect(alice.streamApi.dataStreamStats().awaitingReceipts).toBe(0);
  });

  it('text is sent as UTF-8 text/plain; receipts can be turned off', async () => {
    const got = receiveBytes(bob, 'note');
    const result = await alice.streamApi.send('héllo 👋', { roomId, topic: 'note', destinationIdentities: ['bob'], receipts: false });
    expect(result).toEqual({ id: expect.any(String), delivered: [], failed: [] });
    await until(() => got.length === 1, 'the handler');
    expect(new TextDecoder().decode(await got[0]!.done)).toBe('héllo 👋');
    expect(got[0]!.reader.info.mimeType).toBe('text/plain');
  });

  it('an abort signal fired mid-block errors every receiver with its reason within a bounded time', async () => {
    const readers: Array<{ reader: ByteStreamReader; done: Promise<unknown>; failedAt?: number }> = [];
    for (const c of [bob, carol, dave]) {
      c.streamApi.registerByteStreamHandler('abort', (reader) => {
        const entry: (typeof readers)[number] = { reader, done: Promise.resolve() };
        // dave reads slowly, so the sender is waiting for allowance inside a 1 MiB block when it aborts.
        entry.done = (async () => {
          for await (const _chunk of reader) if (c === dave) await new Promise((resolve) => setTimeout(resolve, 20));
        })().catch((error: unknown) => {
          entry.failedAt = performance.now();
          throw error;
        });
        entry.done.catch(() => undefined);
        readers.push(entry);
      });
    }
    const controller = new AbortController();
    const transfer = alice.streamApi.send(pattern(64 * MiB, 3), { roomId, topic: 'abort', signal: controller.signal });
    const progress = transfer.getReader();
    let step = await progress.read();
    while (!step.done && step.value.current < 3 * MiB) step = await progress.read();
    expect(step.done).toBe(false);
    expect(step.value!.current % MiB).toBe(0); // a block boundary was passed; the next block is being written
    await until(() => readers.length === 3, 'every handler');
    const abortedAt = performance.now();
    controller.abort(new Error('cancelled by the user'));
    for (const r of readers) {
      const error = await streamFailure(r.done);
      expect(error).toBeInstanceOf(DataStreamError);
      expect(error).toMatchObject({ reason: 'AbnormalEnd', abortReason: 'cancelled by the user' });
      expect(r.failedAt! - abortedAt).toBeLessThan(ABORT_BOUND_MS);
    }
    const sendError = await streamFailure(Promise.resolve(transfer));
    expect(sendError).toMatchObject({ reason: 'Aborted', code: 'ERR_DATA_STREAM_ABORTED' });
    await expect(progress.read()).rejects.toMatchObject({ reason: 'Aborted' });
    console.info(`abort reached 3 receivers in ${(Math.max(...readers.map((r) => r.failedAt!)) - abortedAt).toFixed(0)} ms`);
  });

  it('bad input: a coded error through the Transfer', async () => {
    const transfer = alice.streamApi.send(42 as unknown as Uint8Array, { roomId, topic: 'x' });
    expect((await streamFailure(Promise.resolve(transfer))).reason).toBe('InvalidArgument');
    expect((await streamFailure(Promise.resolve(alice.streamApi.send(new Uint8Array(1), { roomId, topic: 'x', receiptTimeoutMs: -1 })))).reason).toBe(
      'InvalidArgument',
    );
  });
});

describe('chat fields of text streams', () => {
  it('replyToStreamId, attachedStreamIds, operationType and version arrive in the signed header', async () => {
    const got = receiveText(bob, 'chat');
    const original = await alice.streamApi.sendText('first', { roomId, topic: 'chat', destinationIdentities: ['bob'] });
    const file = await alice.streamApi.sendFile(pattern(10), { roomId, topic: 'chat-files', name: 'a.bin', destinationIdentities: ['bob'], receipts: false });
    const fields = { replyToStreamId: original.id, attachedStreamIds: [file.id], operationType: 'update' as const, version: 2 };
    await alice.streamApi.sendText('first, edited', { roomId, topic: 'chat', destinationIdentities: ['bob'], ...fields });
    await until(() => got.length === 2, 'both messages');
    expect(got[0]!.reader.info).not.toHaveProperty('operationType');
    expect(got[1]!.reader.info).toMatchObject(fields);
    expect(await got[1]!.done).toBe('first, edited');
    const bad = await streamFailure(alice.streamApi.sendText('x', { roomId, topic: 'chat', operationType: 'rename' as unknown as 'update' }));
    expect(bad).toMatchObject({ reason: 'InvalidArgument' });
    expect(bad.message).toContain('operationType');
    const badId = await streamFailure(alice.streamApi.sendText('x', { roomId, topic: 'chat', replyToStreamId: 'not an id' }));
    expect(badId.message).toContain('replyToStreamId');
  });
});
