/**
 * The media frame layout and SFrame per frame (frame-layout.ts, frame-cryptor.ts), with real crypto and
 * no browser: the same code runs in the frame worker.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeSFrameHeader, parseKid } from '../../crypto/sframe/index.ts';
import type { LocalMediaTrack, RemoteMediaTrack } from './e2ee.ts';
import { KID_FAILURE_REFILL_MS, KID_FAILURES_BURST } from '../realtime/kid-epoch.ts';
import { HEAD_REPORT_MS, MAX_KIDS_PER_TRACK, MEDIA_FRAME_MAX_AGE_MS, MEDIA_STAMP_BYTES, MediaFrameCryptor, type RoomMediaKeys } from './frame-cryptor.ts';
import { clearByteCount, frameCodec, mediaFrameMetadata, OPUS_CLEAR_BYTES, VP8_DELTA_FRAME_CLEAR_BYTES, VP8_KEY_FRAME_CLEAR_BYTES } from './frame-layout.ts';

const ROOM = 'room-1';
const VIDEO: LocalMediaTrack = { roomId: ROOM, streamId: 's1', trackId: 'v1', kind: 'video' };
const AUDIO: LocalMediaTrack = { roomId: ROOM, streamId: 's1', trackId: 'a1', kind: 'audio' };
const remote = (track: LocalMediaTrack, userId = 'alice'): RemoteMediaTrack => ({ ...track, userId });

const epochKeys = new Map<number, Uint8Array>([1, 2, 3].map((e) => [e, new Uint8Array(randomBytes(32))]));
/** The room head every sender here stamps: version 1, a made-up hash prefix. */
const HEAD = { version: 1, hash: new Uint8Array(12).fill(7) };
function keys(userId: string, epochs: number[], memberIndex = 0, head = HEAD): RoomMediaKeys {
  return { userId, memberIndex, epochs: epochs.map((epoch) => ({ epoch, key: epochKeys.get(epoch)! })), head };
}

/** A VP8 key frame: frame tag with P = 0, start code, 640x480; then `body` bytes. */
function vp8Key(body = 200): Uint8Array {
  const frame = new Uint8Array(VP8_KEY_FRAME_CLEAR_BYTES + body);
  frame.set([0x70, 0x6b, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
  frame.set(randomBytes(body), VP8_KEY_FRAME_CLEAR_BYTES);
  return frame;
}
function vp8Delta(body = 100): Uint8Array {
  const frame = new Uint8Array(randomBytes(VP8_DELTA_FRAME_CLEAR_BYTES + body));
  frame[0] = frame[0]! | 1;
  return frame;
}
const opus = (body = 40) => new Uint8Array(randomBytes(OPUS_CLEAR_BYTES + body));

/** alice sending and bob's receiver of her audio, both on one clock the test moves (`clock.now`). */
function clockedPair() {
  const clock = { now: 1_700_000_000_000 };
  const alice = new MediaFrameCryptor({ now: () => clock.now });
  alice.setRoomKeys(ROOM, keys('alice', [1]));
  const bob = new MediaFrameCryptor({ now: () => clock.now });
  bob.setRoomKeys(ROOM, keys('bob', [1], 1));
  return { clock, alice, decryptor: bob.receiver(remote(AUDIO)) };
}

function pair(): { alice: MediaFrameCryptor; bob: MediaFrameCryptor } {
  const alice = new MediaFrameCryptor();
  const bob = new MediaFrameCryptor();
  alice.setRoomKeys(ROOM, keys('alice', [1]));
  bob.setRoomKeys(ROOM, keys('bob', [1], 1));
  return { alice, bob };
}

async function seal(cryptor: MediaFrameCryptor, track: LocalMediaTrack, data: Uint8Array): Promise<Uint8Array> {
  const out = await cryptor.encrypt(track, { kind: track.kind, data });
  if (!out.ok) throw new Error(`not encrypted: ${out.reason}`);
  return out.data;
}

describe('media frame layout', () => {
  it('leaves the VP8 frame header and the Opus TOC in clear, read from the frame itself', () => {
    expect(clearByteCount('video/vp8', vp8Key())).toBe(10);
    expect(clearByteCount('video/vp8', vp8Delta())).toBe(3);
    expect(clearByteCount('audio/opus', opus())).toBe(1);
    expect(clearByteCount('video/vp8', vp8Key().subarray(0, 9))).toBeUndefined();
    expect(clearByteCount('video/vp8', new Uint8Array(0))).toBeUndefined();
    expect(clearByteCount('audio/opus', new Uint8Array(0))).toBeUndefined();
  });

  it('protects VP8 and Opus only: other codecs, or a codec of the other kind, are refused', () => {
    expect(frameCodec('video', 'video/VP8')).toBe('video/vp8');
    expect(frameCodec('audio', 'audio/opus')).toBe('audio/opus');
    expect(frameCodec('video', undefined)).toBe('video/vp8');
    for (const mime of ['video/H264', 'video/VP9', 'video/AV1']) expect(frameCodec('video', mime)).toBeUndefined();
    expect(frameCodec('audio', 'video/VP8')).toBeUndefined();
    expect(frameCodec('video', 'audio/opus')).toBeUndefined();
  });

  it('binds tag, room, stream, track, codec and clear bytes, each length-prefixed', () => {
    const a = mediaFrameMetadata(VIDEO, 'video/vp8', new Uint8Array([1, 2, 3]));
    expect(mediaFrameMetadata({ ...VIDEO, streamId: 's1v', trackId: '1' }, 'video/vp8', new Uint8Array([1, 2, 3]))).not.toEqual(a);
    expect(mediaFrameMetadata(VIDEO, 'video/vp8', new Uint8Array([1, 2, 4]))).not.toEqual(a);
    expect(new TextDecoder().decode(a.subarray(4, 4 + 23))).toBe('sealroom/v1/media-frame');
  });
});

describe('media frame encryption', () => {
  it('round-trips VP8 key and delta frames and Opus frames; the clear bytes are unchanged, the rest is not', async () => {
    const { alice, bob } = pair();
    const videoIn = bob.receiver(remote(VIDEO));
    const audioIn = bob.receiver(remote(AUDIO));
    for (const [track, frame, clear, decryptor] of [
      [VIDEO, vp8Key(), 10, videoIn],
      [VIDEO, vp8Delta(), 3, videoIn],
      [AUDIO, opus(), 1, audioIn],
    ] as const) {
      const sealed = await seal(alice, track, frame);
      expect(sealed.subarray(0, clear)).toEqual(frame.subarray(0, clear));
      expect(sealed.subarray(clear, frame.length)).not.toEqual(frame.subarray(clear));
      // SFrame header (1 + 7 KID bytes for member index 0, + 1 counter byte) and the 16-byte tag.
      expect(sealed.length - frame.length).toBeGreaterThanOrEqual(16 + 2);
      const out = await decryptor.decrypt({ kind: track.kind, data: sealed });
      expect(out.ok && out.data).toEqual(frame);
    }
    expect(alice.counters.framesEncrypted).toBe(3);
    expect(bob.counters.framesDecrypted).toBe(3);
  });

  it('drops a frame with a flipped clear byte, a flipped ciphertext byte or a truncated tag (decrypt)', async () => {
    const { alice, bob } = pair();
    const decryptor = bob.receiver(remote(VIDEO));
    const key = await seal(alice, VIDEO, vp8Key());
    for (const at of [1, 5, 9, key.length - 20, key.length - 1]) {
      const bad = key.slice();
      bad[at] = bad[at]! ^ 0x01;
      expect(await decryptor.decrypt({ kind: 'video', data: bad })).toEqual({ ok: false, reason: 'decrypt' });
    }
    expect(await decryptor.decrypt({ kind: 'video', data: key.subarray(0, key.length - 1) })).toEqual({ ok: false, reason: 'decrypt' });
    expect(bob.counters.dropped.decrypt).toBe(6);
    // The untouched frame still decrypts: none of the forgeries moved its replay window.
    expect((await decryptor.decrypt({ kind: 'video', data: key })).ok).toBe(true);
    // The key-frame flag is a clear byte too: flipping it changes the clear length, and the frame fails.
    const delta = await seal(alice, VIDEO, vp8Delta());
    const flipped = delta.slice();
    flipped[0] = flipped[0]! & 0xfe;
    expect((await decryptor.decrypt({ kind: 'video', data: flipped })).ok).toBe(false);
  });

  it('refuses a replayed frame', async () => {
    const { alice, bob } = pair();
    const decryptor = bob.receiver(remote(AUDIO));
    const frame = await seal(alice, AUDIO, opus());
    expect((await decryptor.decrypt({ kind: 'audio', data: frame })).ok).toBe(true);
    expect(await decryptor.decrypt({ kind: 'audio', data: frame })).toEqual({ ok: false, reason: 'replay' });
    expect(bob.counters.dropped.replay).toBe(1);
  });

  it('a new decryptor of the same track takes no frame of a session another took: a Bridge that re-offers the track cannot rewind it', async () => {
    const { alice, bob } = pair();
    const recorded = [];
    for (let i = 0; i < 5; i++) recorded.push(await seal(alice, VIDEO, i === 0 ? vp8Key() : vp8Delta()));
    const first = bob.receiver(remote(VIDEO));
    for (const frame of recorded) expect((await first.decrypt({ kind: 'video', data: frame })).ok).toBe(true);
    // The Bridge offers the track again (a new mid, a new trackNo): a new decryptor, empty replay windows.
    const second = bob.receiver(remote(VIDEO));
    for (const frame of recorded) expect(await second.decrypt({ kind: 'video', data: frame })).toEqual({ ok: false, reason: 'replay' });
    // The live session goes on there; then the first copy takes nothing newer than what the second took.
    await new Promise((r) => setTimeout(r, 2));
    const live = await seal(alice, VIDEO, vp8Delta());
    expect((await second.decrypt({ kind: 'video', data: live })).ok).toBe(true);
    expect(await first.decrypt({ kind: 'video', data: live })).toEqual({ ok: false, reason: 'replay' });
    // Another track of the same session, and a new session of the track, are their own.
    expect((await bob.receiver(remote(AUDIO)).decrypt({ kind: 'audio', data: await seal(alice, AUDIO, opus()) })).ok).toBe(true);
    const rejoined = new MediaFrameCryptor();
    rejoined.setRoomKeys(ROOM, keys('alice', [1]));
    expect((await bob.receiver(remote(VIDEO)).decrypt({ kind: 'video', data: await seal(rejoined, VIDEO, vp8Key()) })).ok).toBe(true);
  });

  it("carries the sender's room head in every frame; a receiver reports it when it changes, and once a second", async () => {
    const { clock, alice, decryptor } = clockedPair();
    const open = async () =>
      (await decryptor.decrypt({ kind: 'audio', data: await seal(alice, AUDIO, opus()) })) as { ok: true; head?: { version: number; hash: Uint8Array } };
    expect((await open()).head).toEqual({ version: 1, hash: HEAD.hash });
    expect((await open()).head).toBeUndefined();
    // alice's client verifies version 2: her next frame names it, and bob reports it at once.
    const v2 = { version: 2, hash: new Uint8Array(12).fill(9) };
    alice.setRoomKeys(ROOM, keys('alice', [1], 0, v2));
    expect((await open()).head).toEqual(v2);
    expect((await open()).head).toBeUndefined();
    clock.now += HEAD_REPORT_MS;
    expect((await open()).head).toEqual(v2);
    // A client with no head sends nothing.
    const headless = new MediaFrameCryptor();
    headless.setRoomKeys(ROOM, { ...keys('alice', [1]), head: undefined });
    expect(await headless.encrypt(AUDIO, { kind: 'audio', data: opus() })).toEqual({ ok: false, reason: 'noKey' });
  });

  it('drops frames under the wrong publisher, moved to another track, or with another room key', async () => {
    const { alice, bob } = pair();
    const frame = await seal(alice, VIDEO, vp8Key());
    // The Bridge names carol as the publisher: carol's base key, nothing authenticates.
    expect(await bob.receiver(remote(VIDEO, 'carol')).decrypt({ kind: 'video', data: frame })).toEqual({ ok: false, reason: 'decrypt' });
    expect(await bob.receiver(remote({ ...VIDEO, trackId: 'v2' })).decrypt({ kind: 'video', data: frame })).toEqual({ ok: false, reason: 'decrypt' });
    expect(await bob.receiver(remote({ ...VIDEO, streamId: 's2' })).decrypt({ kind: 'video', data: frame })).toEqual({ ok: false, reason: 'decrypt' });
    const eve = new MediaFrameCryptor();
    eve.setRoomKeys(ROOM, { userId: 'eve', memberIndex: 0, epochs: [{ epoch: 1, key: new Uint8Array(randomBytes(32)) }], head: HEAD });
    expect(await eve.receiver(remote(VIDEO)).decrypt({ kind: 'video', data: frame })).toEqual({ ok: false, reason: 'decrypt' });
    expect(bob.counters.dropped.decrypt).toBe(3);
    expect(bob.counters.framesDecrypted).toBe(0);
  });

  it('counts frames without a key: no keys for the room, an epoch not held, a newer epoch (named for a fetch)', async () => {
    const { alice } = pair();
    const frame = await seal(alice, VIDEO, vp8Key());
    const none = new MediaFrameCryptor();
    expect(await none.receiver(remote(VIDEO)).decrypt({ kind: 'video', data: frame })).toEqual({ ok: false, reason: 'noKey' });
    expect(none.counters.dropped.noKey).toBe(1);

    const ahead = new MediaFrameCryptor();
    ahead.setRoomKeys(ROOM, keys('alice', [3]));
    const later = await seal(ahead, VIDEO, vp8Key());
    const behind = new MediaFrameCryptor();
    behind.setRoomKeys(ROOM, keys('bob', [1], 1));
    expect(await behind.receiver(remote(VIDEO)).decrypt({ kind: 'video', data: later })).toEqual({ ok: false, reason: 'noKey', newerEpoch: 3 });
  });

  it('a sender without a key, outside the room or with another codec sends nothing', async () => {
    const cryptor = new MediaFrameCryptor();
    expect(await cryptor.encrypt(VIDEO, { kind: 'video', data: vp8Key() })).toEqual({ ok: false, reason: 'noKey' });
    cryptor.setRoomKeys(ROOM, { ...keys('alice', [1]), memberIndex: undefined });
    expect(await cryptor.encrypt(VIDEO, { kind: 'video', data: vp8Key() })).toEqual({ ok: false, reason: 'noKey' });
    cryptor.setRoomKeys(ROOM, keys('alice', [1]));
    expect(await cryptor.encrypt(VIDEO, { kind: 'video', mimeType: 'video/H264', data: vp8Key() })).toEqual({ ok: false, reason: 'codec' });
    expect(await cryptor.encrypt(VIDEO, { kind: 'video', data: new Uint8Array(2) })).toEqual({ ok: false, reason: 'malformed' });
    expect(cryptor.counters.sendRefused).toEqual({ noKey: 2, codec: 1, malformed: 0 + 1 });
    expect(cryptor.counters.framesEncrypted).toBe(0);
  });

  it('drops malformed frames: too short for the clear bytes, or no SFrame header', async () => {
    const { bob } = pair();
    const decryptor = bob.receiver(remote(VIDEO));
    expect(await decryptor.decrypt({ kind: 'video', data: new Uint8Array([0x00, 1, 2]) })).toEqual({ ok: false, reason: 'malformed' });
    expect(await decryptor.decrypt({ kind: 'video', data: new Uint8Array([0x01, 1, 2]) })).toEqual({ ok: false, reason: 'malformed' });
    expect(await decryptor.decrypt({ kind: 'video', mimeType: 'video/VP9', data: vp8Key() })).toEqual({ ok: false, reason: 'malformed' });
    expect(bob.counters.dropped.malformed).toBe(3);
  });

  it('rotation: the sender switches at once to a new KID; receivers take old frames in grace, then only the new epoch', async () => {
    const { alice, bob } = pair();
    const decryptor = bob.receiver(remote(VIDEO));
    const old1 = await seal(alice, VIDEO, vp8Key());
    const old2 = await seal(alice, VIDEO, vp8Delta());
    const oldKid = parseKid(decodeSFrameHeader(old1.subarray(10)).kid);
    expect((await decryptor.decrypt({ kind: 'video', data: old1 })).ok).toBe(true);

    expect(alice.setRoomKeys(ROOM, keys('alice', [2, 1]))).toBe(true);
    expect(alice.setRoomKeys(ROOM, keys('alice', [2, 1]))).toBe(false);
    bob.setRoomKeys(ROOM, keys('bob', [2, 1], 1));
    const fresh = await seal(alice, VIDEO, vp8Key());
    const freshKid = parseKid(decodeSFrameHeader(fresh.subarray(10)).kid);
    expect(freshKid.epochLow).toBe(2);
    expect(freshKid.sessionId).not.toBe(oldKid.sessionId);
    // The old epoch's frame still in flight decrypts (grace), then the new epoch's.
    expect(await decryptor.decrypt({ kind: 'video', data: old2 })).toMatchObject({ ok: true, epoch: 1 });
    expect(await decryptor.decrypt({ kind: 'video', data: fresh })).toMatchObject({ ok: true, epoch: 2 });
    // Once the publisher is on epoch 2, its epoch-1 session is closed.
    const late = await (async () => {
      const stale = new MediaFrameCryptor();
      stale.setRoomKeys(ROOM, keys('alice', [1]));
      return seal(stale, VIDEO, vp8Delta());
    })();
    expect(await decryptor.decrypt({ kind: 'video', data: late })).toEqual({ ok: false, reason: 'noKey' });
    // The grace period ends: the ring keeps only epoch 2.
    const other = bob.receiver(remote(AUDIO));
    const oldAudio = await (async () => {
      const stale = new MediaFrameCryptor();
      stale.setRoomKeys(ROOM, keys('alice', [1]));
      return seal(stale, AUDIO, opus());
    })();
    bob.setRoomKeys(ROOM, keys('bob', [2], 1));
    expect(await other.decrypt({ kind: 'audio', data: oldAudio })).toEqual({ ok: false, reason: 'noKey' });
    expect(bob.counters.framesDecrypted).toBe(3);
  });

  it('refuses frames stamped outside maxAgeMs: a recording the Bridge plays to a receiver that never saw the session', async () => {
    let clock = 1_700_000_000_000;
    const alice = new MediaFrameCryptor({ now: () => clock });
    alice.setRoomKeys(ROOM, keys('alice', [1]));
    const recorded = await seal(alice, VIDEO, vp8Key());
    const nearly = await seal(alice, VIDEO, vp8Delta());
    clock += MEDIA_FRAME_MAX_AGE_MS + 1;
    const bob = new MediaFrameCryptor({ now: () => clock });
    bob.setRoomKeys(ROOM, keys('bob', [1], 1));
    const late = bob.receiver(remote(VIDEO));
    expect(await late.decrypt({ kind: 'video', data: recorded })).toEqual({ ok: false, reason: 'replay' });
    // Nothing was kept for the stale frame's KID: the session's fresh frames still decrypt.
    expect(await late.decrypt({ kind: 'video', data: await seal(alice, VIDEO, vp8Key()) })).toMatchObject({ ok: true, epoch: 1 });
    expect(await late.decrypt({ kind: 'video', data: nearly })).toEqual({ ok: false, reason: 'replay' });
    // A sender whose clock runs far ahead is refused too; one within the bound is not.
    const ahead = new MediaFrameCryptor({ now: () => clock + MEDIA_FRAME_MAX_AGE_MS + 1 });
    ahead.setRoomKeys(ROOM, keys('alice', [1]));
    expect(await bob.receiver(remote(AUDIO)).decrypt({ kind: 'audio', data: await seal(ahead, AUDIO, opus()) })).toEqual({ ok: false, reason: 'replay' });
    const skewed = new MediaFrameCryptor({ now: () => clock + MEDIA_FRAME_MAX_AGE_MS - 1_000 });
    skewed.setRoomKeys(ROOM, keys('alice', [1]));
    expect((await bob.receiver(remote(AUDIO)).decrypt({ kind: 'audio', data: await seal(skewed, AUDIO, opus()) })).ok).toBe(true);
  });

  it('stamps the sender time inside the ciphertext, never decreasing within a session', async () => {
    let clock = 1_700_000_000_000;
    const alice = new MediaFrameCryptor({ now: () => clock });
    alice.setRoomKeys(ROOM, keys('alice', [1]));
    const frame = opus();
    const first = await seal(alice, AUDIO, frame);
    // The clear TOC, the SFrame header, the stamp and the rest of the frame encrypted, the 16-byte tag.
    expect(first.length).toBe(frame.length + decodeSFrameHeader(first.subarray(1)).length + MEDIA_STAMP_BYTES + 16);
    clock -= 5_000; // the clock steps back: the stamp does not
    const bob = new MediaFrameCryptor({ now: () => clock });
    bob.setRoomKeys(ROOM, keys('bob', [1], 1));
    const decryptor = bob.receiver(remote(AUDIO));
    expect((await decryptor.decrypt({ kind: 'audio', data: first })).ok).toBe(true);
    expect((await decryptor.decrypt({ kind: 'audio', data: await seal(alice, AUDIO, opus()) })).ok).toBe(true);
  });

  it('never takes a session first seen under a superseded epoch', async () => {
    const removed = new MediaFrameCryptor();
    removed.setRoomKeys(ROOM, keys('alice', [1]));
    const frame = await seal(removed, VIDEO, vp8Key());
    const bob = new MediaFrameCryptor();
    bob.setRoomKeys(ROOM, keys('bob', [2, 1], 1));
    expect(await bob.receiver(remote(VIDEO)).decrypt({ kind: 'video', data: frame })).toEqual({ ok: false, reason: 'noKey' });
  });

  it('keeps nothing for KIDs that never authenticate: forged sessions neither push the real one out nor reset its replay window', async () => {
    const { alice, bob } = pair();
    const decryptor = bob.receiver(remote(AUDIO));
    const real = await seal(alice, AUDIO, opus());
    expect((await decryptor.decrypt({ kind: 'audio', data: real })).ok).toBe(true);
    for (let i = 0; i < MAX_KIDS_PER_TRACK * 4; i++) {
      // Sessions under KIDs the real sender never used (random session ids), sealed with a key that is not the room's.
      const eve = new MediaFrameCryptor();
      eve.setRoomKeys(ROOM, { userId: 'alice', memberIndex: 0, epochs: [{ epoch: 1, key: new Uint8Array(randomBytes(32)) }], head: HEAD });
      expect(await decryptor.decrypt({ kind: 'audio', data: await seal(eve, AUDIO, opus()) })).toEqual({ ok: false, reason: 'decrypt' });
    }
    expect(await decryptor.decrypt({ kind: 'audio', data: real })).toEqual({ ok: false, reason: 'replay' });
    expect((await decryptor.decrypt({ kind: 'audio', data: await seal(alice, AUDIO, opus()) })).ok).toBe(true);
  });

  it(`new KIDs that never authenticate cost a key derivation ${KID_FAILURES_BURST} times, then one every ${KID_FAILURE_REFILL_MS} ms; the real session is untouched`, async () => {
    const { clock, alice, decryptor } = clockedPair();
    expect((await decryptor.decrypt({ kind: 'audio', data: await seal(alice, AUDIO, opus()) })).ok).toBe(true);
    const forged = async () => {
      const eve = new MediaFrameCryptor({ now: () => clock.now });
      eve.setRoomKeys(ROOM, { userId: 'alice', memberIndex: 0, epochs: [{ epoch: 1, key: new Uint8Array(randomBytes(32)) }], head: HEAD });
      return (await decryptor.decrypt({ kind: 'audio', data: await seal(eve, AUDIO, opus()) })) as { reason: string };
    };
    const reasons: string[] = [];
    for (let i = 0; i < 40; i++) reasons.push((await forged()).reason);
    expect(reasons.filter((r) => r === 'decrypt')).toHaveLength(KID_FAILURES_BURST);
    expect(reasons.filter((r) => r === 'noKey')).toHaveLength(40 - KID_FAILURES_BURST);
    clock.now += 1000;
    const later = [(await forged()).reason, (await forged()).reason, (await forged()).reason];
    expect(later).toEqual(['decrypt', 'decrypt', 'noKey']);
    // The session that authenticated goes on.
    expect((await decryptor.decrypt({ kind: 'audio', data: await seal(alice, AUDIO, opus()) })).ok).toBe(true);
  });
});
