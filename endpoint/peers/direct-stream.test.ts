/**
 * The direct stream envelope (./direct-stream.ts) on a real werift data channel: a private stream (the
 * keying StreamApi streams use on the direct path) opens for its destination only; another member of
 * the room, who holds the room's epoch key and reads the same channel bytes, cannot open it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '../../crypto/bytes.ts';
import { backend } from '../../crypto/backend/index.ts';
import { decodePublicKey, sign } from '../../crypto/identity.ts';
import { unwrapStreamSecret } from '../../crypto/stream/keying.ts';
import { makeUsers, type TestUser } from '../../test/identities.ts';
import { encodeHeader, STREAM_HEADER_VERSION, type StreamHeader } from '../data-streams/header.ts';
import { ChannelReader } from './channel-reader.ts';
import { DIRECT_STREAM_HELD_MAX, DIRECT_STREAMS_MAX, OutgoingCredit, sendStream, type ChannelLike, type IncomingDirectStream } from './direct-stream.ts';
import { createPeerConnection } from './rtc.ts';
import { loopbackPeers } from './test-kit.ts';

const ROOM = 'room-direct-stream-test';
let users: { alice: TestUser; bob: TestUser; carol: TestUser };
const epochKey = backend().randomBytes(32);
const pcs: RTCPeerConnection[] = [];
let sending: RTCDataChannel;
let receiving: RTCDataChannel;

/** Two werift peer connections joined in this process, and their open channel. */
beforeAll(async () => {
  users = await makeUsers('alice', 'bob', 'carol');
  const a = await createPeerConnection(loopbackPeers());
  const b = await createPeerConnection(loopbackPeers());
  pcs.push(a, b);
  sending = a.createDataChannel('c', { ordered: true });
  const arrived = new Promise<RTCDataChannel>((resolve) => {
    (b as RTCPeerConnection & { ondatachannel: (e: RTCDataChannelEvent) => void }).ondatachannel = (e) => resolve(e.channel);
  });
  const gathered = async (pc: RTCPeerConnection) => {
    for (let i = 0; i < 300 && pc.iceGatheringState !== 'complete'; i++) await new Promise((r) => setTimeout(r, 10));
    return pc.localDescription!;
  };
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(await gathered(a));
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(await gathered(b));
  receiving = await arrived;
  for (let i = 0; i < 500 && (sending.readyState !== 'open' || receiving.readyState !== 'open'); i++) await new Promise((r) => setTimeout(r, 10));
  receiving.binaryType = 'arraybuffer';
}, 30_000);

afterAll(async () => {
  for (const pc of pcs) await Promise.resolve(pc.close()).catch(() => undefined);
});

/** A channel reader for streams from alice, reading as `who`; what it sends back goes to `send`. */
function readerFor(who: TestUser, opened: IncomingDirectStream[], send: (frame: Uint8Array) => void): ChannelReader {
  return new ChannelReader(
    'c',
    {
      budget: { open: 0 },
      roomId: ROOM,
      senderId: 'alice',
      senderPublicKey: async () => decodePublicKey(users.alice.publicKey),
      epochKey: () => epochKey,
      reader: { roomId: ROOM, recipientId: who.userId, unwrap: (p) => unwrapStreamSecret({ ...p, recipientSeed: who.seed }) },
      signReceipt: () => Promise.reject(new Error('no receipts here')),
      opened: (s) => {
        opened.push(s);
        return true;
      },
      send,
    },
    new Map(),
  );
}

/** A reader on the receiving channel reading as `who`; returns the streams that opened for it. */
function readAs(who: TestUser): IncomingDirectStream[] {
  const opened: IncomingDirectStream[] = [];
  const reader = readerFor(who, opened, (frame) => receiving.send(frame as Uint8Array<ArrayBuffer>));
  receiving.onmessage = (e: MessageEvent) => void reader.message(new Uint8Array(e.data as ArrayBuffer)).catch(() => undefined);
  return opened;
}

async function send(text: string | Uint8Array, keying: Parameters<typeof sendStream>[0]['keying'], credit = new OutgoingCredit()): Promise<void> {
  const header: StreamHeader = {
    kind: 'bytes',
    name: 'x.bin',
    v: STREAM_HEADER_VERSION,
    topic: 't',
    mimeType: 'application/octet-stream',
    attributes: {},
    timestamp: Date.now(),
    sender: 'alice',
    roomId: ROOM,
    roomVersion: 1,
    headHash: toBase64(new Uint8Array(32)),
  };
  await sendStream(
    {
      channel: sending as unknown as ChannelLike,
      header,
      headerBytes: encodeHeader(header),
      epoch: 1,
      keying,
      senderId: 'alice',
      sign: (m) => sign(users.alice.seed, m),
      source: (async function* () {
        yield typeof text === 'string' ? new TextEncoder().encode(text) : text;
      })(),
      signal: new AbortController().signal,
      onProgress: () => undefined,
    },
    credit,
  );
}

const until = async (what: () => boolean) => {
  for (let i = 0; i < 500 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
};

const toBob = () => ({ recipients: { roomId: ROOM, list: [{ recipientId: 'bob', recipientPublicKey: decodePublicKey(users.bob.publicKey) }] } });

describe('direct stream keying', () => {
  it('a stream wrapped to bob opens for bob', async () => {
    const opened = readAs(users.bob);
    await send('for bob only', toBob());
    for (let i = 0; i < 300 && opened.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(opened).toHaveLength(1);
    expect(await opened[0]!.text()).toBe('for bob only');
  });

  it('carol, another member with the room key and the same bytes, cannot open it; a room stream after it she can', async () => {
    const opened = readAs(users.carol);
    await send('for bob only', toBob());
    await send('for the room', { epochKey });
    // The channel is ordered: once the room stream opened, the private one before it was refused.
    for (let i = 0; i < 300 && opened.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(opened).toHaveLength(1);
    expect(await opened[0]!.text()).toBe('for the room');
  });
});

describe('what a peer may make this reader hold', () => {
  it(`fails a stream whose sender ignores the credit window once it holds ${DIRECT_STREAM_HELD_MAX} bytes unread, and tells the sender`, async () => {
    const opened = readAs(users.bob);
    // A sender that never waits for credit, to a reader that reads nothing: before, the reader queued
    // all 8 MiB.
    const credit = new OutgoingCredit();
    credit.allowed = Number.MAX_SAFE_INTEGER;
    // What comes back to the sender (a RemotePeer's reader would mark the credit rejected).
    let rejected = false;
    sending.binaryType = 'arraybuffer';
    sending.onmessage = (e: MessageEvent) => {
      if (new Uint8Array(e.data as ArrayBuffer)[0] === 0x04) rejected = true;
    };
    await send(new Uint8Array(8 * 1024 * 1024), { epochKey }, credit);
    await until(() => rejected);
    expect(rejected).toBe(true);
    expect(opened).toHaveLength(1);
    const read = await opened[0]!.bytes().catch((error: Error) => error);
    expect((read as { reason?: string }).reason).toBe('Overloaded');
  });

  it(`holds at most ${DIRECT_STREAMS_MAX} streams of a peer until the app reads them, finished ones included`, async () => {
    const opened = readAs(users.bob);
    for (let i = 0; i < DIRECT_STREAMS_MAX + 1; i++) await send(`stream ${i}`, { epochKey });
    await until(() => opened.length >= DIRECT_STREAMS_MAX);
    await new Promise((r) => setTimeout(r, 200));
    // Each of the first 16 finished sending, and none was read: the 17th was refused.
    expect(opened).toHaveLength(DIRECT_STREAMS_MAX);
    expect(await opened[0]!.text()).toBe('stream 0');
    await send('after one was read', { epochKey });
    await until(() => opened.length > DIRECT_STREAMS_MAX);
    expect(await opened[DIRECT_STREAMS_MAX]!.text()).toBe('after one was read');
  });

  it('bytes() and text() stop at maxBytes (LengthExceeded, the stream cancelled)', async () => {
    const opened = readAs(users.bob);
    await send(new Uint8Array(2000), { epochKey });
    await send('x'.repeat(2000), { epochKey });
    await until(() => opened.length === 2);
    expect(((await opened[0]!.bytes({ maxBytes: 1000 }).catch((e: Error) => e)) as { reason?: string }).reason).toBe('LengthExceeded');
    expect(((await opened[1]!.text({ maxBytes: 1999 }).catch((e: Error) => e)) as { reason?: string }).reason).toBe('LengthExceeded');
  });

  it('counts OPENs that arrive together before it awaits anything', async () => {
    const frames: Uint8Array[] = [];
    const reader = readerFor(users.bob, [], (frame) => frames.push(frame));
    const open = (i: number) => {
      const frame = new Uint8Array(1 + 16 + 4);
      frame[0] = 0x01;
      frame[1] = i;
      new DataView(frame.buffer).setUint32(17, 1);
      return frame;
    };
    // One SCTP packet's OPENs, each handed over before the one before has settled.
    await Promise.all(Array.from({ length: DIRECT_STREAMS_MAX + 4 }, (_, i) => reader.message(open(i))));
    expect(frames.filter((f) => f[0] === 0x04)).toHaveLength(4);
    reader.failAll(new (await import('./errors.ts')).PeerError('Closed', 'done'));
  });
});
