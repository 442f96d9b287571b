/**
 * A renegotiation on the direct path (./peer-media.ts) is held to the signed DTLS fingerprints, as the
 * first offer and answer are: one that names another certificate closes the peer with
 * `FingerprintMismatch` before any description is set. A real werift RTCPeerConnection underneath.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { silentLogger } from '../logger.ts';
import type { PeerError } from './errors.ts';
import { PeerMedia, RENEGOTIATE, RENEGOTIATION_MLINES_MAX, RENEGOTIATIONS_PENDING_MAX } from './peer-media.ts';
import { createPeerConnection } from './rtc.ts';
import { sdpFingerprints } from './signature.ts';
import { loopbackPeers } from './test-kit.ts';

const open: RTCPeerConnection[] = [];
afterEach(async () => {
  for (const pc of open.splice(0)) await Promise.resolve(pc.close()).catch(() => undefined);
});

async function setup(
  checked?: Promise<string[]>,
): Promise<{ media: PeerMedia; pc: RTCPeerConnection; failures: PeerError[]; offer: string; signed: string[] }> {
  const pc = await createPeerConnection(loopbackPeers());
  const other = await createPeerConnection(loopbackPeers());
  open.push(pc, other);
  other.createDataChannel('default');
  const offer = (await other.createOffer()).sdp!;
  const failures: PeerError[] = [];
  const signed = sdpFingerprints(offer);
  const media = new PeerMedia({
    pc,
    roomId: 'room',
    userId: 'bob',
    polite: true,
    fingerprints: () => checked ?? Promise.resolve(signed),
    control: () => undefined,
    e2ee: () => Promise.reject(new Error('not needed: the checks come first')),
    track: () => undefined,
    fail: (error) => failures.push(error),
    log: silentLogger,
  });
  return { media, pc, failures, offer, signed };
}

function frame(json: unknown): Uint8Array {
  const body = utf8(typeof json === 'string' ? json : JSON.stringify(json));
  const out = new Uint8Array(1 + body.length);
  out[0] = RENEGOTIATE;
  out.set(body, 1);
  return out;
}

async function settled(failures: PeerError[]): Promise<PeerError> {
  for (let i = 0; i < 100 && failures.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(failures).toHaveLength(1);
  return failures[0]!;
}

describe('renegotiation on the direct path', () => {
  it('an offer with another DTLS fingerprint than the signed one: FingerprintMismatch, nothing set', async () => {
    const { media, pc, failures, offer, signed } = await setup();
    const other = signed[0]!.replace(/ ([0-9A-F]{2}):/, (_m, b: string) => ` ${b === 'AA' ? 'BB' : 'AA'}:`);
    const rewritten = offer.replace(/a=fingerprint:(\S+) [0-9A-F:]+/, `a=fingerprint:${other}`);
    expect(sdpFingerprints(rewritten)).not.toEqual(signed);
    media.message(frame({ type: 'offer', sdp: rewritten }));
    expect((await settled(failures)).reason).toBe('FingerprintMismatch');
    expect(pc.remoteDescription ?? null).toBeNull();
  });

  it('malformed and oversized renegotiations are refused (InvalidArgument)', async () => {
    for (const bad of [frame('{not json'), frame({ type: 'rollback', sdp: 'x' }), frame({ type: 'offer' }), frame('x'.repeat(70_000))]) {
      const { media, failures } = await setup();
      media.message(bad);
      expect((await settled(failures)).reason).toBe('InvalidArgument');
    }
  });

  it(`more than ${RENEGOTIATIONS_PENDING_MAX} renegotiations waiting: Overloaded; one of more than ${RENEGOTIATION_MLINES_MAX} m-lines: InvalidArgument`, async () => {
    // The check of the signed fingerprints is held, so every renegotiation waits behind the first.
    const held = await setup(new Promise(() => undefined));
    for (let i = 0; i <= RENEGOTIATIONS_PENDING_MAX; i++) held.media.message(frame({ type: 'offer', sdp: held.offer }));
    expect((await settled(held.failures)).reason).toBe('Overloaded');
    const { media, failures, offer } = await setup();
    const section = offer.slice(offer.indexOf('m='));
    const many = offer + section.repeat(RENEGOTIATION_MLINES_MAX);
    media.message(frame({ type: 'offer', sdp: many }));
    const error = await settled(failures);
    expect(error.reason).toBe('InvalidArgument');
    expect(error.message).toMatch(/at most 32 m-lines that carry media/);
    // Inactive m-lines (what a long call leaves behind as it stops sharing tracks) count only against the total.
    const inactive = section.replace(/\r\na=(sendrecv|sendonly|recvonly)\r\n/, '\r\na=inactive\r\n');
    const stale = await setup();
    stale.media.message(frame({ type: 'offer', sdp: stale.offer + (inactive.includes('a=inactive') ? inactive : `${section}a=inactive\r\n`).repeat(40) }));
    await new Promise((r) => setTimeout(r, 200));
    expect(stale.failures.map((f) => f.message).join()).not.toMatch(/m-lines/);
  });

  it('a renegotiation that arrives before the connection was checked waits for the check, then passes it', async () => {
    let check!: (fingerprints: string[]) => void;
    const { media, pc, failures, offer, signed } = await setup(new Promise((resolve) => (check = resolve)));
    media.message(frame({ type: 'offer', sdp: offer }));
    await new Promise((r) => setTimeout(r, 200));
    expect(failures).toEqual([]); // was FingerprintMismatch: the signed fingerprints were not known yet
    check(signed);
    // Past the check, the offer goes on to load the frame transform, which this test does not give.
    expect((await settled(failures)).reason).not.toBe('FingerprintMismatch');
    expect(pc.remoteDescription ?? null).toBeNull();
  });
});
