/**
 * Direct peer connections between two Node Endpoints (werift), all on 127.0.0.1: signalling through a
 * real Bridge, a direct data channel, sealed streams both ways, and removal closing the peer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SealroomRelay } from '../../bridge/realtime/relay.ts';
import { guardLoopbackUdp } from '../../bridge/media/test-peer.ts';
import { pattern, sha256, startKit, until, type Client, type Kit } from '../data-streams/test-kit.ts';
import { pub } from '../realtime/test-kit.ts';
import { PeerError } from './errors.ts';
import type { IncomingDirectStream } from './direct-stream.ts';
import { DIRECT_CHANNELS_MAX, type RemotePeer } from './remote-peer.ts';
import type { RemotePeerRequest } from './peers-api.ts';
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
  const roomId = await kit.room(alice, members);
  for (const c of members) await c.streamApi.joinStreamRoom(roomId);
  await sawEachOther(roomId, members);
  return roomId;
}

/** bob accepts every request; returns the peers he accepted and the requests he saw. */
function accepting(client: Client): { peers: RemotePeer[]; requests: RemotePeerRequest[] } {
  const seen = { peers: [] as RemotePeer[], requests: [] as RemotePeerRequest[] };
  stops.push(
    client.streamApi.addRemotePeerListener((request) => {
      seen.requests.push(request);
      request.accept().then(
        (p) => seen.peers.push(p),
        () => undefined,
      );
    }),
  );
  return seen;
}

function streams(peer: RemotePeer): IncomingDirectStream[] {
  const got: IncomingDirectStream[] = [];
  peer.on('stream', (s) => got.push(s));
  return got;
}

describe('direct peers (werift)', () => {
  it('connects, sends a file and text both ways directly; the relay carries no stream bytes', async () => {
    const roomId = await joined([alice, bob]);
    const atBob = accepting(bob);
    const before = chunkBytes();

    const peer = await alice.streamApi.connectPeer(roomId, 'bob', { metadata: { why: 'photos' } });
    expect(peer.connectionState).toBe('connected');
    expect(peer.id).toBe('bob');
    await until(() => atBob.peers.length === 1, 'bob accepted');
    const bobsPeer = atBob.peers[0]!;
    expect(atBob.requests[0]!.metadata).toEqual({ why: 'photos' });
    expect(bobsPeer.id).toBe('alice');
    expect(bobsPeer.metadata).toEqual({ why: 'photos' });

    const inAtBob = streams(bobsPeer);
    const inAtAlice = streams(peer);
    await peer.open('files');
    const file = pattern(50_000_000 + 17, 9); // 50 MB, as the issue asks: werift's SCTP moves it in seconds
    const transfer = peer.send(file, { label: 'files', name: 'photo.bin', info: { album: 'trip' } });
    await until(() => inAtBob.length === 1, 'the file stream at bob');
    const reading = inAtBob[0]!.bytes();
    const steps: number[] = [];
    for await (const step of transfer) steps.push(step.current);
    const result = await transfer;
    const got = await reading;
    // bob signed a delivery receipt over what he read; alice checked it against his key.
    expect(result.delivered.map((d) => d.userId)).toEqual(['bob']);
    expect(result.failed).toEqual([]);
    expect(sha256(got)).toBe(sha256(file));
    expect(inAtBob[0]!.label).toBe('files');
    expect(inAtBob[0]!.header).toMatchObject({ kind: 'bytes', name: 'photo.bin', attributes: { album: 'trip' }, sender: 'alice' });
    expect(steps.at(-1)).toBe(file.length);
    for (let i = 1; i < steps.length; i++) expect(steps[i]!).toBeGreaterThanOrEqual(steps[i - 1]!);

    expect((await bobsPeer.send('no receipt asked', { receipts: false })).delivered).toEqual([]);
    await until(() => inAtAlice.length === 1, 'the first text at alice');
    expect(await inAtAlice.shift()!.text()).toBe('no receipt asked');
    // With receipts, a send settles once the reader has read it: read while it is in flight.
    const replying = bobsPeer.send('hello alice');
    await until(() => inAtAlice.length === 1, 'text at alice');
    expect(await inAtAlice[0]!.text()).toBe('hello alice');
    expect((await replying).delivered.map((d) => d.userId)).toEqual(['alice']);
    const greeting = peer.send('hello bob');
    await until(() => inAtBob.length === 2, 'text at bob');
    expect(await inAtBob[1]!.text()).toBe('hello bob');
    expect((await greeting).delivered.map((d) => d.userId)).toEqual(['bob']);

    expect(chunkBytes()).toBe(before);
    expect(peer.toJSON()).toMatchObject({ id: 'bob', room: roomId, connectionState: 'connected' });
    expect(peer.channels).toEqual(expect.arrayContaining(['default', 'files']));

    peer.close();
    await until(() => bobsPeer.connectionState === 'closed', 'bob sees the close');
    expect(bobsPeer.error?.reason).toBe('Closed');
    expect(udp.violations).toEqual([]);
  }, 180_000);

  it('a slow reader holds the sender at one credit window', async () => {
    const roomId = await joined([alice, bob]);
    const atBob = accepting(bob);
    const peer = await alice.streamApi.connectPeer(roomId, 'bob');
    await until(() => atBob.peers.length === 1, 'bob accepted');
    const inAtBob = streams(atBob.peers[0]!);
    const transfer = peer.send(pattern(8 * 1024 * 1024, 2));
    let current = 0;
    const watching = (async () => {
      for await (const step of transfer) current = step.current;
    })();
    await until(() => inAtBob.length === 1, 'the stream at bob');
    await new Promise((r) => setTimeout(r, 300));
    // Nobody read at bob yet: alice is at most one window (1 MiB) ahead.
    expect(current).toBeLessThanOrEqual(1024 * 1024);
    const got = await inAtBob[0]!.bytes();
    await watching;
    expect(got.length).toBe(8 * 1024 * 1024);
    peer.close();
  });

  it(`opens at most ${DIRECT_CHANNELS_MAX} channels on one connection (Overloaded past it)`, async () => {
    const roomId = await joined([alice, bob]);
    const atBob = accepting(bob);
    const peer = await alice.streamApi.connectPeer(roomId, 'bob');
    await until(() => atBob.peers.length === 1, 'bob accepted');
    // The default channel is one of them.
    for (let i = 1; i < DIRECT_CHANNELS_MAX; i++) await peer.open(`c${i}`);
    expect((await peerFailure(peer.open('one-more'))).reason).toBe('Overloaded');
    await until(() => atBob.peers[0]!.channels.length === DIRECT_CHANNELS_MAX, "bob's channels");
    peer.close();
  });

  it('declines without a listener; refuses a non-member', async () => {
    const roomId = await joined([alice, carol]);
    // carol registered no listener: declined.
    const declined = await peerFailure(alice.streamApi.connectPeer(roomId, 'carol'));
    expect(declined.reason).toBe('Declined');
    // bob is not in this room.
    const notMember = await peerFailure(alice.streamApi.connectPeer(roomId, 'bob'));
    expect(notMember.reason).toBe('NotMember');
  });

  it("removing the peer's user closes the connection and errors open readers", async () => {
    const roomId = await joined([alice, bob]);
    const atBob = accepting(bob);
    const peer = await alice.streamApi.connectPeer(roomId, 'bob');
    await until(() => atBob.peers.length === 1, 'bob accepted');
    const bobsPeer = atBob.peers[0]!;
    const inAtBob = streams(bobsPeer);
    const transfer = peer.send(pattern(4 * 1024 * 1024, 5));
    transfer.then(
      () => undefined,
      () => undefined,
    );
    await until(() => inAtBob.length === 1, 'the stream at bob');
    const reading = inAtBob[0]!.bytes();
    reading.catch(() => undefined);

    const r = await alice.streamApi.getStreamRoom(roomId);
    await alice.streamApi.updateStreamRoom(roomId, [pub(alice.user)], r.managers, r.publicMeta, r.privateMeta, r.version, false, true);
    await until(() => peer.error !== undefined && bobsPeer.error !== undefined, 'both sides close the peer');
    // Whichever side saw the removal first closed with Removed and told the other over the direct
    // path (Closed) before its own verified update arrived, or both saw it themselves.
    const reasons = [peer.error!.reason, bobsPeer.error!.reason];
    expect(reasons).toContain('Removed');
    for (const reason of reasons) expect(['Removed', 'Closed']).toContain(reason);
    expect(peer.connectionState).not.toBe('connected');
    const readError = await reading.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(readError).toBeInstanceOf(PeerError);
    expect(
      await transfer.then(
        () => 'sent',
        (e: unknown) => (e as PeerError).reason,
      ),
    ).not.toBe('sent');
  });
});

describe('direct peers: lifetime', () => {
  it('connectPeer stops at once when its signal aborts (Closed); the callee never connects', async () => {
    const roomId = await joined([alice, bob]);
    // bob hears the request but never answers it.
    const heard: RemotePeerRequest[] = [];
    stops.push(bob.streamApi.addRemotePeerListener((r) => heard.push(r)));
    const controller = new AbortController();
    const connecting = alice.streamApi.connectPeer(roomId, 'bob', { signal: controller.signal });
    await until(() => heard.length === 1, 'bob hears the request');
    controller.abort();
    expect((await peerFailure(connecting)).reason).toBe('Closed');
    // The caller's bye ended the request at bob: accepting it now fails.
    await new Promise((r) => setTimeout(r, 100));
    expect((await peerFailure(heard[0]!.accept())).reason).toBe('Closed');
  });

  it('an Endpoint that disconnects closes its peers; the other side learns it and is not reconnected', async () => {
    const dave = await kit.connect('carol', { streamApi: { peers: loopbackPeers() } });
    const roomId = await joined([alice, dave]);
    const atDave = accepting(dave);
    const peer = await alice.streamApi.connectPeer(roomId, 'carol');
    await until(() => atDave.peers.length === 1, 'carol accepted');
    const states: string[] = [];
    peer.on('connectionState', (s) => states.push(s));
    await dave.connection.disconnect();
    expect(atDave.peers[0]!.error?.reason).toBe('Closed');
    await until(() => peer.error !== undefined, "alice learns carol's side closed", 10_000);
    expect(['ConnectionFailed', 'Closed']).toContain(peer.error!.reason);
    await new Promise((r) => setTimeout(r, 300));
    expect(states.at(-1)).toMatch(/closed|failed/);
    expect(peer.connectionState).not.toBe('connected');
  });
});
