/**
 * A Bridge that tampers with direct peer signalling (a WebSocket MITM, test/procs/ws-mitm.ts, in front
 * of each member): a rewritten DTLS fingerprint, a replayed signed offer, an offer forged for another
 * user. Each is refused with its reason, and no connection (no data) comes of it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWsMitm, type WsMitm } from '../../test/procs/ws-mitm.ts';
import { holdRoomReads, type HeldRoomReads } from '../../test/rooms.ts';
import { PEER_SIGNALS_PENDING_MAX } from './loader.ts';
import { startKit, until, type Client, type Kit } from '../data-streams/test-kit.ts';
import type { RemotePeerRequest } from './peers-api.ts';
import { loopbackPeers, sawEachOther, peerFailure } from './test-kit.ts';

type Rewrite = (message: { kind: string; event?: { type: string; signal?: Record<string, unknown> } & Record<string, unknown> }) => void;

let kit: Kit;
let alice: Client;
let bob: Client;
let carol: Client;
const mitms: Record<string, WsMitm> = {};
/** Rewrites of what the Bridge sends each user, set per test. */
const rewrites: Record<string, Rewrite | undefined> = {};
/** Every peerSignal event text the Bridge sent each user, as sent. */
const seen: Record<string, string[]> = { alice: [], bob: [], carol: [] };
const stops: Array<() => void> = [];
let reads: HeldRoomReads;

async function mitmFor(user: string): Promise<WsMitm> {
  return startWsMitm(
    () => kit.t.bridge.url,
    () => 'pass',
    {
      downText(text) {
        if (!text.includes('"peerSignal"')) return text;
        seen[user]!.push(text);
        const rewrite = rewrites[user];
        if (rewrite === undefined) return text;
        const message = JSON.parse(text) as Parameters<Rewrite>[0];
        rewrite(message);
        return JSON.stringify(message);
      },
    },
  );
}

beforeAll(async () => {
  for (const user of ['alice', 'bob', 'carol']) mitms[user] = await mitmFor(user);
  kit = await startKit(['alice', 'bob', 'carol'], { loginUrls: Object.values(mitms).map((m) => m.url) });
  alice = await kit.connect('alice', { url: mitms.alice!.url, streamApi: { peers: loopbackPeers() } });
  bob = await kit.connect('bob', { url: mitms.bob!.url, streamApi: { peers: loopbackPeers() } });
  carol = await kit.connect('carol', { url: mitms.carol!.url, streamApi: { peers: loopbackPeers() } });
  reads = holdRoomReads(kit.t.bridge.store);
});
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  for (const user of Object.keys(rewrites)) rewrites[user] = undefined;
});
afterAll(async () => {
  reads?.release();
  await kit?.close();
  await Promise.all(Object.values(mitms).map((m) => m.close()));
});

async function joined(members: Client[]): Promise<string> {
  const roomId = await kit.room(alice, members);
  for (const c of members) await c.streamApi.joinStreamRoom(roomId);
  await sawEachOther(roomId, members);
  return roomId;
}

function requests(client: Client): RemotePeerRequest[] {
  const got: RemotePeerRequest[] = [];
  stops.push(
    client.streamApi.addRemotePeerListener((request) => {
      got.push(request);
      request.accept().catch(() => undefined);
    }),
  );
  return got;
}

/** Another DTLS fingerprint of the same shape: the first byte changed. */
function otherFingerprint(value: string): string {
  return value.replace(/ ([0-9A-F]{2}):/, (_m, byte: string) => ` ${byte === 'AA' ? 'BB' : 'AA'}:`);
}

function rewriteSdpFingerprint(signal: Record<string, unknown>): void {
  signal.sdp = String(signal.sdp).replace(
    /a=fingerprint:(\S+) ([0-9A-F:]+)/g,
    (_m, alg: string, value: string) => `a=fingerprint:${alg} ${otherFingerprint(` ${value}`).trim()}`,
  );
}

const refused = (c: Client, reason: string) => c.streamApi.peerStats().refused[reason as 'Replayed'] ?? 0;

describe('direct peers: a tampering Bridge', () => {
  it("a rewritten DTLS fingerprint in the offer's SDP: FingerprintMismatch at the callee, no connection", async () => {
    const roomId = await joined([alice, bob]);
    const atBob = requests(bob);
    const before = refused(bob, 'FingerprintMismatch');
    rewrites.bob = (m) => {
      if (m.event?.signal?.type === 'offer') rewriteSdpFingerprint(m.event.signal);
    };
    const error = await peerFailure(alice.streamApi.connectPeer(roomId, 'bob'));
    expect(error.reason).toBe('Refused');
    expect(refused(bob, 'FingerprintMismatch')).toBe(before + 1);
    expect(atBob).toHaveLength(0);
  });

  it('a rewritten fingerprint in the SDP and in the signed list: SignatureInvalid at the callee', async () => {
    const roomId = await joined([alice, bob]);
    const atBob = requests(bob);
    const before = refused(bob, 'SignatureInvalid');
    rewrites.bob = (m) => {
      const signal = m.event?.signal;
      if (signal?.type !== 'offer') return;
      rewriteSdpFingerprint(signal);
      signal.fingerprints = (signal.fingerprints as string[]).map(otherFingerprint);
    };
    const error = await peerFailure(alice.streamApi.connectPeer(roomId, 'bob'));
    expect(error.reason).toBe('Refused');
    expect(refused(bob, 'SignatureInvalid')).toBe(before + 1);
    expect(atBob).toHaveLength(0);
  });

  it('a rewritten fingerprint in the answer: the caller refuses it (SignatureInvalid) and never connects', async () => {
    const roomId = await joined([alice, bob]);
    requests(bob);
    rewrites.alice = (m) => {
      const signal = m.event?.signal;
      if (signal?.type !== 'answer') return;
      rewriteSdpFingerprint(signal);
      signal.fingerprints = (signal.fingerprints as string[]).map(otherFingerprint);
    };
    const error = await peerFailure(alice.streamApi.connectPeer(roomId, 'bob'));
    expect(error.reason).toBe('SignatureInvalid');
  });

  it('a replayed signed offer is refused (Replayed); the same offer sent to another user is refused (SignatureInvalid)', async () => {
    const roomId = await joined([alice, bob, carol]);
    const atBob = requests(bob);
    const atCarol = requests(carol);
    const offersBefore = seen.bob!.length;
    const peer = await alice.streamApi.connectPeer(roomId, 'bob');
    await until(() => atBob.length === 1, 'bob saw the request');
    peer.close();
    const offer = seen.bob!.slice(offersBefore).find((text) => text.includes('"type":"offer"'))!;
    expect(offer).toBeDefined();
    // The caller's addresses are not in the offer: its candidates followed once bob had answered.
    expect(offer).not.toContain('a=candidate');
    expect(seen.bob!.slice(offersBefore).some((text) => text.includes('"type":"candidate"'))).toBe(true);

    const replayedBefore = refused(bob, 'Replayed');
    mitms.bob!.inject(offer);
    await until(() => refused(bob, 'Replayed') === replayedBefore + 1, 'bob refuses the replay');
    expect(atBob).toHaveLength(1);

    // The Bridge hands alice's offer for bob to carol instead (as if alice had called her).
    const forgedBefore = refused(carol, 'SignatureInvalid');
    mitms.carol!.inject(offer);
    await until(() => refused(carol, 'SignatureInvalid') === forgedBefore + 1, 'carol refuses the forged offer');
    expect(atCarol).toHaveLength(0);
  });

  it("a member who declines (and the Bridge) never see the caller's candidates", async () => {
    const roomId = await joined([alice, carol]);
    const before = seen.carol!.length;
    // carol has no remotePeer listener: she declines.
    expect((await peerFailure(alice.streamApi.connectPeer(roomId, 'carol'))).reason).toBe('Declined');
    const texts = seen.carol!.slice(before);
    expect(texts.some((text) => text.includes('"type":"offer"'))).toBe(true);
    expect(texts.join('\n')).not.toMatch(/a=candidate|"type":"candidate"/);
  });

  it("a Bridge that withholds every candidate and the caller's bye: the callee's accept() fails with Timeout, its connection closed", async () => {
    const roomId = await joined([alice, bob]);
    const accepted: Array<Promise<unknown>> = [];
    stops.push(
      bob.streamApi.addRemotePeerListener((request) => {
        accepted.push(request.accept().catch((error: unknown) => error));
      }),
    );
    // Neither side learns an address of the other (candidates are not signed), and bob never hears
    // that alice gave up.
    rewrites.bob = (m) => {
      const signal = m.event?.signal;
      if (signal?.type === 'candidate' || signal?.type === 'bye') signal.type = 'withheld';
    };
    rewrites.alice = (m) => {
      const signal = m.event?.signal;
      if (signal?.type === 'answer') signal.sdp = String(signal.sdp).replace(/^a=candidate:.*\r\n/gm, '');
      if (signal?.type === 'candidate') signal.type = 'withheld';
    };
    // alice, with no candidate of bob's, fails (her ICE has nothing to check) and says bye, withheld.
    expect(['ConnectionFailed', 'Timeout']).toContain((await peerFailure(alice.streamApi.connectPeer(roomId, 'bob'))).reason);
    await until(() => accepted.length === 1, 'bob accepted');
    // Before, accept() waited for a connection that could never come, with its ICE checks running.
    const error = (await accepted[0]) as { reason?: string; message?: string };
    expect(error.reason).toBe('Timeout');
    expect(error.message).toMatch(/did not come up within 8000 ms of accept\(\)/);
  });

  it('an offer the Bridge claims came from a non-member: NotMember', async () => {
    const roomId = await joined([alice, bob]);
    const atBob = requests(bob);
    const before = refused(bob, 'NotMember');
    rewrites.bob = (m) => {
      if (m.event?.signal?.type === 'offer') m.event.fromUserId = 'carol';
    };
    const error = await peerFailure(alice.streamApi.connectPeer(roomId, 'bob', { signal: AbortSignal.timeout(3000) }));
    expect(['Refused', 'Closed', 'Timeout']).toContain(error.reason);
    expect(refused(bob, 'NotMember')).toBe(before + 1);
    expect(atBob).toHaveLength(0);
  });

  it("an offer the Bridge claims came from another member (alice's offer as carol's): SignatureInvalid", async () => {
    const roomId = await joined([alice, bob, carol]);
    const atBob = requests(bob);
    const before = refused(bob, 'SignatureInvalid');
    rewrites.bob = (m) => {
      if (m.event?.signal?.type === 'offer') m.event.fromUserId = 'carol';
    };
    await peerFailure(alice.streamApi.connectPeer(roomId, 'bob', { signal: AbortSignal.timeout(3000) }));
    expect(refused(bob, 'SignatureInvalid')).toBe(before + 1);
    expect(atBob).toHaveLength(0);
  });

  it(`a Bridge that floods a member with signals: past ${PEER_SIGNALS_PENDING_MAX} waiting, the rest are dropped unread and counted (Overloaded)`, async () => {
    const roomId = await joined([alice, bob]);
    const atBob = requests(bob);
    const before = seen.bob!.length;
    const peer = await alice.streamApi.connectPeer(roomId, 'bob');
    await until(() => atBob.length === 1, 'bob saw the request');
    peer.close();
    const offer = JSON.parse(seen.bob!.slice(before).find((text) => text.includes('"type":"offer"'))!) as {
      event: Record<string, unknown> & { signal: Record<string, unknown> };
    };
    // Offers "from mallory", whom bob's verified room does not list: each makes him read the room
    // again, and the Bridge holds that read, so they wait one behind the other.
    const notMember = refused(bob, 'NotMember');
    reads.hold(30_000);
    const over = 100;
    const injected = PEER_SIGNALS_PENDING_MAX + over;
    for (let i = 0; i < injected; i++) {
      const sessionId = Buffer.from(`flood-${String(i).padStart(10, '0')}`).toString('base64');
      mitms.bob!.inject(JSON.stringify({ ...offer, event: { ...offer.event, fromUserId: 'mallory', signal: { ...offer.event.signal, sessionId } } }));
    }
    // At least `over` go (the bye and candidates of alice's closed peer may be among the dropped too).
    await until(() => refused(bob, 'Overloaded') >= over, 'the signals past the bound to be dropped', 15_000);
    reads.release();
    await until(() => refused(bob, 'NotMember') - notMember + refused(bob, 'Overloaded') >= injected, 'the waiting offers to be refused', 60_000);
    // Everything came while the first read was held: no more than the bound waited.
    expect(refused(bob, 'NotMember') - notMember).toBeLessThanOrEqual(PEER_SIGNALS_PENDING_MAX);
    expect(atBob).toHaveLength(1);
    // Signals are handled again once the queue is empty (after the Bridge's one-second window on bob's
    // signals, which his answers "bye refused" to the forged offers filled).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const next = await alice.streamApi.connectPeer(roomId, 'bob');
    await until(() => atBob.length === 2, 'bob saw the next request');
    next.close();
  });
});
