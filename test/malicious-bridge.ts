/**
 * A Bridge turned against its users (docs/design.md "Trust model"): it writes into its own store what its
 * service would refuse, so that tests can serve clients a forged directory and forged rooms through
 * the real REST API. It holds no user's private key; it signs with its own.
 */
import Database from 'better-sqlite3';
import { toBase64 } from '../crypto/bytes.ts';
import { buildKeySet } from '../crypto/key-set.ts';
import { fromBase64 } from '../crypto/bytes.ts';
import { sign } from '../crypto/identity.ts';
import { DEFAULT_POLICY } from '../protocol/policy.ts';
import { membersOf } from '../protocol/room-chain.ts';
import { recordHash } from '../protocol/room-record.ts';
import { sealPrivateMeta } from '../endpoint/rooms/meta.ts';
import { buildGenesis, type BuiltVersion } from '../endpoint/rooms/record-builder.ts';
import type { Bridge } from '../bridge/index.ts';
import type { TestBridge } from './harness.ts';
import type { TestUser } from './identities.ts';

function db(t: TestBridge): Database.Database {
  return new Database(`${t.dataDir}/sealroom.db`);
}

/** Lists `publicKey` as a key `userId` had in the context between `addedAt` and `removedAt`. */
export function listFormerKey(t: TestBridge, contextId: string, userId: string, publicKey: string, addedAt: number, removedAt: number): void {
  const d = db(t);
  d.prepare('INSERT INTO context_user_history (context_id, user_id, public_key, added_at, removed_at) VALUES (?, ?, ?, ?, ?)').run(
    contextId,
    userId,
    publicKey,
    addedAt,
    removedAt,
  );
  d.close();
}

/** Lists `publicKey` as the current key of `userId` (the operator did not change it; the Bridge lies). */
export function listCurrentKey(t: TestBridge, contextId: string, userId: string, publicKey: string): void {
  const d = db(t);
  d.prepare('UPDATE context_users SET public_key = ? WHERE context_id = ? AND user_id = ?').run(publicKey, contextId, userId);
  d.close();
}

/**
 * Version 1 of a room "by `claimed`", signed with the Bridge's own key (`signer`), with an epoch key it
 * chose wrapped to each member, and private meta sealed under it: everything a client needs to read it.
 */
export async function forgeGenesis(
  contextId: string,
  claimed: string,
  signer: TestUser,
  members: Array<{ userId: string; publicKey: string }>,
  privateMeta: string,
  timestamp: number,
): Promise<BuiltVersion> {
  return buildGenesis(
    { roomId: `forged_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 10)}`, contextId },
    {
      users: members,
      managers: members,
      policy: DEFAULT_POLICY,
      publicMeta: new TextEncoder().encode('{"title":"from alice"}'),
      sealPrivateMeta: (binding) => sealPrivateMeta(binding, new TextEncoder().encode(privateMeta)),
    },
    { userId: claimed, publicKey: signer.publicKey, sign: (message) => sign(signer.seed, message) },
    { timestamp },
  );
}

/** Stores a built version 1 as a room, past every check of the Bridge's service. */
export async function serveRoom(bridge: Bridge, built: BuiltVersion): Promise<string> {
  const { record } = built;
  const hash = recordHash(built.request.record);
  const set = buildKeySet(
    built.request.keys.map((k) => ({ roomId: record.roomId, epoch: k.epoch, recipientId: k.recipientId, wrapped: fromBase64(k.wrapped) })),
  );
  if (toBase64(set.root) !== record.keySetRoot) throw new Error('forged key set does not match its record');
  const managers = new Set(record.managers.map((m) => m.userId));
  const now = Date.now();
  await bridge.store.createRoom({
    room: {
      id: record.roomId,
      contextId: record.contextId,
      version: record.version,
      epoch: record.epoch,
      headHash: hash,
      creator: record.creator,
      lastModifier: record.author,
      policy: record.policy,
      publicMetaJson: null,
      createdAt: now,
      updatedAt: now,
    },
    members: [...membersOf(record)].map(([userId, publicKey]) => ({ userId, publicKey, isManager: managers.has(userId) })),
    version: {
      roomId: record.roomId,
      version: 1,
      record: built.request.record,
      signature: built.request.signature,
      hash,
      author: record.author,
      createdAt: now,
    },
    keys: set.entries.map(({ entry, proof }) => {
      const path = new Uint8Array(proof.path.length * 32);
      for (const [i, h] of proof.path.entries()) path.set(h, i * 32);
      return {
        roomId: record.roomId,
        epoch: entry.epoch,
        recipientId: entry.recipientId,
        version: 1,
        wrapped: entry.wrapped,
        leafIndex: proof.leafIndex,
        treeSize: proof.treeSize,
        proof: path,
      };
    }),
  });
  return record.roomId;
}
