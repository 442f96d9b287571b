import { describe, expect, it } from 'vitest';
import { toBase64 } from '../crypto/bytes.ts';
import { makeUsers, type TestUser } from '../test/identities.ts';
import { DEFAULT_POLICY } from './policy.ts';
import { requiredRecipients, verifyGenesis, verifySuccessor, type VerifiedVersion } from './room-chain.ts';
import { signRecord, type RoomRecord } from './room-record.ts';

const u = await makeUsers('alice', 'bob', 'carol', 'mallory');
const member = (user: TestUser) => ({ userId: user.userId, publicKey: user.publicKey });

function genesisRecord(): RoomRecord {
  return {
    format: 1,
    roomId: 'room_0123456789abcdef',
    contextId: 'ctx-1',
    version: 1,
    prevHash: null,
    creator: 'alice',
    author: 'alice',
    authorPublicKey: u.alice.publicKey,
    timestamp: 1_700_000_000_000,
    users: [member(u.alice), member(u.bob), member(u.carol)],
    managers: [member(u.alice)],
    policy: { ...DEFAULT_POLICY },
    publicMeta: '',
    privateMeta: 'AAAA',
    epoch: 1,
    keySetRoot: toBase64(new Uint8Array(32)),
    keySetSize: 3,
  };
}

function successor(prev: VerifiedVersion, author: TestUser, change: Partial<RoomRecord> = {}): RoomRecord {
  const next: RoomRecord = {
    ...prev.record,
    version: prev.record.version + 1,
    prevHash: toBase64(prev.hash),
    author: author.userId,
    authorPublicKey: author.publicKey,
    keySetRoot: '',
    keySetSize: 0,
    ...change,
  };
  return next;
}

async function genesis(): Promise<VerifiedVersion> {
  return verifyGenesis(await signRecord(genesisRecord(), u.alice.seed));
}

describe('room record chain', () => {
  it('accepts a valid genesis and successor', async () => {
    const v1 = await genesis();
    const v2 = await verifySuccessor(v1, await signRecord(successor(v1, u.alice, { publicMeta: 'AQID' }), u.alice.seed));
    expect(v2.record.version).toBe(2);
  });

  it('refuses a tampered record text, a forged signature and a signature by another key', async () => {
    const signed = await signRecord(genesisRecord(), u.alice.seed);
    await expect(verifyGenesis({ ...signed, record: signed.record.replace('"bob"', '"bop"') })).rejects.toMatchObject({
      reason: 'BadSignature',
    });
    await expect(verifyGenesis({ ...signed, signature: toBase64(new Uint8Array(64)) })).rejects.toMatchObject({
      reason: 'BadSignature',
    });
    const byMallory = await signRecord(genesisRecord(), u.mallory.seed);
    await expect(verifyGenesis(byMallory)).rejects.toMatchObject({ reason: 'BadSignature' });
  });

  it('refuses malformed text with the offending field named', async () => {
    await expect(verifyGenesis({ record: '{', signature: '' })).rejects.toMatchObject({ reason: 'Malformed' });
    const bad = JSON.stringify({ ...genesisRecord(), users: [{ userId: 'x y', publicKey: u.bob.publicKey }] });
    await expect(verifyGenesis({ record: bad, signature: '' })).rejects.toThrow(/record\.users\.0\.userId/);
  });

  it('refuses a successor by a non-manager, even a member', async () => {
    const v1 = await genesis();
    const byBob = await signRecord(successor(v1, u.bob), u.bob.seed);
    await expect(verifySuccessor(v1, byBob)).rejects.toMatchObject({ reason: 'Unauthorized' });
  });

  it('refuses a manager whose stated key differs from the previous version', async () => {
    const v1 = await genesis();
    const forged = await signRecord(successor(v1, u.mallory, { author: 'alice' }), u.mallory.seed);
    await expect(verifySuccessor(v1, forged)).rejects.toMatchObject({ reason: 'Unauthorized' });
  });

  it('refuses a broken link: wrong version, wrong previous hash, another room', async () => {
    const v1 = await genesis();
    const skip = await signRecord(successor(v1, u.alice, { version: 3 }), u.alice.seed);
    await expect(verifySuccessor(v1, skip)).rejects.toMatchObject({ reason: 'BrokenChain' });
    const badHash = await signRecord(successor(v1, u.alice, { prevHash: toBase64(new Uint8Array(32)) }), u.alice.seed);
    await expect(verifySuccessor(v1, badHash)).rejects.toMatchObject({ reason: 'BrokenChain' });
    const other = await signRecord(successor(v1, u.alice, { roomId: 'room_fedcba9876543210' }), u.alice.seed);
    await expect(verifySuccessor(v1, other)).rejects.toMatchObject({ reason: 'BrokenChain' });
  });

  it('forces a new epoch when a member is removed, and counts the wrapped keys', async () => {
    const v1 = await genesis();
    const withoutCarol = { users: [member(u.alice), member(u.bob)] };
    const noRotation = await signRecord(successor(v1, u.alice, withoutCarol), u.alice.seed);
    await expect(verifySuccessor(v1, noRotation)).rejects.toMatchObject({ reason: 'BadEpoch' });
    const rotated = successor(v1, u.alice, { ...withoutCarol, epoch: 2, keySetRoot: toBase64(new Uint8Array(32)), keySetSize: 2 });
    expect(requiredRecipients(v1.record, rotated).map((m) => m.userId)).toEqual(['alice', 'bob']);
    await expect(verifySuccessor(v1, await signRecord(rotated, u.alice.seed))).resolves.toBeTruthy();
    const wrongCount = await signRecord({ ...rotated, keySetSize: 3 }, u.alice.seed);
    await expect(verifySuccessor(v1, wrongCount)).rejects.toMatchObject({ reason: 'BadKeySet' });
    const jump = await signRecord({ ...rotated, epoch: 3 }, u.alice.seed);
    await expect(verifySuccessor(v1, jump)).rejects.toMatchObject({ reason: 'BadEpoch' });
  });

  it('gives added members the current key without a rotation', async () => {
    const v1 = await genesis();
    const added = successor(v1, u.alice, {
      users: [...v1.record.users, member(u.mallory)],
      keySetRoot: toBase64(new Uint8Array(32)),
      keySetSize: 1,
    });
    expect(requiredRecipients(v1.record, added)).toEqual([member(u.mallory)]);
    await expect(verifySuccessor(v1, await signRecord(added, u.alice.seed))).resolves.toBeTruthy();
  });

  it('applies the previous policy: update owner-only, and updatePolicy', async () => {
    const v1 = await genesis();
    const v2 = await verifySuccessor(
      v1,
      await signRecord(successor(v1, u.alice, { managers: [member(u.alice), member(u.bob)], policy: { ...DEFAULT_POLICY, update: 'owner' } }), u.alice.seed),
    );
    const byBob = await signRecord(successor(v2, u.bob), u.bob.seed);
    await expect(verifySuccessor(v2, byBob)).rejects.toThrow(/policy "update: owner" forbids "bob"/);
    const v3 = await verifySuccessor(
      v2,
      await signRecord(successor(v2, u.alice, { policy: { ...DEFAULT_POLICY, update: 'manager', updatePolicy: 'owner' } }), u.alice.seed),
    );
    const bobChangesPolicy = await signRecord(successor(v3, u.bob, { policy: { ...DEFAULT_POLICY } }), u.bob.seed);
    await expect(verifySuccessor(v3, bobChangesPolicy)).rejects.toThrow(/updatePolicy: owner/);
  });
});
