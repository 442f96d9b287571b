import { describe, expect, it } from 'vitest';
import { nodeBackend } from '../backend/node.ts';
import { DECRYPT_FAILED_MESSAGE } from '../errors.ts';
import { utf8 } from '../bytes.ts';
import { decodeSFrameHeader, encodeSFrameHeader, SFRAME_MAX_U64 } from './header.ts';
import { SFrameContext, UNKNOWN_KEY_ID_MESSAGE, type SFrameContextOptions } from './sframe.ts';
import { SFRAME_SUITE_NAMES } from './suites.ts';

const KID = 0x0003_1234_5678_9a01n;
const BASE_KEY = new Uint8Array(16).fill(7);
const META = utf8('rtp header');

async function pair(options: SFrameContextOptions = {}): Promise<{ sender: SFrameContext; receiver: SFrameContext }> {
  const sender = new SFrameContext({ backend: nodeBackend, ...options });
  const receiver = new SFrameContext({ backend: nodeBackend, ...options });
  await sender.addKey(KID, BASE_KEY);
  await receiver.addKey(KID, BASE_KEY);
  return { sender, receiver };
}

async function rejection(promise: Promise<unknown>): Promise<{ reason?: string; code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { reason?: string; code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe('SFrameContext', () => {
  it.each(SFRAME_SUITE_NAMES)('round-trips frames with %s, counters from 0', async (suite) => {
    const { sender, receiver } = await pair({ suite });
    for (let i = 0n; i < 3n; i++) {
      const frame = await sender.encrypt(KID, META, utf8(`frame ${i}`));
      expect(decodeSFrameHeader(frame)).toMatchObject({ kid: KID, ctr: i });
      const opened = await receiver.decrypt(META, frame);
      expect(opened).toEqual({ kid: KID, ctr: i, plaintext: utf8(`frame ${i}`) });
    }
    // Empty plaintext and metadata are allowed.
    const empty = await sender.encrypt(KID, new Uint8Array(0), new Uint8Array(0));
    expect((await receiver.decrypt(new Uint8Array(0), empty)).plaintext).toHaveLength(0);
  });

  it('uses the default suite AES_128_GCM_SHA256_128: 16-byte tag', async () => {
    const ctx = new SFrameContext();
    expect(ctx.suite.name).toBe('AES_128_GCM_SHA256_128');
    await ctx.addKey(KID, BASE_KEY);
    const frame = await ctx.encrypt(KID, META, new Uint8Array(100));
    expect(frame.length).toBe(decodeSFrameHeader(frame).length + 100 + 16);
  });

  it('gives concurrent encrypts distinct counters', async () => {
    const { sender } = await pair();
    const frames = await Promise.all(Array.from({ length: 20 }, () => sender.encrypt(KID, META, new Uint8Array(8))));
    const counters = new Set(frames.map((frame) => decodeSFrameHeader(frame).ctr));
    expect(counters.size).toBe(20);
  });

  it('encrypts with counter 2^64 - 1 and then refuses to wrap, with LimitExceeded', async () => {
    const { sender, receiver } = await pair();
    sender.setNextCounter(KID, SFRAME_MAX_U64);
    const last = await sender.encrypt(KID, META, utf8('last'));
    expect((await receiver.decrypt(META, last)).ctr).toBe(SFRAME_MAX_U64);
    const error = await rejection(sender.encrypt(KID, META, utf8('one more')));
    expect(error).toMatchObject({ code: 'ERR_CRYPTO_LIMIT_EXCEEDED', reason: 'LimitExceeded' });
    expect(error.message).toMatch(/counter of this key id is exhausted/);
    expect(() => sender.setNextCounter(KID, 5n)).toThrow(/expected at least the current counter/);
  });

  it('refuses replays and too-old frames with Replay, and accepts late frames once', async () => {
    const { sender, receiver } = await pair();
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) frames.push(await sender.encrypt(KID, META, utf8(String(i))));
    await receiver.decrypt(META, frames[150]!);
    await receiver.decrypt(META, frames[199]!);
    expect((await receiver.decrypt(META, frames[100]!)).ctr).toBe(100n); // late, inside the window
    expect(await rejection(receiver.decrypt(META, frames[100]!))).toMatchObject({ reason: 'Replay', code: 'ERR_CRYPTO_REPLAY' });
    expect(await rejection(receiver.decrypt(META, frames[199]!))).toMatchObject({ reason: 'Replay' });
    expect(await rejection(receiver.decrypt(META, frames[0]!))).toMatchObject({ reason: 'Replay' }); // 199 - 0 >= 128
  });

  it('delivers one of two copies decrypted concurrently', async () => {
    const { sender, receiver } = await pair();
    const frame = await sender.encrypt(KID, META, utf8('once'));
    const results = await Promise.allSettled([receiver.decrypt(META, frame), receiver.decrypt(META, frame)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { reason: 'Replay' } });
  });

  it('fails authentication with DecryptFailed and one message, and does not move the window', async () => {
    const { sender, receiver } = await pair();
    const frame = await sender.encrypt(KID, META, utf8('payload'));
    const wrongMeta = await rejection(receiver.decrypt(utf8('other header'), frame));
    expect(wrongMeta).toMatchObject({ reason: 'DecryptFailed', code: 'ERR_CRYPTO_DECRYPT_FAILED', message: DECRYPT_FAILED_MESSAGE });

    // A forged frame with a huge counter: the header authenticates nothing, so decryption fails.
    const forged = frame.slice();
    const header = decodeSFrameHeader(frame);
    const forgedHeader = encodeSFrameHeader(KID, 10n ** 12n);
    const forgedFrame = new Uint8Array(forgedHeader.length + frame.length - header.length);
    forgedFrame.set(forgedHeader);
    forgedFrame.set(frame.subarray(header.length), forgedHeader.length);
    expect(await rejection(receiver.decrypt(META, forgedFrame))).toMatchObject({ message: DECRYPT_FAILED_MESSAGE });
    forged[forged.length - 1]! ^= 0x80;
    expect(await rejection(receiver.decrypt(META, forged))).toMatchObject({ message: DECRYPT_FAILED_MESSAGE });
    // Neither moved the window: the genuine frame still decrypts.
    expect((await receiver.decrypt(META, frame)).plaintext).toEqual(utf8('payload'));
  });

  it('fails a frame too short to hold a tag with DecryptFailed', async () => {
    const { sender, receiver } = await pair({ suite: 'AES_128_CTR_HMAC_SHA256_32' });
    const frame = await sender.encrypt(KID, META, new Uint8Array(0));
    const headerLength = decodeSFrameHeader(frame).length;
    expect(frame.length).toBe(headerLength + 4);
    for (let cut = headerLength; cut < frame.length; cut++) {
      expect(await rejection(receiver.decrypt(META, frame.subarray(0, cut)))).toMatchObject({ reason: 'DecryptFailed' });
    }
    const gcm = await pair();
    const gcmFrame = await gcm.sender.encrypt(KID, META, new Uint8Array(0));
    expect(await rejection(gcm.receiver.decrypt(META, gcmFrame.subarray(0, gcmFrame.length - 1)))).toMatchObject({ reason: 'DecryptFailed' });
  });

  it('refuses a malformed header with InvalidArgument and an unknown KID with a distinct message', async () => {
    const { sender, receiver } = await pair();
    expect(await rejection(receiver.decrypt(META, new Uint8Array([0xff, 1, 2])))).toMatchObject({ reason: 'InvalidArgument' });
    const stranger = new SFrameContext({ backend: nodeBackend });
    await stranger.addKey(KID + 1n, BASE_KEY);
    const frame = await stranger.encrypt(KID + 1n, META, utf8('x'));
    const error = await rejection(receiver.decrypt(META, frame));
    expect(error).toMatchObject({ reason: 'InvalidKey', message: UNKNOWN_KEY_ID_MESSAGE });
    expect(await rejection(sender.encrypt(KID + 1n, META, utf8('x')))).toMatchObject({ message: UNKNOWN_KEY_ID_MESSAGE });
  });

  it('enforces maxFrameBytes and maxMetadataBytes both ways with LimitExceeded', async () => {
    const { sender, receiver } = await pair({ maxFrameBytes: 1000, maxMetadataBytes: 32 });
    await sender.encrypt(KID, META, new Uint8Array(1000));
    const big = await rejection(sender.encrypt(KID, META, new Uint8Array(1001)));
    expect(big).toMatchObject({ reason: 'LimitExceeded', message: '"plaintext" expected at most 1000 bytes, got 1001' });
    expect(await rejection(sender.encrypt(KID, new Uint8Array(33), new Uint8Array(1)))).toMatchObject({ reason: 'LimitExceeded' });

    // A frame from a sender with a larger limit is refused before parsing.
    const loose = await pair({ maxFrameBytes: 2000 });
    const frame = await loose.sender.encrypt(KID, META, new Uint8Array(1100));
    expect(await rejection(receiver.decrypt(META, frame))).toMatchObject({ reason: 'LimitExceeded' });
    expect(await rejection(receiver.decrypt(new Uint8Array(33), frame))).toMatchObject({ reason: 'LimitExceeded' });
    // Default: 1 MiB.
    const defaults = await pair();
    expect(defaults.sender.maxFrameBytes).toBe(1024 * 1024);
    expect(await rejection(defaults.sender.encrypt(KID, META, new Uint8Array(1024 * 1024 + 1)))).toMatchObject({ reason: 'LimitExceeded' });
  });

  it('manages keys: no duplicate add, remove forgets, a remove during add cancels it', async () => {
    const ctx = new SFrameContext({ backend: nodeBackend });
    await ctx.addKey(KID, BASE_KEY);
    await expect(ctx.addKey(KID, BASE_KEY)).rejects.toThrow(/already in this SFrame context/);
    expect(ctx.kids()).toEqual([KID]);
    expect(ctx.removeKey(KID)).toBe(true);
    expect(ctx.removeKey(KID)).toBe(false);
    expect(ctx.hasKey(KID)).toBe(false);

    const adding = ctx.addKey(KID, BASE_KEY);
    await expect(ctx.addKey(KID, BASE_KEY)).rejects.toThrow(/already/);
    expect(ctx.removeKey(KID)).toBe(true);
    await adding;
    expect(ctx.hasKey(KID)).toBe(false);
  });

  it('validates its arguments and options', async () => {
    const ctx = new SFrameContext({ backend: nodeBackend });
    await expect(ctx.addKey(KID, new Uint8Array(15))).rejects.toThrow(/"baseKey" expected Uint8Array of length 16 to 64/);
    await expect(ctx.addKey(-1n, BASE_KEY)).rejects.toThrow(/"kid"/);
    expect(() => new SFrameContext({ suite: 'AES_128_GCM' as never })).toThrow(/"suite" expected one of/);
    expect(() => new SFrameContext({ replayWindowSize: 32 })).toThrow(/"size"/);
    expect(() => new SFrameContext({ maxFrameBytes: -1 })).toThrow(/"maxFrameBytes"/);
    await expect(ctx.decrypt(META, 'frame' as unknown as Uint8Array)).rejects.toThrow(/"frame" expected Uint8Array/);
  });

  it('keeps separate counters and windows per KID', async () => {
    const other = KID + 0x100n;
    const { sender, receiver } = await pair();
    await sender.addKey(other, BASE_KEY);
    await receiver.addKey(other, BASE_KEY);
    const a = await sender.encrypt(KID, META, utf8('a'));
    const b = await sender.encrypt(other, META, utf8('b'));
    expect(decodeSFrameHeader(a).ctr).toBe(0n);
    expect(decodeSFrameHeader(b).ctr).toBe(0n);
    expect((await receiver.decrypt(META, a)).kid).toBe(KID);
    expect((await receiver.decrypt(META, b)).kid).toBe(other);
    // Same counter, same base key, different KID: different key and nonce (section 4.4.2).
    expect(a.subarray(decodeSFrameHeader(a).length)).not.toEqual(b.subarray(decodeSFrameHeader(b).length));
  });
});
