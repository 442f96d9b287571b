/**
 * `SFrameContext.decryptSync` and `encryptSync` (the data-track receive and send paths in Node): the same
 * checks, errors and results (bytes) as `decrypt` and `encrypt`, with no promise; undefined, with
 * nothing changed, where the backend is async only.
 */
import { describe, expect, it } from 'vitest';
import { nodeBackend } from '../backend/node.ts';
import { webBackend } from '../backend/web.ts';
import { utf8 } from '../bytes.ts';
import { DECRYPT_FAILED_MESSAGE } from '../errors.ts';
import { decryptSFrame, decryptSFrameSync } from './frame.ts';
import { decodeSFrameHeader, SFRAME_MAX_U64 } from './header.ts';
import { createSFrameKey } from './keys.ts';
import { SFrameContext, UNKNOWN_KEY_ID_MESSAGE } from './sframe.ts';
import { SFRAME_SUITES } from './suites.ts';

const KID = 0x0003_1234_5678_9a01n;
const BASE_KEY = new Uint8Array(16).fill(7);
const META = utf8('room, stream and track');

async function pair(backend = nodeBackend): Promise<{ sender: SFrameContext; receiver: SFrameContext }> {
  const sender = new SFrameContext({ backend: nodeBackend });
  const receiver = new SFrameContext({ backend });
  await sender.addKey(KID, BASE_KEY);
  await receiver.addKey(KID, BASE_KEY);
  return { sender, receiver };
}

function thrown(fn: () => unknown): { reason?: string; message: string } {
  try {
    fn();
  } catch (error) {
    return error as { reason?: string; message: string };
  }
  throw new Error('expected a throw');
}

describe('SFrameContext.decryptSync', () => {
  it('opens what decrypt opens, with the parsed header or without, and metadata of any length', async () => {
    const { sender, receiver } = await pair();
    for (let i = 0n; i < 20n; i++) {
      // Metadata lengths around the scratch buffer's first size (64 bytes) and past it.
      const meta = utf8('m'.repeat(Number(i) * 7));
      const frame = await sender.encrypt(KID, meta, utf8(`frame ${i}`));
      const opened = i % 2n === 0n ? receiver.decryptSync(meta, frame) : receiver.decryptSync(meta, frame, decodeSFrameHeader(frame));
      expect(opened).toEqual({ kid: KID, ctr: i, plaintext: utf8(`frame ${i}`) });
    }
  });

  it('refuses replays, forgeries (without moving the window), unknown KIDs and wrong metadata', async () => {
    const { sender, receiver } = await pair();
    const first = await sender.encrypt(KID, META, utf8('one'));
    expect(receiver.decryptSync(META, first)?.plaintext).toEqual(utf8('one'));
    expect(thrown(() => receiver.decryptSync(META, first)).reason).toBe('Replay');

    const second = await sender.encrypt(KID, META, utf8('two'));
    const flipped = second.slice();
    flipped[flipped.length - 1]! ^= 1;
    expect(thrown(() => receiver.decryptSync(META, flipped))).toMatchObject({ reason: 'DecryptFailed', message: DECRYPT_FAILED_MESSAGE });
    expect(thrown(() => receiver.decryptSync(utf8('another track'), second))).toMatchObject({ reason: 'DecryptFailed', message: DECRYPT_FAILED_MESSAGE });
    // Neither forgery committed the counter: the genuine frame still opens, once.
    expect(receiver.decryptSync(META, second)?.plaintext).toEqual(utf8('two'));
    expect(thrown(() => receiver.decryptSync(META, second)).reason).toBe('Replay');

    const stranger = new SFrameContext({ backend: nodeBackend });
    await stranger.addKey(KID + 1n, BASE_KEY);
    const foreign = await stranger.encrypt(KID + 1n, META, utf8('x'));
    expect(thrown(() => receiver.decryptSync(META, foreign))).toMatchObject({ reason: 'InvalidKey', message: UNKNOWN_KEY_ID_MESSAGE });
  });

  it('returns undefined and changes nothing where the backend decrypts only asynchronously (WebCrypto)', async () => {
    const { sender, receiver } = await pair(webBackend);
    const frame = await sender.encrypt(KID, META, utf8('async'));
    expect(receiver.decryptSync(META, frame)).toBeUndefined();
    // The window was not touched: decrypt opens it, once.
    expect((await receiver.decrypt(META, frame)).plaintext).toEqual(utf8('async'));
    await expect(receiver.decrypt(META, frame)).rejects.toMatchObject({ reason: 'Replay' });
  });

  it('decryptSFrameSync matches decryptSFrame, and refuses a key without a synchronous AEAD', async () => {
    const suite = SFRAME_SUITES.AES_128_GCM_SHA256_128;
    const { sender } = await pair();
    const frame = await sender.encrypt(KID, META, utf8('same'));
    const header = decodeSFrameHeader(frame);
    const key = await createSFrameKey(suite, BASE_KEY, KID, nodeBackend);
    expect(decryptSFrameSync(key, header, frame, META)).toEqual(await decryptSFrame(key, header, frame, META));
    const webKey = await createSFrameKey(suite, BASE_KEY, KID, webBackend);
    expect(thrown(() => decryptSFrameSync(webKey, header, frame, META)).reason).toBe('InvalidArgument');
  });
});

describe('SFrameContext.encryptSync', () => {
  it('seals the bytes encrypt seals, counter for counter, with headroom or without, and metadata of any length', async () => {
    const { sender: async, receiver: sync } = await pair();
    for (let i = 0n; i < 24n; i++) {
      // Metadata lengths around the scratch buffer's first size (64 bytes) and past it.
      const meta = utf8('m'.repeat(Number(i) * 7));
      const plaintext = utf8(`frame ${i}`.repeat(Number(i) + 1));
      const headroom = [0, 5, 13][Number(i % 3n)]!;
      const expected = await async.encrypt(KID, meta, plaintext);
      const frame = sync.encryptSync(KID, meta, plaintext, headroom);
      expect(frame).toEqual(expected);
      expect(frame!.byteOffset).toBeGreaterThanOrEqual(headroom);
      expect([...new Uint8Array(frame!.buffer, frame!.byteOffset - headroom, headroom)]).toEqual(new Array(headroom).fill(0));
    }
  });

  it('shares the counter with encrypt: interleaved, every frame has the next one, and each opens', async () => {
    const { sender, receiver } = await pair();
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 12; i++) {
      const text = utf8(`frame ${i}`);
      frames.push(i % 3 === 0 ? await sender.encrypt(KID, META, text) : sender.encryptSync(KID, META, text)!);
    }
    expect(frames.map((f) => decodeSFrameHeader(f).ctr)).toEqual(Array.from({ length: 12 }, (_, i) => BigInt(i)));
    for (const [i, frame] of frames.entries()) expect(receiver.decryptSync(META, frame)?.plaintext).toEqual(utf8(`frame ${i}`));
  });

  it('refuses what encrypt refuses, and stops at the last counter', async () => {
    const sender = new SFrameContext({ backend: nodeBackend, maxFrameBytes: 32, maxMetadataBytes: 8 });
    await sender.addKey(KID, BASE_KEY);
    expect(thrown(() => sender.encryptSync(KID + 1n, META.subarray(0, 8), utf8('x')))).toMatchObject({ reason: 'InvalidKey', message: UNKNOWN_KEY_ID_MESSAGE });
    expect(thrown(() => sender.encryptSync(KID, utf8('123456789'), utf8('x'))).reason).toBe('LimitExceeded');
    expect(thrown(() => sender.encryptSync(KID, utf8(''), new Uint8Array(33))).reason).toBe('LimitExceeded');
    expect(thrown(() => sender.encryptSync(KID, utf8(''), utf8('x'), -1)).reason).toBe('InvalidArgument');
    // None of those used a counter.
    expect(decodeSFrameHeader(sender.encryptSync(KID, utf8(''), utf8('x'))!).ctr).toBe(0n);
    sender.setNextCounter(KID, SFRAME_MAX_U64);
    const last = sender.encryptSync(KID, utf8(''), utf8('last'))!;
    expect(decodeSFrameHeader(last).ctr).toBe(SFRAME_MAX_U64);
    expect(thrown(() => sender.encryptSync(KID, utf8(''), utf8('one more'))).reason).toBe('LimitExceeded');
    const receiver = new SFrameContext({ backend: nodeBackend });
    await receiver.addKey(KID, BASE_KEY);
    expect(receiver.decryptSync(utf8(''), last)?.plaintext).toEqual(utf8('last'));
  });

  it('returns undefined and uses no counter where the backend encrypts only asynchronously (WebCrypto)', async () => {
    const sender = new SFrameContext({ backend: webBackend });
    await sender.addKey(KID, BASE_KEY);
    expect(sender.encryptSync(KID, META, utf8('async'))).toBeUndefined();
    const frame = await sender.encrypt(KID, META, utf8('async'));
    expect(decodeSFrameHeader(frame).ctr).toBe(0n);
    // And the same bytes as the node backend's synchronous frame under that counter.
    const { sender: node } = await pair();
    expect(node.encryptSync(KID, META, utf8('async'))).toEqual(frame);
  });
});
