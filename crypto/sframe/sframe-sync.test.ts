/**
 * `SFrameContext.decryptSync` (the data-track receive path in Node): the same checks, errors and results
 * as `decrypt`, with no promise; undefined, with nothing changed, where the backend is async only.
 */
import { describe, expect, it } from 'vitest';
import { nodeBackend } from '../backend/node.ts';
import { webBackend } from '../backend/web.ts';
import { utf8 } from '../bytes.ts';
import { DECRYPT_FAILED_MESSAGE } from '../errors.ts';
import { decryptSFrame, decryptSFrameSync } from './frame.ts';
import { decodeSFrameHeader } from './header.ts';
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
