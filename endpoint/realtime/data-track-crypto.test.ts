import { describe, expect, it } from 'vitest';
import { equalBytes } from '../../crypto/bytes.ts';
import {
  DATA_TRACK_STAMP_BYTES,
  dataTrackMetadata,
  decodeDataTrackPlaintext,
  encodeDataTrackPlaintext,
  memberIndexOf,
  resolveEpoch,
} from './data-track-crypto.ts';

const m = (userId: string) => ({ userId, publicKey: `pk-${userId}` });

describe('data-track crypto choices', () => {
  it('numbers members as users then managers, each once, in record order', () => {
    const record = { users: [m('alice'), m('bob'), m('carol')], managers: [m('dave'), m('alice'), m('erin')] };
    expect(memberIndexOf(record, 'alice')).toBe(0);
    expect(memberIndexOf(record, 'carol')).toBe(2);
    expect(memberIndexOf(record, 'dave')).toBe(3);
    expect(memberIndexOf(record, 'erin')).toBe(4);
    expect(memberIndexOf(record, 'mallory')).toBeUndefined();
    expect(memberIndexOf({ users: [], managers: [m('zed')] }, 'zed')).toBe(0);
  });

  it('refuses an index past the 16 bits of the KID', () => {
    const users = Array.from({ length: 65_537 }, (_, i) => m(`u${i}`));
    expect(memberIndexOf({ users, managers: [] }, 'u65535')).toBe(65_535);
    expect(memberIndexOf({ users, managers: [] }, 'u65536')).toBeUndefined();
  });

  it('maps the low 8 epoch bits to the nearest epoch around the newest held', () => {
    expect(resolveEpoch(5, 5)).toEqual({ epoch: 5, newer: false });
    expect(resolveEpoch(5, 6)).toEqual({ epoch: 6, newer: true });
    expect(resolveEpoch(5, 4)).toEqual({ epoch: 4, newer: false });
    // Across the 8-bit wrap, both ways.
    expect(resolveEpoch(255, 0)).toEqual({ epoch: 256, newer: true });
    expect(resolveEpoch(256, 255)).toEqual({ epoch: 255, newer: false });
    expect(resolveEpoch(300, 300 & 0xff)).toEqual({ epoch: 300, newer: false });
    // The edges of the window: 127 ahead, 128 behind.
    expect(resolveEpoch(1000, (1000 + 127) & 0xff)).toEqual({ epoch: 1127, newer: true });
    expect(resolveEpoch(1000, (1000 + 128) & 0xff)).toEqual({ epoch: 872, newer: false });
    // Nothing below epoch 1.
    expect(resolveEpoch(1, 0)).toBeUndefined();
    expect(resolveEpoch(1, 200)).toBeUndefined();
  });

  it('binds room, stream and track into distinct metadata', () => {
    const a = dataTrackMetadata('room-aaaaaaaaaaaaaaaa', 's1', 't1');
    expect(equalBytes(a, dataTrackMetadata('room-aaaaaaaaaaaaaaaa', 's1', 't1'))).toBe(true);
    expect(equalBytes(a, dataTrackMetadata('room-aaaaaaaaaaaaaaaa', 's1', 't2'))).toBe(false);
    expect(equalBytes(a, dataTrackMetadata('room-aaaaaaaaaaaaaaaa', 's2', 't1'))).toBe(false);
    // Length prefixes: moving a character between fields changes the bytes.
    expect(equalBytes(dataTrackMetadata('room-aaaaaaaaaaaaaaaa', 's1t', '1'), dataTrackMetadata('room-aaaaaaaaaaaaaaaa', 's1', 't1'))).toBe(false);
  });

  it('stamps every plaintext with time, room version and head hash, byte by byte', () => {
    const headHash = Uint8Array.from({ length: 32 }, (_, i) => i);
    const time = 0x0001_8f00_1234_5678; // 2024, above 2^32
    const bytes = encodeDataTrackPlaintext({ time, version: 7, headHash }, Uint8Array.of(0xaa, 0xbb));
    expect(bytes.length).toBe(DATA_TRACK_STAMP_BYTES + 2);
    expect(DATA_TRACK_STAMP_BYTES).toBe(49);
    expect([...bytes.subarray(0, 17)]).toEqual([1, 0x00, 0x01, 0x8f, 0x00, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 7]);
    expect(bytes.subarray(17, 49)).toEqual(headHash);
    const decoded = decodeDataTrackPlaintext(bytes)!;
    expect(decoded.stamp.time).toBe(time);
    expect(decoded.stamp.version).toBe(7);
    expect(equalBytes(decoded.stamp.headHash, headHash)).toBe(true);
    expect([...decoded.message]).toEqual([0xaa, 0xbb]);
  });

  it('refuses a plaintext without a valid stamp', () => {
    const good = encodeDataTrackPlaintext({ time: 1, version: 1, headHash: new Uint8Array(32) }, new Uint8Array(0));
    expect(decodeDataTrackPlaintext(good)?.message.length).toBe(0);
    expect(decodeDataTrackPlaintext(good.subarray(0, 48))).toBeUndefined(); // short
    const format = good.slice();
    format[0] = 2;
    expect(decodeDataTrackPlaintext(format)).toBeUndefined(); // unknown format
    const version0 = good.slice();
    version0[16] = 0;
    expect(decodeDataTrackPlaintext(version0)).toBeUndefined(); // no version 0
    const huge = good.slice();
    huge[1] = 0xff; // time above 2^53
    expect(decodeDataTrackPlaintext(huge)).toBeUndefined();
  });
});
