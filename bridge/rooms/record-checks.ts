/**
 * The Bridge's checks of a new room version that need no store (bridge/rooms/service.ts does the rest),
 * and the store write it becomes: the uploaded wrapped keys must be exactly the required recipients'
 * and match the record's signed key-set root.
 */
import { fromBase64, fromUtf8, toBase64 } from '../../crypto/bytes.ts';
import { buildKeySet, type KeySetEntry } from '../../crypto/key-set.ts';
import type { WrappedKeyUpload } from '../../protocol/api.ts';
import { ChainError, membersOf, requiredRecipients, type VerifiedVersion } from '../../protocol/room-chain.ts';
import type { RecordFormatError, RoomRecord } from '../../protocol/room-record.ts';
import { BridgeError } from '../errors.ts';
import type { RoomWrite } from '../store/types.ts';

export function recordInvalid(error: ChainError | RecordFormatError): BridgeError {
  const reason = error instanceof ChainError ? error.reason : 'Malformed';
  return BridgeError.unprocessable('RECORD_INVALID', error.message, { reason });
}

/** publicMeta is stored for queryAsJson only when it is UTF-8 JSON text of an object. */
export function publicMetaJson(record: RoomRecord): string | null {
  if (record.publicMeta === '') return null;
  try {
    const text = fromUtf8(fromBase64(record.publicMeta));
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? text : null;
  } catch {
    return null;
  }
}

/** Checks the uploads are exactly the required recipients' keys and match the signed root. */
export function checkUploadedKeys(prev: RoomRecord | null, record: RoomRecord, uploads: WrappedKeyUpload[]): RoomWrite['keys'] {
  const required = new Set(requiredRecipients(prev, record).map((m) => m.userId));
  const seen = new Set<string>();
  const entries: KeySetEntry[] = [];
  for (const upload of uploads) {
    if (!required.has(upload.recipientId)) {
      throw BridgeError.unprocessable('KEY_SET_INVALID', `no wrapped key is due for "${upload.recipientId}" in this version`);
    }
    if (upload.epoch !== record.epoch) {
      throw BridgeError.unprocessable('KEY_SET_INVALID', `wrapped key for "${upload.recipientId}" is for epoch ${upload.epoch}, not ${record.epoch}`);
    }
    if (seen.has(upload.recipientId)) {
      throw BridgeError.unprocessable('KEY_SET_INVALID', `two wrapped keys for "${upload.recipientId}"`);
    }
    seen.add(upload.recipientId);
    entries.push({ roomId: record.roomId, epoch: upload.epoch, recipientId: upload.recipientId, wrapped: fromBase64(upload.wrapped) });
  }
  const missing = [...required].filter((id) => !seen.has(id));
  if (missing.length > 0) {
    throw BridgeError.unprocessable(
      'KEY_SET_INVALID',
      `missing wrapped keys for ${missing
        .slice(0, 5)
        .map((id) => `"${id}"`)
        .join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`,
    );
  }
  if (entries.length === 0) {
    if (record.keySetRoot !== '') throw BridgeError.unprocessable('KEY_SET_INVALID', 'the record states a key-set root but no keys were sent');
    return [];
  }
  const built = buildKeySet(entries);
  if (toBase64(built.root) !== record.keySetRoot || built.size !== record.keySetSize) {
    throw BridgeError.unprocessable('KEY_SET_INVALID', "the wrapped keys do not match the record's signed key-set root");
  }
  return built.entries.map(({ entry, proof }) => {
    const path = new Uint8Array(proof.path.length * 32);
    for (const [i, hash] of proof.path.entries()) path.set(hash, i * 32);
    return {
      roomId: record.roomId,
      epoch: entry.epoch,
      recipientId: entry.recipientId,
      version: record.version,
      wrapped: entry.wrapped,
      leafIndex: proof.leafIndex,
      treeSize: proof.treeSize,
      proof: path,
    };
  });
}

/** The store write of a verified version: its head, members, record and wrapped keys. */
export function roomWrite(verified: VerifiedVersion, keys: RoomWrite['keys'], createdAt: number, now: number): RoomWrite {
  const { record } = verified;
  const managers = new Set(record.managers.map((m) => m.userId));
  return {
    room: {
      id: record.roomId,
      contextId: record.contextId,
      version: record.version,
      epoch: record.epoch,
      headHash: verified.hash,
      creator: record.creator,
      lastModifier: record.author,
      policy: record.policy,
      publicMetaJson: publicMetaJson(record),
      createdAt,
      updatedAt: now,
    },
    members: [...membersOf(record)].map(([userId, publicKey]) => ({ userId, publicKey, isManager: managers.has(userId) })),
    version: {
      roomId: record.roomId,
      version: record.version,
      record: verified.signed.record,
      signature: verified.signed.signature,
      hash: verified.hash,
      author: record.author,
      createdAt: now,
    },
    keys,
  };
}
