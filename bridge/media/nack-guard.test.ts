/**
 * The guards in front of werift's NACK handling (nack-guard.ts), on werift's own objects: a
 * publisher's sequence numbers that jump back and forth cost the NACK generator at most
 * MAX_NACK_GAP entries each, and its timer stops once nothing is lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RTCPeerConnection } from 'werift';
import { guardNackGenerator, MAX_NACK_GAP } from './nack-guard.ts';

interface Generator {
  nackLoop: unknown;
  lostSeqNumbers: number[];
  addPacket(packet: { header: { sequenceNumber: number; ssrc: number } }): void;
  setLost(seq: number, count: number): void;
  close(): void;
}

const pcs: RTCPeerConnection[] = [];
afterEach(async () => {
  for (const pc of pcs.splice(0)) await pc.close();
});

/** A publisher's receiver as the unit has it, with its NACK generator guarded; counts what it marks lost. */
function generator(): { nack: Generator; marked: () => number } {
  const pc = new RTCPeerConnection();
  pcs.push(pc);
  const receiver = pc.addTransceiver('video', { direction: 'recvonly' }).receiver as unknown as { nack: Generator };
  guardNackGenerator(receiver);
  const nack = receiver.nack;
  let marked = 0;
  const setLost = nack.setLost.bind(nack);
  nack.setLost = (seq, count) => {
    marked++;
    setLost(seq, count);
  };
  return { nack, marked: () => marked };
}
const packet = (sequenceNumber: number) => ({ header: { sequenceNumber, ssrc: 1234 } });

describe('the NACK generator guard', () => {
  it(`marks at most ${MAX_NACK_GAP} packets lost for a jump, however far, and none for a late one it did not ask for`, () => {
    const { nack, marked } = generator();
    // 1, 65535, 0, 1, ...: werift marked 65,533 numbers lost at each 65535 after a 1.
    for (let i = 0; i < 50; i++) for (const seq of [1, 65535, 0, 1]) nack.addPacket(packet(seq));
    expect(marked()).toBe(0);
    // Jumps far ahead are new starts; a gap within the bound is a loss, asked for again.
    for (const seq of [100, 30_000, 30_010]) nack.addPacket(packet(seq));
    expect(marked()).toBe(9);
    expect(nack.lostSeqNumbers).toEqual(Array.from({ length: 9 }, (_, i) => 30_001 + i));
    nack.close();
  });

  it('stops its timer once nothing is lost', async () => {
    const { nack } = generator();
    for (const seq of [10, 12]) nack.addPacket(packet(seq));
    expect(nack.nackLoop).toBeDefined();
    // The lost packet arrives again: nothing is lost any more.
    nack.addPacket(packet(11));
    expect(nack.lostSeqNumbers).toEqual([]);
    await new Promise((r) => setTimeout(r, 100));
    expect(nack.nackLoop).toBeUndefined();
    nack.close();
  });
});
