import { describe, expect, it } from 'vitest';
import { jsBackend } from './backend/js.ts';
import { _reference, buildKeySet, keySetRoot, verifyInclusion, type KeySetEntry } from './key-set.ts';

function entries(n: number, epoch = 1): KeySetEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    roomId: 'room-1',
    epoch,
    recipientId: `user-${String(i).padStart(3, '0')}`,
    wrapped: new Uint8Array([i & 0xff, i >> 8, 7]),
  }));
}

describe('key set (RFC 9162 Merkle tree)', () => {
  it('memoised roots and proofs equal the recursive definition, and every proof verifies', () => {
    for (let n = 1; n <= 40; n++) {
      const set = entries(n);
      const built = buildKeySet(set);
      const leaves = built.entries.map(({ entry }) => _reference.leafHash(entry));
      expect(built.root).toEqual(_reference.rootOf(leaves, jsBackend));
      for (const { entry, proof } of built.entries) {
        expect(proof.path).toEqual(_reference.pathOf(proof.leafIndex, leaves, jsBackend));
        expect(verifyInclusion(entry, proof, built.root)).toBe(true);
      }
    }
  });

  it('is independent of input order and refuses duplicates and empty sets', () => {
    const set = entries(9);
    expect(keySetRoot([...set].reverse())).toEqual(keySetRoot(set));
    expect(() => buildKeySet([...set, set[3]!])).toThrow(/two wrapped keys for recipient "user-003" in epoch 1/);
    expect(() => buildKeySet([])).toThrow(/at least one/);
  });

  it('rejects a proof for another entry, index, size, root or a truncated path', () => {
    const built = buildKeySet(entries(13));
    const { entry, proof } = built.entries[5]!;
    const other = built.entries[6]!;
    expect(verifyInclusion(other.entry, proof, built.root)).toBe(false);
    expect(verifyInclusion(entry, { ...proof, leafIndex: 6 }, built.root)).toBe(false);
    // A size that changes the path shape fails; callers must also check treeSize against the signed keySetSize,
    // because sizes with the same shape for this leaf (13 and 14 here) verify alike.
    expect(verifyInclusion(entry, { ...proof, treeSize: 6 }, built.root)).toBe(false);
    expect(verifyInclusion(entry, { ...proof, path: proof.path.slice(1) }, built.root)).toBe(false);
    expect(verifyInclusion(entry, { ...proof, leafIndex: -1 }, built.root)).toBe(false);
    expect(verifyInclusion({ ...entry, epoch: 2 }, proof, built.root)).toBe(false);
    expect(verifyInclusion({ ...entry, roomId: 'room-2' }, proof, built.root)).toBe(false);
    const root = built.root.slice();
    root[0]! ^= 1;
    expect(verifyInclusion(entry, proof, root)).toBe(false);
  });
});
