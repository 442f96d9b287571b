/**
 * The receiving pipeline on its own, fed frames and events directly: order holds even when a stream's
 * key arrives late, one sender's slow key does not hold another sender, Bridge aborts land after the
 * chunks before them, and credit follows what the app reads, not what arrived.
 */
import { describe, expect, it } from 'vitest';
import { toBase64, utf8 } from '../../../crypto/bytes.ts';
import { decodePrivateKey, generateKeyPair } from '../../../crypto/identity.ts';
import { decodeFrame, type ClientMessage } from '../../../protocol/ws.ts';
import type { Connection } from '../../connection.ts';
import { silentLogger } from '../../logger.ts';
import type { RoomApi } from '../../rooms/room-api.ts';
import { DataStreamError } from '../errors.ts';
import { encodeHeader } from '../header.ts';
import { createStreamEncryptor, type StreamEncryptor } from '../stream-crypto.ts';
import type { ByteStreamReader } from '../types.ts';
import { IncomingStreams } from './incoming-streams.ts';

const ROOM = 'room_0123456789abcdef';
const HEAD_HASH = Buffer.alloc(32).toString('base64');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sender {
  userId: string;
  connectionId: string;
  seed: Uint8Array;
  publicKey: string;
}

async function sender(userId: string): Promise<Sender> {
  const pair = await generateKeyPair();
  return { userId, connectionId: `conn-${userId}`, seed: decodePrivateKey(pair.privateKey), publicKey: pair.publicKey };
}

/** IncomingStreams with a scripted room: epoch keys that can arrive late, and the senders' keys. */
function setup(senders: Sender[], keyDelayMs: Record<number, number> = {}, autoRead = false) {
  const keys: Record<number, Uint8Array> = { 1: new Uint8Array(32).fill(1), 2: new Uint8Array(32).fill(2) };
  const sent: ClientMessage[] = [];
  /** CREDIT frames sent, decoded. */
  const credits: Array<{ streamNo: number; offset: number }> = [];
  const connection = {
    log: silentLogger,
    notify: (m: ClientMessage) => sent.push(m),
    sendFrame: (frame: Uint8Array) => {
      const decoded = decodeFrame(frame);
      if (decoded?.type !== 'credit' || decoded.direction !== 'up') throw new Error('expected a CREDIT frame');
      credits.push({ streamNo: decoded.streamNo, offset: decoded.offset });
    },
  } as unknown as Connection;
  const rooms = {
    async keyFor(_roomId: string, epoch: number) {
      await sleep(keyDelayMs[epoch] ?? 0);
      return keys[epoch]!;
    },
    async trustedHead() {
      return { record: { users: senders.map((s) => ({ userId: s.userId, publicKey: s.publicKey })), managers: [] } };
    },
    async getStreamRoom() {},
  } as unknown as RoomApi;
  const readers: ByteStreamReader[] = [];
  /** With `autoRead`: names of the streams whose reads ended, in order. */
  const ended: string[] = [];
  const incoming = new IncomingStreams({
    connection,
    rooms,
    idleTimeoutMs: 0,
    byteHandler: (topic) =>
      topic === 't'
        ? (reader) => {
            readers.push(reader);
            if (autoRead) void reader.readAll().then(() => ended.push(reader.info.name));
          }
        : undefined,
    textHandler: () => undefined,
  });
  let nextNo = 1;
  /** Opens a stream from `s` under `epoch`; returns its encryptor and a frame feeder. */
  const open = async (s: Sender, epoch: number, name: string) => {
    const streamNo = nextNo++;
    const streamId = new Uint8Array(16).fill(streamNo);
    const header = encodeHeader({
      v: 2,
      kind: 'bytes',
      topic: 't',
      name,
      mimeType: 'a/b',
      attributes: {},
      timestamp: Date.now(),
      sender: s.userId,
      roomId: ROOM,
      roomVersion: 1,
      headHash: HEAD_HASH,
    });
    const enc: StreamEncryptor = createStreamEncryptor({ epochKey: keys[epoch]!, streamId, senderId: s.userId, senderSeed: s.seed, header });
    incoming.opened({
      type: 'byteStreamOpened',
      roomId: ROOM,
      streamNo,
      streamId: toBase64(streamId),
      epoch,
      senderId: s.userId,
      senderConnectionId: s.connectionId,
      window: 64 * 1024,
    });
    const feed = (c: { data: Uint8Array; last: boolean }) => incoming.chunk(streamNo, c.last, c.data);
    feed(await enc.header());
    return { enc, feed, streamNo };
  };
  return { incoming, readers, ended, sent, credits, open };
}

describe('IncomingStreams', () => {
  it("keeps a sender's order when the first stream's key arrives late", async () => {
    const alice = await sender('alice');
    const { readers, ended, open } = setup([alice], { 1: 100 }, true);
    const a = await open(alice, 1, 'a'); // its key takes 100 ms
    const b = await open(alice, 2, 'b');
    b.feed(await b.enc.write(utf8('b')));
    b.feed(await b.enc.close());
    a.feed(await a.enc.write(utf8('a')));
    a.feed(await a.enc.close());
    await sleep(150);
    // Handlers in the order the headers arrived; ends in the order the final chunks arrived.
    expect(readers.map((r) => r.info.name)).toEqual(['a', 'b']);
    expect(ended).toEqual(['b', 'a']);
  });

  it("does not hold one sender's streams behind another sender's late key", async () => {
    const [alice, bob] = await Promise.all([sender('alice'), sender('bob')]);
    const { readers, open } = setup([alice, bob], { 1: 300 });
    const slow = await open(alice, 1, 'slow');
    const fast = await open(bob, 2, 'fast');
    fast.feed(await fast.enc.write(utf8('hi')));
    fast.feed(await fast.enc.close());
    await sleep(50);
    expect(readers.map((r) => r.info.name)).toEqual(['fast']);
    expect(Buffer.concat(await readers[0]!.readAll()).toString()).toBe('hi');
    slow.feed(await slow.enc.close());
    await sleep(400);
    expect(readers.map((r) => r.info.name)).toEqual(['fast', 'slow']);
  });

  it('delivers the chunks that arrived before a Bridge abort, then the error', async () => {
    const alice = await sender('alice');
    const { incoming, readers, open } = setup([alice]);
    const s = await open(alice, 2, 'x');
    await sleep(10);
    const got: string[] = [];
    const reading = (async () => {
      for await (const chunk of readers[0]!) got.push(Buffer.from(chunk).toString());
    })().catch((e: unknown) => e);
    const one = await s.enc.write(utf8('one'));
    const two = await s.enc.write(utf8('two'));
    // Both chunks are still being decrypted when the abort arrives: it must not overtake them.
    s.feed(one);
    s.feed(two);
    incoming.bridgeAborted(s.streamNo, 'sender_disconnected');
    const error = await reading;
    expect(got).toEqual(['one', 'two']);
    expect(error).toBeInstanceOf(DataStreamError);
    expect((error as DataStreamError).reason).toBe('AbnormalEnd');
  });

  it('credits what the app read, not what arrived', async () => {
    const alice = await sender('alice');
    const { readers, credits: creditFrames, open } = setup([alice]);
    const s = await open(alice, 2, 'x');
    const chunk = new Uint8Array(4 * 1024);
    for (let i = 0; i < 8; i++) s.feed(await s.enc.write(chunk));
    await sleep(60);
    const credits = () => creditFrames.filter((c) => c.streamNo === s.streamNo).map((c) => c.offset);
    // Only the header was consumed (it is never the app's): one small credit, nothing for the data.
    expect(credits()).toHaveLength(1);
    expect(credits()[0]!).toBeLessThan(1024);
    const iterator = readers[0]![Symbol.asyncIterator]();
    for (let i = 0; i < 8; i++) await iterator.next();
    await sleep(60);
    expect(credits().at(-1)).toBe(credits()[0]! + 8 * (4 * 1024 + 16));
  });

  it('rejects a stream the app stops reading, so its sender does not wait for it', async () => {
    const alice = await sender('alice');
    const { readers, sent, open } = setup([alice]);
    const s = await open(alice, 2, 'x');
    s.feed(await s.enc.write(utf8('data')));
    await sleep(10);
    const iterator = readers[0]![Symbol.asyncIterator]();
    await iterator.next();
    await iterator.return!();
    expect(sent).toContainEqual({ kind: 'byteStreamReject', streamNo: s.streamNo });
  });
});
