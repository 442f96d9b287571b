/**
 * Issue 5, byte and text streams between real Endpoints through a real Bridge: routing, the order
 * guarantees, text on UTF-8 boundaries, sendFile's sources, and topic handlers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { base64ToUrl } from './ids.ts';
import { DataStreamError } from './errors.ts';
import { bridgeEvents, joinedRoom, pattern, receiveBytes, receiveText, sha256, startKit, until, type Client, type Kit } from './test-kit.ts';
import type { Connection } from '../connection.ts';

let kit: Kit;
let alice: Client;
let alice2: Client;
let bob: Client;
let bob2: Client;
let carol: Client;
let roomId: string;
let dir: string;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'carol', 'dave']);
  [alice, alice2, bob, bob2, carol] = (await Promise.all(['alice', 'alice', 'bob', 'bob', 'carol'].map((id) => kit.connect(id)))) as [
    Client,
    Client,
    Client,
    Client,
    Client,
  ];
  roomId = await joinedRoom(kit, alice, [alice, bob, carol]);
  for (const c of [alice2, bob2]) await c.streamApi.joinStreamRoom(roomId);
  dir = mkdtempSync(join(tmpdir(), 'sealroom-streams-'));
});
afterAll(async () => {
  await kit.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The stream ids a connection opens, in the order its open requests leave. */
function openOrder(connection: Connection): string[] {
  const ids: string[] = [];
  const original = connection.request.bind(connection);
  connection.request = ((kind, body, options) => {
    if (kind === 'byteStreamOpen') ids.push(base64ToUrl((body as unknown as { streamId: string }).streamId));
    return original(kind, body, options);
  }) as Connection['request'];
  return ids;
}

describe('routing', () => {
  it('empty destinations: every other connection in the room, never the sending one', async () => {
    const got = [alice, alice2, bob, bob2, carol].map((c) => receiveBytes(c, 'all'));
    const data = pattern(300_000);
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'all', name: 'a.bin', attributes: { k: 'v' } });
    await writer.write(data);
    await writer.close();
    await until(() => got.slice(1).every((g) => g.length === 1), 'every handler');
    for (const g of got.slice(1)) {
      expect(sha256(await g[0]!.done)).toBe(sha256(data));
      expect(g[0]!.from).toEqual({ identity: 'alice', streamRoomId: roomId });
      expect(g[0]!.reader.info).toEqual({ ...writer.info });
    }
    expect(writer.info).toMatchObject({ topic: 'all', name: 'a.bin', mimeType: 'application/octet-stream', attributes: { k: 'v' } });
    expect(writer.info.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(got[0]).toEqual([]); // no echo to the sending connection
  });

  it('destinationIdentities: only those users (each of their connections)', async () => {
    const got = [alice2, bob, bob2, carol].map((c) => receiveBytes(c, 'some'));
    await alice.streamApi.sendFile(pattern(1000), { roomId, topic: 'some', name: 'x', destinationIdentities: ['bob'] });
    await until(() => got[1]!.length === 1 && got[2]!.length === 1, 'both bob connections');
    await alice.streamApi.sendFile(pattern(1000), { roomId, topic: 'some', name: 'y', destinationIdentities: ['carol', 'alice'] });
    await until(() => got[3]!.length === 1 && got[0]!.length === 1, 'carol and alice2');
    expect(got.map((g) => g.map((r) => r.reader.info.name))).toEqual([['y'], ['x'], ['x'], ['y']]);
  });
});

describe('joining mid-stream', () => {
  it('a participant who joins after a stream opened does not get it; the next stream reaches it', async () => {
    const dave = await kit.connect('dave');
    const lateRoom = await kit.room(alice, [alice, bob, dave]);
    for (const c of [alice, bob]) await c.streamApi.joinStreamRoom(lateRoom);
    const atBob = receiveBytes(bob, 'late');
    const atDave = receiveBytes(dave, 'late');
    const writer = await alice.streamApi.streamBytes({ roomId: lateRoom, topic: 'late', name: 'before-dave' });
    await writer.write(pattern(1000));
    await dave.streamApi.joinStreamRoom(lateRoom);
    await writer.write(pattern(1000));
    await writer.close();
    await alice.streamApi.sendFile(pattern(10), { roomId: lateRoom, topic: 'late', name: 'after-dave' });
    await until(() => atBob.length === 2 && atDave.length === 1, 'the streams');
    expect(atDave[0]!.reader.info.name).toBe('after-dave');
    expect((await atBob[0]!.done).length).toBe(2000);
  });
});

describe('order', () => {
  it('10 concurrent streams on one topic: handlers in open order, readers end in close order', async () => {
    const opened = openOrder(alice.connection);
    const invoked: string[] = [];
    const ended: string[] = [];
    bob.streamApi.registerByteStreamHandler('order', (reader) => {
      invoked.push(reader.info.id);
      void reader.readAll().then(() => ended.push(reader.info.id));
    });
    const writers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => alice.streamApi.streamBytes({ roomId, topic: 'order', name: `s${i}`, destinationIdentities: ['bob'] })),
    );
    // Sizes differ a lot (so do the costs of their ends: the content hash, the signature).
    for (let round = 0; round < 4; round++) await Promise.all(writers.map((w, i) => w.write(pattern(i % 2 === 0 ? 400_000 : 20_000 + i, round + 1))));
    const closeOrder = [3, 7, 0, 9, 1, 5, 8, 2, 6, 4].map((i) => writers[i]!);
    await Promise.all(closeOrder.map((w) => w.close()));
    await until(() => ended.length === 10, 'every stream to end');
    expect(invoked).toEqual(opened.slice(-10));
    expect(ended).toEqual(closeOrder.map((w) => w.info.id));
  });
});

describe('text streams', () => {
  const mixed = Array.from('a€😀漢字e\u0301👩‍👩‍👧🇫🇷z'.repeat(12_000)); // code points, ~360 KB of UTF-8

  it('multibyte characters across chunk boundaries arrive intact (streamText, several writes)', async () => {
    const parts: string[] = [];
    bob.streamApi.registerTextStreamHandler('text', async (reader) => {
      for await (const piece of reader) parts.push(piece);
    });
    const writer = await alice.streamApi.streamText({ roomId, topic: 'text', destinationIdentities: ['bob'] });
    const cuts = [0, 7_001, 50_003, 99_999, mixed.length];
    for (let i = 1; i < cuts.length; i++) await writer.write(mixed.slice(cuts[i - 1], cuts[i]).join(''));
    await writer.close();
    await until(() => parts.join('').length === mixed.join('').length, 'the whole text', 10_000);
    expect(parts.join('')).toBe(mixed.join(''));
    expect(parts.length).toBeGreaterThan(5); // it did cross chunk boundaries
    expect(writer.info).toMatchObject({ topic: 'text', mimeType: 'text/plain' });
  });

  it('sendText of a large text, with progress on both sides', async () => {
    const text = mixed.join('').repeat(10); // ~3.6 MB, over readAll's default of 1 MiB
    const got = receiveText(bob, 'big-text', 8 * 1024 * 1024);
    const received: Array<number | undefined> = [];
    const sent: number[] = [];
    const { id } = await alice.streamApi.sendText(text, { roomId, topic: 'big-text', destinationIdentities: ['bob'], onProgress: (p) => sent.push(p) });
    await until(() => got.length === 1, 'the handler');
    got[0]!.reader.onProgress = (p) => received.push(p);
    expect(await got[0]!.done).toBe(text);
    expect(got[0]!.reader.info).toMatchObject({ id, size: utf8(text).length, mimeType: 'text/plain' });
    expect(sent.at(-1)).toBe(1);
    expect(received.length === 0 || received.at(-1) === 1).toBe(true);
  });
});

describe('sendFile', () => {
  it('bytes with a name: the MIME type from the name, the size and progress', async () => {
    const got = receiveBytes(bob, 'file');
    const progress: number[] = [];
    const data = pattern(2_500_000, 2);
    const { id } = await alice.streamApi.sendFile(data, {
      roomId,
      topic: 'file',
      name: 'report.pdf',
      destinationIdentities: ['bob'],
      onProgress: (p) => progress.push(p),
    });
    await until(() => got.length === 1, 'the handler');
    expect(got[0]!.reader.info).toMatchObject({ id, name: 'report.pdf', mimeType: 'application/pdf', size: data.length });
    expect(sha256(await got[0]!.done)).toBe(sha256(data));
    expect(progress.at(-1)).toBe(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    bob.streamApi.unregisterByteStreamHandler('file');
  });

  it('a File, a ReadableStream (size unknown) and a path', async () => {
    const got = receiveBytes(bob, 'sources');
    const fileBytes = pattern(200_000, 3);
    await alice.streamApi.sendFile(new File([fileBytes as Uint8Array<ArrayBuffer>], 'photo.png'), { roomId, topic: 'sources', destinationIdentities: ['bob'] });
    const streamBytes = pattern(300_000, 4);
    const readable = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < streamBytes.length; i += 70_000) controller.enqueue(streamBytes.slice(i, i + 70_000));
        controller.close();
      },
    });
    await alice.streamApi.sendFile(readable, { roomId, topic: 'sources', name: 'live.ogg', destinationIdentities: ['bob'] });
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'hello from a file\n');
    await alice.streamApi.sendFile(path, { roomId, topic: 'sources', destinationIdentities: ['bob'], mimeType: 'text/x-custom' });
    await until(() => got.length === 3, 'three streams');
    expect(got.map((g) => [g.reader.info.name, g.reader.info.mimeType, g.reader.info.size])).toEqual([
      ['photo.png', 'image/png', 200_000],
      ['live.ogg', 'audio/ogg', undefined],
      ['notes.txt', 'text/x-custom', 18],
    ]);
    expect(sha256(await got[0]!.done)).toBe(sha256(fileBytes));
    expect(sha256(await got[1]!.done)).toBe(sha256(streamBytes));
    expect(Buffer.from(await got[2]!.done).toString()).toBe('hello from a file\n');
  });

  it('refuses what it cannot send', async () => {
    const refused = await alice.streamApi.sendFile(join(dir, 'missing.bin'), { roomId, topic: 'x' }).catch((e: unknown) => e);
    expect((refused as DataStreamError).reason).toBe('FileError');
    expect((refused as DataStreamError).message).toContain('ENOENT');
    const bad = await alice.streamApi.sendFile(42 as unknown as Uint8Array, { roomId, topic: 'x' }).catch((e: unknown) => e);
    expect((bad as DataStreamError).reason).toBe('InvalidArgument');
  });
});

describe('handlers', () => {
  it('one handler per topic and kind; unregister frees the topic', async () => {
    carol.streamApi.registerByteStreamHandler('dup', () => undefined);
    const error = (() => {
      try {
        carol.streamApi.registerByteStreamHandler('dup', () => undefined);
      } catch (e) {
        return e as DataStreamError;
      }
      throw new Error('expected a throw');
    })();
    expect(error).toBeInstanceOf(DataStreamError);
    expect(error.reason).toBe('HandlerExists');
    expect(error.code).toBe('ERR_DATA_STREAM_HANDLER_EXISTS');
    carol.streamApi.registerTextStreamHandler('dup', () => undefined); // text is its own namespace
    carol.streamApi.unregisterByteStreamHandler('dup');
    carol.streamApi.registerByteStreamHandler('dup', () => undefined);
    carol.streamApi.unregisterByteStreamHandler('dup');
    carol.streamApi.unregisterTextStreamHandler('dup');
  });

  it('a receiver without a handler rejects the stream, so it never holds the sender', async () => {
    const dropped = bridgeEvents(alice, 'byteStreamReceiverDropped');
    // Five windows to bob, who has no handler for the topic: a held sender would stop after one.
    const { id } = await alice.streamApi.sendFile(pattern(5 * 1024 * 1024), { roomId, topic: 'nobody', destinationIdentities: ['bob'] });
    expect(id).toBeTruthy();
    expect(dropped.filter((e) => e.userId === 'bob').map((e) => e.reason)).toEqual(['rejected', 'rejected']);
  });
});
