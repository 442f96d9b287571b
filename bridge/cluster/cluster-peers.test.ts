/**
 * Direct peer signalling across two Bridges on one real PostgreSQL and one real nats-server
 * (docs/operations/cluster.md, docs/protocol/peer-signalling.md): a `peerSignal` from a member on A
 * reaches the member on B unchanged, with the same checks as on one Bridge; the real Endpoints connect
 * directly (werift, ICE on 127.0.0.1) through it and data flows.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { guardLoopbackUdp } from '../media/test-peer.ts';
import type { PeerSignal } from '../../protocol/ws.ts';
import { login, rest, startBridge, type TestBridge } from '../../test/harness.ts';
import { startNats, type TestNats } from '../../test/nats.ts';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import { successor, verifiedHead } from '../../test/rooms.ts';
import { pattern, sha256, startKit, until, type Kit } from '../../endpoint/data-streams/test-kit.ts';
import type { IncomingDirectStream } from '../../endpoint/peers/direct-stream.ts';
import type { RemotePeer } from '../../endpoint/peers/remote-peer.ts';
import { loopbackPeers, sawEachOther, peerFailure } from '../../endpoint/peers/test-kit.ts';
import type { SealroomRelay } from '../realtime/relay.ts';
import { createRoom, TestClient } from '../realtime/test-client.ts';

let pg: TestPostgres;
let nats: TestNats;
let kit: Kit;
let b: TestBridge;
const tokens: Record<string, string> = {};
const raw: TestClient[] = [];
const udp = guardLoopbackUdp();
const stops: Array<() => void> = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

beforeAll(async () => {
  [pg, nats] = await Promise.all([startPostgres(), startNats()]);
  const options = { store: await pg.createDatabase(), nats: nats.url };
  kit = await startKit(['alice', 'bob', 'carol', 'dave'], options);
  b = await startBridge({ ...options, apiKey: kit.t.bridge.initialApiKey! });
  for (const id of ['alice', 'bob', 'dave']) tokens[id] = await login(kit.t.bridge.url, kit.tenant.solutionId, kit.tenant.users[id]!);
});
afterAll(async () => {
  await Promise.all(raw.map((c) => c.close()));
  await kit?.close();
  await b?.close();
  await Promise.all([nats?.destroy(), pg?.destroy()]);
  udp.restore();
});

const a = () => kit.t;
const u = (id: string) => kit.tenant.users[id]!;
const signals = (t: TestBridge) => t.bridge.realtime.peerSignals.counters;
const chunkBytes = (t: TestBridge) => (t.bridge.realtime.relay as SealroomRelay).counters.chunkBytes;

async function connect(t: TestBridge, id: string): Promise<TestClient> {
  const c = await TestClient.connect(t.bridge.url, tokens[id]!);
  raw.push(c);
  return c;
}

/** An offer as the Endpoint sends it: the Bridges check its shape, never its signature (the members do). */
const offer: PeerSignal = {
  type: 'offer',
  sessionId: 'c2Vzc2lvbi1pZC0xNi1iIQ==',
  nonce: 'bm9uY2UtMTYtYnl0ZXMtIQ==',
  at: 1_700_000_000_000,
  sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n',
  fingerprints: [`sha-256 ${Array(32).fill('AB').join(':')}`],
  signature: `${'Q'.repeat(86)}==`,
  metadata: '{"why":"test"}',
};

describe('direct peer signals across two Bridges', () => {
  it('a signal from a member on A reaches the member on B unchanged, both ways; everyone else is refused with a code', async () => {
    const built = await createRoom(a().bridge, kit.tenant, tokens.alice!, u('alice'), [u('alice'), u('bob')], [u('alice')]);
    const roomId = built.record.roomId;
    // dave is a member of another room only, joined to it on B.
    const other = (await createRoom(a().bridge, kit.tenant, tokens.alice!, u('alice'), [u('alice'), u('dave')], [u('alice')])).record.roomId;
    const [alice, bob, dave] = await Promise.all([connect(a(), 'alice'), connect(b, 'bob'), connect(b, 'dave')]);
    await alice.request('join', { roomId });
    // bob (on B) has not joined yet: A does not know him in the room.
    expect(await alice.failure('peerSignal', { roomId, toConnectionId: bob.connectionId, signal: offer })).toBe('PEER_NOT_JOINED');
    await bob.request('join', { roomId });
    await alice.event('streamRoomJoined', (e) => e.roomId === roomId && e.connectionId === bob.connectionId);
    await dave.request('join', { roomId: other });

    await alice.request('peerSignal', { roomId, toConnectionId: bob.connectionId, signal: offer });
    expect(await bob.event('peerSignal')).toEqual({ type: 'peerSignal', roomId, fromUserId: 'alice', fromConnectionId: alice.connectionId, signal: offer });
    const bye: PeerSignal = { type: 'bye', sessionId: offer.sessionId, reason: 'declined' };
    await bob.request('peerSignal', { roomId, toConnectionId: alice.connectionId, signal: bye });
    expect(await alice.event('peerSignal')).toEqual({ type: 'peerSignal', roomId, fromUserId: 'bob', fromConnectionId: bob.connectionId, signal: bye });

    // dave, on B and joined to another room, neither reaches nor is reached through this room.
    expect(await alice.failure('peerSignal', { roomId, toConnectionId: dave.connectionId, signal: offer })).toBe('PEER_NOT_JOINED');
    expect(await dave.failure('peerSignal', { roomId, toConnectionId: alice.connectionId, signal: offer })).toBe('NOT_JOINED');
    expect(await dave.failure('peerSignal', { roomId: other, toConnectionId: alice.connectionId, signal: offer })).toBe('PEER_NOT_JOINED');
    expect(signals(b).receivedRemote).toBe(1);

    // bob is removed through A: A cuts him from its view of the room, and signals to him are refused.
    const head = await verifiedHead(a().bridge.url, tokens.alice!, roomId);
    const next = await successor(head, built.epochKey, u('alice'), { users: [u('alice')], managers: [u('alice')] });
    expect((await rest(a().bridge.url, tokens.alice).put(`/v1/rooms/${roomId}`, { ...next.request, version: head.record.version })).status).toBe(200);
    await alice.event('streamRoomLeft', (e) => e.roomId === roomId && e.connectionId === bob.connectionId);
    expect(await alice.failure('peerSignal', { roomId, toConnectionId: bob.connectionId, signal: offer })).toBe('PEER_NOT_JOINED');
    expect(signals(b).receivedRemote).toBe(1);
  });

  it('the real Endpoints connect directly across the Bridges and send both ways; a non-member is refused', async () => {
    const alice = await kit.connect('alice', { streamApi: { peers: loopbackPeers() } });
    const bob = await kit.connect('bob', { url: b.bridge.url, streamApi: { peers: loopbackPeers() } });
    await kit.connect('carol', { url: b.bridge.url, streamApi: { peers: loopbackPeers() } });
    const roomId = await kit.room(alice, [alice, bob]);
    for (const c of [alice, bob]) await c.streamApi.joinStreamRoom(roomId);
    await sawEachOther(roomId, [alice, bob]);
    const accepted: RemotePeer[] = [];
    stops.push(bob.streamApi.addRemotePeerListener((request) => void request.accept().then((p) => accepted.push(p))));
    const sentBefore = signals(a()).sentRemote;
    const chunksBefore = [chunkBytes(a()), chunkBytes(b)];

    const peer = await alice.streamApi.connectPeer(roomId, 'bob', { metadata: { why: 'across' } });
    expect(peer.connectionState).toBe('connected');
    await until(() => accepted.length === 1, 'bob accepted on B');
    const bobsPeer = accepted[0]!;
    expect(bobsPeer.id).toBe('alice');
    expect(bobsPeer.metadata).toEqual({ why: 'across' });
    // The offer, answer and candidates crossed the Bridges both ways.
    expect(signals(a()).sentRemote).toBeGreaterThan(sentBefore);
    expect(signals(b).sentRemote).toBeGreaterThan(0);

    const atBob: IncomingDirectStream[] = [];
    bobsPeer.on('stream', (s) => atBob.push(s));
    const atAlice: IncomingDirectStream[] = [];
    peer.on('stream', (s) => atAlice.push(s));
    const file = pattern(2 * 1024 * 1024 + 5, 4);
    const transfer = peer.send(file, { name: 'across.bin' });
    await until(() => atBob.length === 1, 'the file at bob');
    const got = await atBob[0]!.bytes();
    expect(sha256(got)).toBe(sha256(file));
    expect((await transfer).delivered.map((d) => d.userId)).toEqual(['bob']);
    const reply = bobsPeer.send('hello alice, from B');
    await until(() => atAlice.length === 1, 'the text at alice');
    expect(await atAlice[0]!.text()).toBe('hello alice, from B');
    expect((await reply).delivered.map((d) => d.userId)).toEqual(['alice']);
    // The bytes went directly: neither Bridge relayed a chunk.
    expect([chunkBytes(a()), chunkBytes(b)]).toEqual(chunksBefore);

    // carol, on B, is not a member of the room: no direct connection to her.
    const refused = await peerFailure(alice.streamApi.connectPeer(roomId, 'carol'));
    expect(refused.reason).toBe('NotMember');
    peer.close();
    await until(() => bobsPeer.connectionState === 'closed', 'bob sees the close');
    expect(udp.violations).toEqual([]);
  }, 30_000);
});
