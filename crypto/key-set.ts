/**
 * The wrapped-key set of a room version, as a Merkle tree (RFC 9162 section 2.1).
 *
 * Every room version record signs the root of the wrapped keys it adds (docs/design.md: "the hash of the
 * wrapped-key set"). HPKE base mode is not authenticated, so anyone who knows a member's public key can
 * wrap a key of their choosing for that member; the signed root is what lets the member check that its
 * wrapped key came from the manager who signed the version. A member fetches only its own wrapped key
 * with an inclusion proof (log2(n) hashes), never the whole set, so a rotation in a room of 1,000 members
 * costs each member about 10 hashes.
 *
 * Leaves are sorted by (epoch, recipient id) so the tree of a set is unique whatever order it came in.
 */
import { backend, type CryptoBackend } from './backend/index.ts';
import { assertBytes, concatBytes, equalBytes, lengthPrefixed, u64be, utf8 } from './bytes.ts';
import { DOMAIN } from './domains.ts';
import { CryptoError } from './errors.ts';

export const KEY_SET_HASH_LENGTH = 32;
/** Larger than any room the Bridge accepts; bounds proof length (20 hashes) for parsers. */
export const KEY_SET_MAX_LEAVES = 1 << 20;

export interface KeySetEntry {
  roomId: string;
  epoch: number;
  recipientId: string;
  /** The encoded wrapped key (crypto/key-wrap.ts). */
  wrapped: Uint8Array;
}

export interface InclusionProof {
  leafIndex: number;
  treeSize: number;
  /** Sibling hashes from the leaf up to the root (RFC 9162 section 2.1.3.1). */
  path: Uint8Array[];
}

const LEAF_PREFIX = new Uint8Array([0]);
const NODE_PREFIX = new Uint8Array([1]);

/** The leaf hash binds the entry to its room, epoch and recipient, under the key-set domain tag. */
export function leafHash(entry: KeySetEntry, b: CryptoBackend = backend()): Uint8Array {
  assertBytes('wrapped', entry.wrapped);
  const body = lengthPrefixed(utf8(DOMAIN.keySet), utf8(entry.roomId), u64be(entry.epoch), utf8(entry.recipientId), entry.wrapped);
  return b.hash('sha256', concatBytes(LEAF_PREFIX, body));
}

function nodeHash(left: Uint8Array, right: Uint8Array, b: CryptoBackend): Uint8Array {
  return b.hash('sha256', concatBytes(NODE_PREFIX, left, right));
}

/** Canonical leaf order: by epoch, then by recipient id (code-unit order, as in the records). */
export function compareEntries(a: { epoch: number; recipientId: string }, b: { epoch: number; recipientId: string }): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  return a.recipientId < b.recipientId ? -1 : a.recipientId > b.recipientId ? 1 : 0;
}

/** The largest power of two smaller than n (n >= 2), RFC 9162 section 2.1.1. */
function splitPoint(n: number): number {
  let k = 1;
  while (k << 1 < n) k <<= 1;
  return k;
}

function rootOf(leaves: Uint8Array[], b: CryptoBackend): Uint8Array {
  if (leaves.length === 1) return leaves[0]!;
  const k = splitPoint(leaves.length);
  return nodeHash(rootOf(leaves.slice(0, k), b), rootOf(leaves.slice(k), b), b);
}

function pathOf(index: number, leaves: Uint8Array[], b: CryptoBackend): Uint8Array[] {
  if (leaves.length <= 1) return [];
  const k = splitPoint(leaves.length);
  if (index < k) return [...pathOf(index, leaves.slice(0, k), b), rootOf(leaves.slice(k), b)];
  return [...pathOf(index - k, leaves.slice(k), b), rootOf(leaves.slice(0, k), b)];
}

export interface BuiltKeySet {
  root: Uint8Array;
  size: number;
  /** The entries in canonical order, each with its proof. */
  entries: Array<{ entry: KeySetEntry; proof: InclusionProof }>;
}

/**
 * Builds the tree of a set of wrapped keys and the inclusion proof of every entry. Refuses an empty set
 * and a duplicate (epoch, recipient), which would make the set ambiguous.
 */
export function buildKeySet(entries: KeySetEntry[], b: CryptoBackend = backend()): BuiltKeySet {
  if (entries.length === 0) throw CryptoError.invalidArgument('"entries" expected at least one wrapped key');
  if (entries.length > KEY_SET_MAX_LEAVES) {
    throw CryptoError.limitExceeded(`"entries" expected at most ${KEY_SET_MAX_LEAVES} wrapped keys, got ${entries.length}`);
  }
  const sorted = [...entries].sort(compareEntries);
  for (let i = 1; i < sorted.length; i++) {
    if (compareEntries(sorted[i - 1]!, sorted[i]!) === 0) {
      throw CryptoError.invalidArgument(`"entries" has two wrapped keys for recipient "${sorted[i]!.recipientId}" in epoch ${sorted[i]!.epoch}`);
    }
  }
  const leaves = sorted.map((entry) => leafHash(entry, b));
  const built = buildLevels(leaves, b);
  return {
    root: built.root,
    size: leaves.length,
    entries: sorted.map((entry, leafIndex) => ({
      entry,
      proof: { leafIndex, treeSize: leaves.length, path: built.path(leafIndex) },
    })),
  };
}

/**
 * Computes the root once and each proof from memoised subtree roots, so building all n proofs costs
 * O(n log n) hashes instead of O(n^2).
 */
function buildLevels(leaves: Uint8Array[], b: CryptoBackend): { root: Uint8Array; path(index: number): Uint8Array[] } {
  const memo = new Map<string, Uint8Array>();
  const subtree = (start: number, end: number): Uint8Array => {
    if (end - start === 1) return leaves[start]!;
    const id = `${start}:${end}`;
    let hash = memo.get(id);
    if (hash === undefined) {
      const k = splitPoint(end - start);
      hash = nodeHash(subtree(start, start + k), subtree(start + k, end), b);
      memo.set(id, hash);
    }
    return hash;
  };
  const path = (index: number, start: number, end: number): Uint8Array[] => {
    if (end - start <= 1) return [];
    const k = splitPoint(end - start);
    return index < start + k ? [...path(index, start, start + k), subtree(start + k, end)] : [...path(index, start + k, end), subtree(start, start + k)];
  };
  return { root: subtree(0, leaves.length), path: (index) => path(index, 0, leaves.length) };
}

/** The root of a set (for checking an uploaded set against a signed record). */
export function keySetRoot(entries: KeySetEntry[], b: CryptoBackend = backend()): Uint8Array {
  return buildKeySet(entries, b).root;
}

/**
 * Verifies that `entry` is leaf `proof.leafIndex` of the tree with `root` and `proof.treeSize` leaves
 * (RFC 9162 section 2.1.3.2). Returns false on any mismatch; never throws on well-typed input.
 * Callers must also check `proof.treeSize` against the size the signed record states: trees of other
 * sizes can give the same path shape for a leaf.
 */
export function verifyInclusion(entry: KeySetEntry, proof: InclusionProof, root: Uint8Array, b: CryptoBackend = backend()): boolean {
  const { leafIndex, treeSize, path } = proof;
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize)) return false;
  if (leafIndex < 0 || leafIndex >= treeSize || treeSize > KEY_SET_MAX_LEAVES) return false;
  if (path.some((hash) => !(hash instanceof Uint8Array) || hash.length !== KEY_SET_HASH_LENGTH)) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash(entry, b);
  for (const p of path) {
    if (sn === 0) return false;
    if ((fn & 1) === 1 || fn === sn) {
      r = nodeHash(p, r, b);
      if ((fn & 1) === 0) {
        while ((fn & 1) === 0 && fn !== 0) {
          fn >>>= 1;
          sn >>>= 1;
        }
      }
    } else {
      r = nodeHash(r, p, b);
    }
    fn >>>= 1;
    sn >>>= 1;
  }
  return sn === 0 && equalBytes(r, root);
}

// Exported for tests: the naive recursive definitions, against which the memoised ones are checked.
export const _reference = { rootOf, pathOf, leafHash };
