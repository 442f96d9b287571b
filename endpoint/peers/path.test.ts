/**
 * Path selection (docs/protocol/peer-signalling.md, "Path selection"): `send`, `sendFile` and
 * `streamBytes` to exactly one member go direct by default (`auto`) when the member accepts, reach its
 * byte-stream handler exactly as a relayed stream would, and fall back to the relay (same result) when
 * it declines or ICE cannot connect. Real Bridge, real werift, ICE on 127.0.0.1 only.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SealroomRelay } from '../../bridge/realtime/relay.ts';
import { guardLoopbackUdp } from '../../bridge/media/test-peer.ts';
import { pattern, receiveBytes, sha256, startKit, streamFailure, until, type Client, type Kit } from '../data-streams/test-kit.ts';
import type { RemotePeerRequest } from './peers-api.ts';
import type { RemotePeer } from './remote-peer.ts';
import { loopbackPeers, sawEachOther, peerFailure } from './test-kit.ts';

let kit: Kit;
let alice: Client;
let bob: Client;
let carol: Client;
const udp = guardLoopbackUdp();
/** Byte-stream payload bytes the Bridge relayed so far. */
const chunkBytes = () => (kit.t.bridge.realtime.relay as SealroomRelay).counters.chunkBytes;
const stops: Array<() => void> = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  for (const c of [alice, bob, carol]) for (const topic of ['files', 'feed']) c?.streamApi.unregisterByteStreamHandler(topic);
});

beforeAll(async () => {
  kit = await startKit(['alice', 'bob', 'carol']);
  alice = await kit.connect('alice', { streamApi: { peers: loopbackPeers() } });
  bob = await kit.connect('bob', { streamApi: { peers: loopbackPeers() } });
  carol = await kit.connect('carol', { streamApi: { peers: loopbackPeers() } });
});
afterAll(async () => {
  await kit?.close();
  udp.restore();
});

async function joined(members: Client[]): Promise<string> {
  const roomId = await kit.room(members[0]!, members);
  for (const c of members) await c.streamApi.joinStreamRoom(roomId);
  await sawEachOther(roomId, members);
  return roomId;
}

/** Answers every request with `accept` (or declines); returns the requests and accepted peers. */
function answering(client: Client, accept = true): { requests: RemotePeerRequest[]; peers: RemotePeer[] } {
  const seen = { requests: [] as RemotePeerRequest[], peers: [] as RemotePeer[] };
  stops.push(
    client.streamApi.addRemotePeerListener((request) => {
      seen.requests.push(request);
      if (!accept) return request.decline();
      request.accept().then(
        (p) => seen.peers.push(p),
        () => undefined,
      );
    }),
  );
  return seen;
}

describe('path selection (auto by default)', () => {
  it('send, sendFile and streamBytes to one accepting member go direct to its byte-stream handler; the relay carries none of it', async () => {
    const roomId = await joined([alice, bob]);
    const atBob = answering(bob);
    const got = receiveBytes(bob, 'files');
    const before = chunkBytes();
    // The first connection may take seconds on a loaded machine: wait for it rather than use the relay.
    const to = { roomId, topic: 'files', destinationIdentities: ['bob'], directTimeoutMs: 20_000 };

    const file = pattern(2 * 1024 * 1024 + 1, 21);
    const sent = await alice.streamApi.send(file, { ...to, name: 'a.bin', info: { album: 'trip' } });
    expect(sent.delivered.map((d) => d.userId)).toEqual(['bob']);
    await until(() => got.length === 1, 'the sent stream at bob');
    expect(sha256(await got[0]!.done)).toBe(sha256(file));
    expect(got[0]!.reader.info).toMatchObject({ id: sent.id, topic: 'files', name: 'a.bin', size: file.length, attributes: { album: 'trip' } });
    expect(got[0]!.from).toEqual({ identity: 'alice', streamRoomId: roomId });

    const progress: number[] = [];
    const viaFile = await alice.streamApi.sendFile(pattern(700_000, 3), { ...to, name: 'b.pdf', onProgress: (p) => progress.push(p) });
    expect((await viaFile.delivery!).delivered.map((d) => d.userId)).toEqual(['bob']);
    expect(progress.at(-1)).toBe(1);
    await until(() => got.length === 2, 'the file at bob');
    expect(got[1]!.reader.info).toMatchObject({ id: viaFile.id, name: 'b.pdf', mimeType: 'application/pdf' });
    expect(sha256(await got[1]!.done)).toBe(sha256(pattern(700_000, 3)));

    const writer = await alice.streamApi.streamBytes({ ...to, name: 'c.bin', totalSize: 6, receipts: true });
    await writer.write(new Uint8Array([1, 2, 3]));
    await writer.write(new Uint8Array([4, 5, 6]));
    await writer.close();
    expect((await writer.delivery!).delivered.map((d) => d.userId)).toEqual(['bob']);
    await until(() => got.length === 3, 'the written stream at bob');
    expect([...(await got[2]!.done)]).toEqual([1, 2, 3, 4, 5, 6]);

    // One connection served all three; the Bridge relayed no stream byte.
    expect(atBob.requests).toHaveLength(1);
    expect(chunkBytes()).toBe(before);
    const { paths, streams } = alice.streamApi.peerStats();
    expect(paths.direct).toBeGreaterThanOrEqual(3);
    for (const id of [sent.id, viaFile.id, writer.info.id]) expect(streams.find((s) => s.id === id)).toMatchObject({ path: 'direct', userId: 'bob', roomId });
    expect(udp.violations).toEqual([]);
    atBob.peers[0]!.close();
  });

  it("'auto' past its directTimeoutMs: that stream takes the relay, the connection still comes up and carries the next", async () => {
    const roomId = await joined([alice, bob]);
    const atBob = answering(bob);
    const got = receiveBytes(bob, 'files');
    const to = { roomId, topic: 'files', destinationIdentities: ['bob'] };
    const first = await alice.streamApi.send('before the connection', { ...to, directTimeoutMs: 0 });
    await until(() => atBob.peers.some((p) => p.connectionState === 'connected'), 'the connection at bob');
    const second = await alice.streamApi.send('after it', { ...to, directTimeoutMs: 0 });
    await until(() => got.length === 2, 'both streams at bob');
    expect(await Promise.all(got.map((g) => g.done.then((b) => new TextDecoder().decode(b))))).toEqual(['before the connection', 'after it']);
    const streams = alice.streamApi.peerStats().streams;
    expect([first.id, second.id].map((id) => streams.find((s) => s.id === id)?.path)).toEqual(['relay', 'direct']);
    expect(atBob.requests).toHaveLength(1);
    atBob.peers[0]!.close();
  });

  it('a declining member gets the same send over the relay, and is not asked again for a while', async () => {
    const roomId = await joined([alice, carol]);
    const atCarol = answering(carol, false);
    const got = receiveBytes(carol, 'files');
    const before = chunkBytes();
    const file = pattern(300_000, 7);
    const first = await alice.streamApi.send(file, { roomId, topic: 'files', destinationIdentities: ['carol'] });
    const second = await alice.streamApi.sendFile(file, { roomId, topic: 'files', destinationIdentities: ['carol'] });
    expect(first.delivered.map((d) => d.userId)).toEqual(['carol']);
    expect((await second.delivery!).delivered.map((d) => d.userId)).toEqual(['carol']);
    await until(() => got.length === 2, 'both streams at carol');
    for (const g of got) expect(sha256(await g.done)).toBe(sha256(file));
    expect(chunkBytes()).toBeGreaterThanOrEqual(before + 2 * file.length);
    expect(atCarol.requests).toHaveLength(1);
    const streams = alice.streamApi.peerStats().streams;
    for (const id of [first.id, second.id]) expect(streams.find((s) => s.id === id)?.path).toBe('relay');
  });

  it("'auto' falls back to the relay when ICE cannot connect (no candidate allowed), with the same result as direct", async () => {
    const blocked = loopbackPeers({ allowCandidate: () => false });
    const alice2 = await kit.connect('alice', { streamApi: { peers: blocked } });
    const bob2 = await kit.connect('bob', { streamApi: { peers: blocked } });
    try {
      const roomId = await joined([alice2, bob2]);
      const heard = answering(bob2);
      const relayed = receiveBytes(bob2, 'files');
      const file = pattern(300_000, 4);
      const before = chunkBytes();
      const result = await alice2.streamApi.send(file, { roomId, topic: 'files', destinationIdentities: ['bob'], directTimeoutMs: 1500 });
      expect(heard.requests).toHaveLength(1);
      expect(heard.peers).toHaveLength(0);
      expect(result.delivered.map((d) => d.userId)).toEqual(['bob']);
      expect(result.failed).toEqual([]);
      expect(sha256(await relayed[0]!.done)).toBe(sha256(file));
      expect(relayed[0]!.reader.info).toMatchObject({ id: result.id, topic: 'files', size: file.length });
      expect(chunkBytes()).toBeGreaterThan(before + file.length);
      expect(alice2.streamApi.peerStats()).toMatchObject({ paths: { direct: 0, relay: 1 }, streams: [{ id: result.id, path: 'relay' }] });
    } finally {
      await alice2.connection.disconnect();
      await bob2.connection.disconnect();
    }
  });

  it('a member without a handler for the topic: not delivered on either path (direct says `rejected` at once)', async () => {
    const roomId = await joined([alice, bob]);
    answering(bob);
    const to = { roomId, topic: 'feed', destinationIdentities: ['bob'], receiptTimeoutMs: 1000 };
    const direct = await alice.streamApi.send('nobody listens', { ...to, path: 'direct' });
    const relayed = await alice.streamApi.send('nobody listens', { ...to, path: 'relay' });
    expect(direct).toMatchObject({ delivered: [], failed: [{ userId: 'bob', reason: 'rejected' }] });
    // The relay learns the reader's refusal of a stream that already ended only as a missing receipt.
    expect(relayed.delivered).toEqual([]);
    expect(['rejected', 'no_receipt']).toContain(relayed.failed[0]?.reason);
  });

  it('a direct writer: a signed abort reaches the reader with its reason; writing past totalSize fails', async () => {
    const roomId = await joined([alice, bob]);
    answering(bob);
    const got = receiveBytes(bob, 'feed');
    const writer = await alice.streamApi.streamBytes({ roomId, topic: 'feed', name: 'live.bin', destinationIdentities: ['bob'], path: 'direct' });
    await writer.write(pattern(100_000, 1));
    await until(() => got.length === 1, 'the stream at bob');
    await writer.abort('cancelled by the user');
    const error = await streamFailure(got[0]!.done);
    expect(error.reason).toBe('AbnormalEnd');
    expect(error.abortReason).toBe('cancelled by the user');

    const sized = await alice.streamApi.streamBytes({ roomId, topic: 'feed', name: 's.bin', totalSize: 2, destinationIdentities: ['bob'], path: 'direct' });
    expect((await streamFailure(sized.write(new Uint8Array(3)))).reason).toBe('LengthExceeded');
    await sized.abort('done');
  });

  it("'direct' fails with the reason; 'relay' never asks; bad options are refused", async () => {
    const roomId = await joined([alice, bob, carol]);
    const atCarol = answering(carol, false);
    expect((await peerFailure(alice.streamApi.send('x', { roomId, topic: 't', destinationIdentities: ['carol'], path: 'direct' }))).reason).toBe('Declined');
    const two = alice.streamApi.sendFile(new Uint8Array(1), { roomId, topic: 't', destinationIdentities: ['bob', 'carol'], path: 'direct' });
    expect((await peerFailure(two)).reason).toBe('InvalidArgument');
    const bad = alice.streamApi.streamBytes({ roomId, topic: 't', name: 'n', destinationIdentities: ['bob'], directTimeoutMs: -1 });
    expect((await peerFailure(bad)).reason).toBe('InvalidArgument');
    const requests = atCarol.requests.length;
    const got = receiveBytes(carol, 'files');
    await alice.streamApi.send('over the relay', { roomId, topic: 'files', destinationIdentities: ['carol'], path: 'relay' });
    await until(() => got.length === 1, 'the relayed stream');
    expect(atCarol.requests.length).toBe(requests);
    expect(await got[0]!.done.then((b) => new TextDecoder().decode(b))).toBe('over the relay');
  });
});
