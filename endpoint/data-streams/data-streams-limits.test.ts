/**
 * Issue 5: aborts with a reason, `writeToFile`, and every limit broken once: header size, chunk size,
 * name and topic length, abort reason length, and `totalSize` on both sides (a sender that lies about
 * its size is caught by the reader).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { utf8 } from '../../crypto/bytes.ts';
import { encodeHeader } from './header.ts';
import { DESTINATIONS_MAX, STREAM_ABORT_REASON_MAX_BYTES, STREAM_CHUNK_MAX_BYTES, STREAM_HEADER_MAX_BYTES, TEXT_READ_ALL_MAX_BYTES } from './limits.ts';
import {
  bridgeEvents,
  joinedRoom,
  pattern,
  rawHeader,
  rawStream,
  receiveBytes,
  receiveText,
  sha256,
  startKit,
  streamFailure,
  until,
  type Client,
  type Kit,
} from './test-kit.ts';
import type { ByteStreamReader } from './types.ts';

let kit: Kit;
let alice: Client;
let bob: Client;
let roomId: string;
let root: string;

beforeAll(async () => {
  kit = await startKit(['alice', 'bob']);
  [alice, bob] = await Promise.all([kit.connect('alice'), kit.connect('bob')]);
  roomId = await joinedRoom(kit, alice, [alice, bob]);
  root = mkdtempSync(join(tmpdir(), 'sealroom-files-'));
});
afterAll(async () => {
  await kit.close();
  rmSync(root, { recursive: true, force: true });
});

let dirs = 0;
const freshDir = () => mkdtempSync(join(root, `d${dirs++}-`));

/** Readers bob gets on `topic`, unread. */
function readersAt(topic: string): ByteStreamReader[] {
  const readers: ByteStreamReader[] = [];
  bob.streamApi.registerByteStreamHandler(topic, (reader) => void readers.push(reader));
  return readers;
}

describe('abort', () => {
  it('writer.abort(reason): receivers get AbnormalEnd with that reason, authenticated', async () => {
    const got = receiveBytes(bob, 'abort');
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'abort', name: 'x' });
    await writer.write(pattern(100_000));
    await writer.abort('user cancelled 🙅');
    await until(() => got.length === 1, 'the handler');
    const error = await streamFailure(got[0]!.done);
    expect(error.reason).toBe('AbnormalEnd');
    expect(error.abortReason).toBe('user cancelled 🙅');
    expect(error.message).not.toContain('user cancelled');
    expect((await streamFailure(writer.write(pattern(1)))).reason).toBe('Aborted');
    await writer.abort('again'); // nothing left to abort
  });

  it('an AbortSignal ends the stream with its reason and rejects the waiting write', async () => {
    const readers = readersAt('signal'); // bob never reads: the write below waits
    const controller = new AbortController();
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'signal', name: 'x', signal: controller.signal });
    const writing = writer.write(pattern(8 * 1024 * 1024));
    await until(() => readers.length === 1, 'the handler');
    controller.abort(new Error('stop now'));
    expect((await streamFailure(writing)).reason).toBe('Aborted');
    const error = await streamFailure(readers[0]!.readAll());
    expect(error.abortReason).toBe('stop now');
    const early = new AbortController();
    early.abort();
    expect((await streamFailure(alice.streamApi.sendFile(pattern(10), { roomId, topic: 'signal', signal: early.signal }))).reason).toBe('Aborted');
  });

  it(`refuses an abort reason over ${STREAM_ABORT_REASON_MAX_BYTES} UTF-8 bytes`, async () => {
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'nobody', name: 'x' });
    expect((await streamFailure(writer.abort('é'.repeat(STREAM_ABORT_REASON_MAX_BYTES / 2 + 1)))).reason).toBe('LengthExceeded');
    await writer.abort('é'.repeat(STREAM_ABORT_REASON_MAX_BYTES / 2));
  });
});

describe('writeToFile', () => {
  it('writes the file under the sender name, through a temporary file', async () => {
    const dir = freshDir();
    const done: Array<Promise<string>> = [];
    bob.streamApi.registerByteStreamHandler('file', (reader) => void done.push(reader.writeToFile(dir)));
    const data = pattern(3_000_000, 5);
    await alice.streamApi.sendFile(data, { roomId, topic: 'file', name: 'movie.mp4' });
    await until(() => done.length === 1, 'the handler');
    const path = await done[0]!;
    expect(path).toBe(join(dir, 'movie.mp4'));
    expect(sha256(readFileSync(path))).toBe(sha256(data));
    expect(readdirSync(dir)).toEqual(['movie.mp4']);
  });

  it('rejects unsafe names (and the reader stays usable)', async () => {
    const dir = freshDir();
    const readers = readersAt('unsafe');
    await alice.streamApi.sendFile(pattern(10), { roomId, topic: 'unsafe', name: '../../evil' });
    await until(() => readers.length === 1, 'the handler');
    const reader = readers[0]!;
    for (const name of ['../x', 'a/b', 'a\\b', '/etc/passwd', '', '.', '..', 'x..y', 'C:evil', 'nul\u0000', 'é'.repeat(128)]) {
      const error = await streamFailure(reader.writeToFile(dir, name));
      expect([name, error.reason]).toEqual([name, 'InvalidArgument']);
    }
    expect((await streamFailure(reader.writeToFile(dir))).message).toContain('path separator'); // the sender's name
    expect(await reader.writeToFile(dir, 'safe.bin')).toBe(join(dir, 'safe.bin'));
    expect(readdirSync(dir)).toEqual(['safe.bin']);
    expect(existsSync(join(root, 'evil'))).toBe(false);
  });

  it('leaves no partial file when the stream fails, and never replaces a file', async () => {
    const dir = freshDir();
    const done: Array<Promise<string>> = [];
    bob.streamApi.registerByteStreamHandler('partial', (reader) => {
      const p = reader.writeToFile(dir);
      p.catch(() => undefined);
      done.push(p);
    });
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'partial', name: 'half.bin' });
    await writer.write(pattern(2_000_000));
    await until(() => done.length === 1 && readdirSync(dir).length === 1, 'a temporary file');
    expect(readdirSync(dir)[0]).toMatch(/^\.sealroom-[0-9a-f]+\.partial$/);
    await writer.abort('changed my mind');
    expect((await streamFailure(done[0]!)).abortReason).toBe('changed my mind');
    expect(readdirSync(dir)).toEqual([]);

    writeFileSync(join(dir, 'taken.bin'), 'mine');
    await alice.streamApi.sendFile(pattern(1000), { roomId, topic: 'partial', name: 'taken.bin' });
    await until(() => done.length === 2, 'the second handler');
    const error = await streamFailure(done[1]!);
    expect(error.reason).toBe('FileError');
    expect(error.message).toContain('EEXIST');
    expect(readFileSync(join(dir, 'taken.bin'), 'utf8')).toBe('mine');
    expect(readdirSync(dir)).toEqual(['taken.bin']);
  });
});

describe('limits', () => {
  it('sending: topic, name, attributes (header size) and totalSize', async () => {
    const open = (o: Record<string, unknown>) => streamFailure(alice.streamApi.streamBytes({ roomId, topic: 't', name: 'n', ...o }));
    expect((await open({ topic: 'x'.repeat(257) })).reason).toBe('InvalidArgument');
    expect((await open({ name: 'é'.repeat(128) })).reason).toBe('InvalidArgument');
    expect((await open({ attributes: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) })).reason).toBe('InvalidArgument');
    const big = await open({ attributes: { blob: 'x'.repeat(STREAM_HEADER_MAX_BYTES) } });
    expect(big.reason).toBe('LengthExceeded');
    expect(big.code).toBe('ERR_DATA_STREAM_LENGTH_EXCEEDED');
    expect((await open({ roomId: 'nope' })).reason).toBe('InvalidArgument');
    expect((await open({ destinationIdentities: Array.from({ length: DESTINATIONS_MAX + 1 }, (_, i) => `u${i}`) })).reason).toBe('InvalidArgument');
    expect((await open({ destinationIdentities: ['not a user id'] })).reason).toBe('InvalidArgument');
    // A private stream's key is wrapped to each destination's key in the verified room: a stranger has none.
    const stranger = await open({ destinationIdentities: ['bob', 'zed'] });
    expect(stranger.reason).toBe('InvalidArgument');
    expect(stranger.message).toContain('"zed" is not a member');
    const notJoined = await open({ roomId: await kit.room(alice, [alice, bob]) });
    expect(notJoined.reason).toBe('InvalidArgument');
    expect(notJoined.message).toContain('not joined');

    const got = receiveBytes(bob, 'sized');
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'sized', name: 'n', totalSize: 1000 });
    await writer.write(pattern(600));
    expect((await streamFailure(writer.write(pattern(401)))).reason).toBe('LengthExceeded');
    await writer.write(pattern(400));
    await writer.close();
    await until(() => got.length === 1, 'the handler');
    expect((await got[0]!.done).length).toBe(1000);
  });

  it('receiving: a sender that writes past its announced size (LengthExceeded) or short of it (Incomplete)', async () => {
    const readers = readersAt('liar');
    const header = async (size: number) => encodeHeader(await rawHeader(alice, roomId, { topic: 'liar', size }));
    const over = await rawStream(alice, roomId, await header(10));
    over.send(await over.enc.header());
    over.send(await over.enc.write(pattern(8)));
    over.send(await over.enc.write(pattern(8)));
    over.send(await over.enc.close());
    const short = await rawStream(alice, roomId, await header(10));
    short.send(await short.enc.header());
    short.send(await short.enc.write(pattern(5)));
    short.send(await short.enc.close());
    await until(() => readers.length === 2, 'both handlers');
    expect((await streamFailure(readers[0]!.readAll())).reason).toBe('LengthExceeded');
    expect((await streamFailure(readers[1]!.readAll())).reason).toBe('Incomplete');
  });

  it(`receiving: readAll() stops at ${TEXT_READ_ALL_MAX_BYTES} bytes of text by default (LengthExceeded, the stream cancelled), at maxBytes when given, and at once for a signed size over it`, async () => {
    // Any member may send any size: a handler that read every text whole let one message take the
    // reader's memory. This one has no signed size, so it is cut as it arrives.
    const texts = receiveText(bob, 'whole-text');
    const big = 'x'.repeat(TEXT_READ_ALL_MAX_BYTES + 1);
    const writer = await alice.streamApi.streamText({ roomId, topic: 'whole-text' });
    const writing = (async () => {
      for (let at = 0; at < big.length; at += 64 * 1024) await writer.write(big.slice(at, at + 64 * 1024));
      await writer.close();
    })().catch((error: Error) => error);
    await until(() => texts.length === 1, 'the text handler');
    expect((await streamFailure(texts[0]!.done)).reason).toBe('LengthExceeded');
    await writing;
    // With a larger maxBytes the same text reads whole; a byte stream's signed size over maxBytes
    // fails before a byte is read.
    // A bad maxBytes is refused before the reader is taken: the stream can still be read.
    const checked: Array<Promise<unknown>> = [];
    bob.streamApi.registerTextStreamHandler('checked-text', async (reader) => {
      checked.push(reader.readAll({ maxBytes: -1 }).catch((error: { reason?: string }) => error.reason));
      checked.push(reader.readAll());
    });
    await alice.streamApi.sendText('fine', { roomId, topic: 'checked-text' });
    await until(() => checked.length === 2, 'the checked handler');
    expect(await Promise.all(checked)).toEqual(['InvalidArgument', 'fine']);
    const larger = receiveText(bob, 'larger-text', TEXT_READ_ALL_MAX_BYTES + 1);
    await alice.streamApi.sendText(big, { roomId, topic: 'larger-text' });
    await until(() => larger.length === 1, 'the second text handler');
    expect((await larger[0]!.done).length).toBe(big.length);
    const bytes = receiveBytes(bob, 'sized-over', 1000);
    await alice.streamApi.sendFile(pattern(1001), { roomId, topic: 'sized-over', name: 'x.bin' }).catch(() => undefined);
    await until(() => bytes.length === 1, 'the byte handler');
    expect((await streamFailure(bytes[0]!.done)).reason).toBe('LengthExceeded');
    expect(bytes[0]!.reader.info.size).toBe(1001);
  });

  it(`receiving: a header over ${STREAM_HEADER_MAX_BYTES} bytes, or one that is not a header, is refused before any handler`, async () => {
    const readers = readersAt('bad-header');
    const dropped = bridgeEvents(alice, 'byteStreamReceiverDropped');
    const valid = await rawHeader(alice, roomId, { topic: 'bad-header' });
    const headers = [
      utf8(JSON.stringify({ ...valid, attributes: { blob: 'x'.repeat(STREAM_HEADER_MAX_BYTES) } })),
      utf8(JSON.stringify({ ...valid, v: 1 })),
      utf8(JSON.stringify({ ...valid, sender: 'bob' })),
      utf8(JSON.stringify({ ...valid, roomId: 'room_fedcba9876543210' })),
      // Signed more than the replay window (10 minutes) ago, or as far ahead.
      utf8(JSON.stringify({ ...valid, timestamp: Date.now() - 11 * 60_000 })),
      utf8(JSON.stringify({ ...valid, timestamp: Date.now() + 11 * 60_000 })),
      utf8('not json'),
    ];
    for (const h of headers) {
      const s = await rawStream(alice, roomId, h, { destinationIdentities: ['bob'] });
      s.send(await s.enc.header());
    }
    await until(() => dropped.length === headers.length, 'every stream rejected');
    expect(dropped.every((e) => e.reason === 'rejected' && e.userId === 'bob')).toBe(true);
    expect(readers).toEqual([]);
  });

  it(`receiving: a chunk over ${STREAM_CHUNK_MAX_BYTES} bytes of plaintext is an integrity failure`, async () => {
    const got = receiveBytes(bob, 'huge-chunk');
    const s = await rawStream(alice, roomId, encodeHeader(await rawHeader(alice, roomId, { topic: 'huge-chunk' })));
    s.send(await s.enc.header());
    s.send({ data: new Uint8Array(randomBytes(STREAM_CHUNK_MAX_BYTES + 17 + 1)), last: false });
    await until(() => got.length === 1, 'the handler');
    expect((await streamFailure(got[0]!.done)).reason).toBe('Integrity');
  });
});
