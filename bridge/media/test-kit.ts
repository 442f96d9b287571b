/**
 * Media test kit: a real Bridge (port 0) whose unit binds and announces 127.0.0.1, members that
 * signal over the real WebSocket (TestClient), werift peers on loopback (TestPeer), and SFrame
 * media keys (crypto/sframe, purpose 'media') to protect what the publisher sends.
 */
import { randomBytes } from 'node:crypto';
import { deriveSenderBaseKey, makeKid, randomSessionId, SFrameContext } from '../../crypto/sframe/index.ts';
import { login, setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import type { CreateBridgeOptions } from '../bridge.ts';
import { createRoom, TestClient } from '../realtime/test-client.ts';
import { rtpPacket, TestPeer, waitFor } from './test-peer.ts';
import type { MediaUnitStats } from './unit.ts';

export interface MediaWorld {
  t: TestBridge;
  tenant: Tenant;
  tokens: Record<string, string>;
  clients: TestClient[];
  peers: TestPeer[];
  close(): Promise<void>;
}

export async function mediaWorld(userIds: string[], options: Partial<CreateBridgeOptions> = {}): Promise<MediaWorld> {
  const t = await startBridge({ media: { listenAddress: '127.0.0.1', ...options.media }, ...options });
  const tenant = await setupTenant(t.bridge, userIds);
  const tokens: Record<string, string> = {};
  for (const id of userIds) tokens[id] = await login(t.bridge.url, tenant.solutionId, tenant.users[id]!);
  const world: MediaWorld = {
    t,
    tenant,
    tokens,
    clients: [],
    peers: [],
    async close() {
      await Promise.all(world.peers.map((p) => p.close()));
      await Promise.all(world.clients.map((c) => c.close()));
      await t.close();
    },
  };
  return world;
}

export async function mediaRoom(w: MediaWorld, author: string, members: string[]): Promise<string> {
  const u = (id: string) => w.tenant.users[id]!;
  const built = await createRoom(w.t.bridge, w.tenant, w.tokens[author]!, u(author), members.map(u), [u(author)]);
  return built.record.roomId;
}

/** A member's socket, joined to the room, with media opened. */
export async function member(w: MediaWorld, userId: string, roomId: string, media = true): Promise<TestClient> {
  const c = await TestClient.connect(w.t.bridge.url, w.tokens[userId]!);
  w.clients.push(c);
  await c.request('join', { roomId });
  if (media) await c.request('mediaJoin', { roomId });
  return c;
}

export function peer(w: MediaWorld, config?: ConstructorParameters<typeof TestPeer>[0]): TestPeer {
  const p = new TestPeer(config);
  w.peers.push(p);
  return p;
}

/**
 * Publishes one stream with the given tracks on the relay, then offers them to the unit from a
 * werift peer and connects. Returns each track's RTP writer and trackNo, in order.
 */
export async function publishMedia(w: MediaWorld, c: TestClient, roomId: string, streamId: string, kinds: Array<'audio' | 'video'>, p = peer(w)) {
  const announced = await c.request('publish', { roomId, streamId, tracks: kinds.map((kind, i) => ({ trackId: `${kind}${i}`, kind })) });
  const sending = kinds.map((kind) => p.addSendTrack(kind));
  const sdp = await p.offer();
  const tracks = sending.map((s, i) => ({ mid: s.transceiver.mid!, trackNo: announced.stream.tracks[i]!.trackNo }));
  const result = await c.request('mediaOffer', { roomId, sdp, tracks });
  await p.acceptAnswer(result.sdp);
  await p.connected();
  return { peer: p, answer: result.sdp, tracks: sending.map((s, i) => ({ ...s, trackNo: tracks[i]!.trackNo, mid: tracks[i]!.mid })) };
}

/** Answers the unit's receive offer `revision` (or the newest one) from the peer. */
export async function answerOffer(c: TestClient, roomId: string, p: TestPeer, revision?: number) {
  const offer = await c.mediaEvent('mediaReceiveOffer', (e) => e.roomId === roomId && (revision === undefined || e.revision === revision));
  const sdp = await p.answer(offer.sdp);
  await c.request('mediaAnswer', { roomId, revision: offer.revision, sdp });
  return offer;
}

/** Subscribes to a stream on the relay and answers the unit's receive offer; waits until connected. */
export async function receiveMedia(w: MediaWorld, c: TestClient, roomId: string, streamId: string, p = peer(w)) {
  await c.request('subscribeStreams', { roomId, add: [{ streamId }], remove: [] });
  const offer = await answerOffer(c, roomId, p);
  await p.connected();
  return { peer: p, offer };
}

export function unitStats(w: MediaWorld): MediaUnitStats {
  return w.t.bridge.realtime.media.stats();
}

/** A publisher's SFrame media context and a receiver's, sharing one sender key (epoch 1). */
export async function mediaKeys(roomId: string, senderId: string) {
  const epochKey = new Uint8Array(randomBytes(32));
  const kid = makeKid({ memberIndex: 0, sessionId: randomSessionId(), epoch: 1 });
  const baseKey = deriveSenderBaseKey({ epochKey, roomId, epoch: 1, kid, senderId, purpose: 'media' });
  const sender = new SFrameContext();
  const receiver = new SFrameContext();
  await sender.addKey(kid, baseKey);
  await receiver.addKey(kid, baseKey);
  return { kid, sender, receiver };
}

/** Sends `count` packets on a track, each an SFrame ciphertext of a numbered frame; returns them. */
export async function sendFrames(
  keys: Awaited<ReturnType<typeof mediaKeys>>,
  track: { writeRtp(rtp: ReturnType<typeof rtpPacket>): void },
  from: number,
  count: number,
  frameBytes = 200,
): Promise<Uint8Array[]> {
  const sent: Uint8Array[] = [];
  for (let i = from; i < from + count; i++) {
    const frame = new Uint8Array(frameBytes).fill(i & 0xff);
    new DataView(frame.buffer).setUint32(0, i);
    // The AAD of media frames (the codec bytes left in clear) is the browser step's; none here.
    const ciphertext = await keys.sender.encrypt(keys.kid, new Uint8Array(0), frame);
    sent.push(ciphertext);
    track.writeRtp(rtpPacket(i, ciphertext));
  }
  return sent;
}

export { waitFor };
