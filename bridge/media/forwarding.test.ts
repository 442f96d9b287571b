/**
 * The forwarding unit end to end without a browser: werift peers publish and receive through a real
 * Bridge, signalling over the real WebSocket. Payloads are SFrame ciphertexts (media keys); the unit
 * must deliver them byte for byte. All UDP stays on 127.0.0.1 (checked for every datagram).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rest } from '../../test/harness.ts';
import { successor, verifiedHead } from '../../test/rooms.ts';
import { guardLoopbackUdp } from './test-peer.ts';
import { mediaKeys, mediaRoom, mediaWorld, member, publishMedia, receiveMedia, sendFrames, unitStats, waitFor, type MediaWorld } from './test-kit.ts';

let w: MediaWorld;
const udp = guardLoopbackUdp();

beforeAll(async () => {
  w = await mediaWorld(['alice', 'bob', 'carol', 'dave']);
});
afterAll(async () => {
  await w.close();
  udp.restore();
  expect(udp.violations).toEqual([]);
});

describe('media forwarding unit', () => {
  it('forwards a publisher\'s SFrame-protected RTP to a subscriber byte for byte', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video']);
    const sub = await receiveMedia(w, bob, roomId, 'cam');
    expect(sub.offer.tracks).toEqual([
      { mid: expect.any(String), trackNo: pub.tracks[0]!.trackNo, kind: 'video', streamId: 'cam', trackId: 'video0', userId: 'alice' },
    ]);

    const keys = await mediaKeys(roomId, 'alice');
    const sent = await sendFrames(keys, pub.tracks[0]!.track, 1, 50);
    await waitFor(() => sub.peer.received.length >= 50, '50 packets at bob');
    expect(sub.peer.payloads()).toEqual(sent);
    // bob's copy decrypts: the unit changed nothing it authenticates.
    const first = await keys.receiver.decrypt(new Uint8Array(0), sub.peer.payloads()[0]!);
    expect(new DataView(first.plaintext.buffer, first.plaintext.byteOffset).getUint32(0)).toBe(1);

    const track = unitStats(w).tracks.find((t) => t.trackNo === pub.tracks[0]!.trackNo)!;
    expect(track).toMatchObject({ kind: 'video', subscribers: 1, packetsIn: 50, packetsOut: 50, packetsOverBitrate: 0 });
    expect(udp.sends).toBeGreaterThan(100);
  });
});
