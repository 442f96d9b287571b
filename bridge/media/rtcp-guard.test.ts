/**
 * The SRTCP guards (rtcp-guard.ts): the shape a compound must have, werift's parser reading each
 * packet from its own bytes, and a subscriber as the attacker, sending over its connected receive
 * transport what werift would have parsed with the square of its size, oversized datagrams and a
 * flood. All UDP on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenericNack, PictureLossIndication, RtcpPayloadSpecificFeedback, RtcpPacketConverter, RtcpRrPacket, RtcpTransportLayerFeedback } from 'werift';
import { fixRtcpParser, MAX_RTCP_PACKETS, MAX_SRTCP_DATAGRAM_BYTES, RTCP_DATAGRAMS_PER_SECOND, rtcpShapeProblem } from './rtcp-guard.ts';
import { guardLoopbackUdp, type TestPeer } from './test-peer.ts';
import { mediaKeys, mediaRoom, mediaWorld, member, publishMedia, receiveMedia, sendFrames, waitFor, type MediaWorld } from './test-kit.ts';

const nack = (lost: number[], mediaSourceSsrc = 7) => new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc, lost }) });
const pli = () => new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc: 7 }) });
const compound = (...packets: Array<{ serialize(): Buffer }>) => Buffer.concat(packets.map((p) => p.serialize()));
/** `count` Generic NACK headers whose length field is 0: werift read each to the datagram's end. */
const zeroLengthNacks = (count: number) => Buffer.concat(Array.from({ length: count }, () => Buffer.from([0x81, 0xcd, 0x00, 0x00])));

describe('rtcpShapeProblem', () => {
  it('accepts what a WebRTC stack sends: a report, NACKs and a PLI in one compound', () => {
    expect(rtcpShapeProblem(compound(new RtcpRrPacket({ ssrc: 1, reports: [] }), nack([10, 11, 30]), pli()))).toBeUndefined();
  });

  it('refuses a compound whose packets do not fit it exactly, or that is not one', () => {
    const good = compound(new RtcpRrPacket({ ssrc: 1, reports: [] }), nack([10]));
    expect(rtcpShapeProblem(zeroLengthNacks(3))).toMatch(/type 205 of 4 bytes .* at least 12/);
    expect(rtcpShapeProblem(good.subarray(0, good.length - 4))).toMatch(/runs past the end/);
    expect(rtcpShapeProblem(Buffer.concat([good, Buffer.from([0x80, 0xc9])]))).toMatch(/truncated header/);
    const v1 = Buffer.from(good);
    v1[0] = (v1[0]! & 0x3f) | 0x40;
    expect(rtcpShapeProblem(v1)).toMatch(/version 1/);
    // A receiver report that says it has 3 report blocks and has none.
    const rr = Buffer.from(compound(new RtcpRrPacket({ ssrc: 1, reports: [] })));
    rr[0] = (rr[0]! & 0xe0) | 3;
    expect(rtcpShapeProblem(rr)).toMatch(/type 201 of 8 bytes .* at least 80/);
    expect(rtcpShapeProblem(compound(...Array.from({ length: MAX_RTCP_PACKETS + 1 }, () => pli())))).toMatch(/more than 16 packets/);
    expect(rtcpShapeProblem(compound(...Array.from({ length: MAX_RTCP_PACKETS }, () => pli())))).toBeUndefined();
    expect(rtcpShapeProblem(Buffer.alloc(0))).toBe('no packets');
  });
});

describe("werift's compound parser, fixed", () => {
  it('reads each packet from its own bytes: a NACK before a report keeps its own entries, and zero-length headers cost nothing', () => {
    fixRtcpParser();
    const parsed = RtcpPacketConverter.deSerialize(compound(nack([10, 11]), new RtcpRrPacket({ ssrc: 1, reports: [] }), pli()));
    expect(parsed.map((p) => p.type)).toEqual([205, 201, 206]);
    // Unfixed, the NACK read the report's bytes as entries of its own.
    expect(((parsed[0] as RtcpTransportLayerFeedback).feedback as GenericNack).lost).toEqual([10, 11]);
    // 4,000 headers of length 0 (16 KB): unfixed, about a second and 8 million entries.
    const lost = RtcpPacketConverter.deSerialize(zeroLengthNacks(4000)).flatMap(
      (p) => ((p as RtcpTransportLayerFeedback).feedback as GenericNack | undefined)?.lost ?? [],
    );
    expect(lost).toEqual([]);
  });
});

/** Sends `raw` as an SRTCP datagram over the peer's connected transport, as its own RTCP goes; `forged`: with a broken authentication tag. */
function sendRawRtcp(p: TestPeer, raw: Buffer, forged = false): Promise<void> {
  const dtls = p.pc.dtlsTransports[0] as unknown as { srtcp: { encrypt(b: Buffer): Buffer }; iceTransport: { connection: { send(b: Buffer): Promise<void> } } };
  const datagram = Buffer.from(dtls.srtcp.encrypt(raw));
  if (forged) datagram[datagram.length - 1] = datagram[datagram.length - 1]! ^ 0xff;
  return dtls.iceTransport.connection.send(datagram);
}

describe('a subscriber attacking the unit with SRTCP', () => {
  const udp = guardLoopbackUdp();
  let w: MediaWorld;
  beforeAll(async () => {
    w = await mediaWorld(['alice', 'bob']);
  });
  afterAll(async () => {
    await w.close();
    udp.restore();
    expect(udp.violations).toEqual([]);
  });

  it('has datagrams of the square-cost shape, oversized ones and a flood dropped unread and counted, and real NACKs still answered', async () => {
    const roomId = await mediaRoom(w, 'alice', ['alice', 'bob']);
    const alice = await member(w, 'alice', roomId);
    const bob = await member(w, 'bob', roomId);
    const pub = await publishMedia(w, alice, roomId, 'cam', ['video']);
    const sub = await receiveMedia(w, bob, roomId, 'cam');
    await sendFrames(await mediaKeys(roomId, 'alice'), pub.tracks[0]!.track, 0, 10, 100);
    await waitFor(() => sub.peer.received.length === 10, 'the 10 packets at bob');
    const counters = w.t.bridge.realtime.media.counters;
    // Every NACK entry werift parses in this process, the unit's and the test peers'.
    let parsed = 0;
    const deSerialize = GenericNack.deSerialize.bind(GenericNack);
    GenericNack.deSerialize = (data: Buffer, header: never) => {
      const n = deSerialize(data, header);
      parsed += n.lost.length;
      return n;
    };
    try {
      const refused = counters.rtcpRefused;
      // 350 zero-length headers fit one MTU: werift alone parsed about 61,000 entries from it.
      await sendRawRtcp(sub.peer, zeroLengthNacks(350));
      await sendRawRtcp(sub.peer, compound(...Array.from({ length: 120 }, () => nack([1, 2, 3]))).subarray(0, MAX_SRTCP_DATAGRAM_BYTES + 100));
      await waitFor(() => counters.rtcpRefused === refused + 2, 'both datagrams refused');
      expect(parsed).toBe(0);
      // A flood of well-formed reports: at most a second's worth is read.
      const report = compound(new RtcpRrPacket({ ssrc: 9, reports: [] }));
      const sent = RTCP_DATAGRAMS_PER_SECOND * 2;
      // In batches the socket buffer holds: this process is also the Bridge that reads them.
      for (let i = 0; i < sent; i += 50) {
        await Promise.all(Array.from({ length: 50 }, () => sendRawRtcp(sub.peer, report)));
        await new Promise((r) => setImmediate(r));
      }
      await waitFor(() => counters.rtcpRefused >= refused + 2 + sent - RTCP_DATAGRAMS_PER_SECOND * 1.5, 'the flood refused past the rate');
    } finally {
      GenericNack.deSerialize = deSerialize;
    }
    // The guard passes what a receiver asks for: a NACK for packet 3 is answered once the bucket refills.
    await new Promise((r) => setTimeout(r, 1000));
    // Datagrams that fail to authenticate give their token back: twice the rate of them, forged from
    // the client's address, refuse nothing (they would have used up its rate).
    const refusedBeforeForged = counters.rtcpRefused;
    const report = compound(new RtcpRrPacket({ ssrc: 9, reports: [] }));
    for (let i = 0; i < RTCP_DATAGRAMS_PER_SECOND * 2; i += 50) {
      await Promise.all(Array.from({ length: 50 }, () => sendRawRtcp(sub.peer, report, true)));
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(counters.rtcpRefused).toBe(refusedBeforeForged);
    const { ssrc, seq } = sub.peer.received[3]!;
    await sendRawRtcp(sub.peer, compound(nack([seq], ssrc)));
    await waitFor(() => sub.peer.received.length === 11, 'the resent packet at bob');
    expect(sub.peer.received[10]!.seq).toBe(seq);
  });
});
