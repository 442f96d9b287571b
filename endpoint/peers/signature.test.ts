import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { RTCPeerConnection } from 'werift';
import { loopbackPeerConfig } from '../../bridge/media/test-peer.ts';
import { toBase64 } from '../../crypto/bytes.ts';
import type { Connection } from '../connection.ts';
import type { RoomApi } from '../rooms/room-api.ts';
import { SignalChecks } from './signal-checks.ts';
import { remoteCertificateFingerprint, sdpFingerprints, signedMessage, verifySignal, type SignedFields } from './signature.ts';

const seed = new Uint8Array(32).fill(7);
const publicKey = ed25519.getPublicKey(seed);
const fields: SignedFields = {
  type: 'offer',
  roomId: 'room1',
  fromUserId: 'alice',
  toUserId: 'bob',
  sessionId: toBase64(new Uint8Array(16).fill(1)),
  nonce: toBase64(new Uint8Array(16).fill(2)),
  at: 1_700_000_000_000,
  fingerprints: [`sha-256 ${Array(32).fill('AB').join(':')}`],
  metadata: '{"why":"photos"}',
};

describe('peer signal signatures', () => {
  it('verify for the signed fields only: every field is covered', async () => {
    const signature = toBase64(ed25519.sign(signedMessage(fields), seed));
    expect(await verifySignal(fields, signature, publicKey)).toBe(true);
    const changes: Array<Partial<SignedFields>> = [
      { type: 'answer' },
      { roomId: 'room2' },
      { fromUserId: 'carol' },
      { toUserId: 'carol' },
      { sessionId: toBase64(new Uint8Array(16).fill(9)) },
      { nonce: toBase64(new Uint8Array(16).fill(9)) },
      { at: fields.at + 1 },
      { fingerprints: [`sha-256 ${Array(32).fill('AC').join(':')}`] },
      { metadata: '{}' },
    ];
    for (const change of changes) expect(await verifySignal({ ...fields, ...change }, signature, publicKey), JSON.stringify(change)).toBe(false);
    expect(await verifySignal(fields, 'not base64!', publicKey)).toBe(false);
    expect(await verifySignal(fields, toBase64(new Uint8Array(63)), publicKey)).toBe(false);
  });

  it('reads and normalizes the SDP fingerprints', () => {
    const sdp = 'v=0\r\na=fingerprint:SHA-256 ab:cd\r\nm=application\r\na=fingerprint:sha-256 AB:CD\r\na=fingerprint:sha-1 01:02\r\n';
    expect(sdpFingerprints(sdp)).toEqual(['sha-1 01:02', 'sha-256 AB:CD']);
  });

  it("the certificate a werift connection met is the other side's SDP fingerprint", async () => {
    const a = new RTCPeerConnection(loopbackPeerConfig());
    const b = new RTCPeerConnection(loopbackPeerConfig());
    try {
      a.createDataChannel('x');
      await a.setLocalDescription(await a.createOffer());
      await b.setRemoteDescription(a.localDescription!);
      await b.setLocalDescription(await b.createAnswer());
      await a.setRemoteDescription(b.localDescription!);
      const deadline = Date.now() + 5000;
      while (a.connectionState !== 'connected' || b.connectionState !== 'connected') {
        if (Date.now() > deadline) throw new Error('not connected');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(await remoteCertificateFingerprint(a as unknown as RTCPeerConnection)).toBe(
        sdpFingerprints(b.localDescription!.sdp).find((f) => f.startsWith('sha-256')),
      );
      expect(await remoteCertificateFingerprint(b as unknown as RTCPeerConnection)).toBe(
        sdpFingerprints(a.localDescription!.sdp).find((f) => f.startsWith('sha-256')),
      );
      // werift makes one DTLS certificate per process, so both ends here share it: the check above is
      // what the Endpoint relies on (the met certificate hashes to the signed fingerprint), not that
      // two in-process peers differ.
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('signal nonces', () => {
  /** Checks whose member keys are alice's and carol's (the room read is not what is tested here). */
  class Checks extends SignalChecks {
    override async memberKey(): Promise<Uint8Array> {
      return publicKey;
    }
  }
  const signal = (from: string, nonce: number) => {
    const f: SignedFields = { ...fields, fromUserId: from, at: Date.now(), nonce: toBase64(new Uint8Array(16).fill(nonce)) };
    const sdp = `v=0\r\na=fingerprint:${f.fingerprints[0]}\r\n`;
    return {
      type: 'offer' as const,
      sessionId: f.sessionId,
      nonce: f.nonce,
      at: f.at,
      sdp,
      fingerprints: f.fingerprints,
      metadata: f.metadata,
      signature: toBase64(ed25519.sign(signedMessage(f), seed)),
    };
  };

  it("refuses a sender's signals past its own bound of fresh nonces, never forgetting a fresh one; another sender's still pass", async () => {
    const checks = new Checks({ userId: 'bob' } as unknown as Connection, {} as RoomApi, 8);
    const verify = (from: string, nonce: number) => checks.verify(signal(from, nonce), 'room1', from, fields.sessionId, fields.metadata);
    for (let i = 0; i < 8; i++) await verify('alice', i);
    await expect(verify('alice', 8)).rejects.toMatchObject({ reason: 'Overloaded' });
    // Before, the oldest were forgotten to make room: a replay of alice's first offer then passed.
    await expect(verify('alice', 0)).rejects.toMatchObject({ reason: 'Replayed' });
    await verify('carol', 0);
  });
});
